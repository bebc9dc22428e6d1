"""Sans-I/O line framing: bytes in, runs of complete lines out.

The framer never reads or writes anything. Sources feed it what they read, engines take the chunks it
returns; threads and coroutines share it unchanged (the h11 model).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import ClassVar, Protocol

from .positions import Identity

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "SPAN_TAIL",
    "Chunk",
    "Handle",
    "LineFramer",
    "Span",
    "SpanScan",
    "Spans",
    "split_lines",
]

DEFAULT_MAX_LINE_BYTES = 1 << 20
NL = b"\n"
CR = b"\r"
CRNL = b"\r\n"
SPAN_TAIL = 64 << 10
"""Bytes at the end of a window looked at for its last newline: none there and the step is read (slowly)."""


@dataclass(slots=True)  # not frozen: a frozen one costs microseconds to make, and time order makes many
class Chunk:
    """A run of complete lines from one source, every line ending in a newline.

    ``file`` is the file the bytes came from and ``start``..``end`` their byte range in it, so a position is
    never ambiguous across rotation. ``added_newline`` is true when the run is a single piece whose newline
    tailmerge added (a line cut at ``max_line_bytes``, or a final line with no newline); its bytes in the
    source then end one byte earlier. ``cut`` is true on each piece of a line cut at ``max_line_bytes``
    but the last. ``record`` is true when the run is one multiline record (``core.records``): it counts as
    one unit, its lines are not told apart. ``times``: when lines are timed (``--order time``, ``--since``,
    ``--until``), the epoch seconds parsed from the start of each line (or record), None where none was.
    """

    data: bytes
    end: int
    added_newline: bool = False
    file: Identity | None = None
    cut: bool = False
    record: bool = False
    times: tuple[float | None, ...] | None = None

    @property
    def start(self) -> int:
        """Offset in the source of the first byte of this run."""
        return self.end - len(self.data) + self.added_newline

    def line_ends(self) -> Iterator[tuple[bytes, int]]:
        """Each line (each record) with the source offset just past it."""
        if self.added_newline or self.record:
            return iter([(self.data, self.end)])
        lines = split_lines(self.data)
        return zip(lines, _ends(lines, self.start), strict=True)

    def ends(self) -> list[int]:
        """The source offset just past each line (each record)."""
        if self.added_newline or self.record:
            return [self.end]
        return _ends(split_lines(self.data), self.start)


class Handle(Protocol):
    """What a span's bytes are read from: an open file of the source's own (a sink closes it once moved)."""

    fd: int

    def close(self) -> None: ...

    def intact(self, end: int) -> bool:
        """Whether the file still holds what the span was decided on: as long as ``end``, and beginning
        with the bytes it began with (not truncated and written again since)."""

    def fell_short(self, at: int) -> None:
        """The file ended at ``at``, before the span's end (truncated since it was decided): the source
        takes its lines up again from there (from the file's copy, after copytruncate)."""


@dataclass(slots=True, eq=False)
class Span:
    """A run of complete lines left in their file: bytes ``start``..``end`` of ``file``, to be moved by the
    kernel (``copy_file_range``, ``splice``) from ``handle`` straight into a raw output. Only a raw output
    takes spans (``Framing.spans``); everything a ``Chunk`` says of its lines holds (no newline added, no
    cut, no record, no times). ``len()`` is its size in bytes, in the output as in the source."""

    start: int
    end: int
    file: Identity | None
    handle: Handle
    added_newline: ClassVar[bool] = False
    cut: ClassVar[bool] = False
    record: ClassVar[bool] = False
    times: ClassVar[None] = None

    def __len__(self) -> int:
        return self.end - self.start

    def rest(self, moved: int) -> Span:
        """What is left once the first ``moved`` bytes went out (same file, same handle)."""
        return Span(self.start + moved, self.end, self.file, self.handle)


class Spans:
    """Whether lines may go as spans: on until the output refuses to move them in the kernel (then the
    sources read them again, as before). Shared by a run's sources and its output."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


class SpanScan:
    """Where the complete lines of ``start``..``end`` end, decided from the ends of windows (sans-I/O).

    The caller asks ``want()`` which bytes to look at, reads them and gives them with ``give()``, until
    ``want()`` says None. The decisions are ``LineFramer``'s own: from a line's start, the last newline
    within ``max_line_bytes``; so only the last ``tail`` bytes of each window of ``max_line_bytes`` are
    read (one window per MiB by default, not every byte). Then ``end`` is where the complete lines end, and
    ``slow`` says the bytes from there need the framer (no newline in a window's tail: a line longer than
    the tail, to be cut or not); otherwise ``end``..``end of range`` is a partial line shorter than the tail.
    ``seen`` holds the bytes looked at last and ``seen_at`` their offset (the partial line is among them).
    """

    __slots__ = ("_done", "_limit", "_stop", "_tail", "end", "seen", "seen_at", "slow")

    def __init__(self, start: int, stop: int, limit: int, tail: int = SPAN_TAIL) -> None:
        self.end = start
        self._stop = stop
        self._limit = limit
        self._tail = max(1, min(tail, limit))
        self.slow = False
        self.seen = b""
        self.seen_at = start
        self._done = start >= stop

    def want(self) -> tuple[int, int] | None:
        """The bytes to look at next, as (offset, end); None: decided."""
        if self._done:
            return None
        hi = min(self.end + self._limit, self._stop)
        return max(self.end, hi - self._tail), hi

    def give(self, data: bytes) -> None:
        """The bytes ``want()`` asked for (fewer: the file is shorter now, and what is missing is not taken)."""
        lo, hi = self.want() or (self.end, self.end)
        self.seen, self.seen_at = data, lo
        if len(data) < hi - lo:  # shrank under us: only what was seen whole may go; the reader decides the rest
            self._stop = lo + len(data)
            hi = self._stop
        nl = data.rfind(NL)
        if nl >= 0:
            self.end = lo + nl + 1
            self._done = hi == self._stop  # else: the next window, from this line's start
            return
        self._done = True
        if lo > self.end or hi - self.end >= self._limit:
            self.slow = True  # a line longer than the tail (maybe longer than the limit): the framer decides


def _ends(lines: list[bytes], start: int) -> list[int]:
    lengths = list(map(len, lines))
    if lengths:
        lengths[0] += start  # running sums from the start on, in C: no Python work per line
    return list(accumulate(lengths))


def split_lines(data: bytes) -> list[bytes]:
    """Split a run of newline-terminated lines, keeping each newline (only b"\\n" ends a line)."""
    if CR not in data or data.count(CR) == data.count(CRNL):
        # bytes.splitlines ends lines at \n, \r\n and a lone \r; without a lone \r that is exactly at each
        # \n, and it keeps the newlines in C
        return data.splitlines(keepends=True)
    parts = data.split(NL)
    # data ends in a newline, so the last part is empty
    return [part + NL for part in parts[:-1]]


class LineFramer:
    """Turns a byte stream into chunks of complete lines, tracking source offsets.

    A partial line is held until its newline arrives; it is never rescanned (only new bytes are searched).
    A line longer than ``max_line_bytes`` (newline included) is emitted in pieces of that size, each
    ending in an added newline, so memory stays bounded whatever the input.
    """

    __slots__ = ("_file", "_max", "_offset", "_partial", "_partial_len", "oversized")

    def __init__(
        self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, offset: int = 0, file: Identity | None = None
    ) -> None:
        if max_line_bytes < 2:
            raise ValueError("max_line_bytes must be at least 2")
        self._file = file
        self._max = max_line_bytes
        self._offset = offset
        self._partial: list[bytes] = []
        self._partial_len = 0
        self.oversized = 0
        """How many lines were cut because they exceeded max_line_bytes."""

    @property
    def offset(self) -> int:
        """Source offset just past the last byte emitted (the checkpoint position)."""
        return self._offset

    @property
    def file(self) -> Identity | None:
        """The file this framer reads (stamped on every chunk)."""
        return self._file

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held back."""
        return self._partial_len

    def feed(self, data: bytes) -> list[Chunk]:
        """Take the next bytes of the stream; return the complete lines they finish."""
        out: list[Chunk] = []
        if not data:
            return out
        pos = 0
        if self._partial_len:
            pos = self._finish_partial(data, out)
            if pos < 0:
                return out
        self._frame(data, pos, out)
        return out

    def spans(self, stop: int, tail: int = SPAN_TAIL) -> SpanScan:
        """Where the complete lines from here to ``stop`` end, found from the ends of windows rather than
        fed bytes (the caller moves them as spans, then says so with ``passed``). Nothing may be held."""
        assert not self._partial_len, "a held line is completed by feed or complete first"
        return SpanScan(self._offset, stop, self._max, tail)

    def passed(self, offset: int) -> None:
        """The lines up to ``offset`` went on as spans, never fed."""
        assert not self._partial_len and offset >= self._offset
        self._offset = offset

    def complete(self, data: bytes) -> tuple[list[Chunk], int]:
        """Complete the held line with the head of ``data`` (the stream's next bytes): the chunks that made,
        and how many bytes of ``data`` were taken (``len(data)`` when the line is still not complete). The
        rest is not framed: it may go as spans."""
        out: list[Chunk] = []
        if not self._partial_len or not data:
            return out, 0
        pos = self._finish_partial(data, out)
        return out, len(data) if pos < 0 else pos

    def flush(self) -> list[Chunk]:
        """End of stream: emit a held partial line with a newline added."""
        if not self._partial_len:
            return []
        data = b"".join(self._partial)
        self._partial.clear()
        self._partial_len = 0
        self._offset += len(data)
        return [Chunk(data + NL, self._offset, True, self._file)]

    cut_records = 0
    holding = False
    """Lines are never held once complete (a record framer holds a record)."""

    def release(self) -> list[Chunk]:
        """Nothing to release: complete lines are emitted at once."""
        return []

    def discard(self) -> None:
        """Drop a held partial line (its bytes are gone from the source) without emitting it."""
        self._partial.clear()
        self._partial_len = 0

    def reset(self, offset: int = 0) -> None:
        """Start again at ``offset`` (after truncation); the caller flushes first if it wants the partial."""
        self.discard()
        self._offset = offset

    def _finish_partial(self, data: bytes, out: list[Chunk]) -> int:
        """Complete the held line with the head of ``data``; return where framing resumes, -1 if not yet."""
        room = self._max - self._partial_len  # bytes the held line may still take, newline included
        nl = data.find(NL, 0, room)
        if nl >= 0:
            self._partial.append(data[: nl + 1])
            line = b"".join(self._partial)
            self._partial.clear()
            self._partial_len = 0
            self._offset += len(line)
            out.append(Chunk(line, self._offset, False, self._file))
            return nl + 1
        if len(data) < room:
            self._partial.append(data)
            self._partial_len += len(data)
            return -1
        # the held line reaches the limit without a newline: cut it
        take = room - 1
        self._partial.append(data[:take])
        self._emit_piece(b"".join(self._partial), out)
        self._partial.clear()
        self._partial_len = 0
        return take

    def _frame(self, data: bytes, pos: int, out: list[Chunk]) -> None:
        size = len(data)
        limit = self._max
        run_start = pos
        while True:
            # the last newline within one maximal line from pos: everything before it is complete lines,
            # and no line in between can be longer than the limit
            nl = data.rfind(NL, pos, pos + limit)
            if nl >= 0:
                pos = nl + 1
                if pos == size:
                    break
                continue
            if size - pos < limit:
                break  # a partial line shorter than the limit: hold it
            self._emit_run(data, run_start, pos, out)
            self._emit_piece(data[pos : pos + limit - 1], out)
            pos += limit - 1
            run_start = pos
        self._emit_run(data, run_start, pos, out)
        if pos < size:
            self._partial.append(data[pos:])
            self._partial_len = size - pos

    def _emit_run(self, data: bytes, start: int, end: int, out: list[Chunk]) -> None:
        if end > start:
            run = data if start == 0 and end == len(data) else data[start:end]
            self._offset += end - start
            out.append(Chunk(run, self._offset, False, self._file))

    def _emit_piece(self, piece: bytes, out: list[Chunk]) -> None:
        self.oversized += 1
        self._offset += len(piece)
        out.append(Chunk(piece + NL, self._offset, True, self._file, True))
