"""Timed units: a source's lines (or records) one by one, each with the time at its start, kept or
skipped by a time window (``--since``/``--until``).

Pure: the parser is handed in (``core.timestamps.TimeParser.parse`` in a run), so this is tested with any
function from bytes to a time. Only runs that order by time or filter by a window pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .framing import Chunk

__all__ = ["SourceClock", "Timed", "Window"]

Timed = tuple[float | None, Chunk]
"""A unit (one line or one record) and its time: its own, or the time of the unit before it."""


@dataclass(frozen=True, slots=True)
class Window:
    """Keep units whose time is within ``since``..``until`` (epoch seconds; None: no bound)."""

    since: float | None = None
    until: float | None = None

    def keeps(self, time: float | None) -> bool:
        t = -math.inf if time is None else time
        return (self.since is None or t >= self.since) and (self.until is None or t <= self.until)

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None


class SourceClock:
    """One source's units with their times. A unit without a time of its own takes the time of the
    unit before it in the same source (a traceback's lines, a file's untimed first lines: no time yet)."""

    def __init__(self, parse: Callable[[bytes], float | None], window: Window | None = None) -> None:
        self._parse = parse
        self._window = window if window is not None and window.bounded else None
        self.last: float | None = None

    def units(self, chunks: list[Chunk]) -> list[Timed]:
        """Split ``chunks`` into units, each carrying its parsed time (``Chunk.time``); units outside the
        window are left out."""
        parse, window = self._parse, self._window
        out: list[Timed] = []
        last = self.last
        for c in chunks:
            if c.added_newline or c.record:
                own = parse(c.data)
                last = own if own is not None else last
                if window is None or window.keeps(last):
                    out.append((last, replace(c, time=own) if own is not None else c))
                continue
            file = c.file
            for data, end in c.line_ends():
                own = parse(data)
                last = own if own is not None else last
                if window is None or window.keeps(last):
                    out.append((last, Chunk(data, end, file=file, time=own)))
        self.last = last
        return out
