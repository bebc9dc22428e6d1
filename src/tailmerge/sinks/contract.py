"""What every sink agrees to: what it is handed, and how it takes backpressure.

The merge stage hands each sink every batch, in the merged order (the batches of one hand-over together:
time order releases many short runs at once), through one of two faces: ``put``
from a thread (the threads engine, under the merge lock) or ``aput`` on the event loop. A sink's
``policy`` says what happens when it cannot keep up:

* ``block``: the producer waits for room (a file, standard output, the ``follow()`` queue; later a
  broker). Nothing is lost; a stalled consumer slows the merge.
* ``lag``: the oldest batches are dropped and counted (later: a live viewer). The merge never waits.

A write that could block the loop (a full pipe, fsync) never runs on the loop thread: it happens in the
sink's own thread, and ``aput`` awaits room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ..bridge.stop import StopToken
    from ..core import Chunk, Span, Spans
    from ..core.release import Release

__all__ = ["Batch", "Handed", "Interleaved", "Origin", "Sink", "as_chunks", "span_switch"]


@dataclass(frozen=True, slots=True)
class Origin:
    """One source as sinks know it: its path as given (or as a glob produced it) and its place."""

    index: int
    path: str


@dataclass(slots=True)  # not frozen: cheaper to make (time order makes one per run)
class Batch:
    """Complete lines of one source, with their place in the merged stream: as bytes (``Chunk``), or left
    in their file for the kernel to move (``Span``: only when every sink is a raw output)."""

    seq: int
    origin: Origin
    chunks: Sequence[Chunk | Span]

    @property
    def consumed(self) -> int:
        """Bytes of the source these lines cover (a newline tailmerge added is not among them)."""
        return sum(c.end - c.start for c in self.chunks)


@dataclass(slots=True)
class Interleaved:
    """Units of several sources in time order, with their place in the merged stream (one release of
    ``--order time``: raw, labeled and JSONL sinks format its units together; headers and ``follow()``
    take it as ``batches()``)."""

    seq: int
    origins: Sequence[Origin]  # indexed by a source's key
    release: Release

    def batches(self) -> list[Batch]:
        """The release as batches of one source's lines each, in order (all with this one's place)."""
        return [Batch(self.seq, self.origins[key], chunks) for key, chunks in self.release.runs()]

    @property
    def consumed(self) -> int:
        return sum(s.size for _, segments in self.release.parts for s in segments)


Handed = Batch | Interleaved


def span_switch(sinks: Sequence[Sink]) -> Spans | None:
    """The switch for spans, given to each sink's output, when every sink is a raw output into a regular
    file or a pipe (``FileSink.span_output``); None otherwise. ``TAILMERGE_SPANS=0`` turns spans off (to
    compare the two paths)."""
    import os

    from ..core.framing import Spans

    if os.environ.get("TAILMERGE_SPANS") == "0":
        return None
    outputs = [getattr(sink, "span_output", None) for sink in sinks]
    taking = [output() for output in outputs if output is not None]
    if not sinks or len(taking) < len(sinks) or any(o is None for o in taking):
        return None
    spans = Spans()
    for o in taking:
        o.spans = spans
    return spans


def as_chunks(chunks: Sequence[Chunk | Span]) -> Sequence[Chunk]:
    """Lines whose bytes a format or a consumer needs: never spans (made for raw outputs only)."""
    from ..core.framing import Span

    if any(isinstance(c, Span) for c in chunks):
        raise TypeError("a span reached a sink that needs bytes; spans are made for raw outputs only")
    return chunks  # type: ignore[return-value]  # checked just above


class Sink(Protocol):
    """A destination of the merged stream. Two attributes are optional, looked up where they are used:
    ``span_output()``, the output raw spans may be moved into (``span_switch``), and ``step_bytes``, the
    most a source reads in one step for this sink (``Run``: the API's ``LineQueue`` makes an object a line)."""

    policy: Literal["block", "lag"]

    def start(self, token: StopToken) -> None:
        """The run begins; ``token`` stops it (a sink that fails calls ``token.fail``)."""

    def add_sources(self, origins: Sequence[Origin]) -> None:
        """Sources join (at start, together; or one found later by a glob)."""

    def put(self, batches: Sequence[Handed]) -> None:
        """Take ``batches`` (in order, one hand-over: written together) from a thread; a ``block`` sink may
        wait here for room."""

    async def aput(self, batches: Sequence[Handed]) -> None:
        """Take ``batches`` on the event loop; a ``block`` sink awaits room."""

    def finish(self, timeout: float | None) -> int:
        """No more batches: deliver what is queued, waiting at most ``timeout`` seconds (None: as long as
        it takes); return how many bytes could not be delivered."""
        ...
