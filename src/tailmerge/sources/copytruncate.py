"""After copytruncate: find the copy of a file that was truncated, to read what was not read yet from it."""

from __future__ import annotations

import logging
import os
import stat

from ..core import FINGERPRINT_BYTES, Chunk, Identity, Span
from .generation import Generation
from .ledger import Ledger
from .spans import READ_SIZE

__all__ = ["find_copy", "read_again", "read_rest_from_copy", "siblings"]

log = logging.getLogger("tailmerge")


def read_again(
    name: str, path: str, gen: Generation, size: int, out: list[Chunk | Span], ledger: Ledger | None
) -> None:
    """``gen`` (the file at ``path``, followed as ``name``) was truncated to ``size``, or rewritten: what was not
    read yet is read from its copy, then the file again from its start."""
    recovered = read_rest_from_copy(path, gen, out, ledger)
    log.warning(
        "%s: truncated (size %d, was read to %d%s); reading again from the start",
        name,
        size,
        gen.pos - recovered,
        f"; the {recovered} bytes not read yet were read from its copy" if recovered else "",
    )
    # the held partial line was really read: emit it rather than lose it
    out.extend(gen.framer.flush())
    gen.framer.reset(0)
    gen.pos = 0
    gen.fingerprint = b""


def read_rest_from_copy(path: str, gen: Generation, out: list[Chunk | Span], ledger: Ledger | None) -> int:
    """After copytruncate, read what was not read yet of ``gen`` (the file at ``path``) from the copy
    rather than lose it; return how many bytes were read from it."""
    if not gen.fingerprint or len(gen.fingerprint) < min(FINGERPRINT_BYTES, gen.pos):
        return 0
    fd = find_copy(path, gen.identity, gen.fingerprint, gen.pos - 1)  # as long: to know it
    if fd is None:
        return 0
    start = gen.pos
    try:
        st = os.fstat(fd)
        while gen.pos < st.st_size and (data := os.pread(fd, min(READ_SIZE, st.st_size - gen.pos), gen.pos)):
            gen.pos += len(data)
            out.extend(gen.framer.feed(data))
        if ledger is not None:  # the copy is known from now on: a restart does not read it again
            ledger.opened(path, Identity(st.st_dev, st.st_ino), gen.fingerprint, st.st_size)
    except OSError:
        pass
    finally:
        os.close(fd)
    return gen.pos - start


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
