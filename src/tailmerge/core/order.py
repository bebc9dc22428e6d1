"""Time order: a reorder buffer that releases the lines (or records) of many sources by timestamp.

Pure: units go in with their time and the time they arrived, releases come out in time order, and the
caller says what the clock reads. Each source's own order is never changed (a k-way merge of per-source
queues, stable by source for equal times), so the merged output keeps every file's order, and a
checkpoint of what was released never skips a line.

Two modes:

* exact (``lateness=None``, ``--no-follow``): a unit is released once no source that may still deliver
  an earlier one is left: every other source has a later unit queued, has passed its time, or has ended.
* live (``lateness`` seconds): the same, except that a unit is never held longer than ``lateness`` after
  it arrived, and a source quiet for ``lateness`` holds no one back. A unit that comes after later ones
  were released is released at once and counted in ``late``.

A unit with no time of its own takes the time of the unit before it in its source (the first ones of a
file with no time go first); a unit earlier than the one before it in its source is held as if it had
that one's time, so that each source's units stay in their order.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise

from .framing import Chunk
from .timing import NO_TIME, TimedRun

__all__ = ["Release", "TimeOrder"]


@dataclass(slots=True)
class _Queue:
    """One source's runs not yet released, the first from unit ``pos`` on."""

    runs: deque[TimedRun] = field(default_factory=deque)
    pos: int = 0
    last_time: float = NO_TIME  # the time of its last unit (its watermark): it will not go back before it
    last_arrival: float = 0.0
    held: int = 0  # bytes
    added: int = 0  # units queued so far
    released: int = 0  # of which released
    ended: bool = False

    @property
    def head(self) -> float:
        return self.runs[0].times[self.pos]


@dataclass(slots=True)
class _Arrival:
    """Units of one source that arrived together: when, and the time and count they end at."""

    at: float
    key: int
    last_time: float
    upto: int  # the source's ``added`` count after them


Release = tuple[int, list[Chunk]]
"""A source's key and its units released together, in their order."""


