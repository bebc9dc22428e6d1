"""Time zones and times a user writes: ``--tz`` (``parse_tz``), ``--since``/``--until`` (``parse_when``), the
system's local time as a ``tzinfo``, and the epoch arithmetic the time parser shares. Pure: no I/O."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "CACHE_MAX",
    "DAY",
    "LOCAL",
    "aware",
    "epoch_of",
    "format_regex",
    "offset_of",
    "parse_tz",
    "parse_when",
    "remember",
]

CACHE_MAX = 4096  # minutes remembered per cache; a source moves forward, so clearing now and then is fine
DAY = 86400


def epoch_of(tz: tzinfo | None, year: int, month: int, day: int, hour: int, minute: int) -> float | None:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def remember(
    cache: dict[bytes, float], key: bytes, tz: tzinfo | None, year: int, month: int, day: int, hour: int, minute: int
) -> float | None:
    stamp = epoch_of(tz, year, month, day, hour, minute)
    if stamp is not None:
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[key] = stamp
    return stamp


def aware(when: datetime, tz: tzinfo | None) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def offset_of(zone: bytes) -> int:
    """Seconds east of UTC of a zone the regexes took: Z, UTC, GMT, +01, +0100, +01:00."""
    zone = zone.strip()
    if zone[:1] not in b"+-":
        return 0
    digits = zone[1:].replace(b":", b"")
    seconds = int(digits[:2]) * 3600 + int(digits[2:] or 0) * 60
    return -seconds if zone[:1] == b"-" else seconds


# strptime's own field regexes (CPython's _strptime), so that a field spans what strptime reads
_FIELDS = {
    "d": rb"(?:3[01]|[12]\d|0[1-9]|[1-9]| [1-9])",
    "f": rb"(?P<f>\d{1,6})",
    "H": rb"(?:2[0-3]|[0-1]\d|\d)",
    "I": rb"(?:1[0-2]|0[1-9]|[1-9])",
    "G": rb"\d\d\d\d",
    "j": rb"(?:36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
    "m": rb"(?:1[0-2]|0[1-9]|[1-9])",
    "M": rb"(?:[0-5]\d|\d)",
    "S": rb"(?P<S>6[0-1]|[0-5]\d|\d)",
    "U": rb"(?:5[0-3]|[0-4]\d|\d)",
    "W": rb"(?:5[0-3]|[0-4]\d|\d)",
    "V": rb"(?:5[0-3]|0[1-9]|[1-4]\d|\d)",
    "w": rb"[0-6]",
    "u": rb"[1-7]",
    "y": rb"\d\d",
    "Y": rb"\d\d\d\d",
    "z": rb"(?:[+-]\d\d:?[0-5]\d(?::?[0-5]\d(?:\.\d{1,6}|)|)|Z)",
    "%": rb"%",
}
_NAMES = rb"[^\s\d]+"  # month and day names, AM/PM, a zone name: any letters, as the locale's may be


def format_regex(fmt: str) -> tuple[re.Pattern[bytes], bool, bool]:
    """A strptime format as a regex whose group 1 is the time; whether its seconds can be split off (a
    %S, and a %f after it if any); whether it lacks a year."""
    parts = [rb"[ \t]*("]
    directives: list[str] = []
    chars = iter(fmt)
    for char in chars:
        if char == "%":
            directive = next(chars, "")
            if directive in directives and directive != "%":
                raise ValueError(f"time format {fmt!r}: %{directive} appears twice")
            directives.append(directive)
            if directive and directive in "aAbBpZ":
                parts.append(_NAMES)
            elif directive in _FIELDS:
                parts.append(_FIELDS[directive])
            else:
                raise ValueError(f"time format {fmt!r}: %{directive} is not supported")
        elif char.isspace():
            parts.append(rb"\s+")
        else:
            parts.append(re.escape(char.encode()))
    parts.append(b")")
    seconds = "S" in directives and ("f" not in directives or directives.index("f") > directives.index("S"))
    return re.compile(b"".join(parts)), seconds, not {"Y", "y", "G"} & set(directives)


class _LocalTime(tzinfo):
    """The system's local time (``TZ``, /etc/localtime), daylight saving included: what naive datetimes
    mean. ``parse_tz('local')``; a parser given it uses naive datetimes."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(seconds=self._local(dt).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None  # not known apart from the offset

    def tzname(self, dt: datetime | None) -> str:
        return self._local(dt).tm_zone

    def fromutc(self, dt: datetime) -> datetime:
        stamp = (dt.replace(tzinfo=None) - datetime(1970, 1, 1)) / timedelta(seconds=1)
        return datetime.fromtimestamp(stamp).replace(tzinfo=self)  # fromtimestamp sets fold in a repeated hour

    def __repr__(self) -> str:
        return "local"

    @staticmethod
    def _local(dt: datetime | None) -> time.struct_time:
        return time.localtime(None if dt is None else dt.replace(tzinfo=None).timestamp())


LOCAL = _LocalTime()
_TZ_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)?")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}


def parse_when(text: str, now: float, tz: tzinfo | None = None) -> float:
    """--since/--until: an absolute time (any ISO 8601 form incl. a bare date 2026-11-25, or '2026-11-25
    21:01') or a relative one: '30s', '15m', '2h', '1d', '1w' (or '1h30m') meaning that long before now.
    A time without a zone is in ``tz`` (local time by default). Raises ValueError naming the text."""
    spec = text.strip()
    if _DURATION.fullmatch(spec):
        return now - sum(float(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(spec))
    try:
        when = datetime.fromisoformat(spec[:-1] + "Z" if spec.endswith("z") else spec)
        return aware(when, None if tz is LOCAL else tz).timestamp()
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"not a time: {text!r} (use ISO 8601 such as 2026-11-25, 2026-11-25 21:01 or 2026-11-25T21:01:41Z, "
            "or a time before now such as 30s, 15m, 2h, 1d, 1w)"
        ) from None


def parse_tz(text: str) -> tzinfo:
    """--tz: 'UTC', 'local', '+05:30', '-0800', or an IANA name via zoneinfo. ValueError with a clear
    message otherwise."""
    spec = text.strip()
    if spec.upper() in ("UTC", "Z", "GMT"):
        return UTC
    if spec.lower() == "local":
        return LOCAL
    offset = _TZ_OFFSET.fullmatch(spec)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        if int(hours) < 24 and int(minutes or 0) < 60:
            delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
            return timezone(-delta if sign == "-" else delta)
    elif spec and spec[0] not in "+-":
        try:
            return ZoneInfo(spec)
        except (ValueError, KeyError, OSError):
            pass  # not found (a KeyError), or not a zone's name or file
    raise ValueError(
        f"unknown time zone {text!r} (use UTC, local, an offset such as +05:30 or -0800, "
        "or an IANA name such as Europe/Paris)"
    )
