"""Standard input as a source (``-``): ``kubectl logs -f pod | tailmerge follow - app.log``.

A pipe cannot be watched with inotify, so a reader thread blocks on it and wakes the follower, which
then frames what arrived like any file's bytes. End of input finishes the source (its last line is
emitted), with or without ``--no-follow``.
"""

from __future__ import annotations

import logging
import os
import threading

from ..core import Chunk, LineFramer
from ..watch import Signal, Watcher

__all__ = ["Stdin"]

log = logging.getLogger("tailmerge")
READ_SIZE = 1 << 16


class Stdin:
    """A stream source on a descriptor (standard input by default), labelled ``path``."""

    rotating = False
    stream = True

    def __init__(self, path: str, max_line_bytes: int, fd: int = 0) -> None:
        self.path = path
        self._fd = fd
        self._framer = LineFramer(max_line_bytes)
        self._lock = threading.Lock()
        self._data: list[bytes] = []
        self._eof = False
        self.ended = False
        self._signal: Signal | None = None
        self._thread: threading.Thread | None = None

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        """Start the reader thread; it sets ``signal`` when bytes (or the end) arrive."""
        self._signal = signal
        if self._thread is None:
            # a daemon: a read of a pipe cannot be interrupted, and a stop must not wait for the writer
            self._thread = threading.Thread(target=self._read, name="tailmerge stdin", daemon=True)
            self._thread.start()
        return True

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        self._signal = None

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, READ_SIZE)
            except OSError as e:
                log.warning("%s: read failed: %s", self.path, e.strerror)
                data = b""
            with self._lock:
                if data:
                    self._data.append(data)
                else:
                    self._eof = True
            signal = self._signal
            if signal is not None:
                signal.set()
            if not data:
                return

    def step(self) -> list[Chunk]:
        with self._lock:
            data, self._data = self._data, []
            eof = self._eof
        out: list[Chunk] = []
        for block in data:
            out.extend(self._framer.feed(block))
        if eof and not data:
            self.ended = True
        return out

    def finish(self, complete: bool) -> list[Chunk]:
        if self.ended:
            return self._framer.flush()
        if self._framer.pending:
            log.warning("%s: %d bytes of an unfinished line not read", self.path, self._framer.pending)
        return []

    def next_deadline(self) -> float | None:
        return None
