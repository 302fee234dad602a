"""llama.cpp's OpenAI-compatible server (the prebuilt ``xllamacpp`` wheel) running the tiny model.

:func:`running_llama_server` writes the seeded tiny model (:mod:`tiny_llama`) into a folder,
starts the server (:mod:`llama_serve`) on a free 127.0.0.1 port, waits until ``GET /v1/models``
answers and stops the process afterwards. The session fixture :func:`llama_server` wraps it;
``requirements-dev.txt`` installs ``xllamacpp`` and ``gguf``, and where they are missing the tests
that use it skip with the reason, except under ``CI=1``, where they fail. Requests are counted
from the access log that :mod:`llama_serve` writes (one line per request).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

MODEL_ALIAS = "spreadlab-tiny"
MODEL_SEED = 20261127
START_TIMEOUT_S = 60.0
N_CTX = 8192
# gguf (to write the model) and llama.cpp's server.
REQUIRED_MODULES = ("gguf", "xllamacpp")
SERVE = Path(__file__).resolve().parent / "llama_serve.py"


@dataclass
class LlamaServer:
    """A running server: its base URL (``.../v1``), model id, process and log file."""

    base_url: str
    model: str
    process: subprocess.Popen
    log_path: Path
    model_build_s: float
    start_s: float

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def requests(self, method: str = "POST", path: str = "/v1/chat/completions") -> int:
        """Requests the server has logged for ``method path`` so far."""
        return self.log().count(f'"{method} {path} HTTP/1.1"')


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_models(server: LlamaServer, timeout: float) -> None:
    """Poll ``/v1/models`` until it lists the model; raise with the log if the server dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"llama.cpp server exited with {server.process.returncode}:\n{server.log()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as response:
                ids = [m["id"] for m in json.load(response)["data"]]
            if server.model in ids:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"llama.cpp server not ready after {timeout:.0f} s:\n{server.log()[-3000:]}")


@contextmanager
def running_llama_server(
    folder: Path, seed: int = MODEL_SEED, timeout: float = START_TIMEOUT_S
) -> Iterator[LlamaServer]:
    """Build the tiny model in ``folder``, serve it on 127.0.0.1, stop the server on exit."""
    from tiny_llama import write_tiny_model  # needs gguf, which the fixture checks first

    t0 = time.perf_counter()
    model_path = write_tiny_model(folder / "tiny-llama.gguf", seed)
    model_build_s = time.perf_counter() - t0
    port = free_port()
    log_path = folder / "llama-server.log"
    command = [
        sys.executable,
        str(SERVE),
        str(model_path),
        MODEL_ALIAS,
        str(port),
        str(seed),
        str(N_CTX),
    ]
    t0 = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(
        f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, process, log_path, model_build_s, 0.0
    )
    try:
        wait_for_models(server, timeout)
        server.start_s = time.perf_counter() - t0
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real llama.cpp server with the tiny model for the whole session (skips if missing)."""
    missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        reason = (
            f"llama.cpp's server / gguf not installed (missing {', '.join(missing)}); "
            "pip install -r requirements-dev.txt"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server
