"""The state file (``--state``): a SQLite database of what a merge has committed.

It holds, per file read: its identity, first bytes, the offset just past the last line written, and
whether its source finished it; per host and path of a Redis Stream read: the last entry id written; and
the output's identity and committed size. One process writes it at
a time (an exclusive ``flock`` held for the run); anyone may read it (``tailmerge state show``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass

from ..core import Identity
from ..sources.ledger import FileRead, StreamRead
from .policy import StateError

__all__ = ["FORMAT_VERSION", "Committed", "StateError", "StateStore"]

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    path TEXT NOT NULL, fingerprint BLOB NOT NULL, offset INTEGER NOT NULL, finished INTEGER NOT NULL,
    PRIMARY KEY (dev, ino)
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT NOT NULL, origin TEXT NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (stream, origin)
);
"""


@dataclass(frozen=True, slots=True)
class Committed:
    """The output as last committed: its path, identity and size (None: nothing committed yet)."""

    path: str | None
    file: Identity | None
    size: int


class StateStore:
    """An open state file, locked for this process. ``commit`` runs in one transaction."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL", readonly: bool = False) -> None:
        self.path = path
        self._lock_fd = -1
        if readonly:
            if not os.path.exists(path):
                raise StateError(f"state {path}: no such file")
            uri = f"file:{os.path.abspath(path)}?mode=ro"
            self._db = self._connect(uri, uri=True)
            try:
                self._check()
            except BaseException:
                self._db.close()
                raise
            return
        try:
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StateError(f"state {path}: cannot open: {e.strerror}") from e
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StateError(f"state {path}: in use by another tailmerge (one writer per state)") from None
        try:
            self._db = self._connect(path)
            self._check()
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (FORMAT_VERSION,))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
        except BaseException:
            self.close()
            raise

    def _connect(self, target: str, *, uri: bool = False) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: not a tailmerge state, or damaged ({e})") from None
        return db

    def _check(self) -> None:
        """Refuse a database that is not a state, or was written by a newer tailmerge."""
        try:
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                return  # a new, empty state
            if not {"meta", "files"} <= tables:
                raise StateError(f"state {self.path}: not a tailmerge state (tables: {', '.join(sorted(tables))})")
            row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            self._db.execute("SELECT dev, ino, path, fingerprint, offset, finished FROM files LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:
            raise StateError(f"state {self.path}: not a tailmerge state, or damaged ({e})") from None
        if row is None or not isinstance(row[0], int):
            raise StateError(f"state {self.path}: not a tailmerge state (no format version)")
        if row[0] > FORMAT_VERSION:
            raise StateError(
                f"state {self.path}: written by a newer tailmerge (format {row[0]}; this one reads up to "
                f"{FORMAT_VERSION}); use that version, or a new state"
            )

    # -- reading --------------------------------------------------------------------------------

    def files(self) -> list[FileRead]:
        rows = self._db.execute("SELECT dev, ino, path, fingerprint, offset, finished FROM files ORDER BY rowid")
        return [FileRead(path, Identity(dev, ino), bytes(fp), off, bool(fin)) for dev, ino, path, fp, off, fin in rows]

    def streams(self) -> list[StreamRead]:
        """How far each host and path of each stream read was written (none for a state of an older version)."""
        try:
            rows = self._db.execute("SELECT stream, origin, entry FROM streams ORDER BY stream, origin").fetchall()
        except sqlite3.OperationalError:  # a state made before streams were read (opened read-only)
            return []
        return [StreamRead(stream, origin, entry.encode()) for stream, origin, entry in rows]

    def committed_at(self) -> float | None:
        """Wall-clock time of the last commit (None: none yet)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='committed_at'").fetchone()
        return float(row[0]) if row is not None else None

    def output(self) -> Committed:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        dev, ino = meta.get("output_dev"), meta.get("output_ino")
        file = Identity(dev, ino) if isinstance(dev, int) and isinstance(ino, int) else None
        return Committed(meta.get("output_path"), file, int(meta.get("output_size") or 0))

    # -- writing --------------------------------------------------------------------------------

    def commit(self, reads: list[FileRead], output: Committed | None, streams: list[StreamRead] | None = None) -> None:
        """Record ``reads``, ``streams`` and the output's size in one transaction."""
        try:
            self._write(reads, output, streams or [])
        except sqlite3.Error as e:
            raise StateError(f"state {self.path}: cannot record the commit: {e}") from e

    def _write(self, reads: list[FileRead], output: Committed | None, streams: list[StreamRead]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                [(r.file.dev, r.file.ino, r.path, r.fingerprint, r.offset, int(r.finished)) for r in reads],
            )
            db.executemany(
                "INSERT OR REPLACE INTO streams VALUES (?, ?, ?)",
                [(r.stream, r.origin, r.entry.decode()) for r in streams],
            )
            if output is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [
                        ("output_path", output.path),
                        ("output_dev", output.file.dev if output.file else None),
                        ("output_ino", output.file.ino if output.file else None),
                        ("output_size", output.size),
                    ],
                )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('committed_at', ?)", (time.time(),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def forget(self, files: list[Identity]) -> None:
        """Drop finished files that no longer exist (their inodes may be reused by new files)."""
        with self._db:
            self._db.executemany("DELETE FROM files WHERE dev=? AND ino=?", [(f.dev, f.ino) for f in files])

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = -1
