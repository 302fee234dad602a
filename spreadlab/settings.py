"""SpreadLab's settings from the environment, read in one place.

Every ``SPREADLAB_*`` variable the store, the jobs, the dashboard and the command line honour is
read here, into one frozen :class:`Settings`. Callers read the environment through
:func:`current` at the moment they need a value (so a test's ``monkeypatch.setenv`` applies),
never through ``os.environ`` themselves.

Precedence for the database file: an explicit path (``--db``, a function argument) beats
``$SPREADLAB_DB``, which beats ``spreadlab.duckdb`` in the working directory.

This is a foundation module: it imports nothing of SpreadLab's.

Examples
--------
>>> s = Settings.from_env({"SPREADLAB_DB": "~/runs.duckdb", "SPREADLAB_LOCK_WAIT": "5"})
>>> s.lock_wait
5.0
>>> s.database("given.duckdb").name, s.database().name
('given.duckdb', 'runs.duckdb')
>>> Settings.from_env({}).database().name
'spreadlab.duckdb'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DB_ENV = "SPREADLAB_DB"
LOCK_WAIT_ENV = "SPREADLAB_LOCK_WAIT"
MODEL_ENV = "SPREADLAB_MODEL"
DEFAULT_DB = Path("spreadlab.duckdb")
DEFAULT_LOCK_WAIT = 30.0
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Settings:
    """The environment's settings: ``db`` is ``$SPREADLAB_DB`` (None when unset or blank),
    ``lock_wait`` the seconds to keep retrying a locked database, ``model`` the LLM model name."""

    db: Path | None = None
    lock_wait: float = DEFAULT_LOCK_WAIT
    model: str = DEFAULT_MODEL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); a blank or unreadable value counts as
        unset, and a negative lock wait as 0."""
        env = os.environ if env is None else env
        db = env.get(DB_ENV, "").strip()
        model = env.get(MODEL_ENV, "").strip()
        return cls(
            db=Path(db).expanduser() if db else None,
            lock_wait=_seconds(env.get(LOCK_WAIT_ENV, "")),
            model=model or DEFAULT_MODEL,
        )

    @property
    def db_from_env(self) -> bool:
        """Whether ``$SPREADLAB_DB`` names the database (rather than the default)."""
        return self.db is not None

    def database(self, explicit: str | os.PathLike[str] | None = None) -> Path:
        """The database file: ``explicit`` if given, else ``$SPREADLAB_DB``, else the default."""
        if explicit is not None and str(explicit).strip():
            return Path(explicit).expanduser()
        return self.db if self.db is not None else DEFAULT_DB


def _seconds(text: str) -> float:
    try:
        return max(float(text), 0.0) if text.strip() else DEFAULT_LOCK_WAIT
    except ValueError:
        return DEFAULT_LOCK_WAIT


def current() -> Settings:
    """The settings as the environment holds them now."""
    return Settings.from_env()
