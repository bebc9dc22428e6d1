"""Reading a file's new lines as spans (raw output moved by the kernel), and the descriptor a span keeps.

Mixed into ``Source``: a step reads only the end of each window of ``--max-line-bytes`` to find where
its complete lines end (``LineFramer.spans``), and hands them over as a ``Span`` with a ``FileHandle`` of
its own; what the framer must see is read as bytes, as before.
"""

from __future__ import annotations

import os

from ..core import FINGERPRINT_BYTES, Chunk, LineFramer, Span
from ..core.framing import SPAN_TAIL as _SPAN_TAIL
from .generation import Generation

__all__ = ["READ_SIZE", "SPAN_TAIL", "FileHandle", "Lines", "SpanReading"]

READ_SIZE = 1 << 20
SPAN_TAIL = _SPAN_TAIL  # bytes at a window's end read for its last newline (looked up per step: tests shrink it)
Lines = Chunk | Span


class SpanReading:
    """The reading half of ``Source`` (bytes or spans); ``Source`` gives the reporting and fingerprints."""

    def _report(self, problem: str | None) -> None:
        raise NotImplementedError

    def _take_fingerprint(self, gen: Generation) -> None:
        raise NotImplementedError

    def _read_bytes(self, gen: Generation, want: int, out: list[Lines]) -> int:
        """Read up to ``want`` new bytes of one file into its framer; return how many were read."""
        got = 0
        while got < want:
            try:
                data = os.pread(gen.fd, min(READ_SIZE, want - got), gen.pos)
            except OSError as e:
                self._report(f"read failed: {e.strerror}")
                break
            if not data:
                break
            got += len(data)
            gen.pos += len(data)
            out.extend(gen.framer.feed(data))
        return got

    def _read_spans(self, gen: Generation, framer: LineFramer, stop: int, size: int, out: list[Lines]) -> int:
        """The new bytes of one file up to ``stop`` as spans: only the end of each window of
        ``--max-line-bytes`` is read, to find where its lines end (``LineFramer.spans``); the output's
        kernel moves the rest. What the framer must see (a held line, a line longer than a window's tail)
        is read as before. Return how many bytes were taken."""
        start = gen.pos
        if stop - gen.pos <= SPAN_TAIL:
            # no more than the tail that would be read to find the lines' end: written from those bytes (a
            # followed file's few new lines cost a dup, an fstat and a close more as a span, 10-20% of a
            # line's CPU)
            return self._read_bytes(gen, stop - gen.pos, out)
        if gen.slow_at == gen.pos:  # the step before found a long line here: the framer decides
            gen.slow_at = -1
            return self._read_bytes(gen, stop - gen.pos, out)
        try:
            if framer.pending:  # complete the held line first, from the head of what is new
                chunks, used = framer.complete(os.pread(gen.fd, min(SPAN_TAIL, stop - gen.pos), gen.pos))
                out.extend(chunks)
                gen.pos += used
                if not used:
                    return gen.pos - start
                if framer.pending:  # a line longer than the head: the framer reads on (a step reads all)
                    return gen.pos - start + self._read_bytes(gen, stop - gen.pos, out)
            scan = framer.spans(stop, SPAN_TAIL)
            while (window := scan.want()) is not None:
                lo, hi = window
                scan.give(os.pread(gen.fd, hi - lo, lo))
        except OSError as e:
            self._report(f"read failed: {e.strerror}")
            return gen.pos - start
        if scan.end > gen.pos:
            try:
                if len(gen.fingerprint) < FINGERPRINT_BYTES:
                    self._take_fingerprint(gen)
                handle = FileHandle(gen.fd, gen.fingerprint)
            except OSError:  # no descriptor left for it: read the bytes instead
                return gen.pos - start + self._read_bytes(gen, stop - gen.pos, out)
            out.append(Span(gen.pos, scan.end, gen.identity, handle))
            gen.spans.append(handle)
            framer.passed(scan.end)
            gen.pos = scan.end
            if scan.slow:  # read on the next step: no bytes after a span in one step (see _moved_short)
                gen.slow_at = gen.pos
                return gen.pos - start
        if scan.slow or (gen.pos == start and stop < size):
            return gen.pos - start + self._read_bytes(gen, stop - gen.pos, out)
        if gen.pos < stop and stop == size:  # a partial line ends the file: held, from the bytes seen
            rest = scan.seen[gen.pos - scan.seen_at :]
            out.extend(framer.feed(rest))
            gen.pos += len(rest)
        return gen.pos - start

    def _moved_short(self, gen: Generation) -> bool:
        """The spans handed over since the last look have been written (a hand-over returns once its batch
        is): one the output found cut short (its file truncated meanwhile) makes its lines unread again.
        Nothing read as bytes follows a span in its step, so nothing after it went out twice."""
        short = min((h.short for h in gen.spans if h.short >= 0), default=-1)
        gen.spans.clear()
        if short < 0:
            return False
        gen.framer.reset(short)  # a held line after it comes again too
        gen.pos = short
        gen.slow_at = -1
        return True


class FileHandle:
    """A span's own descriptor of its file (a ``dup``): the source may close the file before the output
    has moved the span (a stop while the pipe is full). Closed by the output once the span went out, or
    when dropped."""

    __slots__ = ("fd", "fingerprint", "short")

    def __init__(self, fd: int, fingerprint: bytes) -> None:
        self.fd = os.dup(fd)
        self.fingerprint = fingerprint
        self.short = -1
        """Where the file ended before the span did (truncated before it was moved), else -1."""

    def intact(self, end: int) -> bool:
        try:
            if os.fstat(self.fd).st_size < end:
                return False
            return not self.fingerprint or os.pread(self.fd, len(self.fingerprint), 0) == self.fingerprint
        except OSError:
            return False

    def fell_short(self, at: int) -> None:
        self.short = at

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the descriptor goes with the process
            pass
