"""Compressed generations (``app.log.2.gz``, ``.bz2``, ``.xz``): finished files, read whole once, decompressed.

An archive is never followed and never watched. It is opened with the stdlib module its suffix names, read
one block of its content per step (so a big one neither holds up the loop for long nor fills memory), framed
as any file, and ended after its last block, its last line completed with a newline as a finished file's
is. Its chunks carry the archive's identity and offsets in its decompressed content, so a state resumes it
by decompressing up to where it was left.

logrotate's ``compress`` makes a new file (another inode) from one already read. So an archive whose content
begins as a file this run holds, or a file read before (this run, or a run the state remembers), is taken
for that file: read on from where it was left (usually: nothing), never twice. An archive that appears
while following may still be being written: it is read once it has been quiet for ``--rotate-wait``.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable

from ..core import FINGERPRINT_BYTES, Chunk, Framing, Identity, LineFramer, RecordFramer
from ..watch import Signal, Watcher
from .archives import Archive, archive_format, decompression_errors, describe
from .ledger import FileRead, Ledger
from .limits import fd_limit_message

__all__ = ["READ_SIZE", "Compressed"]

log = logging.getLogger("tailmerge")

READ_SIZE = 1 << 20  # bytes of content decompressed per step


class Compressed:
    """A compressed generation, read once to its end. Not thread-safe: one engine worker drives it at a time.

    Given at start, it begins where ``--lines``/``--from`` say (``last_lines``, ``from_line``), as a plain
    file would. ``settle``: seconds it must have been quiet before it is read (an archive that appeared
    while following may still be being written); None: read it at once. ``held``: the files the run's
    sources hold, as reads (an archive that is a copy of one of them is not read). ``ledger``: files read
    before; an archive read to its end is recorded there as finished.
    """

    rotating = False
    caught_up = False
    stream = True
    """Read to its end with or without ``follow``, as standard input is; its end ends it."""

    def __init__(
        self,
        path: str,
        *,
        framing: Framing | None = None,
        ledger: Ledger | None = None,
        last_lines: int | None = None,
        from_line: int | None = None,
        settle: float | None = None,
        held: Callable[[], list[FileRead]] | None = None,
    ) -> None:
        fmt = archive_format(path)
        if fmt is None:
            raise ValueError(f"{path}: not a compressed file name (.gz, .bz2, .xz)")
        self.path = path
        self._abspath = os.path.abspath(path)
        self._format = fmt
        self._framing = framing if framing is not None else Framing()
        self._ledger = ledger
        self._last_lines = last_lines
        self._from_line = from_line
        self._settle = settle
        self._held = held
        self._archive: Archive | None = None
        self._framer: LineFramer | RecordFramer | None = None
        self.identity: Identity | None = None
        self._head = b""  # the content's first bytes (its fingerprint)
        self._block = b""  # content read and not taken yet (the head)
        self._pos = 0  # content offset of the next block taken
        self._skip = 0  # content offset where lines begin (resumed)
        self._skip_lines = 0  # lines to pass before lines begin (--lines, --from)
        self._counting = False  # a first pass counts its lines (--lines N)
        self._newlines = 0
        self._last_byte = b""
        self._noted = False  # the ledger knows where it was begun
        self._due: float | None = None  # settling: when to look again
        self._looked: tuple[int, int] | None = None  # settling: size and mtime at the last look
        self._done = False  # read to its end
        self._error: BaseException | None = None  # met by the last read, after what it returned
        self._warned: set[str] = set()
        self.problem: str | None = None
        """What is wrong with the archive (missing, unreadable, corrupt), as reported; None when fine."""
        self.ended = False
        self.closed = False

    # -- what the engine sees -------------------------------------------------------------------

    def identities(self) -> list[Identity]:
        return [self.identity] if self.identity is not None and not self.closed else []

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        """Nothing to watch: an archive does not grow. Its deadlines say when to step again."""
        return True

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        pass

    def next_deadline(self) -> float | None:
        """At once while there is more to read; while settling, when to look again."""
        if self.ended:
            return None
        if self._archive is None:
            return self._due
        return time.monotonic()

    def step(self) -> list[Chunk]:
        """Take the next block of the content (at most READ_SIZE bytes) and return its complete lines."""
        out: list[Chunk] = []
        if self.ended or self.closed:
            return out
        if self._archive is None and not self._begin():
            return out
        block, self._block = self._block, b""
        if not block:
            block = self._read(READ_SIZE)
        error, self._error = self._error, None
        if error is not None:
            if block and not self._counting:
                self._take(block, out)  # the lines before the damage are kept
            self._fail(f"{describe(error, self._format)}; read to byte {self._pos} of its content")
        elif self._counting:
            self._count(block)
        elif block:
            self._take(block, out)
        else:
            self._done = self.ended = True
        return out

    def finish(self, complete: bool, quiet: bool = False) -> list[Chunk]:
        """Done: close it. Read to its end, its last line is emitted (with a newline added when it has none)
        and the ledger records it as finished. Stopped before that, what was not read stays unread (a state
        resumes it); a corrupt archive keeps the complete lines read before the damage."""
        out: list[Chunk] = []
        if self.closed:
            return out
        framer = self._framer
        if self._done:
            if framer is not None:
                out.extend(framer.flush())
            if self._ledger is not None and self.identity is not None:
                offset = framer.offset if framer is not None else self._pos
                self._note(offset)
                self._ledger.record(self._abspath, self.identity, self._head, offset)
        elif framer is not None and (self.problem is not None or not self._resumable()):
            out.extend(framer.release())  # a held record's lines are complete
        if not self.ended and self._archive is not None:
            say = log.info if quiet else log.warning
            say("%s: stopped after %d bytes of its content; the rest is not read", self.path, self._pos)
        elif not self.ended:
            log.info("%s: not read: the run stopped first", self.path)
        self.close()
        return out

    def close(self) -> None:
        """Close the archive without emitting anything more."""
        self._let_go()
        self.closed = True

    def _let_go(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    # -- beginning ------------------------------------------------------------------------------

    def _resumable(self) -> bool:
        return self._ledger is not None and self._ledger.resumable

    def _fail(self, problem: str) -> bool:
        self.problem = problem
        log.warning("%s: %s", self.path, problem)
        self.ended = True
        self._let_go()  # what it read before is released by finish()
        return False

    def _settled(self) -> bool:
        """Whether it has been quiet for ``settle`` seconds (by its modification time, or seen unchanged)."""
        if self._settle is None:
            return True
        try:
            st = os.stat(self.path)
        except OSError:
            return True  # opening it says what is wrong
        now = time.monotonic()
        if (st.st_size, st.st_mtime_ns) != self._looked:
            self._looked = (st.st_size, st.st_mtime_ns)
            quiet = time.time() - st.st_mtime
            self._due = now + min(self._settle, max(0.0, self._settle - quiet))
        if self._due is not None and now < self._due:
            return False
        self._settle = self._due = None
        return True

    def _begin(self) -> bool:
        """Open the archive and decide where its content is read from. False when it is not read now
        (settling) or at all (``ended``: a problem, nothing in it, or read before)."""
        if not self._settled():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return self._fail("no such file")
        except PermissionError:
            return self._fail("permission denied")
        except OSError as e:
            too_many = e.errno in (errno.EMFILE, errno.ENFILE)
            return self._fail(fd_limit_message() if too_many else f"cannot open: {e.strerror}")
        magic = self._format.magic
        try:
            st = os.fstat(fd)
            regular = stat.S_ISREG(st.st_mode)
            begins = os.pread(fd, len(magic), 0) if regular else b""
        except OSError as e:
            os.close(fd)
            return self._fail(f"cannot read: {e.strerror}")
        if not regular or begins != magic:
            os.close(fd)
            if not regular:
                return self._fail("is a directory" if stat.S_ISDIR(st.st_mode) else "is not a regular file")
            if begins:
                return self._fail(f"not a {self._format.name} file")
            self.ended = True  # empty: nothing to read
            return False
        self.identity = Identity(st.st_dev, st.st_ino)
        try:
            self._archive = Archive(fd, self._format)  # it closes fd if it fails
        except OSError as e:
            return self._fail(f"cannot read: {e.strerror}")
        head = self._read(FINGERPRINT_BYTES)
        if self._error is not None and not head:
            return self._fail(describe(self._error, self._format))
        self._head = self._block = head
        start = 0
        if self._ledger is not None:
            held = self._held() if self._held is not None else []
            known = self._ledger.resume_archive(self._abspath, self.identity, head, held)
            if known is None:
                log.info("%s: already read (or read by another source); not read again", self.path)
                self.ended = True
                self._let_go()
                return False
            start = known
        if start:
            log.info("%s: already read to byte %d of its content; going on from there", self.path, start)
            self._skip = start
            self._note(start)
        elif self._from_line is not None:
            self._skip_lines = self._from_line - 1
        elif self._last_lines is not None:
            self._counting = True
        else:
            self._note(0)
        return True

    def _note(self, start: int) -> None:
        """Tell the ledger (once) where it is begun, so a checkpoint knows it even before a line of it."""
        if self._ledger is not None and self.identity is not None and not self._noted:
            self._noted = True
            self._ledger.opened(self._abspath, self.identity, self._head, start)

    # -- reading --------------------------------------------------------------------------------

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes of content (b"" at its end). A decompression error is kept in ``_error``, with
        the bytes decompressed before it returned (``read1`` a piece at a time: a ``read`` that fails loses
        what it had decompressed), so the lines before the damage are kept."""
        assert self._archive is not None
        reader = self._archive.reader
        parts: list[bytes] = []
        got = 0
        try:
            while got < size and (data := reader.read1(size - got)):
                parts.append(data)
                got += len(data)
        except decompression_errors() as e:
            self._error = e
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _count(self, block: bytes) -> None:
        """The first pass of ``--lines N``: count the lines; at the end, read it again from where they begin."""
        if block:
            self._newlines += block.count(b"\n")
            self._last_byte = block[-1:]
            return
        assert self._archive is not None and self._last_lines is not None
        n = self._last_lines
        lines = self._newlines + (self._last_byte not in (b"", b"\n"))  # an unfinished last line counts
        first = self._newlines + 1 if n == 0 else max(1, lines - n + 1)
        self._counting = False
        self._skip_lines = first - 1
        if not self._skip_lines:
            self._note(0)
        try:
            self._archive.reader.seek(0)
        except decompression_errors() as e:
            self._fail(describe(e, self._format))

    def _take(self, block: bytes, out: list[Chunk]) -> None:
        """Frame a block of content, passing what comes before where lines begin."""
        at = 0
        if self._skip_lines:
            while self._skip_lines and (nl := block.find(b"\n", at)) >= 0:
                at = nl + 1
                self._skip_lines -= 1
            if self._skip_lines:
                at = len(block)
        elif self._pos < self._skip:
            at = min(len(block), self._skip - self._pos)
        begin = self._pos + at
        self._pos += len(block)
        if at == len(block):
            return
        if self._framer is None:
            self._note(begin)
            self._framer = self._framing.framer(begin, self.identity)
        framer = self._framer
        out.extend(framer.feed(block[at:] if at else block))
        if framer.oversized:
            self._warn_once(
                f"a line is longer than --max-line-bytes {self._framing.max_line_bytes}; emitting it in pieces"
            )
        if framer.cut_records:
            m = self._framing.max_record_bytes
            self._warn_once(f"a record is longer than --max-record-bytes {m}; emitting it as it is, marked cut")

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s: %s", self.path, message)
