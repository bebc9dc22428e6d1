"""What has been read of each file, so a file met again under another name is not read twice.

Within a run it holds the files sources let go (rotated away, deleted). With a state (``--state``) it
is seeded with what earlier runs committed: the files they finished, and the files they were still
reading, each of which one source takes up (claims) where it was left.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..core import FINGERPRINT_BYTES, Identity

__all__ = ["FileRead", "Ledger", "StreamRead", "same_content"]


@dataclass(frozen=True, slots=True)
class FileRead:
    """How far a file was read: by the source of ``path`` (absolute), to ``offset``, and whether that
    source finished it (let it go after it rotated away). ``fingerprint``: its first bytes."""

    path: str
    file: Identity
    fingerprint: bytes
    offset: int
    finished: bool


@dataclass(frozen=True, slots=True)
class StreamRead:
    """How far a stream was read for one of its hosts' files: ``origin`` (``HOST:PATH``) of ``stream`` (its
    address, as shown) has every entry up to ``entry`` (an entry id) in the output."""

    stream: str
    origin: str
    entry: bytes


class Ledger:
    """Thread-safe: the threads engine opens sources from many threads."""

    def __init__(
        self,
        saved: list[FileRead] | None = None,
        stopped_at: float | None = None,
        streams: list[StreamRead] | None = None,
    ) -> None:
        """``saved``: what a state says earlier runs read; ``stopped_at``: the wall-clock time of its last
        commit (files last written after it were written while tailmerge was stopped); ``streams``: how far
        its streams were read."""
        self._lock = threading.Lock()
        self.stopped_at = stopped_at
        self.resumable = saved is not None
        """A state keeps what is read: unfinished lines and held records wait for a later run."""
        self.followed: set[str] = set()
        """Absolute paths the run follows (a generation of one of them is never another's)."""
        self.on_news: Callable[[], None] | None = None
        """Called when a file was opened or finished (a checkpoint commits it)."""
        self._paths = {r.path for r in saved or []}
        self._by_file: dict[Identity, FileRead] = {r.file: r for r in saved or []}
        self._reading: dict[str, list[FileRead]] = {}  # path: files an earlier run was still reading
        for read in saved or []:
            if not read.finished:
                self._reading.setdefault(read.path, []).append(read)
        self._claimed: set[Identity] = set()
        self._fingerprints: dict[Identity, bytes] = {}
        self._finished: list[FileRead] = []
        self._opened: list[FileRead] = []
        self._streams: dict[str, dict[str, bytes]] = {}
        for position in streams or []:
            self._streams.setdefault(position.stream, {})[position.origin] = position.entry
        self._streams_begun: list[StreamRead] = []
        self.stream_listeners: list[Callable[[list[StreamRead]], None]] = []
        """Told what each commit recorded of streams (a consumer group acknowledges those entries)."""

    # -- what sources tell it ----------------------------------------------------------------------

    def record(self, path: str, file: Identity, fingerprint: bytes, offset: int) -> None:
        """``path`` (absolute) let go of ``file``, read to ``offset``."""
        read = FileRead(path, file, fingerprint, offset, finished=True)
        with self._lock:
            self._by_file[file] = read
            if self.resumable:  # only a checkpoint takes them: without a state the list would only grow
                self._finished.append(read)
        self._news()

    def opened(self, path: str, file: Identity, fingerprint: bytes, offset: int) -> None:
        """``path`` (absolute) opened ``file`` to read from ``offset``: a checkpoint records it at once, so a
        file that stays quiet until a crash is still known where it was begun (``--from end``, rotation).
        Without a state nothing is kept: no one would take it."""
        if not self.resumable:
            return
        with self._lock:
            self._fingerprints[file] = fingerprint
            self._opened.append(FileRead(path, file, fingerprint, offset, finished=False))
        self._news()

    def _news(self) -> None:
        if self.on_news is not None:
            self.on_news()

    def take_opened(self) -> list[FileRead]:
        """Files opened since the last call."""
        with self._lock:
            opened, self._opened = self._opened, []
        return opened

    def stream_begun(self, read: StreamRead) -> None:
        """A stream's reader met ``read.origin`` for the first time, reading after ``read.entry``: a checkpoint
        records it at once, so a restart reads that origin's lines again until some are in the output."""
        if not self.resumable:
            return
        with self._lock:
            self._streams_begun.append(read)
        self._news()

    def streams_committed(self, reads: list[StreamRead]) -> None:
        """A commit recorded ``reads``."""
        for listener in self.stream_listeners:
            listener(reads)

    def take_streams_begun(self) -> list[StreamRead]:
        """Stream origins begun since the last call."""
        with self._lock:
            begun, self._streams_begun = self._streams_begun, []
        return begun

    def seen(self, file: Identity, fingerprint: bytes) -> None:
        """An open file's first bytes (a checkpoint records them, to know the file again)."""
        if not self.resumable:
            return
        with self._lock:
            self._fingerprints[file] = fingerprint

    # -- what a checkpoint asks ---------------------------------------------------------------------

    def fingerprint(self, file: Identity) -> bytes:
        return self._fingerprints.get(file, b"")

    def take_finished(self) -> list[FileRead]:
        """Files let go since the last call."""
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    # -- where a source starts ------------------------------------------------------------------------

    def saved(self, path: str) -> list[FileRead]:
        """Files an earlier run was still reading for ``path`` and no source has taken up yet."""
        with self._lock:
            return [r for r in self._reading.get(path, ()) if r.file not in self._claimed]

    def stream_saved(self, stream: str) -> dict[str, bytes]:
        """Per origin (``HOST:PATH``) of ``stream``: the last entry id an earlier run has in its output."""
        return dict(self._streams.get(stream, {}))

    def knows_path(self, path: str) -> bool:
        """Whether a state says an earlier run read ``path`` (absolute)."""
        return path in self._paths

    def copy_of_known(self, fd: int) -> bool:
        """Whether the file open as ``fd`` begins as a file already read does (a copy of it). Only whole
        fingerprints count: the first bytes of a short file (a partial line) say too little."""
        with self._lock:
            prints = {r.fingerprint for r in self._by_file.values() if len(r.fingerprint) == FINGERPRINT_BYTES}
        return any(starts_with(fd, fp) for fp in prints)

    def known(self, file: Identity) -> bool:
        """Whether ``file`` was read, or is held open, by any source (of this run or, with a state, before)."""
        with self._lock:
            return file in self._by_file or file in self._fingerprints

    def claim(self, read: FileRead) -> bool:
        """Take up a file an earlier run was reading; False when another source already has."""
        with self._lock:
            if read.file in self._claimed:
                return False
            self._claimed.add(read.file)
            return True

    def resume(self, path: str, file: Identity, fd: int, size: int) -> int | None:
        """Where to start ``path`` (open as ``fd``) if it was read already, else None.

        The same file (identity, and its first bytes unchanged), or a file beside one already read whose
        name extends that one's (``app.log.1`` beside ``app.log``), that begins with the same bytes and is
        at least as long as what was read: a rotated generation met again under its new name. A file an
        earlier run was still reading is claimed, so no other source takes it up again.
        """
        with self._lock:
            if not self._by_file:
                return None  # nothing was let go yet (every source opened at start): nothing to compare
            known = self._by_file.get(file)
            others = list(self._by_file.values()) if known is None else []
        if known is not None:
            if known.offset <= size and starts_with(fd, known.fingerprint) and self._take(known):
                return known.offset
            return None
        folder, name = os.path.split(path)
        for read in others:
            rfolder, rname = os.path.split(read.path)
            if rfolder == folder and name.startswith(rname) and read.fingerprint and size >= read.offset:
                if starts_with(fd, read.fingerprint) and self._take(read):
                    return read.offset
        return None

    def resume_archive(self, path: str, file: Identity, head: bytes, held: Iterable[FileRead] = ()) -> int | None:
        """Where to begin the content of the archive ``path`` (absolute), open as ``file``, whose content
        begins with ``head`` (its first FINGERPRINT_BYTES bytes, decompressed); None: not at all.

        0 for an archive never read. Where it was left for one read before, unless it was read to its end
        (None). An archive whose content begins as that of a file read before is a compressed copy of it
        (logrotate's ``compress`` makes a new file): it goes on where that file was left. One that is a
        copy of a file a source holds (``held``) or has taken up is that source's to read (None).
        """
        with self._lock:
            known = self._by_file.get(file)
            reads = list(self._by_file.values())
        if known is not None and known.fingerprint == head:
            return None if known.finished else known.offset if self.claim(known) else None
        if any(same_content(read, head, path) for read in held):
            return None
        for read in reads:
            if same_content(read, head, path):
                return read.offset if self._take(read) else None
        return 0

    def _take(self, read: FileRead) -> bool:
        return read.finished or self.claim(read)


def same_content(read: FileRead, head: bytes, path: str) -> bool:
    """Whether a file at ``path`` whose content begins with ``head`` (its first FINGERPRINT_BYTES bytes) is a
    copy of ``read``'s file: the same first bytes, all FINGERPRINT_BYTES of them; or, for a shorter file, the
    same bytes under a name beside it that extends its path's (a short file's few bytes say too little)."""
    if not head or read.fingerprint != head:
        return False
    if len(head) >= FINGERPRINT_BYTES:
        return True
    folder, name = os.path.split(path)
    rfolder, rname = os.path.split(read.path)
    return folder == rfolder and name.startswith(rname)


def starts_with(fd: int, fingerprint: bytes) -> bool:
    """Whether the file open as ``fd`` begins with ``fingerprint``."""
    try:
        return os.pread(fd, len(fingerprint), 0) == fingerprint
    except OSError:
        return False
