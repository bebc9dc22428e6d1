"""Standard input as a source (``-``): ``kubectl logs -f pod | tailmerge follow - app.log``.

A pipe cannot be watched with inotify, so a reader thread blocks on it and wakes the follower, which
then frames what arrived like any file's bytes. End of input finishes the source (its last line is
emitted), with or without ``--no-follow``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ..core import DEFAULT_MAX_LINE_BYTES, Chunk, Framing
from ..watch import Signal, Watcher

__all__ = ["Stdin"]

log = logging.getLogger("tailmerge")
READ_SIZE = 1 << 16


class Stdin:
    """A stream source on a descriptor (standard input by default), labelled ``path``."""

    rotating = False
    caught_up = False
    stream = True

    def __init__(
        self, path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, fd: int = 0, framing: Framing | None = None
    ) -> None:
        self.path = path
        self._fd = fd
        self._framing = framing if framing is not None else Framing(max_line_bytes)
        self._framer = self._framing.framer()
        self._grew_at = time.monotonic()
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
        now = time.monotonic()
        if data:
            self._grew_at = now
        elif self._framer.holding and now - self._grew_at >= self._framing.timeout:
            out.extend(self._framer.release())
        if eof and not data:
            self.ended = True
        return out

    def finish(self, complete: bool, quiet: bool = False) -> list[Chunk]:
        if self.ended:
            return self._framer.flush()
        out = self._framer.release()
        if self._framer.pending:
            say = log.info if quiet else log.warning
            say("%s: %d bytes of an unfinished line not read", self.path, self._framer.pending)
        return out

    def next_deadline(self) -> float | None:
        """When a held record is due to be released, if one is held."""
        return self._grew_at + self._framing.timeout if self._framer.holding else None
