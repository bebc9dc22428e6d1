"""The inotify descriptor: three libc calls through ctypes, and the events of one read as integers.

This replaced inotify_simple, which did the same in a hundred lines, for two costs this waker could not
afford. Importing it imported ``ctypes.util`` (shutil, tempfile, random) and ran ``ldconfig`` to find libc:
12 ms of a 150 ms start. Its ``read`` asked ``poll`` and ``ioctl(FIONREAD)`` before each ``read``: three
system calls per wake-up, and a wake-up comes per written line. Here libc is the process's own symbols
(``CDLL(None)``), and a read is one ``os.read`` of a descriptor opened non-blocking.
"""

from __future__ import annotations

import os
import struct

__all__ = [
    "IN_ATTRIB",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_ONLYDIR",
    "IN_Q_OVERFLOW",
    "InotifyFd",
    "parse_events",
]

# <sys/inotify.h>: the kernel's ABI, the same on every Linux architecture
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len: then len bytes of name, NUL-padded
READ_SIZE = 64 * 1024  # events of one read: a 16-byte header and a name of at most 256 bytes each


def parse_events(data: bytes) -> list[tuple[int, int, str | None]]:
    """The events in ``data`` (whole events, as one read returns them): (watch, mask, name or None)."""
    events = []
    unpack, size, at, end = _HEADER.unpack_from, _HEADER.size, 0, len(data)
    while at < end:
        wd, mask, _, length = unpack(data, at)
        at += size
        name = os.fsdecode(data[at : at + length].rstrip(b"\0")) if length else None
        at += length
        events.append((wd, mask, name))
    return events


class InotifyFd:
    """An inotify instance: a close-on-exec, non-blocking descriptor, its watches, and reads of it.
    Raises OSError where inotify cannot be used (not Linux, the instance limit)."""

    def __init__(self) -> None:
        try:
            import ctypes
        except ImportError as e:  # pragma: no cover - a Python built without ctypes
            raise OSError(0, "ctypes is not available") from e
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the symbols the process has: libc's among them
            self._init, self._add, self._rm = libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch
        except (OSError, AttributeError) as e:  # pragma: no cover - no inotify in this C library
            raise OSError(0, "not supported on this platform") from e
        self._errno = ctypes.get_errno
        self.fd: int = self._call(self._init, os.O_CLOEXEC | os.O_NONBLOCK)

    def _call(self, function: object, *args: object) -> int:
        rc: int = function(*args)  # type: ignore[operator]
        if rc == -1:
            code = self._errno()
            raise OSError(code, os.strerror(code))
        return rc

    def add_watch(self, path: str, mask: int) -> int:
        """Watch ``path`` for ``mask``; the same path again gives the same watch (its mask replaced)."""
        return self._call(self._add, self.fd, os.fsencode(path), mask)

    def rm_watch(self, wd: int) -> None:
        self._call(self._rm, self.fd, wd)

    def read(self) -> list[tuple[int, int, str | None]]:
        """The events there now, from one read (none: an empty list)."""
        try:
            return parse_events(os.read(self.fd, READ_SIZE))
        except BlockingIOError:
            return []

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