class TimeOrder:
    """A reorder buffer over sources known by an integer key (their place in the merge)."""

    def __init__(self, lateness: float | None) -> None:
        self.lateness = lateness
        self._queues: dict[int, _Queue] = {}
        self._heads: list[tuple[float, int]] = []  # (time, key) of each non-empty queue's first unit
        self._arrivals: deque[_Arrival] = deque()  # live mode: the oldest first
        self._released_time = NO_TIME
        self.late = 0
        """Units that came after later ones had been released (live mode)."""

    def add_source(self, key: int, now: float) -> None:
        self._queues[key] = _Queue(last_arrival=now)

    def end(self, key: int) -> None:
        """The source is finished: it will add nothing more, so it holds no one back."""
        self._queues[key].ended = True

    def held(self, key: int) -> int:
        """Bytes of ``key``'s units not released yet."""
        q = self._queues.get(key)
        return 0 if q is None else q.held

    @property
    def empty(self) -> bool:
        return not self._heads

    def add(self, key: int, runs: list[TimedRun], now: float) -> list[Release]:
        """Queue a source's runs (in its order); return units released at once because they are late."""
        q = self._queues[key]
        q.last_arrival = now
        late: list[Chunk] = []
        for run in runs:
            times = run.times
            # a unit earlier than the one before it in its source waits as if it had that one's time
            if times[0] < q.last_time or any(b < a for a, b in pairwise(times)):
                last = q.last_time
                for i, t in enumerate(times):
                    last = times[i] = t if t > last else last
            start = 0
            if not q.runs and self.lateness is not None and times[0] < self._released_time:
                # later units were released already: holding these cannot put them back in place
                start = bisect_left(times, self._released_time)
                self.late += start
                late.append(run.piece(0, start))
                if start == len(times):
                    q.last_time = times[-1]
                    continue
                run = TimedRun(run.piece(start, len(times)), [e - run.ends[start - 1] for e in run.ends[start:]],
                               times[start:], run.own[start:])  # fmt: skip
            if not q.runs:
                heapq.heappush(self._heads, (run.times[0], key))
            q.runs.append(run)
            q.held += len(run.chunk.data)
            q.added += len(run.times)
            q.last_time = run.times[-1]
        if self.lateness is not None and q.runs:
            self._arrivals.append(_Arrival(now, key, q.last_time, q.added))
        return [(key, late)] if late else []

    def release(self, now: float) -> list[Release]:
        """Units that may go now, in time order; runs of one source's units come as one release."""
        out: list[Release] = []
        if not self._heads:
            return out
        # (time, key) bounds: a unit goes when it comes before every source that may still send an
        # earlier one (equal times: the source given first goes first), or when its lateness ran out
        bound, expired = self._bound(now), (self._expired_until(now), math.inf)
        cap = max(bound, expired)
        heads = self._heads
        while heads and heads[0] < cap:
            _, key = heapq.heappop(heads)
            q = self._queues[key]
            rival = min(cap, heads[0]) if heads else cap
            chunks = self._take(q, key, rival)
            if q.runs:
                heapq.heappush(heads, (q.head, key))
            elif self._blocks(q, now):  # it may yet deliver units from its last time on
                bound = min(bound, (q.last_time, key))
                cap = max(bound, expired)
            out.append((key, chunks))
        return out

    def _take(self, q: _Queue, key: int, rival: tuple[float, float]) -> list[Chunk]:
        """The source's units that come before ``rival`` (time, key), as chunks."""
        chunks: list[Chunk] = []
        rival_time, rival_key = rival
        while q.runs:
            run = q.runs[0]
            # units (t, key) < rival: t < rival_time, or t == rival_time when this source comes first
            cut = bisect_right if key < rival_key else bisect_left
            stop = cut(run.times, rival_time, q.pos)
            if stop == q.pos:
                break
            chunks.append(run.piece(q.pos, stop))
            q.released += stop - q.pos
            self._released_time = run.times[stop - 1]
            if stop < len(run.times):
                q.held -= run.ends[stop - 1] - (run.ends[q.pos - 1] if q.pos else 0)
                q.pos = stop
                break
            q.held -= len(run.chunk.data) - (run.ends[q.pos - 1] if q.pos else 0)
            q.runs.popleft()
            q.pos = 0
        return chunks

    def flush(self) -> list[Release]:
        """Every unit still held, in time order (the run is over)."""
        for q in self._queues.values():
            q.ended = True
        self._arrivals.clear()
        return self.release(math.inf)

    def next_deadline(self) -> float | None:
        """When a release may become due by the clock alone (live mode): a held unit's lateness runs out."""
        if self.lateness is None:
            return None
        self._drop_released()
        return self._arrivals[0].at + self.lateness if self._arrivals else None

    # -- what holds units back ------------------------------------------------------------------

    def _blocks(self, q: _Queue, now: float) -> bool:
        """Whether a source with nothing queued may still deliver a unit earlier than what is queued."""
        if q.ended:
            return False
        return self.lateness is None or now - q.last_arrival < self.lateness

    def _bound(self, now: float) -> tuple[float, float]:
        """Units before this (time, key) may go: no source that blocks is behind it."""
        bound = (math.inf, math.inf)
        for key, q in self._queues.items():
            if not q.runs and self._blocks(q, now):
                bound = min(bound, (q.last_time, key))
        return bound

    def _expired_until(self, now: float) -> float:
        """Live mode: the latest time of the units held ``lateness`` or longer (they go, and all before them)."""
        if self.lateness is None:
            return NO_TIME
        self._drop_released()
        latest = NO_TIME
        cutoff = now - self.lateness
        for arrival in self._arrivals:
            if arrival.at > cutoff:
                break
            latest = max(latest, arrival.last_time)
        return latest

    def _drop_released(self) -> None:
        arrivals = self._arrivals
        while arrivals and self._queues[arrivals[0].key].released >= arrivals[0].upto:
            arrivals.popleft()
