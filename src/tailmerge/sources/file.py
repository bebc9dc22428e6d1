"""One followed path: open it, read what is new, notice truncation, rotation and deletion.

A source does file I/O but never waits: ``step()`` returns the complete lines that are ready now (or
none), and the engine decides how to wait for more. What a look means (grew, truncated, rotated...) is
decided by the pure functions of ``core.positions``. Every problem is logged once per change of state,
naming the path, and never stops other sources.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable

from ..core import DEFAULT_MAX_LINE_BYTES, FINGERPRINT_BYTES, Change, Framing, Identity, LineFramer, follow_path, look
from .copytruncate import read_again
from .generation import Generation
from .ledger import FileRead, Ledger
from .limits import fd_limit_message
from .moved import resume_saved
from .open_files import OpenFiles
from .reopen import Reopening
from .spans import Lines, SpanReading
from .start import Start

__all__ = ["Source"]

log = logging.getLogger("tailmerge")


class Source(SpanReading, Reopening):
    """A followed path. One engine worker drives it at a time; another source may close its idle file
    (``close_idle``) under its lock, which a step holds. ``budget``: the files all sources may hold open.

    A file that exists at start is read from where ``start`` says (its start by default); a file that
    appears later from its start. ``ledger``: files already read, so a rotated file matched again under
    its new name is not read twice; with a state, the files an earlier run was reading for this path,
    resumed where it left them.
    """

    def __init__(
        self,
        path: str,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        start: Start | None = None,
        rotate_wait: float = 5.0,
        follow: bool = True,
        ledger: Ledger | None = None,
        framing: Framing | None = None,
        abspath: str | None = None,
        real_path: str | None = None,
        budget: OpenFiles | None = None,
    ) -> None:
        self.path = path
        self.abspath = abspath if abspath is not None else os.path.abspath(path)
        """The absolute path, taken now (the current folder may go away later), or given when known."""
        self.real_path = real_path
        """Where the file was when the run added it, symlinks resolved, for the waker; None: not known."""
        self._framing = framing if framing is not None else Framing(max_line_bytes)  # framing wins: it has one
        self._max_line_bytes = self._framing.max_line_bytes
        self._start = start if start is not None else Start()
        self._rotate_wait = rotate_wait
        self._follow = follow
        self._ledger = ledger
        self._budget = budget
        self._lock = threading.Lock()
        self._at_start = True  # the first open, of a file that existed when the run began
        self._took_up = False  # the files an earlier run was reading for this path were looked for
        self._moved = False  # the current file was renamed away and nothing is at the path yet
        self._caught_up = False  # the last look read the current file to the size it had
        self.path_news: Callable[[], bool] | None = None
        """With a waker: whether something may have happened to the path's entry since last asked (a
        rename, a deletion). None: always look at the path when the file has nothing new."""
        self._current: Generation | None = None
        self._rotated: list[Generation] = []
        self._problem: str | None = None
        self._warned: set[str] = set()
        self.closed = False

    stream = False
    ended = False

    @property
    def problem(self) -> str | None:
        """What is wrong with the path now (missing, unreadable...), as last reported; None when fine."""
        return self._problem

    # -- what the engine sees -------------------------------------------------------------------

    def identities(self) -> list[Identity]:
        """Identities of every file this source holds open (current and rotated)."""
        return [g.identity for g in self._generations()]

    def held(self) -> list[FileRead]:
        """Every file this source holds open, as a read: its path, first bytes and how far it was read."""
        return [FileRead(self.abspath, g.identity, g.fingerprint, g.pos, False) for g in self._generations()]

    @property
    def rotating(self) -> bool:
        """True while a file is read under a name that is not its path (rotated away and still read, or
        renamed with nothing at the path yet): the folder watch matches names, so it is polled."""
        return bool(self._rotated) or self._moved

    @property
    def caught_up(self) -> bool:
        return self._caught_up and not self._rotated and not self._moved

    def next_deadline(self) -> float | None:
        """Monotonic time at which a rotated file is due to be let go, or a held record to be released."""
        if not self._rotated and (self._current is None or not self._current.framer.holding):
            return None  # asked at every wait: the usual answer, without making lists
        due = [g.deadline for g in self._rotated if g.deadline is not None]
        due += [g.grew_at + self._framing.timeout for g in self._generations() if g.framer.holding]
        return min(due, default=None)

    def open(self) -> None:
        """Open the file now, if it is not open yet: its start position (``--from end``, ``-n``) is taken
        when the run adds it, not when its follower first runs, and a missing file is reported at once."""
        budget = self._budget
        if not self._follow and budget is not None and budget.count >= budget.limit:
            return  # without follow, a file that does not fit now is opened in its turn, and read to its end
        with self._lock:
            if self._current is None and not self.closed:
                self._open()
                self._holding()

    def step(self) -> list[Lines]:
        """Read what is new now and return its complete lines (possibly none). Never blocks on waiting."""
        with self._lock:
            out = self._step()
            self._holding()
            return out

    def _step(self) -> list[Lines]:
        out: list[Lines] = []
        if self.closed:
            return out
        now = time.monotonic()
        for gen in list(self._rotated):
            if self._read(gen, out):
                # still written to: keep it until it has been quiet for rotate_wait
                gen.deadline = now + self._rotate_wait
            elif gen.deadline is not None and now >= gen.deadline:
                log.info("%s: rotated file let go after %.1f s without growth", self.path, now - gen.grew_at)
                self._let_go(gen, out)
        if self._current is not None and self._current.fd < 0:
            self._reopen(self._current, out)  # closed to make room: opened again if its path changed
        elif self._current is None:
            self._open()
        current = self._current
        self._caught_up = False
        if current is not None and current.fd >= 0:
            read = self._read(current, out)
            # polled: the path is looked at when the file has nothing new. With a waker: when its folder's
            # watch saw the entry change, even if the file grew too (a writer that goes on writing to the
            # renamed file after the rename would otherwise keep it from ever being seen)
            if (not read and self.path_news is None) or (self.path_news is not None and self.path_news()):
                self._check_path(current, out)
            self._caught_up = read and current is self._current and current.pos == current.size
        for gen in self._generations():
            if gen.framer.holding and now - gen.grew_at >= self._framing.timeout:
                out.extend(gen.framer.release())  # quiet for the timeout: the record is complete
        return out

    def finish(self, complete: bool, quiet: bool = False) -> list[Lines]:
        """The source is done: close every file.

        ``complete`` (the input was read to its end: ``--no-follow``): a final line without a newline is
        emitted with one added (unless a state keeps it for a later run, when it is whole). Otherwise (a
        stop) it stays unread and one warning names it (``quiet``: an info line); so does a held record when a
        state resumes it.
        """
        with self._lock:
            out = self._finish(complete, quiet)
            self._holding()
            return out

    def _finish(self, complete: bool, quiet: bool) -> list[Lines]:
        out: list[Lines] = []
        if self.closed:
            return out
        keep = self._ledger is not None and self._ledger.resumable
        for gen in self._generations():
            at_end = False
            if complete:
                try:  # a file closed to make room: its size when it was closed
                    at_end = (os.fstat(gen.fd).st_size if gen.fd >= 0 else gen.size) == gen.pos
                except OSError:
                    pass
            if at_end and not keep:
                out.extend(gen.framer.flush())
            elif complete or not keep:
                out.extend(gen.framer.release())  # a held record's lines are complete
            if gen.framer.pending:
                what = "record" if gen.framer.holding else "line"
                say = log.info if quiet else log.warning
                say("%s: %d bytes of an unfinished %s not read", self.path, gen.framer.pending, what)
            # read to its end: finished; a stop may leave bytes unread (a state resumes it)
            self._let_go(gen, out, flush=False, finished=at_end)
        self.closed = True
        return out

    def _generations(self) -> list[Generation]:
        return [*self._rotated, *([self._current] if self._current else [])]

    # -- opening --------------------------------------------------------------------------------

    def _report(self, problem: str | None) -> None:
        """Log a problem once per change, so a file that stays missing is not reported on every poll."""
        if problem != self._problem:
            self._problem = problem
            if problem is not None:
                log.warning("%s: %s", self.path, problem)

    def _open(self) -> None:
        try:
            fd = self._open_file(self.path)
        except FileNotFoundError:
            self._report("no such file; it will be followed once it appears" if self._follow else "no such file")
            if self._ledger is not None and not self._took_up:
                self._took_up = True
                if self._ledger.knows_path(self.abspath):
                    self._take_up(None)
            self._at_start = False  # a file that appears later is new: read it from its start
            return
        except PermissionError:
            self._report("permission denied; retrying while it is followed")
            return
        except OSError as e:
            too_many = e.errno in (errno.EMFILE, errno.ENFILE)
            self._report(fd_limit_message() if too_many else f"cannot open: {e.strerror}")
            return
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            self._report(f"is {kind}; waiting for a regular file at this path" if self._follow else f"is {kind}")
            return
        identity = Identity(st.st_dev, st.st_ino)
        framer = self._framing.framer(self._first_offset(fd, st, identity), identity)
        gen = Generation(fd, identity, framer)
        self._at_start = False
        self._current = gen
        if self._problem is not None:
            self._report(None)
            log.info("%s: opened", self.path)
        self._take_fingerprint(gen)
        if self._ledger is not None:
            self._ledger.opened(self.abspath, identity, gen.fingerprint, gen.pos)

    def _first_offset(self, fd: int, st: os.stat_result, identity: Identity) -> int:
        if self._ledger is not None and not self._took_up:
            self._took_up = True
            if self._ledger.knows_path(self.abspath):
                self._at_start = False  # a file the state does not know is new since: read from its start
                if (offset := self._take_up((fd, st, identity))) is not None:
                    return offset
        if self._ledger is not None:
            known = self._ledger.resume(self.abspath, identity, fd, st.st_size)
            if known is not None:
                log.info("%s: already read to byte %d; going on from there", self.path, known)
                return known
        if not self._at_start:
            return 0
        return self._start.offset(fd, st.st_size, self._max_line_bytes)

    # -- reading --------------------------------------------------------------------------------

    def _read(self, gen: Generation, out: list[Lines]) -> bool:
        """Read what is new in one file into ``out``; return whether anything was read."""
        try:
            size = os.fstat(gen.fd).st_size
        except OSError as e:  # pragma: no cover - fstat on an open fd fails only on I/O errors
            self._report(f"cannot stat: {e.strerror}")
            return False
        gen.size = size
        cut = bool(gen.spans) and self._moved_short(gen)
        if cut:  # truncated under a span, perhaps written again since: read on from the copy, then anew
            read_again(self.path, self.abspath, gen, size, out, self._ledger)
        if size == gen.pos:
            return cut
        change = look(gen.pos, size, starts_same=self._same_start(gen, size))
        if change in (Change.TRUNCATED, Change.REWRITTEN):
            read_again(self.path, self.abspath, gen, size, out, self._ledger)
        want = min(size - gen.pos, self._framing.step_budget)
        spans = self._framing.spans
        if spans is not None and spans.on and isinstance(gen.framer, LineFramer):
            got = self._read_spans(gen, gen.framer, gen.pos + want, size, out)
        else:
            got = self._read_bytes(gen, want, out)
        if got:
            gen.grew_at = time.monotonic()
            if len(gen.fingerprint) < FINGERPRINT_BYTES:
                self._take_fingerprint(gen)
            if gen.framer.oversized:
                self._warn_once(f"a line is longer than --max-line-bytes {self._max_line_bytes}; emitting it in pieces")
            if gen.framer.cut_records:
                m = self._framing.max_record_bytes
                self._warn_once(f"a record is longer than --max-record-bytes {m}; emitting it as it is, marked cut")
        return got > 0

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s: %s", self.path, message)

    def _take_fingerprint(self, gen: Generation) -> None:
        try:
            gen.fingerprint = os.pread(gen.fd, FINGERPRINT_BYTES, 0)
        except OSError:
            gen.fingerprint = b""
        if self._ledger is not None:
            self._ledger.seen(gen.identity, gen.fingerprint)

    def _same_start(self, gen: Generation, size: int) -> bool:
        """Whether the file still begins with the bytes it began with (else it was rewritten)."""
        known = len(gen.fingerprint)
        if not known or size < known or gen.pos == 0:  # at 0 nothing was read that a rewrite could change
            return True  # the size check alone decides; a shorter file is caught there
        try:
            return os.pread(gen.fd, known, 0) == gen.fingerprint
        except OSError:
            return True

    # -- resuming what an earlier run was reading (--state) ------------------------------------------

    def _take_up(self, here: tuple[int, os.stat_result, Identity] | None) -> int | None:
        """Resume what a state says earlier runs read of this path (``resume_saved``): files that moved away
        are read first, as rotated files. Return where the file at the path begins (None: not saved)."""
        assert self._ledger is not None
        offset, moved = resume_saved(self.path, self._ledger, here)
        for fd, identity, start in moved:
            gen = Generation(fd, identity, self._framing.framer(start, identity))
            gen.deadline = time.monotonic() + self._rotate_wait
            self._take_fingerprint(gen)
            self._ledger.opened(self.abspath, identity, gen.fingerprint, start)
            self._rotated.append(gen)
        return offset

    # -- rotation -------------------------------------------------------------------------------

    def _check_path(self, gen: Generation, out: list[Lines]) -> None:
        """At the end of the current file: does the path still name it? Notice rotation and deletion."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:
            return
        at_path = Identity(st.st_dev, st.st_ino) if st is not None else None
        # the link count only matters when the path names another file or none: no fstat on every look
        linked = at_path == gen.identity or _linked(gen.fd)
        change = follow_path(gen.identity, at_path, linked=linked)
        self._moved = change is Change.MOVED
        if change in (Change.SAME, Change.MOVED):
            return  # MOVED: renamed away, nothing at the path yet: still the newest file; keep reading it
        # rotated or deleted: a writer may still hold the old file, so it is read until it has been quiet
        # for rotate_wait seconds, while the path is followed afresh
        what = "deleted" if change is Change.DELETED else f"{change.value}; following the new file from its start"
        log.info("%s: %s", self.path, what)
        gen.deadline = time.monotonic() + self._rotate_wait
        self._rotated.append(gen)
        self._current = None
        self._read(gen, out)  # what reached the old file just before the switch comes before the new file
        out.extend(gen.framer.release())  # its record ends with it
        if st is not None:
            self._open()
            if self._current is not None:
                self._read(self._current, out)

    def _let_go(self, gen: Generation, out: list[Lines], *, flush: bool = True, finished: bool = True) -> None:
        if flush:
            out.extend(gen.framer.flush())
        if self._ledger is not None and finished and not gen.framer.pending and gen is not self._current:
            # finished: rotated away (or deleted) and read to its end; the file at the path is not, even
            # when the run ends, so a state resumes it where it was left
            self._ledger.record(self.abspath, gen.identity, gen.fingerprint, gen.framer.offset)
        if gen.fd >= 0:
            os.close(gen.fd)
            gen.fd = -1
        if gen in self._rotated:
            self._rotated.remove(gen)
        if gen is self._current:
            self._current = None


def _linked(fd: int) -> bool:
    try:
        return os.fstat(fd).st_nlink > 0
    except OSError:
        return False
