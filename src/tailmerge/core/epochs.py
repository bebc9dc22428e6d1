"""Epoch numbers: the ``epoch`` and ``epoch_ms`` families of ``core.timestamps`` (a count of seconds or
milliseconds at the start of a line), and a JSON number told apart by its magnitude. Pure."""

from __future__ import annotations

import re

__all__ = ["epoch_millis", "epoch_seconds", "json_number"]

_LOW, _HIGH = 946684800, 4102444800  # 2000-01-01 and 2100-01-01 UTC: the plausible epoch seconds
# 9-10 digits of seconds or 12-13 of milliseconds (9 and 12 only from 2000 to 2001), read by float()
_EPOCH_S = re.compile(rb"[ \t]*\d{9,10}(?:[.,]\d+|)\b")
_EPOCH_MS = re.compile(rb"[ \t]*\d{12,13}(?:[.,]\d+|)\b")


def epoch_seconds(line: bytes) -> float | None:
    """Epoch seconds at the start of a line (10 digits; 9 from 2000 to 2001), or None."""
    match = _EPOCH_S.match(line)
    if match is None:
        return None
    value = float(match.group().replace(b",", b"."))  # float() skips the blanks before
    return value if _LOW <= value < _HIGH else None


def epoch_millis(line: bytes) -> float | None:
    """Epoch milliseconds at the start of a line (13 digits; 12 from 2000 to 2001), as seconds, or None."""
    match = _EPOCH_MS.match(line)
    if match is None:
        return None
    value = float(match.group().replace(b",", b".")) / 1000
    return value if _LOW <= value < _HIGH else None


_SCALES = tuple((_LOW * scale, _HIGH * scale, scale) for scale in (1.0, 1e3, 1e6, 1e9))


def json_number(value: float) -> float | None:
    """Epoch seconds from a number of seconds, ms, µs or ns, told apart by magnitude."""
    for low, high, scale in _SCALES:
        if low <= value < high:
            return value / scale
    return None
