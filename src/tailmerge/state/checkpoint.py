"""The committer: what the output holds, made durable, then recorded with the read offsets.

A sink's writer thread tells it what each write delivered (``delivered``) and asks it to ``commit``
when one is due: the output is synced per the fsync policy first, then the offsets of every file read
and the output's size go to the state in one transaction. So the state never says more than the output
holds; a crash between the two leaves bytes past the committed size, which the next start cuts off and
reads again. Nothing here runs on the event loop: fsync happens in the sink's own thread.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from collections import deque

from ..core import Identity
from ..sinks.contract import Handed, Interleaved
from ..sources.archives import archived
from ..sources.ledger import FileRead, Ledger, StreamRead
from ..sources.stream import EntryChunk
from .policy import FSYNC_POLICIES, FsyncPolicy, StateError
from .store import Committed, StateStore

__all__ = [
    "COMMIT_INTERVAL",
    "FSYNC_POLICIES",
    "Checkpoint",
    "FsyncPolicy",
    "Mark",
    "Positions",
    "forgettable",
    "open_checkpoint",
]

log = logging.getLogger("tailmerge")

COMMIT_INTERVAL = 1.0  # seconds: at most one fsync (and one transaction) a second with "interval"
# (absolute path, file, offset just past the batch's last line of it), or how far a stream's origin got
Mark = list[tuple[str, Identity, int] | StreamRead]


class Positions:
    """Positions delivered and not yet committed, whatever commits them: the file sink's ``Checkpoint``
    (a SQLite state) or the Redis sink (in the transaction that adds the lines). Used by one thread (the
    committer's). ``saved``: what was committed before; ``stopped_at``: when (wall clock)."""

    def __init__(
        self, saved: list[FileRead], stopped_at: float | None, streams: list[StreamRead] | None = None
    ) -> None:
        self.ledger = Ledger(saved, stopped_at, streams)
        self._committed: dict[Identity, FileRead] = {r.file: r for r in saved}
        self._paths: dict[str, str] = {}  # path as given: absolute path
        self._pending: dict[Identity, tuple[str, int]] = {}  # file: (absolute path, offset)
        self._finishing: dict[Identity, FileRead] = {}
        self._opened: dict[Identity, FileRead] = {}
        self._streams: dict[tuple[str, str], StreamRead] = {}  # (stream, origin): delivered or begun, uncommitted
        self._due: float | None = None
        self._interval = COMMIT_INTERVAL
        self._in_pipe: deque[tuple[int, Mark]] = deque()
        self.commits = 0

    def _abspath(self, path: str) -> str:
        if (full := self._paths.get(path)) is None:
            full = self._paths[path] = os.path.abspath(path)
        return full

    def mark(self, batch: Handed) -> Mark:
        """Where ``batch`` leaves each file it holds lines of (thread-safe)."""
        if isinstance(batch, Interleaved):  # per source: where its last segment of each file ends
            marks: Mark = []
            for key, segments in batch.release.parts:
                last = {s.run.chunk.file: s.end for s in segments if s.run.chunk.file is not None}
                origin = batch.origins[key].path
                if not last:  # a stream's lines (each origin one host's file)
                    marks += _stream_mark(origin, [(s.run.chunk, s.end) for s in segments])
                    continue
                path = self._abspath(origin)
                marks += [(path, file, end) for file, end in last.items()]
            return marks
        ends: dict[Identity, int] = {}
        for chunk in batch.chunks:
            if chunk.file is not None:
                ends[chunk.file] = chunk.end
        if not ends:
            return _stream_mark(batch.origin.path, [(c, c.end) for c in batch.chunks])
        path = self._abspath(batch.origin.path)
        return [(path, file, end) for file, end in ends.items()]

    def delivered(self, mark: Mark, written: int | None = None) -> None:
        """The output holds the lines of ``mark`` (written, not yet synced). ``written``: for a pipe, the
        bytes written through it once they were; they count only once its reader has taken them out."""
        if written is not None:
            self._in_pipe.append((written, mark))
        else:
            for position in mark:
                if isinstance(position, StreamRead):
                    self._streams[position.stream, position.origin] = position
                else:
                    path, file, end = position
                    self._pending[file] = (path, end)
        if self._due is None:
            self._due = time.monotonic() + self._interval

    def delivered_line(self, path: str, file: Identity | None, offset: int) -> bool:
        """A line of ``path`` (as given) was taken by its consumer; return whether a commit is due."""
        if file is not None:
            self.delivered([(self._abspath(path), file, offset)])
        return self.wait() == 0

    def wait(self) -> float | None:
        """Seconds until a commit is due; None when nothing waits to be committed."""
        if self._due is None and not self._news():
            return None
        return 0.0 if self._due is None else max(0.0, self._due - time.monotonic())

    def _news(self) -> bool:
        """Take what sources reported (files opened, files finished); whether anything waits for a commit."""
        for read in self.ledger.take_finished():
            self._finishing[read.file] = read
        for read in self.ledger.take_opened():
            self._opened[read.file] = read
        for begun in self.ledger.take_streams_begun():
            self._streams.setdefault((begun.stream, begun.origin), begun)  # a delivered line supersedes it
        return bool(self._finishing or self._opened or self._streams)

    def collect(self) -> list[FileRead]:
        """What a commit records now: the files delivered to, opened or finished since the last one."""
        self._news()
        reads = [self._read(path, file, offset) for file, (path, offset) in self._pending.items()]
        # a file opened and not read from since: where it was begun (a delivered line supersedes it)
        reads[:0] = [r for f, r in self._opened.items() if f not in self._pending and not self._finished(f)]
        self._opened.clear()
        for file, read in list(self._finishing.items()):
            done = self._committed.get(file)
            if (pending := next((r for r in reads if r.file == file), None)) is not None:
                done = pending
            if done is not None and done.offset >= read.offset:  # its last lines are in the output
                reads.append(FileRead(read.path, file, read.fingerprint, read.offset, finished=True))
                del self._finishing[file]
        self._pending.clear()
        return reads

    def collect_streams(self) -> list[StreamRead]:
        """What a commit records of streams now: each origin's last entry in the output (or where it was
        begun), since the last commit."""
        self._news()
        streams, self._streams = list(self._streams.values()), {}
        return streams

    def recorded(self, reads: list[FileRead]) -> None:
        """``reads`` (from ``collect``) are committed."""
        for read in reads:
            self._committed[read.file] = read
        self._due = None if not self._in_pipe else time.monotonic() + self._interval

    def _finished(self, file: Identity) -> bool:
        known = self._committed.get(file)
        return known is not None and known.finished

    def _read(self, path: str, file: Identity, offset: int) -> FileRead:
        fingerprint = self.ledger.fingerprint(file)
        if not fingerprint and (known := self._committed.get(file)) is not None:
            fingerprint = known.fingerprint
        return FileRead(path, file, fingerprint, offset, finished=False)


class Checkpoint(Positions):
    """The file sink's committer: the output synced per the fsync policy, then the positions and the
    output's size recorded in the SQLite state in one transaction."""

    def __init__(self, store: StateStore, fsync: FsyncPolicy) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"unknown fsync policy {fsync!r}; choose from {', '.join(FSYNC_POLICIES)}")
        super().__init__(store.files(), store.committed_at(), store.streams())
        self.store = store
        self.fsync = fsync
        self._interval = 0.0 if fsync == "always" else COMMIT_INTERVAL
        self.syncs = 0

    def commit(
        self, fd: int | None, path: str | None, *, size: int | None = None, written: int = 0, final: bool = False
    ) -> None:
        """Make the output durable (per the policy; always on a ``final`` commit), then record. The
        output's size (``size``, else its size now) is recorded only for a file named by ``path`` (an output
        the merge owns). An OSError (the output's descriptor is gone) is a StateError."""
        try:
            self._commit(fd, path, size, written, final)
        except OSError as e:
            raise StateError(f"state {self.store.path}: cannot commit: {e.strerror or e}") from e

    def _commit(self, fd: int | None, path: str | None, size: int | None, written: int, final: bool) -> None:
        regular = fd is not None and _is_regular(fd)
        if self._in_pipe and fd is not None:
            taken = written - _unread(fd)  # what the reader took out of the pipe (the rest may never be read)
            while self._in_pipe and self._in_pipe[0][0] <= taken:
                self.delivered(self._in_pipe.popleft()[1])
        if regular and fd is not None and (self.fsync != "never" or final) and (self._pending or final):
            os.fdatasync(fd)
            self.syncs += 1
        reads, streams = self.collect(), self.collect_streams()
        output = None
        if regular and fd is not None and path is not None:
            st = os.fstat(fd)
            output = Committed(
                os.path.abspath(path), Identity(st.st_dev, st.st_ino), st.st_size if size is None else size
            )
        if reads or streams or output is not None:
            self.store.commit(reads, output, streams)
            self.commits += 1
        self.recorded(reads)
        if streams:
            self.ledger.streams_committed(streams)

    def close(self) -> None:
        log.info("state %s: %d commits, %d output syncs", self.store.path, self.commits, self.syncs)
        self.store.close()


