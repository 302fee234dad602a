#!/usr/bin/env bash
# Install what the llama.cpp tests need (requirements-llama.txt), reusing built wheels.
#
# llama-cpp-python ships only source: pip compiles llama.cpp, about 10 min on 2 cores. The wheels
# are kept in $SPREADLAB_WHEEL_CACHE (default ~/.cache/spreadlab-wheels); when that folder already
# holds them, installing takes seconds and needs no network. The compiled wheel targets the CPU it
# was built on (llama.cpp's GGML_NATIVE default), so share the folder only between like machines.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${SPREADLAB_WHEEL_CACHE:-$HOME/.cache/spreadlab-wheels}"
mkdir -p "$cache"
install() { pip install -q --no-index --find-links "$cache" -r requirements-llama.txt; }
if ! install 2>/dev/null; then
  echo "install-llama: building wheels into $cache (compiles llama.cpp, ~10 min)" >&2
  start=$SECONDS
  pip wheel -q --find-links "$cache" --wheel-dir "$cache" -r requirements-llama.txt
  echo "install-llama: wheels built in $((SECONDS - start)) s" >&2
  install
fi
python -c "import gguf, llama_cpp; print('install-llama: llama-cpp-python', llama_cpp.__version__)"
