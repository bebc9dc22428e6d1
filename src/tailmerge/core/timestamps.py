"""Sans-I/O timestamps: the time at the start of a log line as epoch seconds, for ``--order time`` and
``--since/--until``.

A ``TimeParser`` per source finds the format (the family) on the first line that carries a time, then
keeps to it. The hot path is one compiled regex and a dict: the epoch of each minute is computed once
(time zones, daylight saving and all), and the lines within it only add their seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

__all__ = ["TimeParser", "parse_tz", "parse_when"]

_MONTH_NAMES = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_MON = b"(" + b"|".join(_MONTH_NAMES) + b")"
_LOW, _HIGH = 946684800, 4102444800  # 2000-01-01 and 2100-01-01 UTC: the plausible epoch seconds
_CACHE_MAX = 4096  # minutes remembered per cache; a source moves forward, so clearing now and then is fine
_DAY = 86400
_UTC = UTC

# ISO 8601 / RFC 3339, also after an RFC 5424 "<PRI>1 " or in brackets; groups: minute, seconds, fraction, zone
_ISO = re.compile(
    rb"[ \t]*(?:<\d{1,3}>(?:1 )?)?\[?"
    rb"(\d{4}[-/][01]\d[-/][0-3]\d[Tt ][0-2]\d:[0-5]\d)(?::([0-5]\d|60)(?:[.,](\d+))?)?"
    # after a space only a full offset: "21:01:41 -12 items" is not a zone
    rb"([Zz]|[+-][01]\d(?::?[0-5]\d)?| [+-][01]\d:?[0-5]\d| (?:UTC|GMT)\b)?"
)
# RFC 3164 syslog; groups: minute (month day HH:MM), month, day, hour, minute, seconds, fraction
_SYSLOG = re.compile(
    rb"[ \t]*(?:<\d{1,3}>)?\[?(" + _MON + rb" ([ \d]?\d) ([0-2]\d):([0-5]\d)):([0-5]\d|60)(?:[.,](\d+))?"
)
# Apache/nginx; groups: minute (dd/Mon/yyyy:HH:MM), day, month, year, hour, minute, seconds, fraction, zone
_CLF_TIME = rb"((\d\d)/" + _MON + rb"/(\d{4}):([0-2]\d):([0-5]\d)):([0-5]\d|60)(?:[.,](\d+))? ([+-][01]\d[0-5]\d)"
_CLF = re.compile(rb"\[" + _CLF_TIME + rb"\]")
_CLF_BARE = re.compile(rb"[ \t]*" + _CLF_TIME)  # as a --time-regex may cut it out of its brackets
_CLF_REACH = 160  # the bracket may follow a host and ident (about 100 bytes), then the time itself
_EPOCH = re.compile(rb"[ \t]*(\d{9,13})(?:[.,](\d+))?\b")
_JSON_KEY = re.compile(rb'"(?:time|timestamp|ts|@timestamp)"\s*:\s*')
_JSON_VALUE = re.compile(rb'"([^"\\]*)"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')
_JSON_KEYS = frozenset(("time", "timestamp", "ts", "@timestamp"))

_ALL = ("iso", "syslog", "epoch", "epoch_ms", "json", "clf")


def _candidates(first: int) -> tuple[str, ...]:
    """The families a line starting with this byte may be in: a plain text line costs one search (clf)."""
    char = bytes([first])
    if char.isdigit():
        return ("iso", "epoch", "epoch_ms", "clf")  # clf: an nginx line starts with the client address
    if char in b"JFMASOND":
        return ("syslog", "clf")
    if char == b"{":
        return ("json", "clf")
    if char in b"[<":
        return ("iso", "syslog", "clf")
    if char in b" \t":
        return _ALL
    return ("clf",)


_CANDIDATES = tuple(_candidates(first) for first in range(256))


class TimeParser:
    """Per source: finds the time at the start of each line/record (bytes), detecting the format from the
    first timestamped lines.

    Families, tried in this order on a line: ``iso`` (ISO 8601 / RFC 3339, ``2026/11/25 21:01:41`` too),
    ``syslog`` (``Nov 25 21:01:41``, optionally after ``<PRI>``; the year is inferred), ``epoch`` and
    ``epoch_ms`` (10 and 13 digits; 9 and 12 from 2000-2001; only years 2000-2099 count), ``json`` (the
    first of the ``time``, ``timestamp``, ``ts``, ``@timestamp`` fields, an ISO string or an epoch number
    of seconds, ms, µs or ns), ``clf`` (``[25/Nov/2026:21:01:41 +0000]`` within the first ~100 bytes).
    Times without a zone are in ``tz``, local time by default.

    The first line with a time fixes the family; after it only that family is tried, and a line it does
    not parse has no time (a continuation line), so a stray match elsewhere in a message never counts.
    Lines before the first time do not fix anything. ``time_format`` (a ``strptime`` format matched at
    the start of the line; family ``custom``) and ``time_regex`` (searched in the line: its first group,
    or its whole match, is the time, read with ``time_format`` or else by detection) override this.
    ``now`` (default: the clock) places year-less times: see ``_in_year``. Not thread-safe: one per source.
    """

    def __init__(
        self,
        *,
        time_format: str | None = None,
        time_regex: str | None = None,
        tz: tzinfo | None = None,
        now: float | None = None,
    ) -> None:
        self._tz = None if tz is _LOCAL else tz  # None: naive datetimes, which are local time
        self._now = now
        self._regex = None if time_regex is None else re.compile(time_regex.encode())
        self._utc: dict[bytes, float] = {}  # minute text -> its epoch as UTC (the line gives the offset)
        self._wall: dict[bytes, float] = {}  # minute text -> its epoch in tz
        self._dated: dict[bytes, tuple[int, int, float]] = {}  # year-less minute -> month, year, epoch
        self._month = self._year = 0  # of the last year-less time: the next one's year follows from it
        self._families: dict[str, Callable[[bytes], float | None]] = {
            "iso": self._iso,
            "syslog": self._syslog,
            "epoch": partial(_epoch, ms=False),
            "epoch_ms": partial(_epoch, ms=True),
            "json": self._json,
            "clf": self._clf,
        }
        self._locked: Callable[[bytes], float | None] | None = None
        self._fast: Callable[[bytes], float | None] | None = None  # the whole parse, once it is settled
        self.family: str | None = None
        """The family detected (``custom`` with ``time_format``), or None while no line had a time."""
        if time_format is not None:
            self._format = time_format
            self._pattern, self._seconds, self._yearless = _format_regex(time_format)
            self._fraction = self._seconds and "f" in self._pattern.groupindex
            self._texts: dict[bytes, float] = {}  # a time's text, its seconds zeroed -> its epoch
            self._locked = self._custom
            self.family = "custom"
        if self._regex is None:
            self._fast = self._locked

    def parse(self, line: bytes) -> float | None:
        """Epoch seconds (float) of the timestamp at the start of line, or None when it has none."""
        fast = self._fast
        if fast is not None:
            return fast(line)
        if self._regex is not None:
            match = self._regex.search(line)
            if match is None:
                return None
            text = match.group(1) if self._regex.groups else match.group(0)
            if text is None:
                return None
            line = text
            if self._locked is not None:
                return self._locked(line)
        return self._detect(line)

    def _detect(self, line: bytes) -> float | None:
        if not line:
            return None
        for name in _CANDIDATES[line[0]]:
            family = self._families[name]
            stamp = family(line)
            if stamp is not None:
                self.family = name
                self._locked = family
                if self._regex is None:
                    self._fast = family
                return stamp
        return None

    def _iso(self, line: bytes) -> float | None:
        match = _ISO.match(line)
        if match is None:
            return None
        minute, sec, frac, zone = match.groups()
        cache = self._wall if zone is None else self._utc
        base = cache.get(minute)
        if base is None:
            base = _remember(
                cache, minute, self._tz if zone is None else _UTC,
                int(minute[:4]), int(minute[5:7]), int(minute[8:10]), int(minute[11:13]), int(minute[14:16]),
            )  # fmt: skip
            if base is None:
                return None
        if sec is not None:
            base += int(sec)
        if frac is not None:
            base += int(frac) / 10 ** len(frac)
        if zone is None:
            return base
        offset = _ZONES.get(zone)
        if offset is None:
            offset = _ZONES[zone] = _offset(zone)  # a few forms of a few offsets: the dict stays small
        return base - offset

    def _clf(self, line: bytes) -> float | None:
        match = _CLF.search(line, 0, _CLF_REACH) or _CLF_BARE.match(line)
        if match is None:
            return None
        minute, sec, frac, zone = match.group(1, 7, 8, 9)
        base = self._utc.get(minute)
        if base is None:
            day, month, year, hour, minutes = match.group(2, 3, 4, 5, 6)
            base = _remember(self._utc, minute, _UTC, int(year), _MONTHS[month], int(day), int(hour), int(minutes))
            if base is None:
                return None
        base += int(sec)
        if frac is not None:
            base += int(frac) / 10 ** len(frac)
        offset = _ZONES.get(zone)
        if offset is None:
            offset = _ZONES[zone] = _offset(zone)
        return base - offset

    def _syslog(self, line: bytes) -> float | None:
        match = _SYSLOG.match(line)
        if match is None:
            return None
        minute, sec, frac = match.group(1, 6, 7)
        hit = self._dated.get(minute)
        if hit is not None and hit[0] == self._month and hit[1] == self._year:
            base = hit[2]
        else:
            month = _MONTHS[match.group(2)]
            day, hour, minutes = int(match.group(3)), int(match.group(4)), int(match.group(5))
            found = self._in_year(minute, month, lambda year: _epoch_of(self._tz, year, month, day, hour, minutes))
            if found is None:
                return None
            base = found
        base += int(sec)
        if frac is not None:
            base += int(frac) / 10 ** len(frac)
        return base

    def _in_year(self, key: bytes, month: int, stamp: Callable[[int], float | None]) -> float | None:
        """The epoch of a year-less time (``stamp`` gives it for a year), remembered under ``key``.

        The first one takes the year of ``now``, or the year before if that puts it more than a day ahead
        of ``now``; each next one the year of the one before, plus one if the month went back by more than
        half a year (December, then January), minus one if it went forward so (lines out of order).
        """
        if self._year:
            year = self._year + (self._month - month > 6) - (month - self._month > 6)
            found = stamp(year)
        else:
            now = time.time() if self._now is None else self._now
            year = datetime.fromtimestamp(now, self._tz).year
            found = stamp(year)
            if found is None or found > now + _DAY:
                year -= 1
                found = stamp(year)
        if found is None:
            return None
        self._year, self._month = year, month
        if len(self._dated) >= _CACHE_MAX:
            self._dated.clear()
        self._dated[key] = (month, year, found)
        return found

    def _json(self, line: bytes) -> float | None:
        if line[:1] != b"{":
            line = line.lstrip()
            if line[:1] != b"{":
                return None
        key = _JSON_KEY.search(line, 1)
        if key is None:
            return None  # no time field (only an escaped key name would hide one)
        # the fast path reads a flat object; a brace before the key may be a nested object: parse it all
        if line.find(b"{", 1, key.start()) < 0:
            value = _JSON_VALUE.match(line, key.end())
            if value is not None:
                text, number = value.groups()
                return self._json_text(text) if text is not None else _json_number(float(number))
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(record, dict):
            return None
        for name, field in record.items():
            if name in _JSON_KEYS:
                if isinstance(field, str):
                    return self._json_text(field.encode())
                if isinstance(field, int | float) and not isinstance(field, bool):
                    return _json_number(float(field))
                return None
        return None

    def _json_text(self, text: bytes) -> float | None:
        stamp = self._iso(text)
        if stamp is not None:
            return stamp
        try:
            return _json_number(float(text))
        except ValueError:
            return None

    def _custom(self, line: bytes) -> float | None:
        match = self._pattern.match(line)
        if match is None:
            return None
        start, end = match.span(1)
        extra = 0.0
        if self._seconds:
            # cached under the text with its seconds (and fraction) zeroed: a minute's lines share one strptime
            s0, s1 = match.span("S")
            extra = int(line[s0:s1])
            if self._fraction:
                f0, f1 = match.span("f")
                frac = line[f0:f1]
                extra += int(frac) / 10 ** len(frac)
                key = line[start:s0] + b"00" + line[s1:f0] + b"0" + line[f1:end]
            else:
                key = line[start:s0] + b"00" + line[s1:end]
        else:
            key = line[start:end]
        if self._yearless:
            hit = self._dated.get(key)
            if hit is not None and hit[0] == self._month and hit[1] == self._year:
                return hit[2] + extra
            found = self._custom_yearless(key)
        else:
            found = self._texts.get(key)
            if found is None:
                found = self._custom_dated(key)
        return None if found is None else found + extra

    def _custom_dated(self, key: bytes) -> float | None:
        try:
            when = datetime.strptime(key.decode(errors="replace"), self._format)
            found = _aware(when, self._tz).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
        if len(self._texts) >= _CACHE_MAX:
            self._texts.clear()
        self._texts[key] = found
        return found

    def _custom_yearless(self, key: bytes) -> float | None:
        try:
            # read in a leap year, so that Feb 29 is a date until the year is known
            when = datetime.strptime(key.decode(errors="replace") + " 2000", self._format + " %Y")
        except ValueError:
            return None

        def stamp(year: int) -> float | None:
            try:
                return _aware(when.replace(year=year), self._tz).timestamp()
            except (ValueError, OverflowError, OSError):
                return None

        return self._in_year(key, when.month, stamp)


def _epoch(line: bytes, ms: bool) -> float | None:
    match = _EPOCH.match(line)
    if match is None:
        return None
    digits, frac = match.groups()
    if (len(digits) > 10) is not ms:
        return None
    value = int(digits)
    if ms:
        if not _LOW * 1000 <= value < _HIGH * 1000:
            return None
        return (value + int(frac) / 10 ** len(frac)) / 1000 if frac is not None else value / 1000
    if not _LOW <= value < _HIGH:
        return None
    return value + int(frac) / 10 ** len(frac) if frac is not None else float(value)


def _json_number(value: float) -> float | None:
    """Epoch seconds from a number of seconds, ms, µs or ns, told apart by magnitude."""
    for scale in (1, 1e3, 1e6, 1e9):
        if _LOW * scale <= value < _HIGH * scale:
            return value / scale
    return None


def _epoch_of(tz: tzinfo | None, year: int, month: int, day: int, hour: int, minute: int) -> float | None:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _remember(
    cache: dict[bytes, float], key: bytes, tz: tzinfo | None, year: int, month: int, day: int, hour: int, minute: int
) -> float | None:
    stamp = _epoch_of(tz, year, month, day, hour, minute)
    if stamp is not None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = stamp
    return stamp


def _aware(when: datetime, tz: tzinfo | None) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


_ZONES: dict[bytes, int] = {}


def _offset(zone: bytes) -> int:
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
    "z": rb"(?:[+-]\d\d:?[0-5]\d(?::?[0-5]\d(?:\.\d{1,6})?)?|Z)",
    "%": rb"%",
}
_NAMES = rb"[^\s\d]+"  # month and day names, AM/PM, a zone name: any letters, as the locale's may be


def _format_regex(fmt: str) -> tuple[re.Pattern[bytes], bool, bool]:
    """A strptime format as a regex whose group 1 is the time; whether its seconds can be split off (one
    %S, at most one %f after it); whether it lacks a year."""
    parts = [rb"[ \t]*("]
    directives = []
    chars = iter(fmt)
    for char in chars:
        if char == "%":
            directive = next(chars, "")
            directives.append(directive)
            if directive and directive in "aAbBpZ":
                parts.append(_NAMES)
            elif directive in _FIELDS and directive not in directives[:-1]:
                parts.append(_FIELDS[directive])
            elif directive in _FIELDS:
                parts.append(_FIELDS[directive].replace(b"?P<S>", b"").replace(b"?P<f>", b""))  # named once only
            else:
                raise ValueError(f"time format {fmt!r}: %{directive} is not supported")
        elif char.isspace():
            parts.append(rb"\s+")
        else:
            parts.append(re.escape(char.encode()))
    parts.append(b")")
    seconds = directives.count("S") == 1 and (
        "f" not in directives or (directives.count("f") == 1 and directives.index("f") > directives.index("S"))
    )
    pattern = re.compile(b"".join(parts))
    if not seconds and "S" in pattern.groupindex:
        pattern = re.compile(pattern.pattern.replace(b"?P<S>", b"").replace(b"?P<f>", b""))
    return pattern, seconds, not {"Y", "y", "G"} & set(directives)


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


_LOCAL = _LocalTime()
_TZ_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)?")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY}


def parse_when(text: str, now: float, tz: tzinfo | None = None) -> float:
    """--since/--until: an absolute time (any ISO 8601 form incl. a bare date 2026-11-25, or '2026-11-25
    21:01') or a relative one: '30s', '15m', '2h', '1d', '1w' (or '1h30m') meaning that long before now.
    A time without a zone is in ``tz`` (local time by default). Raises ValueError naming the text."""
    spec = text.strip()
    if _DURATION.fullmatch(spec):
        return now - sum(float(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(spec))
    try:
        when = datetime.fromisoformat(spec[:-1] + "Z" if spec.endswith("z") else spec)
        return _aware(when, None if tz is _LOCAL else tz).timestamp()
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
        return _UTC
    if spec.lower() == "local":
        return _LOCAL
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
