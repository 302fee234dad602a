"""A wheel built from the checkout carries the bundled sample runs: installed in a fresh virtual
environment, away from the checkout, ``spreadlab samples load`` and ``spreadlab run`` work."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from spreadlab import __version__

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "spreadlab", "sample_runs")


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess:
    """Run a command without this test's PYTHONPATH (which points at the checkout)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, as the build writes ``build/`` and ``*.egg-info`` beside
    them; the ``spreadlab/sample_runs`` symlink is copied as a link, as git checks it out."""
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    wheels = tmp_path / "wheels"
    build = ["wheel", "--no-deps", "--no-cache-dir", "-q", "-w", wheels, "."]
    _run([sys.executable, "-m", "pip", *build], source)
    (wheel,) = wheels.glob("spreadlab-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path) -> Path:
    """A venv without the system site-packages, which sees the installed dependencies through a
    plain path in a .pth file: the editable install's finder there never runs in it."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path
    )
    (Path(purelib.stdout.strip()) / "system_deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    return env_dir


@pytest.mark.slow
def test_installed_wheel_loads_samples_and_runs(tmp_path):
    wheel = _build_wheel(tmp_path)
    assert wheel.name.startswith(f"spreadlab-{__version__}-")  # the version has one source
    with zipfile.ZipFile(wheel) as archive:
        assert "spreadlab/sample_runs/manifest.json" in archive.namelist()
    env_dir = _fresh_venv(tmp_path)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "-q", "--no-cache-dir", "--no-deps", "--no-index", wheel], tmp_path)
    where = _run([python, "-c", "import spreadlab; print(spreadlab.__file__)"], tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    db = elsewhere / "x.duckdb"
    spreadlab = env_dir / "bin" / "spreadlab"
    loaded = _run([spreadlab, "samples", "load", "--db", db], elsewhere)
    assert "loaded 91 sample runs" in loaded.stdout, loaded.stdout
    _run([spreadlab, "run", "--n", "1000", "--k", "4", "--db", db], elsewhere)
    listed = _run([spreadlab, "runs", "--db", db], elsewhere)
    rows = [line.split() for line in listed.stdout.splitlines()]
    runs = [row for row in rows if "complete" in row]
    assert len(runs) == 92, listed.stdout
    assert sum(row[0].startswith("sample-") for row in runs) == 91, listed.stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    served = subprocess.run(
        [spreadlab, "dashboard"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert served.returncode == 2 and "runs from a checkout" in served.stderr, served.stderr