def _stream_mark(origin: str, ends: list[tuple[object, int]]) -> Mark:
    """How far ``origin`` of a stream got: the entry of the last line delivered (chunk, end offset)."""
    for chunk, end in reversed(ends):
        if isinstance(chunk, EntryChunk) and (entry := chunk.entry_at(end)) is not None:
            return [StreamRead(chunk.stream, origin, entry)]
    return []


def open_checkpoint(path: str, fsync: FsyncPolicy) -> Checkpoint:
    """Open (or create) the state at ``path`` for a run; finished files that are gone are forgotten, unless a
    compressed copy of one is beside it (logrotate's ``compress``): the copy is known by it, not read again."""
    store = StateStore(path, synchronous="FULL" if fsync == "always" else "NORMAL")
    try:
        if forgotten := forgettable(store.files()):
            store.forget(forgotten)
        return Checkpoint(store, fsync)
    except BaseException:
        store.close()
        raise


def forgettable(saved: list[FileRead]) -> list[Identity]:
    """Finished files that are gone (their inodes may be reused by new files), but for those a compressed
    copy beside them is known by (logrotate's ``compress``)."""
    finished = [r for r in saved if r.finished]
    present = _identities_in({os.path.dirname(r.path) for r in finished})
    if not (gone := [r for r in finished if r.file not in present]):
        return []
    kept = archived(gone)
    return [r.file for r in gone if r.file not in kept]


