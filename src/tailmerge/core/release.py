"""What time order releases at once: the units of several sources, merged by time, as one object.

Pure. When files interleave line by line, every line is a run of its own; making a chunk, a batch and a
formatted buffer per run cost about 12 µs a line. A release instead keeps, per source, the slices of its
runs that go (``Segment``) and their times, and the merged order comes from one C-level stable sort, so a
raw sink joins the units into one buffer with no per-line Python code, and the labeled and JSONL formats
build theirs in a few C-level passes too (``sinks.formats``). Sinks that need each run (``follow()``'s
lines, the headers format) expand it with ``runs()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import groupby

from .framing import Chunk
from .timing import Key, TimedRun

__all__ = ["Release", "Segment"]


@dataclass(frozen=True, slots=True)
class Segment:
    """Units ``start``..``stop`` of a timed run. Its bytes are counted only when asked (``begin``, ``finish``,
    ``size``, ``end``: a progress bar, a checkpoint): counting them was a ``len()`` per unit of every
    release, a twentieth of an exact merge's time, for a raw output that never needs them."""

    run: TimedRun
    start: int
    stop: int

    @property
    def begin(self) -> int:
        """Where its bytes start in the run's chunk."""
        return self.run.offset(self.start)

    @property
    def finish(self) -> int:
        """Where its bytes end in the run's chunk."""
        return self.run.offset(self.stop)

    def chunk(self, start: int = 0, stop: int | None = None) -> Chunk:
        """Its units ``start``..``stop`` (relative to the segment) as one chunk, their own times attached."""
        return self.run.piece(self.start + start, self.stop if stop is None else self.start + stop)

    @property
    def end(self) -> int:
        """The source offset just past its last unit."""
        c = self.run.chunk
        return c.end - (len(c.data) - self.finish)

    @property
    def size(self) -> int:
        """Bytes of the source it covers (a newline tailmerge added is not among them)."""
        begin = self.begin  # first: a run counts its bytes onward from where it was last asked
        return self.finish - begin - (self.run.chunk.added_newline and self.stop == len(self.run.times))


@dataclass(slots=True)
class Release:
    """Units released together. ``parts``: per source key (ascending), its segments in its order;
    ``times``: the keys of every part's units, concatenated in that order (None: that concatenation is
    the merged order, as when one source goes alone)."""

    parts: list[tuple[int, list[Segment]]]
    times: list[Key] | None = None
    _order: list[int] | None = None

    @property
    def order(self) -> list[int] | None:
        """The merged order, as indexes into the concatenation of every part's units (None: that order)."""
        if self._order is None and self.times is not None:
            times = self.times
            # stable: equal times keep the lower key first, and each source's own order
            self._order = sorted(range(len(times)), key=times.__getitem__)
        return self._order

    @classmethod
    def of(cls, key: int, segments: list[Segment]) -> Release:
        return cls([(key, segments)])

    def __len__(self) -> int:
        return sum(s.stop - s.start for _, segs in self.parts for s in segs)

    @property
    def keys(self) -> list[int]:
        return [key for key, _ in self.parts]

    def lines(self) -> list[bytes]:
        """Each unit's bytes, its last newline left off, in the merged order."""
        units: list[bytes] = []
        for _, segments in self.parts:
            for s in segments:
                units += s.run.unit_bytes()[s.start : s.stop]
        if self.times is None:
            return units
        if self._order is not None:
            return list(map(units.__getitem__, self._order))
        # The units sorted by their times, as one stable sort: sorted() asks each unit's key once, in
        # order, so the key of the i-th unit is the i-th time. No index per unit, nor a pass to look the
        # units up by them (about a third less than the order's sort and lookups). In place: a copy
        # would touch every unit twice more (its reference counted up, then down)
        units.sort(key=partial(next, iter(self.times)))
        return units

    def runs(self) -> list[tuple[int, list[Chunk]]]:
        """The release as runs of one source's units in the merged order (key, chunks)."""
        if self.order is None or len(self.parts) == 1:
            return [(key, [s.chunk() for s in segments]) for key, segments in self.parts]
        # which part each unit of the concatenation belongs to, then the runs of equal parts in order
        counts = [sum(s.stop - s.start for s in segs) for _, segs in self.parts]
        owner = [p for p, n in enumerate(counts) for _ in range(n)]
        cursors = [_Cursor(segs) for _, segs in self.parts]
        out: list[tuple[int, list[Chunk]]] = []
        for p, group in groupby(map(owner.__getitem__, self.order)):
            out.append((self.parts[p][0], cursors[p].take(sum(1 for _ in group))))
        return out


class _Cursor:
    """Takes a part's units from its start, ``n`` at a time, as chunks."""

    def __init__(self, segments: list[Segment]) -> None:
        self._segments = segments
        self._i = 0  # segment
        self._at = 0  # unit within it

    def take(self, n: int) -> list[Chunk]:
        out = []
        while n:
            s = self._segments[self._i]
            k = min(n, s.stop - s.start - self._at)
            out.append(s.chunk(self._at, self._at + k))
            n -= k
            self._at += k
            if self._at == s.stop - s.start:
                self._i += 1
                self._at = 0
        return out
