"""The ``spreadlab`` command run in this process, as a shell would see it: exit status, stdout and
stderr. A subprocess would add only interpreter start-up; the tests that need a separate process
(sharing the database, killing a run) start one themselves."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from spreadlab.cli import main


@dataclass
class Completed:
    """What :func:`spreadlab` returns, named like :class:`subprocess.CompletedProcess`."""

    returncode: int
    stdout: str
    stderr: str


def spreadlab(*args: str, cwd: Path | str | None = None) -> Completed:
    """Run ``spreadlab ARGS`` through its console entry point (errors become exit status 2 and
    one line on stderr there; any other exception propagates, so a traceback fails the test)."""
    with CliRunner().isolation() as (out, err, _), contextlib.chdir(cwd or os.getcwd()):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return Completed(code, out.getvalue().decode(), err.getvalue().decode())
