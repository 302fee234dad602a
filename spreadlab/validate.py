"""Checks for values that cross a trust boundary: ids, text, paths and numbers read from run
folders, events files, mix files, edge lists or LLM replies.

The ``check_*`` functions return the value they accept or raise a :class:`ConfigError` whose one
line names the field and the fix; ``clean_text`` and ``slug`` repair instead of refusing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from spreadlab.errors import ConfigError

MAX_ID_CHARS = 128
_SAFE_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_CHARS - 1}}}")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# C0 controls except tab, newline and carriage return, DEL, C1 controls, lone UTF-16 surrogates
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}|[0-9A-Fa-f:.]{2,45}")
MAX_REPLY_CHARS = 200_000  # an LLM reply is cut here before it is parsed or stored
REPLACEMENT = "\ufffd"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def check_id(value: object, field: str) -> str:
    """``value`` if it is a safe id (letters, digits, '.', '_', '-'; no '..'; 1–128 chars)."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value) and ".." not in value:
        return value
    shown = repr(value)[:60]
    raise ConfigError(
        f"{field} {shown} is not a safe id: use 1–{MAX_ID_CHARS} letters, digits, '.', '_' or "
        "'-', starting with a letter or digit"
    )


def slug(text: str) -> str:
    """A safe id made from any text (e.g. a folder name), for runs imported without one."""
    made = re.sub(r"\.{2,}", ".", _UNSAFE_ID_CHARS.sub("-", text)).strip(".-_")
    return (made or "run")[:MAX_ID_CHARS]


def clean_text(text: str, max_chars: int) -> str:
    """``text`` with control characters and lone surrogates replaced by U+FFFD, capped at
    ``max_chars`` characters: storable as UTF-8 and printable."""
    return _BAD_CHARS.sub(REPLACEMENT, text[:max_chars])


def check_printable(value: object, field: str) -> None:
    """Refuse control characters or lone surrogates in any string inside ``value`` (JSON data)."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_printable(key, field)
            check_printable(item, field)
    elif isinstance(value, list):
        for item in value:
            check_printable(item, field)
    elif isinstance(value, str) and _BAD_CHARS.search(value):
        raise ConfigError(
            f"{field} holds control characters or broken Unicode ({repr(value)[:40]}); remove them"
        )


def check_int(value: object, field: str, low: int, high: int) -> int:
    """``value`` as an integer in [low, high] (JSON integers only, no floats or strings)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{field} = {repr(value)[:40]}: use a whole number from {low} to {high:,}"
        )
    return value


def generator_state(value: object, field: str) -> dict:
    """``value`` (JSON text or an object) as a state that numpy's PCG64 generator accepts."""
    try:
        state = json.loads(value) if isinstance(value, str) else value
        if isinstance(state, dict):
            np.random.default_rng().bit_generator.state = state
            return state
    except (TypeError, ValueError, KeyError, OverflowError):
        pass
    raise ConfigError(
        f"{field} is not a numpy PCG64 generator state; export the run again, or leave it "
        "out for a complete run"
    )


def check_endpoint(value: object, field: str) -> str:
    """``value`` if it is a plain http(s) URL: printable, a host name or IP address, no spaces."""
    if isinstance(value, str) and len(value) <= 2000 and not _BAD_CHARS.search(value):
        parts = urlsplit(value)
        try:
            host_ok = parts.hostname is not None and _HOST.fullmatch(parts.hostname) is not None
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            host_ok = port_ok = False
        if parts.scheme in ("http", "https") and host_ok and port_ok and " " not in value:
            return value
    raise ConfigError(
        f"{field} {repr(value)[:60]} is not an http(s) endpoint URL such as "
        "http://localhost:11434/v1"
    )


def inside(root: Path, *parts: str) -> Path:
    """``root / parts`` resolved, refused unless it stays under ``root``."""
    base = Path(root).resolve()
    target = base.joinpath(*parts).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ConfigError(f"path {'/'.join(parts)!r} would leave the folder {base}")
    return target
