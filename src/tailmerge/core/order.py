"""Time order: a reorder buffer that releases the lines (or records) of many sources by timestamp.

Pure: units go in with their time and the time they arrived, releases come out in time order, and the
caller says what the clock reads. Each source's own order is never changed (each release is a stable
sort of the per-source slices that go, by time, equal times in source order: ``core.release``), so the
merged output keeps every file's order, and a checkpoint of what was released never skips a line.

Two modes:

* exact (``lateness=None``, ``--no-follow``): a unit is released once no source that may still deliver
  an earlier one is left: every other source has a later unit queued, has passed its time, or has ended.
* live (``lateness`` seconds): the same, except that a unit is never held longer than ``lateness`` after
  it arrived, and a source quiet for ``lateness`` holds no one back. A unit that comes after later ones
  were released is released at once and counted in ``late``.

A unit with no time of its own takes the time of the unit before it in its source (the first ones of a
file with no time go first); a unit earlier than the one before it in its source is held as if it had
that one's time, so that each source's units stay in their order.

Keys: an exact merge orders by the text of each time while every run is keyed in one layout
(``core.timing.TimedRun``); the first run that is not (another layout or zone, a line without a time,
a time the text would misorder) turns every key held, and every watermark, into the time it stands for,
and the order compares times from then on (one way: it never goes back to texts).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from operator import le

from .release import Release, Segment
from .timing import NO_TIME, Key, TimedRun

__all__ = ["Release", "TimeOrder"]


@dataclass(slots=True)
class _Queue:
    """One source's runs not yet released, the first from unit ``pos`` on."""

    runs: deque[TimedRun] = field(default_factory=deque)
    pos: int = 0
    last_time: Key = NO_TIME  # the time of its last unit (its watermark): it will not go back before it
    last_arrival: float = 0.0
    held: int = 0  # bytes of its runs not wholly released (a run counts whole until its last unit goes)
    done: int = 0  # bytes of its runs wholly released
    added: int = 0  # units queued so far
    released: int = 0  # of which released
    ended: bool = False


@dataclass(slots=True)
class _Arrival:
    """Units of one source that arrived together: when, and the time and count they end at."""

    at: float
    key: int
    last_time: Key
    upto: int  # the source's ``added`` count after them


_TIMES = b"times"  # the order compares times (not a layout: a layout is the text of a time)


