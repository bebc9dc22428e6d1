"""The times of many ISO 8601 lines of one layout at once, in a few C-level passes over them.

Pure. Parsing line by line costs about 1.5 µs a line in Python, more than all the rest of an exact
``--order time`` merge. Most logs write every time in one layout (``2026-11-25T21:01:41.123Z``), so a
chunk's lines are checked against the layout of its first line as a whole (their heads, digits made
zeros, equal the template) and timed with ``map`` over slices. The result equals ``TimeParser.parse`` of
each line; a chunk the check does not clear exactly is left to it (None here).

``iso_keys`` goes further for an exact merge: when a chunk's times share one layout and one zone, their
texts order as their times do, so the text itself (a slice of each line) is the key to order by, and no
time is computed at all (``core.timing``, ``core.order``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import add, itemgetter, sub

from .zones import offset_of

__all__ = ["iso_keys", "iso_many"]

_ZEROS = bytes.maketrans(b"123456789", b"000000000")
# after a time with no zone: what could make the parser read it otherwise (more digits, a fraction, a
# zone, "2026-11-25T21:01:41 +01:00", " UTC"); such chunks go line by line
_ZONE_LEADS = frozenset(b"0123456789.,+-Zz")
_SPACED_ZONE_LEADS = frozenset(b"+-UG")


def iso_many(
    lines: list[bytes], match: re.Match[bytes] | None, minute_epoch: Callable[[bytes, bool], float | None]
) -> list[float | None] | None:
    """The time of each line, when every line starts with a time laid out as the first one's; else None.

    ``match``: the parser's ISO regex on the first line (groups: minute, seconds, comma fraction, zone).
    ``minute_epoch(minute, zoned)`` is the parser's cached epoch of a minute's text (``line[:16]``; None:
    no such time)."""
    if match is None or match.group(2) is None or match.group(3) is not None:
        return None  # no time at the very start, no seconds, or a comma fraction: line by line
    end, (sec_start, sec_end), zone_start = match.end(), match.span(2), match.start(4)
    first = lines[0]
    n = len(lines)
    # the minute and the rest (":SS.fff" and the zone) of each line, each checked against the first's
    minutes = list(map(itemgetter(slice(0, 16)), lines))
    rests = list(map(itemgetter(slice(16, end)), lines))
    if b"".join(minutes).translate(_ZEROS) != first[:16].translate(_ZEROS) * n:
        return None  # a line with another layout, no time, or shorter than the time
    if b"".join(rests).translate(_ZEROS) != first[16:end].translate(_ZEROS) * n:
        return None
    if max(rests) >= b":61":  # the parser reads no seconds out of 61 (nor 6x): leave it to it
        return None
    zone = first[zone_start:end]
    if zone and any(c in b"0123456789" for c in zone):
        if len(set(map(itemgetter(slice(zone_start, end)), lines))) != 1:
            return None
    elif not zone:
        for after in set(map(itemgetter(slice(end, end + 2)), lines)):
            spaced = after[:1] in (b" ", b"\t") and after[1:2] != b"" and after[1] in _SPACED_ZONE_LEADS
            if after and (after[0] in _ZONE_LEADS or spaced):
                return None
    epochs: dict[bytes, float] = {}
    for minute in set(minutes):
        epoch = minute_epoch(minute, bool(zone))
        if epoch is None:
            return None  # not a date: the parser says so line by line
        epochs[minute] = epoch
    span = (sec_start - 16, sec_end - 16)
    secs: Iterable[float]
    if sec_end - sec_start <= 6:  # to the ms or coarser: a few thousand texts, remembered
        seconds = _SECONDS.get(span) or _SECONDS.setdefault(span, _Seconds(span))
        if len(seconds) > _SECONDS_MAX:
            seconds.clear()
        secs = map(seconds.__getitem__, rests)
    else:
        secs = map(float, map(itemgetter(slice(*span)), rests))
    # the same float operations, in the same order, as the parser's (base + float(seconds), then the
    # zone's offset off): the same times
    times: Iterable[float] = map(add, map(epochs.__getitem__, minutes), secs)
    offset = _offset(zone) if zone else 0
    if offset:  # x - 0 is x: UTC ("Z") skips the pass
        times = map(sub, times, repeat(offset))
    return list[float | None](times)


# a zone that ends the time whatever follows it: Z, or an offset with its minutes (not "+01", which
# "+0130" would extend, nor " UTC", which needs a word boundary after it)
_WHOLE_ZONE = re.compile(rb"[Zz]|[+-]\d\d:?\d\d")
_DIGITS = frozenset(b"0123456789")
# columns of the time whose digit the regex bounds (month, day, hour and minute tens), and what it allows
_BOUNDED = ((5, b"01"), (8, b"0123"), (11, b"012"), (14, b"012345"))
_MINUTE_TENS = frozenset(b"012345")
_KEY_FRACTION_MAX = 6  # µs: distinct texts of one layout are distinct floats (7 digits may round together)


def iso_keys(
    lines: list[bytes], match: re.Match[bytes] | None, minute_epoch: Callable[[bytes, bool], float | None]
) -> tuple[list[bytes], bytes, bool] | None:
    """Each line's time text as its key to order by, when every line starts with a time in the first one's
    layout and zone, in a form whose texts order exactly as ``TimeParser.parse`` times them; else None.

    Returns the keys, the layout (the first time with its digits made zeros, but for the zone's, which
    are kept: keys of two runs compare only when their layouts are equal) and whether the keys are in
    order. The form: seconds (not 60, which the parser reads as the next minute's 00), a dot fraction of
    at most 6 digits, a zone that no text after it can change (``Z``, ``+01:00``, ``+0100``); every date
    and hour a real one (the parser gives a line with a time that is not one none)."""
    if match is None or match.start() or match.group(2) is None or match.group(3) is not None:
        return None
    zone_start, end = match.span(4)
    (sec_start, sec_end), zone = match.span(2), match.group(4)
    if not _WHOLE_ZONE.fullmatch(zone) or sec_end - sec_start > 3 + _KEY_FRACTION_MAX:
        return None
    n = len(lines)
    keys = list(map(itemgetter(slice(0, end)), lines))
    joined = b"".join(keys)
    head = keys[0]
    if len(joined) != end * n or joined.translate(_ZEROS) != head.translate(_ZEROS) * n:
        return None  # a line with another layout, no time, or shorter than the time
    for column in range(zone_start, end):
        if head[column] in _DIGITS and joined[column::end].strip(head[column : column + 1]):
            return None  # another offset
    ordered = keys == sorted(keys)  # a sort of sorted keys is one comparison each, faster than map(le)
    last = keys[-1]
    if ordered and head[:13] == last[:13] and last[14] in _MINUTE_TENS:
        # in order within one hour: every line has the first one's date and hour (which the regex took),
        # and minutes up to the last one's; only the seconds (not 60 or more) are left to check
        bounded: tuple[tuple[int, bytes], ...] = ((sec_start, b"012345"),)
        minutes = {head[:16]}
    else:
        bounded = (*_BOUNDED, (sec_start, b"012345"))
        minutes = set(map(itemgetter(slice(0, 16)), keys))
    for column, allowed in bounded:
        # a digit the regex does not allow there (or seconds 60): what is left once the allowed ones are
        # deleted (a table lookup a byte, where strip() looks each byte up in ``allowed``: 7x slower)
        if joined[column::end].translate(None, allowed):
            return None
    for minute in minutes:
        if minute_epoch(minute, True) is None:
            return None  # not a date: the parser says so line by line
    return keys, head.translate(_ZEROS)[:zone_start] + zone, ordered


class _Seconds(dict[bytes, float]):
    """float() of the seconds in a time's rest (":SS.fffZ" -> SS.fff), remembered."""

    def __init__(self, span: tuple[int, int]) -> None:
        super().__init__()
        self._span = slice(*span)

    def __missing__(self, rest: bytes) -> float:
        value = self[rest] = float(rest[self._span])
        return value


def _offset(zone: bytes) -> int:
    offset = _OFFSETS.get(zone)
    if offset is None:
        offset = _OFFSETS[zone] = offset_of(zone)
    return offset


_OFFSETS: dict[bytes, int] = {}
_SECONDS_MAX = 1 << 17
_SECONDS: dict[tuple[int, int], _Seconds] = {}  # per span of the seconds in the rest (process-wide)
