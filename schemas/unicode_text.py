"""Lone UTF-16 surrogates: JSON may write one as an escape (``"\\ud800"``) and Python reads it into a
``str``, but no UTF-8 text (a file, a SQLite or PostgreSQL column) can hold it. Every reader of JSON
from outside checks for them, so that such text is refused with the place it sits instead of failing
later, half-way through a write."""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")
_ESCAPE_BYTES = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_lone_surrogate(raw: str | bytes, value: Any) -> bool:
    """Does ``value``, parsed from the JSON text ``raw``, hold a lone surrogate? (Cheap when ``raw`` has no
    surrogate escape at all, the usual case; a pair of escapes making one character is fine.)"""
    if not (_ESCAPE_BYTES if isinstance(raw, bytes) else _ESCAPE).search(raw):
        return False
    return not _storable(json.dumps(value, ensure_ascii=False))


def lone_surrogate_at(value: Any, path: tuple = ()) -> tuple | None:
    """The path (keys and list positions) to the first text or key in ``value`` holding a lone
    surrogate, or None."""
    if isinstance(value, str):
        return None if _storable(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and not _storable(k):
                return (*path, k.encode("utf-8", "replace").decode("utf-8"))
            found = lone_surrogate_at(v, (*path, k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = lone_surrogate_at(v, (*path, i))
            if found is not None:
                return found
    return None