def _identities_in(folders: set[str]) -> set[Identity]:
    """The identities of the files in ``folders`` (each listed once)."""
    found = set()
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            found.add(Identity(st.st_dev, st.st_ino))
    return found


def trim_output(fd: int, name: str, state: str, committed: Committed) -> None:
    """Cut the output (open as ``fd``) back to its committed size: what was written after the last commit
    is read again. Refuse an output that is not the one the state was committed with."""
    st = os.fstat(fd)
    here = Identity(st.st_dev, st.st_ino)
    if committed.file is not None and here != committed.file:
        raise StateError(
            f"state {state}: belongs to another output (it was committed with {committed.path}, file "
            f"{committed.file}; {name} is file {here}); use that output, or a new state"
        )
    if st.st_size < committed.size:
        raise StateError(
            f"state {state}: {name} is shorter ({st.st_size} bytes) than the state committed ({committed.size}): "
            "something else changed it; use a new state"
        )
    if st.st_size > committed.size:
        log.warning(
            "%s: %d bytes written after the last commit were cut off; they are read again",
            name,
            st.st_size - committed.size,
        )
        os.ftruncate(fd, committed.size)


def _unread(fd: int) -> int:
    """Bytes written to the pipe ``fd`` that its reader has not read yet (0 when it cannot be told)."""
    try:
        import fcntl
        import termios

        buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(buf, sys.byteorder, signed=True)
    except (OSError, ImportError):
        return 0


def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False
