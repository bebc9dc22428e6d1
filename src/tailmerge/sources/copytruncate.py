"""After copytruncate: find the copy of a file that was truncated, to read what was not read yet from it."""

from __future__ import annotations

import os
import stat

from ..core import Identity

__all__ = ["find_copy", "siblings"]


def siblings(path: str) -> list[tuple[str, os.stat_result]]:
    """Regular files beside ``path`` whose names extend its name (``app.log.1``, ``app.log-20261125``)."""
    folder, base = os.path.split(os.path.abspath(path))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        if name == base or not name.startswith(base):
            continue
        full = os.path.join(folder, name)
        try:
            st = os.stat(full)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((full, st))
    return found


def find_copy(path: str, file: Identity, fingerprint: bytes, longer_than: int) -> int | None:
    """An open descriptor on the newest sibling of ``path`` that begins with ``fingerprint`` and is longer
    than ``longer_than`` bytes (the copy logrotate made before truncating), or None. The caller closes it."""
    candidates = [
        (st.st_mtime_ns, full)
        for full, st in siblings(path)
        if st.st_size > longer_than and Identity(st.st_dev, st.st_ino) != file
    ]
    for _, full in sorted(candidates, reverse=True):
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if os.pread(fd, len(fingerprint), 0) == fingerprint:
                return fd
        except OSError:
            pass
        os.close(fd)
    return None
