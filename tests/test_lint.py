"""The code base stays ruff clean (lint and format) and type-checks (mypy, on spreadlab/)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("command", [["ruff", "check", "."], ["ruff", "format", "--check", "."]])
def test_ruff(command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy(tmp_path):
    """Configured in pyproject.toml ([tool.mypy]); the cache goes to the test's own folder."""
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), "spreadlab"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
