"""The merge for live viewers (``tailmerge serve``): a history of the last lines, and a lagging queue per viewer.

The hub is a ``lag`` sink: ``put``/``aput`` never wait, and only queue the lines for the next frame. Once a
frame (``FRAME``), the server's pump numbers what came, keeps it in the history and encodes it once, as
Server-Sent Events, into pieces that every viewer's queue shares; a viewer's queue is a
``Handoff`` with the lag policy, bounded in bytes, so a viewer that stops reading loses its oldest pieces
(the gap in line numbers tells it how many) and holds at most ``VIEWER_BYTES`` plus one piece. A viewer
that reconnects names the last line it had (``Last-Event-ID``) and gets the history after it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import orjson

from ..bridge.handoff import Handoff
from ..serve import DEFAULT_HISTORY, DEFAULT_MAX_VIEWERS
from .contract import Handed, Origin
from .formats import labels_for
from .queue import batch_lines, batches_of

if TYPE_CHECKING:
    from ..bridge.stop import StopToken

__all__ = ["Piece", "Row", "Shown", "Viewer", "ViewerHub"]
VIEWER_BYTES = 1 << 20  # what one viewer's queue holds before its oldest pieces are dropped
PIECE_LINES = 500  # lines per event: a piece is small next to VIEWER_BYTES, so dropping is fine-grained
FRAME = 0.1  # seconds: viewers are sent what came at most this often (a page draws no faster than it reads)


Row = tuple[int, str, int, float | None, float, bool]
"""A line as a page gets it: source index, text, offset, time, when handed over, cut."""


@dataclass(frozen=True, slots=True)
class Shown:
    """One line (or record) as the page shows it: its number in the merged stream, its source's index, its
    text, the offset just past it in its file, the time parsed at its start (timed runs), when the merge
    handed it over (epoch seconds), and whether it is a piece of a line cut at ``max_line_bytes``."""

    id: int
    source: int
    text: str
    offset: int
    time: float | None
    at: float
    cut: bool

    def row(self) -> Row:
        return (self.source, self.text, self.offset, self.time, self.at, self.cut)


@dataclass(frozen=True, slots=True)
class Piece:
    """Lines ``first`` to ``last`` encoded as one ``lines`` event."""

    first: int
    last: int
    data: bytes


class Viewer:
    """One connected page: its queue of pieces (lag policy) and what it was last sent."""

    def __init__(self, limit: int) -> None:
        self.queue: Handoff[Piece] = Handoff(limit, "lag")
        self.sources_sent = -1  # the version of the sources it was last sent

    def missed(self, piece: Piece, last: int) -> int:
        """Lines between the last one sent (``last``) and ``piece``: dropped while this viewer lagged."""
        return max(0, piece.first - last - 1)


class ViewerHub:
    """A ``lag`` sink that keeps the last ``history`` lines and fans each hand-over out to every viewer."""

    policy: Literal["block", "lag"] = "lag"

    def __init__(
        self, history: int = DEFAULT_HISTORY, max_viewers: int = DEFAULT_MAX_VIEWERS, viewer_bytes: int = VIEWER_BYTES
    ) -> None:
        self.history: deque[Shown] = deque(maxlen=history)
        self.max_viewers = max_viewers
        self.viewer_bytes = viewer_bytes
        self.epoch = secrets.token_hex(4)  # event ids name this run: an id of another run resumes nothing
        self.paths: list[str] = []
        self.sources_version = 0
        self.ended = False
        self._next = 1  # the number of the next line
        self._viewers: list[Viewer] = []
        # put() comes from follower threads (threads engine) or the loop; attach() from the loop: the
        # history and the set of viewers change together, so a new viewer misses nothing and doubles nothing
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._pending: deque[Row] = deque()  # lines handed over since the last frame, not yet numbered
        self._skipped = 0  # lines left out of the pending ones (more than the history)
        self._wake: Callable[[], None] | None = None  # the pump's, once it runs

    # -- the sink -------------------------------------------------------------------------------

    def start(self, token: StopToken) -> None:
        pass  # never waits, so a stop has nothing to release

    def add_sources(self, origins: Sequence[Origin]) -> None:
        # each stream sends the sources again before its next piece: a source's lines come after it joined
        with self._lock:
            self.paths.extend(o.path for o in origins)
            self.sources_version += 1

    def put(self, batches: Sequence[Handed]) -> None:
        self._take(batches)

    async def aput(self, batches: Sequence[Handed]) -> None:
        self._take(batches)

    def finish(self, timeout: float | None) -> int:
        self.flush()
        with self._lock:
            self.ended = True
            viewers = list(self._viewers)
        for v in viewers:
            v.queue.end()
        return 0

    def _take(self, batches: Sequence[Handed]) -> None:
        """Only what the merge must do: the lines as rows, queued for the next frame."""
        rows = list(self._rows(batches, round(time.time(), 3)))
        if not rows:
            return
        with self._lock:
            first_of_frame = not self._pending
            self._pending.extend(rows)
            # more than the history waits (a bulk read, or a pump held up): only its end is shown
            over = len(self._pending) - (self.history.maxlen or 0)
            for _ in range(max(0, over)):
                self._pending.popleft()
            self._skipped += max(0, over)
            wake = self._wake if first_of_frame else None
        if wake is not None:
            wake()

    def flush(self) -> None:
        """Number the lines queued since the last frame, keep them in the history, and give each viewer
        them encoded once (any thread; the pump calls it once a frame)."""
        with self._flushing:  # one at a time: each viewer gets the frames in order
            with self._lock:
                if not self._pending and not self._skipped:
                    return
                first = self._next + self._skipped
                numbered = [Shown(first + i, *row) for i, row in enumerate(self._pending)]
                self._next = first + len(numbered)
                self._pending.clear()
                self._skipped = 0
                self.history.extend(numbered)
                viewers = list(self._viewers)
            pieces = self.encode(numbered)
            for v in viewers:
                for p in pieces:
                    v.queue.put(p, len(p.data))

    async def pump(self, frame: float = FRAME) -> None:
        """Flush at most once a ``frame`` (seconds), and only when lines came: a viewer's wake-ups and writes
        follow the frames, not the merge's hand-overs (thousands a second)."""
        import asyncio

        from ..bridge.stop import call_soon

        loop = asyncio.get_running_loop()
        due = asyncio.Event()
        with self._lock:
            self._wake = lambda: call_soon(loop, due.set)
            if self._pending:
                due.set()
        try:
            while True:
                await due.wait()
                due.clear()
                self.flush()
                await asyncio.sleep(frame)
        finally:
            with self._lock:
                self._wake = None

    def _piece(self, first: int, rows: bytes, count: int) -> Piece:
        last = first + count - 1
        head = b'id: %s-%d\nevent: lines\ndata: {"first":%d,"lines":' % (self.epoch.encode(), last, first)
        return Piece(first, last, head + rows + b"}\n\n")

    def encode(self, shown: Sequence[Shown]) -> list[Piece]:
        """``shown`` (consecutive lines) as ``lines`` events of at most ``PIECE_LINES`` lines each."""
        return [
            self._piece(
                shown[i].id,
                orjson.dumps([s.row() for s in shown[i : i + PIECE_LINES]]),
                len(shown[i : i + PIECE_LINES]),
            )
            for i in range(0, len(shown), PIECE_LINES)
        ]

    @staticmethod
    def _rows(batches: Sequence[Handed], at: float) -> Iterator[Row]:
        for handed in batches:
            for batch in batches_of(handed):
                index = batch.origin.index
                for line in batch_lines(batch):
                    yield (index, line.text, line.offset, line.time, at, line.cut)

    # -- the server's side ----------------------------------------------------------------------

    def sources(self) -> bytes:
        """The ``sources`` event: each source's path and label, by index."""
        with self._lock:
            paths, version = list(self.paths), self.sources_version
        labels = labels_for(paths)
        body = [{"path": p, "label": label} for p, label in zip(paths, labels, strict=True)]
        return b"event: sources\ndata: " + orjson.dumps({"version": version, "sources": body}) + b"\n\n"

    def attach(self, last_id: str | None) -> tuple[Viewer, list[Piece], int] | None:
        """A new viewer, the history it has not seen (after ``last_id``, an event id it had), and the number
        of the last line it had (a gap from there to the first line it gets is what it missed); None when
        ``max_viewers`` are connected."""
        after = self._after(last_id)
        with self._lock:
            if len(self._viewers) >= self.max_viewers:
                return None
            viewer = Viewer(self.viewer_bytes)
            if self.ended:
                viewer.queue.end()
            self._viewers.append(viewer)
            backlog = [s for s in self.history if s.id > after]
            if not after:  # a new viewer missed nothing: it starts with the history
                after = (backlog[0].id if backlog else self._next) - 1
        return viewer, self.encode(backlog), after

    def detach(self, viewer: Viewer) -> None:
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
        viewer.queue.close()

    @property
    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers)

    def _after(self, last_id: str | None) -> int:
        """The line number in ``last_id`` (``EPOCH-N``), 0 when it names another run or nothing."""
        epoch, _, number = (last_id or "").partition("-")
        if epoch != self.epoch or not number.isdigit():
            return 0
        return int(number)

    def event_id(self, line: int) -> str:
        return f"{self.epoch}-{line}"
