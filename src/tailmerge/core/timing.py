"""Timed runs: a source's lines (or records) with the time at the start of each, kept or skipped by a time
window (``--since``/``--until``).

Pure: the parser is handed in (``core.timestamps.TimeParser.parse`` in a run), so this is tested with any
function from bytes to a time. Only runs that order by time or filter by a window pay for it. A run keeps
its chunk's bytes as they are and knows where each unit ends in them, so ordering and windowing slice
bytes instead of making an object per line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import accumulate, repeat
from operator import add
from typing import Any

from .framing import Chunk

__all__ = ["NO_TIME", "Key", "SourceClock", "TimedRun", "Window"]

NO_TIME = -math.inf  # the time of units before a source's first timestamp: they go first


@dataclass(frozen=True, slots=True)
class Window:
    """Keep units whose time is within ``since``..``until`` (epoch seconds; None: no bound)."""

    since: float | None = None
    until: float | None = None

    def keeps(self, time: float) -> bool:
        return (self.since is None or time >= self.since) and (self.until is None or time <= self.until)

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None


Key = Any
"""What units are ordered by: a time (float), or within one run of an exact merge the time's own text
(bytes, ``TimeParser.keys_many``), which orders as the time does among keys of one layout."""


@dataclass(slots=True)
class TimedRun:
    """Units of one chunk: where each ends in ``chunk.data`` (``cuts``; None: counted from the units when
    asked), its key for ordering (its time, else the one before it; never decreasing within a source once
    ordered), its own parsed time (or None), and each unit's bytes without its last newline (made when
    timing split them; else on first use).

    A keyed run (``layout`` set) has the texts of its times as ``times``, all in that layout, and times
    them only when asked (``own``) or when the order stops comparing texts (``to_floats``). ``ordered``:
    its keys are known to be in order."""

    chunk: Chunk
    cuts: list[int] | None
    times: list[Key]
    parsed: list[float | None] | None
    units: list[bytes] | None = None
    layout: bytes | None = None
    ordered: bool = False
    keys: list[bytes] | None = None
    _at: tuple[int, int] = (0, 0)  # offset() memo: a unit, and where it starts

    @property
    def ends(self) -> list[int]:
        """Where each unit ends in ``chunk.data`` (just past its newline)."""
        if self.cuts is None:
            assert self.units is not None
            self.cuts = list(accumulate(map(add, map(len, self.units), repeat(1))))
        return self.cuts

    def offset(self, i: int) -> int:
        """Where unit ``i`` starts in ``chunk.data`` (``len(chunk.data)`` for the end): cheap when asked in
        ascending order, as releases take a run's units."""
        if self.cuts is not None or self.units is None:
            return self.ends[i - 1] if i else 0
        at, start = self._at
        if i < at:
            at, start = 0, 0
        start += sum(map(len, self.units[at:i])) + i - at
        self._at = (i, start)
        return start

    @property
    def own(self) -> list[float | None]:
        """Each unit's own time (None: it has none)."""
        if self.parsed is None:
            from .timestamps import key_times

            assert self.keys is not None
            self.parsed = list[float | None](key_times(self.keys))
        return self.parsed

    def to_floats(self) -> None:
        """A keyed run's keys become the times they stand for (the order compares times from now on)."""
        if self.layout is not None:
            from .timestamps import key_times

            self.times = key_times(self.times)
            self.layout = None

    def unit_bytes(self) -> list[bytes]:
        """Each unit's bytes, its last newline left off."""
        if self.units is None:
            c = self.chunk
            if c.added_newline or c.record:
                self.units = [c.data[:-1]]
            else:
                data = c.data
                self.units = [data[a : b - 1] for a, b in zip([0, *self.ends], self.ends, strict=False)]
        return self.units

    def piece(self, start: int, stop: int) -> Chunk:
        """Units ``start``..``stop`` as one chunk, their own times attached."""
        c = self.chunk
        own = tuple(self.own[start:stop])
        if start == 0 and stop == len(self.times):
            return replace(c, times=own)
        begin = self.ends[start - 1] if start else 0
        finish = self.ends[stop - 1]
        return Chunk(c.data[begin:finish], c.end - (len(c.data) - finish), file=c.file, times=own)


class SourceClock:
    """One source's chunks as timed runs. A unit without a time of its own takes the time of the unit
    before it in the same source (a traceback's lines; a file's untimed first lines: ``NO_TIME``).

    ``keyed``: whether runs may be keyed by their times' texts now (an exact merge asks its order); the
    parser's ``keys_many`` says whether a chunk's can be. Never with a window, whose bounds are times."""

    def __init__(
        self,
        parse: Callable[[bytes], float | None],
        window: Window | None = None,
        keyed: Callable[[], bool] | None = None,
    ) -> None:
        self._parse = parse
        # a TimeParser's own parse times many lines at once, far faster for most logs
        owner = getattr(parse, "__self__", None)
        many = getattr(owner, "parse_many", None)
        self._parse_many: Callable[[list[bytes]], list[float | None]] = many or self._each
        self._window = window if window is not None and window.bounded else None
        self._keys: Callable[[list[bytes]], tuple[list[bytes], bytes, bool] | None] | None = None
        if keyed is not None and self._window is None:
            self._keys = getattr(owner, "keys_many", None)
        self._keyed = keyed
        self.last: Key = NO_TIME

    def runs(self, chunks: list[Chunk]) -> list[TimedRun]:
        """``chunks`` as timed runs, leaving out the units outside the window (a gap splits a run)."""
        out: list[TimedRun] = []
        keys_many = self._keys if self._keys is not None and self._keyed is not None and self._keyed() else None
        for c in chunks:
            ends: list[int] | None
            if c.added_newline or c.record:
                units = [c.data]
                ends = [len(c.data)]
                kept = None
            else:
                units = c.data.split(b"\n")
                units.pop()  # the empty piece after the last newline
                ends = None  # counted when asked (what releases ask for, they ask in order: offset())
                kept = units  # a release joins them again (core.release)
            if keys_many is not None:
                found = keys_many(units)
                if found is not None:
                    keys, layout, ordered = found
                    self.last = keys[-1]
                    out.append(TimedRun(c, ends, keys, None, kept, layout, ordered, keys))
                    continue
            own = self._parse_many(units)
            last = self.last
            if isinstance(last, bytes):  # the chunk before was keyed: its last time as a time
                from .timestamps import key_times

                last = key_times([last])[0]
            if None in own:
                times = []
                for t in own:
                    if t is not None:
                        last = t
                    times.append(last)
                self.last = last
            else:  # every unit has its own time (most logs): no Python work per unit
                times = list[float](own)  # type: ignore[arg-type]
                self.last = times[-1]
            run = TimedRun(c, ends, times, own, kept)
            out.extend(self._windowed(run) if self._window is not None else [run])
        return out

    def _each(self, units: list[bytes]) -> list[float | None]:
        return list(map(self._parse, units))

    def _windowed(self, run: TimedRun) -> list[TimedRun]:
        assert self._window is not None
        keeps = [self._window.keeps(t) for t in run.times]
        if all(keeps):
            return [run]
        out = []
        i, n = 0, len(keeps)
        while i < n:
            if not keeps[i]:
                i += 1
                continue
            j = i
            while j < n and keeps[j]:
                j += 1
            piece = run.piece(i, j)
            base = run.ends[i - 1] if i else 0
            units = None if run.units is None else run.units[i:j]
            out.append(TimedRun(piece, [e - base for e in run.ends[i:j]], run.times[i:j], run.own[i:j], units))
            i = j
        return out
