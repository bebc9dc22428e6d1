"""Resuming what an earlier run was reading (``--state``), including files that moved while tailmerge was
stopped: rotated (renamed) or copied by copytruncate."""

from __future__ import annotations

import logging
import os

from ..core import Identity
from .archives import compressed_copy
from .copytruncate import siblings
from .ledger import FileRead, Ledger, starts_with

__all__ = ["find_moved", "resume_saved"]

Opened = tuple[int, Identity, int]  # a descriptor, its file's identity, and where to read it from

log = logging.getLogger("tailmerge")


def resume_saved(
    path: str, ledger: Ledger, here: tuple[int, os.stat_result, Identity] | None
) -> tuple[int | None, list[Opened]]:
    """Where ``path`` goes on from, given what a state says an earlier run read of it.

    ``here``: the file now at the path (descriptor, status, identity), None when nothing is. Returns where
    that file begins (where it was left when it is the same file, unchanged and not shorter; 0 when it was
    truncated; None when the state was not reading it), and the files to read first (descriptor, identity,
    offset): each file it was reading that moved away (renamed, or copied by copytruncate), from where it
    was left, then the generations rotated while tailmerge was stopped, from their start. Each saved file
    is claimed, so no other source (a glob matching its new name) takes it up too.
    """
    offset: int | None = None
    moved: list[Opened] = []
    for read in ledger.saved(os.path.abspath(path)):
        same = here is not None and here[2] == read.file and starts_with(here[0], read.fingerprint)
        if same and here is not None and read.offset <= here[1].st_size:
            if ledger.claim(read):
                offset = read.offset
                log.info("%s: resuming at byte %d", path, offset)
            continue
        if same and here is not None:
            offset = 0
            log.warning(
                "%s: truncated while tailmerge was stopped (size %d, was read to %d); reading from its start",
                path,
                here[1].st_size,
                read.offset,
            )
        if not ledger.claim(read):
            continue  # another source took it up
        found = find_moved(os.path.abspath(path), read)
        if found is None and here is not None and here[2] == read.file:
            offset = 0
            log.warning("%s: rewritten while tailmerge was stopped; reading it from its start", path)
            continue
        if found is None:
            ledger.record(read.path, read.file, read.fingerprint, read.offset)  # gone: forgotten from now on
            if (archive := compressed_copy(read, ledger.followed)) is not None:
                # compressed while tailmerge was stopped, and an input: that source goes on from the offset
                log.info("%s: %s (read to byte %d) was compressed into %s", path, read.file, read.offset, archive)
                continue
            log.warning(
                "%s: the file it named when tailmerge stopped (%s, read to byte %d) is not beside it any more; "
                "what was written to it after that is not read",
                path,
                read.file,
                read.offset,
            )
            continue
        fd, identity, name = found
        if any(identity == m[1] for m in moved):  # two saved reads found the same file: it is read once
            os.close(fd)
            continue
        log.info("%s: finishing %s from byte %d (it moved there while tailmerge was stopped)", path, name, read.offset)
        moved.append((fd, identity, read.offset))
        ledger.seen(identity, read.fingerprint)
    return offset, moved + _rotated_since(path, ledger)


COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")
CLOCK_SLACK = 2.0  # seconds: file times come from a coarser clock than time.time(); a known file is skipped anyway


def _rotated_since(path: str, ledger: Ledger) -> list[Opened]:
    """Generations rotated while tailmerge was stopped that it never saw (a file created and rotated away
    between two runs): siblings last written after the state's last commit, not compressed, that no
    source read or holds and that are no copy of a file read, oldest first, each read from its start."""
    if ledger.stopped_at is None:
        return []
    found = []
    for full, st in siblings(os.path.abspath(path)):
        identity = Identity(st.st_dev, st.st_ino)
        if st.st_mtime < ledger.stopped_at - CLOCK_SLACK or full.endswith(COMPRESSED) or ledger.known(identity):
            continue
        if full in ledger.followed:
            continue  # a path of its own (a.log.err beside a.log), not a generation of this one
        found.append((st.st_mtime_ns, st.st_ctime_ns, full, identity))
    opened = []
    for _, _, full, identity in sorted(found):
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        if ledger.copy_of_known(fd):
            os.close(fd)
            continue
        log.info("%s: reading %s, rotated while tailmerge was stopped", path, full)
        opened.append((fd, identity, 0))
    return opened


def find_moved(path: str, read: FileRead) -> tuple[int, Identity, str] | None:
    """The file ``path`` was reading (``read``), among its siblings: the same file renamed (rotation), else
    the newest copy of it (copytruncate), at least as long as what was read and beginning with the same
    bytes. Returns an open descriptor (the caller closes it), its identity and name; or None."""

    def order(found: tuple[str, os.stat_result]) -> tuple[bool, float]:
        st = found[1]
        return Identity(st.st_dev, st.st_ino) != read.file, -st.st_mtime

    for full, st in sorted(siblings(path), key=order):
        if st.st_size < read.offset:
            continue
        if not read.fingerprint and Identity(st.st_dev, st.st_ino) != read.file:
            # an empty file has no first bytes to know a copy of it by: every sibling would match, and one
            # copy was read twice (copytruncate). Only the file itself, renamed, is it; the rest are
            # generations rotated while stopped (``_rotated_since``)
            continue
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        if starts_with(fd, read.fingerprint):
            return fd, Identity(st.st_dev, st.st_ino), full
        os.close(fd)
    return None
