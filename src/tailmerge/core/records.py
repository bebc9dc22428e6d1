"""Sans-I/O record framing: lines grouped into multiline records (a traceback, a Java stack trace).

A record starts at a line that starts one (a regex, or a preset's rule) and takes the lines after it
that do not. It is emitted whole, as one chunk, when the next record starts, when it is released (its
file was quiet for the timeout, or finished), or when it reaches ``max_record_bytes`` (then marked cut).
The framer has the line framer's shape, so a source uses either; the offset it reports is just past the
last record emitted, so a checkpoint never commits half a record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from .framing import DEFAULT_MAX_LINE_BYTES, Chunk, LineFramer, Spans
from .positions import Identity

__all__ = ["DEFAULT_MAX_RECORD_BYTES", "PRESETS", "Framing", "Preset", "RecordFramer", "Starts", "record_starts"]

DEFAULT_MAX_RECORD_BYTES = 1 << 20
Preset = Literal["python", "java", "indented", "timestamp"]
PRESETS: tuple[Preset, ...] = get_args(Preset)
Starts = Callable[[bytes], bool]
"""Whether a line (newline included) starts a new record; may keep state from line to line."""

# compiled when a run asks for them (most runs have no multiline records)
_INDENTED = rb"[ \t]"
_JAVA_MORE = rb"(?:[ \t]|Caused by: |\.\.\. \d+ (?:more|common frames omitted))"
# the start of a line that carries a time: ISO 8601 / RFC 3339, syslog, Apache/nginx, epoch s or ms
TIMESTAMP_START = (
    rb"(?:\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d"
    rb"|\[?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d"
    rb"|\[\d\d/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:"
    rb"|\d{10}(?:\d{3})?(?:[.,]\d+)?\b"
    rb'|\{.*"(?:time|timestamp|ts|@timestamp)"\s*:)'
)
"""The ``timestamp`` preset's pattern (matched at the start of a line)."""


def record_starts(preset: str | None = None, start: str | None = None) -> Callable[[], Starts]:
    """A factory of start rules (one per file: a rule may keep state): ``start`` (a regex matched at the
    beginning of a line), or a preset: ``python``, ``java``, ``indented`` or ``timestamp``."""
    if start is not None:
        pattern = re.compile(start.encode())
        return lambda: lambda line: pattern.match(line) is not None
    if preset == "indented":
        indented = re.compile(_INDENTED)
        return lambda: lambda line: not indented.match(line)
    if preset == "java":
        java_more = re.compile(_JAVA_MORE)
        return lambda: lambda line: not java_more.match(line)
    if preset == "timestamp":
        timestamp = re.compile(TIMESTAMP_START)
        return lambda: lambda line: timestamp.match(line) is not None
    if preset == "python":
        return lambda: _PythonStarts()
    raise ValueError(f"unknown multiline preset {preset!r}; choose from {', '.join(PRESETS)}")


class _PythonStarts:
    """Python tracebacks, chained ones included: the traceback (and its exception line) belongs to the
    record of the line before it, usually the log line that reported it."""

    _CHAIN = (b"During handling of the above exception", b"The above exception was the direct cause")

    def __init__(self) -> None:
        self._in_traceback = False  # inside the frames: the next unindented line is the exception
        self._after = False  # just after an exception line: a chain may follow

    def __call__(self, line: bytes) -> bool:
        if (at := line.find(b"Traceback (most recent call last):")) >= 0:
            self._in_traceback, self._after = True, False
            return at > 0  # after a prefix (a time, a level): a log line of its own that the traceback follows
        if line[:1] in (b" ", b"\t"):
            return False
        if self._in_traceback:
            self._in_traceback, self._after = False, True
            return False  # the exception line ends the traceback
        if self._after and (line.strip() == b"" or line.startswith(self._CHAIN)):
            return False
        self._after = False
        return True


class RecordFramer:
    """Turns a byte stream into chunks of whole records (``Chunk.record``), as ``LineFramer`` does lines."""

    def __init__(
        self,
        starts: Starts,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        offset: int = 0,
        file: Identity | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self._lines = LineFramer(max_line_bytes, offset, file)
        self._starts = starts
        self._max = max_record_bytes
        self._held: list[bytes] = []
        self._held_len = 0
        self._held_end = offset
        self._offset = offset
        self.cut_records = 0
        """How many records were emitted cut, at max_record_bytes."""

    @property
    def offset(self) -> int:
        """Source offset just past the last record emitted (the checkpoint position)."""
        return self._offset

    @property
    def file(self) -> Identity | None:
        return self._lines.file

    @property
    def pending(self) -> int:
        """Bytes held back: a record not released yet, and an incomplete line."""
        return self._held_len + self._lines.pending

    @property
    def holding(self) -> bool:
        """A record is held, waiting for the next one to start (or to be released)."""
        return self._held_len > 0

    @property
    def oversized(self) -> int:
        return self._lines.oversized

    def feed(self, data: bytes) -> list[Chunk]:
        """Take the next bytes; return the records they complete (those followed by a record start)."""
        out: list[Chunk] = []
        for chunk in self._lines.feed(data):
            self._take(chunk, out)
        return out

    def release(self) -> list[Chunk]:
        """Emit the held record now (its file was quiet for the timeout, rotated, or finished)."""
        out: list[Chunk] = []
        self._emit(out)
        return out

    def flush(self) -> list[Chunk]:
        """End of stream: a held partial line (newline added) ends the held record, which is emitted."""
        out: list[Chunk] = []
        for chunk in self._lines.flush():
            self._take(chunk, out)
        self._emit(out)
        return out

    def discard(self) -> None:
        self._lines.discard()
        self._held.clear()
        self._held_len = 0

    def reset(self, offset: int = 0) -> None:
        self._lines.reset(offset)
        self._held.clear()
        self._held_len = 0
        self._held_end = self._offset = offset

    def _take(self, chunk: Chunk, out: list[Chunk]) -> None:
        if chunk.added_newline:
            # a piece of an over-long line, or a last line without a newline: it ends the record it is in
            # (a record's bytes then end one byte before its end in the source)
            self._held.append(chunk.data)
            self._held_len += len(chunk.data)
            self._held_end = chunk.end
            self._emit(out, added_newline=True, cut=chunk.cut)
            return
        for line, end in chunk.line_ends():
            if self._starts(line) and self._held:  # the rule sees every line: it may keep state
                self._emit(out)
            self._held.append(line)
            self._held_len += len(line)
            self._held_end = end
            if self._held_len >= self._max:
                self.cut_records += 1
                self._emit(out, cut=True)

    def _emit(self, out: list[Chunk], *, added_newline: bool = False, cut: bool = False) -> None:
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        self._held_len = 0
        self._offset = self._held_end
        out.append(Chunk(data, self._held_end, added_newline, self._lines.file, cut, record=True))


@dataclass(frozen=True)
class Framing:
    """How a source frames its bytes: lines, or records when ``starts`` is given (a factory of start
    rules), released after ``timeout`` seconds of quiet; ``step_budget``: the bytes one step may read from
    one file, so one busy file cannot starve the others. ``spans``: set when every sink is a raw output that
    moves complete lines in the kernel; while it is on, files' lines go as ``Span``s (lines only, no records)."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    starts: Callable[[], Starts] | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    timeout: float = 1.0
    step_budget: int = 8 << 20
    spans: Spans | None = None

    def framer(self, offset: int = 0, file: Identity | None = None) -> LineFramer | RecordFramer:
        if self.starts is None:
            return LineFramer(self.max_line_bytes, offset, file)
        return RecordFramer(self.starts(), self.max_line_bytes, offset, file, self.max_record_bytes)
