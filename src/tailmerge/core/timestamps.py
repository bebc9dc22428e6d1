"""Sans-I/O timestamps: the time at the start of a log line as epoch seconds, for ``--order time`` and
``--since/--until``.

A ``TimeParser`` per source finds the format (the family) on the first line that carries a time, then
keeps to it. The hot path is one compiled regex and a dict: the epoch of each minute is computed once
(time zones, daylight saving and all), and the lines within it only add their seconds.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from .epochs import epoch_millis, epoch_seconds, json_number
from .zones import CACHE_MAX, DAY, LOCAL, aware, epoch_of, format_regex, offset_of, parse_tz, parse_when, remember

__all__ = ["TimeParser", "key_times", "parse_tz", "parse_when"]  # the zone functions live in core.zones

_MONTH_NAMES = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_MON = b"(" + b"|".join(_MONTH_NAMES) + b")"

# Optional parts are written (?:x|), not (?:x)?: sre runs a branch much faster than a repeat of a group.
# Seconds, a dot fraction read with them by one float(), or a comma fraction (Python's logging) apart.
_SECONDS = rb"((?:[0-5]\d|60)(?:\.\d+|))(?:,(?<=:[0-5]\d,|:60,)(\d+)|)"
# ISO 8601 / RFC 3339 at the very start (the common case: one regex); groups: minute, seconds, comma, zone
_ISO = re.compile(
    rb"(\d{4}[-/][01]\d[-/][0-3]\d[Tt ][0-2]\d:[0-5]\d)(?::" + _SECONDS + rb"|)"
    # after a space only a full offset: "21:01:41 -12 items" is not a zone; no zone is b""
    rb"([Zz]|[+-][01]\d(?::?[0-5]\d|)| [+-][01]\d:?[0-5]\d| (?:UTC|GMT)\b|)"
)
# after blanks, an RFC 5424 "<PRI>1 " or a bracket
_ISO_LED = re.compile(rb"[ \t]*(?:<\d{1,3}>(?:1 |)|)\[?" + _ISO.pattern)
_LEADS = frozenset(b" \t<[")
# RFC 3164 syslog; groups: minute (month day HH:MM), month, day, hour, minute, seconds, comma
_SYSLOG = re.compile(rb"[ \t]*(?:<\d{1,3}>|)\[?(" + _MON + rb" ([ \d]?\d) ([0-2]\d):([0-5]\d)):" + _SECONDS)
# Apache/nginx; groups: minute (dd/Mon/yyyy:HH:MM), day, month, year, hour, minute, seconds, comma, zone
_CLF_TIME = rb"((\d\d)/" + _MON + rb"/(\d{4}):([0-2]\d):([0-5]\d)):" + _SECONDS + rb" ([+-][01]\d[0-5]\d)"
_CLF = re.compile(rb"\[" + _CLF_TIME + rb"\]")
_CLF_BARE = re.compile(rb"[ \t]*" + _CLF_TIME)  # as a --time-regex may cut it out of its brackets
_CLF_REACH = 160  # the bracket may follow a host and ident (about 100 bytes), then the time itself
# the first time field and its value if simple (a string without escapes, a number); groups: string, number
_JSON_FIELD = re.compile(
    rb'"(?:time|timestamp|ts|@timestamp)"\s*:\s*(?:"([^"\\]*)"|(-?\d+(?:\.\d+|)(?:[eE][+-]?\d+|))|)'
)
_JSON_KEYS = frozenset(("time", "timestamp", "ts", "@timestamp"))
_BLANKS = frozenset(b" \t")
_ZONES: dict[bytes, int] = {}  # seconds east of UTC of each zone text met


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

    A year-less time (syslog, a format without %Y) takes the year of ``now`` (default: the clock), or the
    year before if that puts it over a day ahead of ``now``; later ones follow the months, so January
    after December is in the next year. Not thread-safe: one parser per source.
    """

    def __init__(
        self,
        *,
        time_format: str | None = None,
        time_regex: str | None = None,
        tz: tzinfo | None = None,
        now: float | None = None,
    ) -> None:
        self._tz = None if tz is LOCAL else tz  # None: naive datetimes, which are local time
        self._now = now
        try:
            self._regex = None if time_regex is None else re.compile(time_regex.encode())
        except re.error as error:
            raise ValueError(f"time regex {time_regex!r}: {error}") from None
        self._utc: dict[bytes, float] = {}  # minute text -> its epoch as UTC (the line gives the offset)
        self._wall: dict[bytes, float] = {}  # minute text -> its epoch in tz
        self._dated: dict[bytes, tuple[int, int, float]] = {}  # year-less minute -> month, year, epoch
        self._month = self._year = 0  # of the last year-less time: the next one's year follows from it
        self._families: dict[str, Callable[[bytes], float | None]] = {
            "iso": self._iso,
            "syslog": self._syslog,
            "epoch": epoch_seconds,
            "epoch_ms": epoch_millis,
            "json": self._json,
            "clf": self._clf if time_regex is None else self._clf_text,
        }
        self._locked: Callable[[bytes], float | None] | None = None
        self._fast: Callable[[bytes], float | None] | None = None  # the whole parse, once it is settled
        self.family: str | None = None
        """The family detected (``custom`` with ``time_format``), or None while no line had a time."""
        if time_format is not None:
            self._format = time_format
            self._pattern, self._seconds, self._yearless = format_regex(time_format)
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

    def parse_many(self, lines: list[bytes]) -> list[float | None]:
        """``parse`` of each line; ISO lines of one layout (most logs) at C speed (``core.isobulk``)."""
        if self.family is None and lines:  # the first line with a time finds the family
            first = self.parse(lines[0])
            rest = self.parse_many(lines[1:]) if self.family is not None else list(map(self.parse, lines[1:]))
            return [first, *rest]
        if self.family == "iso" and self._regex is None and len(lines) > 1:
            from .isobulk import iso_many

            times = iso_many(lines, _ISO.match(lines[0]), self._iso_minute)
            if times is not None:
                return times
        return list(map(self.parse, lines))

    def keys_many(self, lines: list[bytes]) -> tuple[list[bytes], bytes, bool] | None:
        """The texts of the lines' times as keys to order by, if they can be (``core.isobulk.iso_keys``)."""
        if self.family is None and lines:
            self.parse(lines[0])  # the first line with a time finds the family, as parse_many does
        if self.family != "iso" or self._regex is not None or not lines:
            return None
        from .isobulk import iso_keys

        return iso_keys(lines, _ISO.match(lines[0]), self._iso_minute)

    def _iso_minute(self, minute: bytes, zoned: bool) -> float | None:
        cache = self._utc if zoned else self._wall
        base = cache.get(minute)
        if base is None:
            base = remember(
                cache, minute, UTC if zoned else self._tz,
                int(minute[:4]), int(minute[5:7]), int(minute[8:10]), int(minute[11:13]), int(minute[14:16]),
            )  # fmt: skip
        return base

    def _detect(self, line: bytes) -> float | None:
        if not line:
            return None
        first = line[0]
        if first in _BLANKS:  # every family allows blanks before the time: look past them
            stripped = line.lstrip(b" \t")
            first = stripped[0] if stripped else 32
        for name in _CANDIDATES[first]:
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
            if not line or line[0] not in _LEADS:
                return None
            match = _ISO_LED.match(line)
            if match is None:
                return None
        minute, sec, comma, zone = match.groups()
        base = (self._utc if zone else self._wall).get(minute)
        if base is None:
            base = self._iso_minute(minute, bool(zone))
            if base is None:
                return None
        if sec is not None:
            base += float(sec)
            if comma is not None:
                base += float(b"." + comma)
        if not zone:
            return base
        offset = _ZONES.get(zone)
        if offset is None:
            offset = _ZONES[zone] = offset_of(zone)  # a few forms of a few offsets: the dict stays small
        return base - offset

    def _clf(self, line: bytes) -> float | None:
        match = _CLF.search(line, 0, _CLF_REACH)
        return None if match is None else self._clf_time(match)

    def _clf_text(self, text: bytes) -> float | None:
        match = _CLF_BARE.match(text) or _CLF.search(text, 0, _CLF_REACH)
        return None if match is None else self._clf_time(match)

    def _clf_time(self, match: re.Match[bytes]) -> float | None:
        minute, sec, comma, zone = match.group(1, 7, 8, 9)
        base = self._utc.get(minute)
        if base is None:
            day, month, year, hour, minutes = match.group(2, 3, 4, 5, 6)
            base = remember(self._utc, minute, UTC, int(year), _MONTHS[month], int(day), int(hour), int(minutes))
            if base is None:
                return None
        base += float(sec)
        if comma is not None:
            base += float(b"." + comma)
        offset = _ZONES.get(zone)
        if offset is None:
            offset = _ZONES[zone] = offset_of(zone)
        return base - offset

    def _syslog(self, line: bytes) -> float | None:
        match = _SYSLOG.match(line)
        if match is None:
            return None
        minute, sec, comma = match.group(1, 6, 7)
        seconds = float(sec) if comma is None else float(sec) + float(b"." + comma)
        hit = self._dated.get(minute)
        if hit is not None and hit[0] == self._month and hit[1] == self._year:
            return hit[2] + seconds
        month = _MONTHS[match.group(2)]
        day, hour, minutes = int(match.group(3)), int(match.group(4)), int(match.group(5))
        found = self._in_year(minute, month, seconds, lambda year: epoch_of(self._tz, year, month, day, hour, minutes))
        return None if found is None else found + seconds

    def _in_year(self, key: bytes, month: int, seconds: float, stamp: Callable[[int], float | None]) -> float | None:
        """The epoch of a year-less time, but for its ``seconds`` (``stamp`` gives it for a year), remembered
        under ``key``: the year of the one before, plus one if the month went back by more than half a year
        (December, then January), minus one if it went forward so (lines a little out of order)."""
        if self._year:
            year = self._year + (self._month - month > 6) - (month - self._month > 6)
            found = stamp(year)
        else:
            now = time.time() if self._now is None else self._now
            year = datetime.fromtimestamp(now, self._tz).year
            found = stamp(year)
            if found is None or found + seconds > now + DAY:
                year -= 1
                found = stamp(year)
        if found is None:
            return None
        self._year, self._month = year, month
        if len(self._dated) >= CACHE_MAX:
            self._dated.clear()
        self._dated[key] = (month, year, found)
        return found

    def _json(self, line: bytes) -> float | None:
        if line[:1] != b"{":
            line = line.lstrip()
            if line[:1] != b"{":
                return None
        field = _JSON_FIELD.search(line, 1)
        if field is None:
            return None  # no time field (only an escaped key name would hide one)
        text, number = field.groups()
        # the fast path reads a flat object; a brace before the key may be a nested object: parse it all
        if (text is not None or number is not None) and line.find(b"{", 1, field.start()) < 0:
            return self._json_text(text) if text is not None else json_number(float(number))
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
                    return json_number(float(field))
                return None
        return None

    def _json_text(self, text: bytes) -> float | None:
        stamp = self._iso(text)
        if stamp is not None:
            return stamp
        try:
            return json_number(float(text))
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
            found = self._custom_yearless(key, extra)
        else:
            found = self._texts.get(key)
            if found is None:
                found = self._custom_dated(key)
        return None if found is None else found + extra

    def _custom_dated(self, key: bytes) -> float | None:
        try:
            when = datetime.strptime(key.decode(errors="replace"), self._format)
            found = aware(when, self._tz).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
        if len(self._texts) >= CACHE_MAX:
            self._texts.clear()
        self._texts[key] = found
        return found

    def _custom_yearless(self, key: bytes, seconds: float) -> float | None:
        try:
            # read in a leap year, so that Feb 29 is a date until the year is known
            when = datetime.strptime(key.decode(errors="replace") + " 2000", self._format + " %Y")
        except ValueError:
            return None

        def stamp(year: int) -> float | None:
            try:
                return aware(when.replace(year=year), self._tz).timestamp()
            except (ValueError, OverflowError, OSError):
                return None

        return self._in_year(key, when.month, seconds, stamp)


_KEYS = TimeParser()  # times the keys of keys_many: each a zoned ISO time, which no parser state changes
_KEYS.parse(b"2000-01-01T00:00:00Z")  # its family fixed now, not by whichever thread first uses it


def key_times(keys: list[bytes]) -> list[float]:
    """The times of keys from ``TimeParser.keys_many`` (each parsed as its line was; b"": ``-inf``)."""
    times = _KEYS.parse_many(keys)
    if None in times:  # only b"", the watermark of a source with no time yet (core.order)
        return [-math.inf if t is None else t for t in times]
    return times  # type: ignore[return-value]
