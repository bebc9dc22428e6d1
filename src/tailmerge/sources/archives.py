"""Compressed files (``.gz``, ``.bz2``, ``.xz``), opened with the stdlib module their suffix names: their
content, its first bytes, and which of them is a compressed copy of a file already read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase, BufferedReader

from ..core import FINGERPRINT_BYTES, Identity
from .copytruncate import siblings
from .ledger import FileRead, same_content

__all__ = [
    "Archive",
    "ArchiveError",
    "Format",
    "archive_format",
    "archive_head",
    "archived",
    "compressed_copy",
    "content_blocks",
    "decompression_errors",
    "describe",
    "is_archive",
    "open_archive",
]


def decompression_errors() -> tuple[type[Exception], ...]:
    """What reading a compressed file raises for bad data. The codecs' modules are imported only when an
    archive is read (a run of plain files never loads them: start-up)."""
    import lzma
    import zlib

    return (OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Format:
    """A compression format: its name, the bytes its files begin with, and how to read one decompressed."""

    name: str
    magic: bytes
    open: Callable[[BufferedReader], BufferedIOBase]


def _gzip(f: BufferedReader) -> BufferedIOBase:
    import gzip

    return gzip.GzipFile(fileobj=f, mode="rb")


def _bzip2(f: BufferedReader) -> BufferedIOBase:
    import bz2

    return bz2.BZ2File(f, "rb")


def _xz(f: BufferedReader) -> BufferedIOBase:
    import lzma

    return lzma.LZMAFile(f, "rb")


_FORMATS = {
    ".gz": Format("gzip", b"\x1f\x8b", _gzip),
    ".bz2": Format("bzip2", b"BZh", _bzip2),
    ".xz": Format("xz", b"\xfd7zXZ\x00", _xz),
}


def archive_format(path: str) -> Format | None:
    """The format ``path``'s suffix names, if tailmerge reads it decompressed."""
    return _FORMATS.get(os.path.splitext(path)[1].lower())


def is_archive(path: str) -> bool:
    """Whether ``path`` names a compressed file tailmerge reads decompressed (``.gz``, ``.bz2``, ``.xz``)."""
    return archive_format(path) is not None


class ArchiveError(ValueError):
    """An archive that cannot be read (its message names the file and the problem)."""


def describe(e: BaseException, fmt: Format) -> str:
    """What a decompression error says about the archive."""
    if isinstance(e, EOFError):
        return "compressed data ends early (a truncated archive)"
    if isinstance(e, OSError) and e.errno is not None:
        return f"read failed: {e.strerror}"
    return f"corrupt {fmt.name} data ({e})"


class Archive:
    """An archive open for reading its content: the raw file and the decompressing reader over it."""

    def __init__(self, fd: int, fmt: Format) -> None:
        """Take ``fd`` over: it is closed by ``close()``, or at once if this fails."""
        try:
            self.raw = open(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        try:
            self.reader = fmt.open(self.raw)
        except BaseException:
            self.raw.close()
            raise

    def close(self) -> None:
        try:
            self.reader.close()  # never closes a file object it was given
        finally:
            self.raw.close()


def open_archive(path: str, fmt: Format) -> Archive:
    """Open an archive, checking its magic bytes; ArchiveError when it is not one of its kind."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        magic = os.pread(fd, len(fmt.magic), 0)
    except BaseException:
        os.close(fd)
        raise
    if magic != fmt.magic:
        os.close(fd)
        raise ArchiveError(f"not a {fmt.name} file")
    return Archive(fd, fmt)


def content_blocks(path: str, size: int) -> Iterator[bytes]:
    """The content of ``path`` in blocks of ``size`` bytes: decompressed for an archive. ArchiveError names
    the file and what is wrong with an archive that cannot be read to its end."""
    fmt = archive_format(path)
    if fmt is None:
        with open(path, "rb") as f:
            while block := f.read(size):
                yield block
        return
    try:
        archive = open_archive(path, fmt)
    except ArchiveError as e:
        raise ArchiveError(f"{path}: {e}") from None
    try:
        while True:
            try:
                block = archive.reader.read(size)
            except decompression_errors() as e:
                raise ArchiveError(f"{path}: {describe(e, fmt)}") from None
            if not block:
                return
            yield block
    finally:
        archive.close()


def archive_head(path: str) -> bytes | None:
    """The first FINGERPRINT_BYTES bytes of an archive's content; None when it cannot be read."""
    fmt = archive_format(path)
    if fmt is None:
        return None
    try:
        archive = open_archive(path, fmt)
    except (ArchiveError, OSError):
        return None
    try:
        return archive.reader.read(FINGERPRINT_BYTES)
    except decompression_errors():
        return None
    finally:
        archive.close()


def _archive_siblings(path: str) -> list[str]:
    """Archives beside ``path`` whose names extend its name (``app.log.2.gz`` beside ``app.log``)."""
    return sorted(full for full, _ in siblings(path) if is_archive(full))


def compressed_copy(read: FileRead, among: Iterable[str] | None = None) -> str | None:
    """An archive beside ``read.path`` (among ``among``, absolute, when given) whose content begins as
    ``read``'s file did: a compressed copy of it (logrotate's ``compress``); None when there is none."""
    allowed = set(among) if among is not None else None
    for full in _archive_siblings(read.path):
        if allowed is not None and full not in allowed:
            continue
        head = archive_head(full)
        if head is not None and same_content(read, head, full):
            return full
    return None


def archived(reads: Iterable[FileRead]) -> set[Identity]:
    """The files of ``reads`` (gone from their folder) that a compressed copy beside them stands for."""
    heads: dict[str, bytes | None] = {}
    kept = set()
    for read in reads:
        for full in _archive_siblings(read.path):
            if full not in heads:
                heads[full] = archive_head(full)
            head = heads[full]
            if head is not None and same_content(read, head, full):
                kept.add(read.file)
                break
    return kept
