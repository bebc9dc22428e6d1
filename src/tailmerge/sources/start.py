"""Where a file that exists at start begins to be read: its start, its end, N lines before its end
(``tail -n N``), at line N (``tail -n +N``) or at the first line of a time (``--since``). Never in the
middle of a line."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Start", "end_offset", "from_line_offset", "last_lines_offset", "since_offset"]

BLOCK = 1 << 16
UNTIMED_BLOCKS = 16  # blocks without a time after which --since stops looking and the window decides


@dataclass(frozen=True)
class Start:
    """Where a file that exists at start begins: ``last_lines`` before its end (0: its end), at line
    ``from_line``, or at its first line of time ``since`` (with a maker of time parsers); else its start."""

    last_lines: int | None = None
    from_line: int | None = None
    since: tuple[float, Callable[[], Callable[[bytes], float | None]]] | None = None

    def offset(self, fd: int, size: int, max_line_bytes: int) -> int:
        if self.from_line is not None:
            return from_line_offset(fd, size, self.from_line)
        if self.last_lines is not None:
            return last_lines_offset(fd, size, self.last_lines, max_line_bytes)
        if self.since is not None:
            return since_offset(fd, size, self.since[0], self.since[1]())  # a parser of its own
        return 0


def end_offset(fd: int, size: int, max_line_bytes: int) -> int:
    """Just past the last complete line (``--from end``, ``-n 0``): a line being written is read whole."""
    if size == 0:
        return 0
    start = max(0, size - max_line_bytes)
    nl = os.pread(fd, size - start, start).rfind(b"\n")
    return start + nl + 1 if nl >= 0 else start


def last_lines_offset(fd: int, size: int, n: int, max_line_bytes: int) -> int:
    """The start of the last ``n`` lines (an unfinished last line counts, as in tail); 0 if fewer."""
    if n <= 0:
        return end_offset(fd, size, max_line_bytes)
    pos = size
    # a newline that ends the file ends the last line; it does not start another
    skip_last = size > 0 and os.pread(fd, 1, size - 1) == b"\n"
    wanted = n + skip_last
    while pos > 0:
        start = max(0, pos - BLOCK)
        block = os.pread(fd, pos - start, start)
        end = len(block)
        while (nl := block.rfind(b"\n", 0, end)) >= 0:
            wanted -= 1
            if wanted == 0:
                return start + nl + 1
            end = nl
        pos = start
    return 0


def from_line_offset(fd: int, size: int, line: int) -> int:
    """The start of line number ``line`` (1 is the first); the end of the file if it has fewer."""
    pos, needed = 0, line - 1
    while needed > 0 and pos < size:
        block = os.pread(fd, min(BLOCK, size - pos), pos)
        if not block:
            break
        at = 0
        while needed and (nl := block.find(b"\n", at)) >= 0:
            needed -= 1
            at = nl + 1
        pos += at if not needed else len(block)
    return pos if needed == 0 else size


def since_offset(fd: int, size: int, since: float, parse: Callable[[bytes], float | None]) -> int:
    """The start of the first line whose time is ``since`` or later, found by bisection: a file in time
    order (as a log is) is not read from its start. Where a block shows no time, the bisection stops and
    the rest is read line by line (the window still skips what is earlier)."""
    lo, hi = 0, size  # lo: a line start at or before the answer
    while hi - lo > BLOCK:
        mid = (lo + hi) // 2
        block = os.pread(fd, BLOCK, mid)
        first = block.find(b"\n") + 1
        t = next((t for line in block[first:].split(b"\n")[:-1] if (t := parse(line)) is not None), None)
        if first == 0 or t is None:
            break
        if t < since:
            lo = mid + first
        else:
            hi = mid
    pos, untimed = lo, 0
    while pos < size:  # the last stretch, line by line
        block = os.pread(fd, BLOCK, pos)
        at, timed = 0, False
        while (nl := block.find(b"\n", at)) >= 0:
            t = parse(block[at:nl])
            if t is not None and t >= since:
                return pos + at
            timed = timed or t is not None
            at = nl + 1
        untimed = 0 if timed else untimed + 1
        if at == 0 or untimed > UNTIMED_BLOCKS:
            return pos if at == 0 else lo  # a line longer than a block, or no times: read on, the window keeps
        pos += at
    return size
