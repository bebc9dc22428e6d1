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

from .framing import Chunk

__all__ = ["NO_TIME", "SourceClock", "TimedRun", "Window"]

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


@dataclass(slots=True)
class TimedRun:
    """Units of one chunk: where each ends in ``chunk.data``, its time for ordering (its own, else the one
    before it; never decreasing within a source once ordered), its own parsed time (or None), and each
    unit's bytes without its last newline (made when timing split them; else on first use)."""

    chunk: Chunk
    ends: list[int]
    times: list[float]
    own: list[float | None]
    units: list[bytes] | None = None

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
        if start == 0 and stop == len(self.ends):
            return replace(c, times=own)
        begin = self.ends[start - 1] if start else 0
        finish = self.ends[stop - 1]
        return Chunk(c.data[begin:finish], c.end - (len(c.data) - finish), file=c.file, times=own)


class SourceClock:
    """One source's chunks as timed runs. A unit without a time of its own takes the time of the unit
    before it in the same source (a traceback's lines; a file's untimed first lines: ``NO_TIME``)."""

    def __init__(self, parse: Callable[[bytes], float | None], window: Window | None = None) -> None:
        self._parse = parse
        # a TimeParser's own parse times many lines at once, far faster for most logs
        many = getattr(getattr(parse, "__self__", None), "parse_many", None)
        self._parse_many: Callable[[list[bytes]], list[float | None]] = many or self._each
        self._window = window if window is not None and window.bounded else None
        self.last = NO_TIME

    def runs(self, chunks: list[Chunk]) -> list[TimedRun]:
        """``chunks`` as timed runs, leaving out the units outside the window (a gap splits a run)."""
        out: list[TimedRun] = []
        for c in chunks:
            if c.added_newline or c.record:
                units = [c.data]
                ends = [len(c.data)]
                kept = None
            else:
                units = c.data.split(b"\n")
                units.pop()  # the empty piece after the last newline
                ends = list(accumulate(map(add, map(len, units), repeat(1))))
                kept = units  # a release joins them again (core.release)
            own = self._parse_many(units)
            if None in own:
                times = []
                last = self.last
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