class TimeOrder:
    """A reorder buffer over sources known by an integer key (their place in the merge)."""

    def __init__(self, lateness: float | None) -> None:
        self.lateness = lateness
        self._queues: dict[int, _Queue] = {}
        self._waiting = 0  # sources with units queued
        self._arrivals: deque[_Arrival] = deque()  # live mode: the oldest first
        self._released_time: Key = NO_TIME
        # what keys are: None (no run yet), a layout (the texts of times in it), or _TIMES
        self._layout: bytes | None = None if lateness is None else _TIMES
        self._bottom: Key = NO_TIME  # lower than any key: the watermark of a source with no time yet
        self._top: Key = math.inf  # higher than any key
        self.late = 0
        """Units that came after later ones had been released (live mode)."""

    @property
    def keyed(self) -> bool:
        """Whether runs keyed by their times' texts are still welcome (else they are timed as they come)."""
        return self._layout is not _TIMES

    def add_source(self, key: int, now: float) -> None:
        self._queues[key] = _Queue(last_time=self._bottom, last_arrival=now)
        if any(k > key for k in self._queues):  # releases go through the sources in key order
            self._queues = dict(sorted(self._queues.items()))

    def end(self, key: int) -> None:
        """The source is finished: it will add nothing more, so it holds no one back."""
        self._queues[key].ended = True

    def held(self, key: int) -> int:
        """Bytes of ``key``'s runs not wholly released yet: a run counts whole until its last unit goes, so
        that no unit's bytes are counted as it goes (a ``len()`` per unit)."""
        q = self._queues.get(key)
        return 0 if q is None else q.held

    def released_bytes(self, key: int) -> int:
        """Bytes of ``key``'s source released so far (a newline tailmerge added is not among them)."""
        q = self._queues.get(key)
        if q is None:
            return 0
        return q.done + (q.runs[0].offset(q.pos) if q.pos else 0)  # and where its first held run was cut

    @property
    def empty(self) -> bool:
        return not self._waiting

    def add(self, key: int, runs: list[TimedRun], now: float) -> list[Release]:
        """Queue a source's runs (in its order); return units released at once because they are late."""
        q = self._queues[key]
        q.last_arrival = now
        late: list[Segment] = []
        for run in runs:
            if run.layout != self._layout if run.layout is not None else self._layout is not _TIMES:
                self._align(run)
            times = run.times
            # a unit earlier than the one before it in its source waits as if it had that one's time
            if times[0] < q.last_time or not (run.ordered or all(map(le, times, islice(times, 1, None)))):
                last = q.last_time
                times = run.times = list(times)  # a keyed run's keys stay as they were (its own times)
                for i, t in enumerate(times):
                    last = times[i] = t if t > last else last
            q.last_time = times[-1]
            start = 0
            if not q.runs and self.lateness is not None and times[0] < self._released_time:
                # later units were released already: holding these cannot put them back in place
                start = bisect_left(times, self._released_time)
                self.late += start
                late.append(Segment(run, 0, start))
                if start == len(times):
                    q.done += _size(run)
                    continue
                q.pos = start  # the run is queued from its first unit on time
            if not q.runs:
                self._waiting += 1
            q.runs.append(run)
            q.held += len(run.chunk.data)
            q.added += len(times) - start
        if self.lateness is not None and q.runs:
            self._arrivals.append(_Arrival(now, key, q.last_time, q.added))
        return [Release.of(key, late)] if late else []

    def release(self, now: float) -> list[Release]:
        """Units that may go now, in time order, as one release (or none)."""
        if not self._waiting:
            return []
        # A unit (t, key) goes when no source that may still send an earlier one is behind it: every
        # source that blocks may still send units from its last time on, so the first of their (last time,
        # key) bounds what goes (inclusive: only that source has its key). Equal times: the source given
        # first goes first. Live mode: a unit whose lateness ran out goes, and every unit up to its time.
        bound_time, bound_key = self._top, math.inf
        for key, q in self._queues.items():
            if q.last_time < bound_time and self._blocks(q, now):  # in key order: the first of equal times
                bound_time, bound_key = q.last_time, key
        expired = self._expired_until(now)
        parts: list[tuple[int, list[Segment]]] = []
        times: list[float] = []
        for key, q in self._queues.items():
            if q.runs:
                cut = bisect_right if key <= bound_key else bisect_left
                segments = self._take(q, cut, bound_time, expired, times)
                if segments:
                    parts.append((key, segments))
        if not parts:
            return []
        if self.lateness is not None:  # what comes later than this is late (live mode)
            self._released_time = max(self._released_time, max(times))
        # sorted when asked (by one C-level stable sort of the parts' times, concatenated in key order)
        return [Release(parts, times if len(parts) > 1 else None)]

    def _take(
        self, q: _Queue, cut: Callable[[list[float], float, int], int], bound: float, expired: float, times: list[float]
    ) -> list[Segment]:
        """The source's units before the bound (by ``cut``) or up to ``expired``; their times go to ``times``."""
        segments: list[Segment] = []
        while q.runs:
            run = q.runs[0]
            pos = q.pos
            stop = cut(run.times, bound, pos)
            if self.lateness is not None:
                stop = max(stop, bisect_right(run.times, expired, pos))
            if stop == pos:
                break
            segments.append(Segment(run, pos, stop))
            times += run.times[pos:stop]
            q.released += stop - pos
            if stop < len(run.times):
                q.pos = stop
                break
            q.runs.popleft()
            q.pos = 0
            q.held -= len(run.chunk.data)
            q.done += _size(run)
            if not q.runs:
                self._waiting -= 1
        return segments

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

    # -- keys ------------------------------------------------------------------------------------

    def _align(self, run: TimedRun) -> None:
        """Make ``run``'s keys comparable with the held ones: the first keyed run sets the layout; a run of
        another layout or timed already turns the order to times (and ``run`` with it)."""
        if self._layout is None and run.layout is not None:  # the first run: nothing held, no watermark
            self._layout, self._bottom, self._top = run.layout, b"", b"\xff"  # time texts are ASCII
            self._released_time = b""
            for q in self._queues.values():
                q.last_time = b""
            return
        if self._layout is not _TIMES:
            from .timestamps import key_times

            def timed(key: Key) -> Key:
                return key_times([key])[0] if isinstance(key, bytes) else key

            self._layout, self._bottom, self._top = _TIMES, NO_TIME, math.inf
            self._released_time = timed(self._released_time)
            for q in self._queues.values():
                q.last_time = timed(q.last_time)
                for held in q.runs:
                    held.to_floats()
        run.to_floats()

    # -- what holds units back ------------------------------------------------------------------

    def _blocks(self, q: _Queue, now: float) -> bool:
        """Whether a source with nothing queued may still deliver a unit earlier than what is queued."""
        if q.ended:
            return False
        return self.lateness is None or now - q.last_arrival < self.lateness

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


def _size(run: TimedRun) -> int:
    """Bytes of the source a run covers (a newline tailmerge added is not among them)."""
    c = run.chunk
    return c.end - c.start
