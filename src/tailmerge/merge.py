"""The central merge stage: every batch of every source passes through one object, in one order.

It gives each batch its place in the merged stream and fans it out to every sink, in that order. The
threads engine enters it from its follower threads under a lock (the design note's lock around the
writer); the asyncio and mixed engines enter it on the event loop. It sees every source's progress, so it
also keeps the run's activity clock (idle time) and what each source contributed. This is where ordering
by time and committing checkpoints plug in.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from .bridge import StopToken
from .core import Chunk
from .sinks import Batch, Origin, Sink

__all__ = ["Merge"]


class Merge:
    """Order, account and fan out. ``enter`` from threads; ``aenter`` on the loop (not both in one run)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self._seq = 0
        self.origins: list[Origin] = []
        self.consumed: dict[str, int] = {}
        """Bytes of each source path merged (lines are not counted: raw output never looks at each line)."""
        self.last_activity = time.monotonic()

    def start(self, token: StopToken) -> None:
        for sink in self.sinks:
            sink.start(token)

    def add_sources(self, paths: Sequence[str]) -> list[Origin]:
        """Sources join the merge (thread-safe); every sink hears of them, together."""
        with self._lock:
            start = len(self.origins)
            origins = [Origin(i, path) for i, path in enumerate(paths, start)]
            self.origins.extend(origins)
            for sink in self.sinks:
                sink.add_sources(origins)
        return origins

    def _place(self, origin: Origin, chunks: list[Chunk]) -> Batch:
        self._seq += 1
        batch = Batch(self._seq, origin, chunks)
        self.consumed[origin.path] = self.consumed.get(origin.path, 0) + batch.consumed
        self.last_activity = time.monotonic()
        return batch

    def enter(self, origin: Origin, chunks: list[Chunk]) -> None:
        """Hand a source's lines over from a thread; a block sink may hold this thread (backpressure)."""
        with self._lock:
            batch = self._place(origin, chunks)
            for sink in self.sinks:
                sink.put(batch)

    async def aenter(self, origin: Origin, chunks: list[Chunk]) -> None:
        """Hand a source's lines over on the loop; awaits room in block sinks."""
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            batch = self._place(origin, chunks)
            for sink in self.sinks:
                await sink.aput(batch)

    def finish(self, timeout: float | None = None) -> int:
        """No more batches: let each sink deliver what it holds (at most ``timeout`` seconds in all);
        return the bytes that could not be delivered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        unwritten = 0
        for sink in self.sinks:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            unwritten += sink.finish(left)
        return unwritten
