"""Following more files than descriptors: a source closes its idle file to make room, and opens it again by
name when its watch says it changed (or, polled, when a stat of its path does).

Mixed into ``Source``. A closed file keeps its generation (identity, first bytes, position, framer): only
the descriptor goes. Opened again, it must be the same file: the same identity, and its first bytes and
size are then judged by the next look exactly as for a file held open (rewritten, truncated by
copytruncate). A file renamed while closed is found among its siblings by the rotated-generation search
(``find_moved``) and read to its end as a rotated file; one that can no longer be opened (deleted) is let
go, and one warning says what was lost.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import TYPE_CHECKING

from ..core import Identity
from .generation import Generation
from .ledger import FileRead
from .limits import fd_limit_message
from .moved import find_moved
from .spans import Lines

if TYPE_CHECKING:
    from .open_files import OpenFiles

__all__ = ["Reopening"]

log = logging.getLogger("tailmerge")

OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO put in a file's place must not hang
SLACK = 16  # out of descriptors within the budget all the same: hold this many fewer from then on
_TOO_MANY = (errno.EMFILE, errno.ENFILE)


class Reopening:
    """The closing half of ``Source``; ``Source`` gives the reading, the rotation and the reporting."""

    path: str
    abspath: str
    closed: bool
    _budget: OpenFiles | None
    _lock: threading.Lock
    _current: Generation | None
    _rotated: list[Generation]
    _moved: bool

    def _generations(self) -> list[Generation]:
        raise NotImplementedError

    def _read(self, gen: Generation, out: list[Lines]) -> bool:
        raise NotImplementedError

    def _check_path(self, gen: Generation, out: list[Lines]) -> None:
        raise NotImplementedError

    def _let_go(self, gen: Generation, out: list[Lines], *, flush: bool = True, finished: bool = True) -> None:
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _report(self, problem: str | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close every file without emitting anything more."""
        with self._lock:
            for gen in self._generations():
                if gen.fd >= 0:
                    os.close(gen.fd)
            self._rotated.clear()
            self._current = None
            self.closed = True
            self._holding()

    def close_idle(self) -> bool:
        """Close the current file to make room for another source's (``OpenFiles`` asks the least recently
        read first). Not while the source is being read, nor while it reads a file that is not at its path
        (rotated away, or renamed with nothing in its place), which could not be found again by name."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            gen = self._current
            if self.closed or gen is None or gen.fd < 0 or self._rotated or self._moved:
                return False
            try:
                st = os.fstat(gen.fd)
            except OSError:  # pragma: no cover - fstat on an open fd fails only on I/O errors
                return False
            gen.size, gen.mtime = st.st_size, st.st_mtime_ns  # what a stat of the path is compared with
            os.close(gen.fd)
            gen.fd = -1
            self._holding()
            return True
        finally:
            self._lock.release()

    def _holding(self) -> None:
        """Tell the budget how many files this source holds open now, and that it has just read."""
        if self._budget is not None:
            current = self._current
            self._budget.hold(self, len(self._rotated) + (current is not None and current.fd >= 0))

    def _open_file(self, path: str) -> int:
        """Open ``path`` within the budget: the least recently read sources close their files first. Out of
        descriptors all the same (what the reserve was kept for took more), the budget is lowered once."""
        budget = self._budget
        if budget is None:
            return os.open(path, OPEN_FLAGS)
        budget.make_room(1, self)
        try:
            return os.open(path, OPEN_FLAGS)
        except OSError as e:
            if e.errno not in _TOO_MANY:
                raise
        budget.lower(SLACK)
        budget.make_room(1, self)
        return os.open(path, OPEN_FLAGS)

    def _reopen(self, gen: Generation, out: list[Lines]) -> None:
        """The current file was closed to make room. Open it again if its path shows a change since: an
        unchanged path (same file, size and time, all read) costs a stat, and the file stays closed."""
        try:
            st: os.stat_result | None = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and Identity(st.st_dev, st.st_ino) == gen.identity:
            if st.st_size == gen.size == gen.pos and st.st_mtime_ns == gen.mtime:
                return
            gen.size = st.st_size  # what it holds, should it be gone by the time it is opened
        try:
            fd: int | None = self._open_file(self.path)
        except FileNotFoundError:
            fd = None
        except OSError as e:  # it stays closed: tried again at the next look
            self._report(fd_limit_message() if e.errno in _TOO_MANY else f"cannot open: {e.strerror}")
            return
        if fd is not None:
            here = os.fstat(fd)
            if Identity(here.st_dev, here.st_ino) == gen.identity:
                gen.fd = fd  # the next look judges its size and first bytes, as for a file held open
                self._report(None)
                return
            os.close(fd)
        # another file is at the path, or none: the old one was renamed or deleted while closed
        found = find_moved(self.abspath, FileRead(self.abspath, gen.identity, gen.fingerprint, gen.pos, False))
        if found is not None and found[1] == gen.identity:
            gen.fd = found[0]
            self._report(None)
            log.info("%s: renamed to %s while closed; reading it to its end", self.path, found[2])
            self._read(gen, out)
            self._check_path(gen, out)  # rotated: read until quiet for --rotate-wait; the path afresh
            return
        if found is not None:  # a copy (another identity): not the file whose lines were counted
            os.close(found[0])
        self._lost(gen, out)
        if st is not None:
            self._open()

    def _lost(self, gen: Generation, out: list[Lines]) -> None:
        """The closed file can no longer be opened: let it go (its held partial line ends with it, as for
        a deleted file let go) and say what could not be read."""
        unread = gen.size - gen.pos
        why = "deleted (or moved out of reach) while closed to stay within the open-file limit"
        if unread > 0:
            log.warning("%s: %s; %d bytes not read are lost", self.path, why, unread)
        else:
            log.warning("%s: %s; read to byte %d, anything written to it after that is lost", self.path, why, gen.pos)
        self._current = None  # no longer current: recorded as finished, so not read again under a new name
        self._let_go(gen, out)
