"""The merge as :class:`Line` objects, for ``follow()`` and ``afollow()`` (block policy), or for a
consumer that may fall behind and must never slow the merge (lag policy: the oldest lines are dropped and
counted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..bridge.handoff import Handoff
from ..core import Identity
from .contract import Batch, Handed, Interleaved, Origin, as_chunks

if TYPE_CHECKING:
    from ..bridge.stop import StopToken

__all__ = ["Line", "LineQueue", "batch_lines", "batches_of", "lines_of"]

LINES_AHEAD = 4096


@dataclass(frozen=True, slots=True)
class Line:
    """One complete line: its source path, its bytes (newline included), the offset just past it in its
    file, and that file's identity (an offset is only meaningful with it: after rotation the path names
    another file). ``cut``: a piece of a line longer than ``max_line_bytes``, not its last. ``time``: the
    epoch seconds at the start of the line (or record), when the run times lines (``order="time"``,
    ``since``, ``until``) and one was found."""

    path: str
    data: bytes
    offset: int
    file: Identity | None = None
    cut: bool = False
    time: float | None = None

    @property
    def text(self) -> str:
        """The line without its newline (nor a CR before it), decoded as UTF-8 (undecodable bytes replaced)."""
        end = -2 if self.data.endswith(b"\r\n") else -1
        return self.data[:end].decode("utf-8", "replace")

    @property
    def inode(self) -> int | None:
        return self.file.ino if self.file is not None else None


def batch_lines(batch: Batch) -> list[Line]:
    """The lines (records) of one batch."""
    path = batch.origin.path
    lines = []
    for c in as_chunks(batch.chunks):
        if c.added_newline:
            lines.append(Line(path, c.data, c.end, c.file, c.cut, c.times[0] if c.times else None))
        elif c.times is not None:
            lines.extend(
                Line(path, data, end, c.file, time=t) for (data, end), t in zip(c.line_ends(), c.times, strict=True)
            )
        else:
            lines.extend(Line(path, data, end, c.file) for data, end in c.line_ends())
    return lines


def batches_of(handed: Handed) -> list[Batch]:
    """A hand-over's batches of one source each (a time order release, split into its runs)."""
    return handed.batches() if isinstance(handed, Interleaved) else [handed]


def lines_of(batches: Sequence[Handed]) -> list[Line]:
    """The lines of a hand-over, in merged order."""
    return [line for handed in batches for batch in batches_of(handed) for line in batch_lines(batch)]


class LineQueue:
    """Batches of lines for one consumer, bounded in lines. ``policy`` block: the merge waits for the
    consumer; lag: the oldest lines are dropped and counted in ``missed``."""

    step_bytes = 256 << 10
    """The most a source reads in one step for this sink: each line becomes an object, and a step of 8 MiB
    of short lines made 645,000 before the first reached the consumer (1.7-2.0 s), and as many again had to
    be made before a consumer that left could be let go."""

    def __init__(self, limit: int = LINES_AHEAD, policy: Literal["block", "lag"] = "block") -> None:
        self.policy = policy
        self._queue: Handoff[list[Line]] = Handoff(limit, policy)

    def start(self, token: StopToken) -> None:
        token.on_stop(self._queue.release)

    def add_sources(self, origins: Sequence[Origin]) -> None:
        pass

    def put(self, batches: Sequence[Handed]) -> None:
        lines = lines_of(batches)
        self._queue.put(lines, len(lines))

    async def aput(self, batches: Sequence[Handed]) -> None:
        lines = lines_of(batches)
        await self._queue.aput(lines, len(lines))

    def finish(self, timeout: float | None) -> int:
        self._queue.end()
        return 0

    # -- the consumer's side --------------------------------------------------------------------

    @property
    def missed(self) -> int:
        """Lines dropped because the consumer fell behind (lag policy)."""
        return self._queue.dropped_size

    def wake(self) -> None:
        """Wake a consumer waiting in ``get()`` (which goes on waiting: its thread runs pending signal
        handlers meanwhile)."""
        self._queue.wake()

    def get(self) -> list[list[Line]] | None:
        """Every batch queued, waiting in this thread for one; None once the merge has ended."""
        return self._queue.get()

    async def aget(self) -> list[list[Line]] | None:
        """Every batch queued, awaiting one; None once the merge has ended."""
        return await self._queue.aget()

    def close(self) -> None:
        """The consumer left: drop what is queued and let the merge go on."""
        self._queue.close()
