"""Sinks: how chunks of lines become output bytes, and the one owner of the output stream.

Formatting is pure (chunks in, bytes out); ``Output`` does the writing, one ``write()`` per batch of
complete lines, so lines from different sources never mix inside a line.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import threading
from collections import Counter
from collections.abc import Sequence
from json.encoder import encode_basestring as _json_str  # C: a str as a JSON string literal, UTF-8 kept

from ._framing import Chunk

__all__ = ["FORMATS", "Formatter", "Output", "OutputClosed", "OutputError", "labels_for"]

FORMATS = ("raw", "labeled", "jsonl")
LABEL_SEP = b" | "
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
_COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)


def labels_for(paths: Sequence[str]) -> list[str]:
    """For each path, the shortest suffix of path components that no other path ends with."""
    split = [tuple(_components(p)) for p in paths]
    labels: list[str | None] = [None] * len(split)
    depth = max(map(len, split), default=0)
    for k in range(1, depth + 1):
        # counting suffixes per length keeps this linear in the number of paths (10,000 files)
        counts = Counter(parts[-k:] for parts in split)
        for i, parts in enumerate(split):
            if labels[i] is None and (counts[parts[-k:]] == 1 or k == len(parts)):
                labels[i] = "/".join(parts[-k:])
    return [label or "/".join(parts) for label, parts in zip(labels, split, strict=True)]


def _components(path: str) -> list[str]:
    parts = [p for p in os.path.normpath(path).split(os.sep) if p]
    return parts or [path]


class Formatter:
    """Turns chunks from one source into output bytes in one of FORMATS."""

    def __init__(self, fmt: str, path: str, label: str, *, colour: int | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        self.fmt = fmt
        self.path = path
        name = os.fsencode(label)
        if colour is not None:
            name = b"\x1b[%dm%s\x1b[0m" % (_COLOURS[colour % len(_COLOURS)], name)
        self._prefix = name + LABEL_SEP
        self._json_path = json.dumps(path)

    def format(self, chunks: Sequence[Chunk]) -> list[bytes]:
        """Output buffers for ``chunks`` (raw: the chunks' own bytes, not copied)."""
        if self.fmt == "raw":
            return [c.data for c in chunks]
        if self.fmt == "labeled":
            prefix = self._prefix
            # one C-level replace per chunk instead of Python work per line
            return [prefix + c.data[:-1].replace(b"\n", b"\n" + prefix) + b"\n" for c in chunks]
        return [b"".join(map(self._jsonl, chunks))]

    def _jsonl(self, chunk: Chunk) -> bytes:
        head = f'{{"path": {self._json_path}, "offset": '
        try:
            # the common case: the whole run is UTF-8, decoded once and escaped by json's C encoder
            texts = chunk.data.decode("utf-8").split("\n")[:-1]
        except UnicodeDecodeError:
            return b"".join(self._jsonl_line(head, line, end) for line, end in chunk.line_ends())
        lines = (f'{head}{end}, "line": {_json_str(t)}}}\n' for t, end in zip(texts, chunk.ends(), strict=True))
        return "".join(lines).encode()

    @staticmethod
    def _jsonl_line(head: str, line: bytes, end: int) -> bytes:
        body = line[:-1]
        try:
            field, text = "line", _json_str(body.decode("utf-8"))
        except UnicodeDecodeError:
            field, text = "line_base64", '"' + base64.b64encode(body).decode("ascii") + '"'
        return f'{head}{end}, "{field}": {text}}}\n'.encode()


def _widen_pipe(fd: int) -> None:
    """A pipe of 1 MiB instead of 64 KiB: fewer wake-ups of both ends when copying fast."""
    try:
        import fcntl
        import stat

        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass  # not permitted (pipe-max-size) or not Linux: the default size works, only slower


class OutputError(Exception):
    """The output cannot be written (disk full, read-only, ...); the message says which and why."""


class OutputClosed(Exception):
    """The reader of the output went away (a closed pipe): stop quietly."""


class Output:
    """The one writer of the merged stream: a file descriptor written with whole batches of lines."""

    def __init__(self, path: str | None, *, append: bool = False) -> None:
        self.path = path
        self._append = append
        self.name = path if path is not None else "standard output"
        self._fd = self._open(append) if path is not None else 1
        self._lock = threading.Lock()
        self.bytes = 0
        _widen_pipe(self._fd)

    def _open(self, append: bool) -> int:
        assert self.path is not None
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as e:
            raise OutputError(f"cannot open output {self.path}: {e.strerror}") from e

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, buffers: Sequence[bytes]) -> None:
        """Write every buffer, in order, with as few system calls as the kernel allows (writev)."""
        views = [memoryview(b) for b in buffers if b]
        with self._lock:
            while views:
                try:
                    n = os.writev(self._fd, views[:_IOV_MAX])
                except BrokenPipeError as e:
                    raise OutputClosed() from e
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise OutputError(f"cannot write to {self.name}: {e.strerror}") from e
                self.bytes += n
                while n:
                    if n >= len(views[0]):
                        n -= len(views.pop(0))
                    else:
                        views[0] = views[0][n:]
                        n = 0

    def reopen(self) -> None:
        """Open the output path again (after logrotate moved our own output away: SIGHUP)."""
        if self.path is None:
            return
        fd = self._open(append=True)
        with self._lock:  # never between two parts of one write
            old, self._fd = self._fd, fd
        os.close(old)

    def close(self) -> None:
        if self.path is not None and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
