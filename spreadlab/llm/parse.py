"""Tolerant reading of an agent's reply into ``{"post": bool, "text": str}``.

Accepted: the bare object; the object inside code fences or after stray prose (and after a
``<think>`` block); raw control characters inside strings (strict JSON forbids them, small local
models emit them); keys in any case; ``post`` as a JSON boolean, ``"true"``/``"yes"``/``"false"``
/``"no"`` or 0/1. Anything else is unparseable, with the reason saying why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from spreadlab.validate import clean_text

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
_DECODER = json.JSONDecoder(strict=False)


@dataclass(frozen=True)
class ParsedReply:
    """``post`` is None when the reply was unusable; ``error`` then says why."""

    post: bool | None
    text: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.post is not None


def parse_reply(reply: str, max_chars: int = 1000) -> ParsedReply:
    """Read a decision from ``reply``; ``text`` is cleaned of control characters and capped."""
    body = _THINK.sub("", reply).strip()
    if not body:
        return ParsedReply(None, error="empty reply")
    found = _first_object(body)
    if found is None:
        return ParsedReply(None, error=f"no JSON object in reply {_excerpt(body)}")
    fields = {str(k).strip().lower(): v for k, v in found.items()}
    if "post" not in fields:
        return ParsedReply(None, error=f"reply has no 'post' field: {_excerpt(body)}")
    post = _as_bool(fields["post"])
    if post is None:
        return ParsedReply(None, error=f"'post' is {fields['post']!r}, not true/false")
    text = fields.get("text")
    text = "" if text is None else text if isinstance(text, str) else json.dumps(text)
    text = clean_text(_CONTROL.sub(" ", text).strip(), max_chars)
    return ParsedReply(post, text)


def _first_object(body: str) -> dict | None:
    """The first JSON object in ``body`` that has a 'post' key, else the first object at all."""
    first = None
    for start in (i for i, ch in enumerate(body) if ch == "{"):
        try:
            value, _ = _DECODER.raw_decode(body, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            if any(str(k).strip().lower() == "post" for k in value):
                return value
            first = first if first is not None else value
    return first


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _excerpt(text: str, limit: int = 80) -> str:
    flat = clean_text(_CONTROL.sub(" ", text), limit + 1).replace("\n", " ")
    return repr(flat[:limit] + ("…" if len(flat) > limit else ""))
