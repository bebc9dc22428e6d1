"""Sans-I/O: the commands the Redis sink and the stream source send, and what their replies mean.

Both clients (redis-py's blocking one in the threads engine, its asyncio one in the loop engines) send
exactly what is built here and hand the replies back here; nothing in this module talks to a server.

An entry holds one line (or one multiline record) and where it came from::

    host    the shipper's --host-name
    path    the file's absolute path
    file    its identity, DEV:INO (empty for standard input)
    offset  the offset just past the line in that file
    line    the line's bytes, exactly (newline included)

The source positions of a shipper live beside the stream in a hash of their own, ``tailmerge:positions:
{STREAM}:{HOST}``: one field per file (``DEV:INO``, a JSON object: path, first bytes in hex, offset,
finished), ``txn`` (the number of the last transaction), ``committed_at`` and ``owner`` (a token of the
shipper that wrote it last). Each transaction adds its lines and sets those fields in one ``MULTI``/``EXEC``,
so the stream never holds a line the positions do not count, nor the other way round. It also reads
``owner`` first: a shipper that finds another's token there after its own first transaction shares its host
name with another running shipper, and stops.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core import Identity
from ..sinks.contract import Handed, Interleaved, as_chunks
from ..sources.ledger import FileRead
from .address import StreamError

__all__ = [
    "ENTRY_FIELDS",
    "Entry",
    "EntryError",
    "Shipment",
    "Shipper",
    "decode_positions",
    "parse_entry",
    "positions_key",
]

ENTRY_FIELDS = (b"host", b"path", b"file", b"offset", b"line")
Command = tuple[Any, ...]


class EntryError(StreamError):
    """A stream entry that is not one of ours (a field missing or malformed)."""


def positions_key(stream: str, host: str) -> str:
    """The hash of a shipper's source positions for ``stream``: one per host name and stream."""
    return f"tailmerge:positions:{stream}:{host}"


# -- positions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Committed:
    """What a positions hash says: the files read, when it was last committed, the last transaction."""

    reads: list[FileRead]
    committed_at: float | None
    txn: int


def _encode_read(read: FileRead) -> tuple[str, str]:
    value = {"path": read.path, "fingerprint": read.fingerprint.hex(), "offset": read.offset}
    return f"{read.file.dev}:{read.file.ino}", json.dumps({**value, "finished": read.finished})


def decode_positions(fields: dict[bytes, bytes]) -> Committed:
    """The reply of ``HGETALL positions_key(...)``; a ValueError for a hash that is not ours."""
    reads = []
    for name, value in fields.items():
        if name in (b"txn", b"committed_at", b"owner"):
            continue
        dev, _, ino = name.decode().partition(":")
        try:
            obj = json.loads(value)
            reads.append(
                FileRead(
                    obj["path"], Identity(int(dev), int(ino)), bytes.fromhex(obj["fingerprint"]),
                    int(obj["offset"]), bool(obj["finished"]),
                )
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"field {name!r} is not a tailmerge position ({e})") from None
    at = fields.get(b"committed_at")
    return Committed(reads, float(at) if at is not None else None, int(fields.get(b"txn", b"0")))


# -- shipping ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Shipment:
    """One transaction: its commands (``MULTI``/``EXEC`` around them is the client's), the positions it
    commits, its number and how many lines it adds."""

    commands: list[Command]
    reads: list[FileRead]
    txn: int
    lines: int
    size: int = 0
    """Bytes of the sources its lines cover."""
    tried: bool = False
    """Sent at least once: a lost reply leaves it unknown whether it was applied."""


class Shipper:
    """Builds the transactions of one shipper (one host name into one stream) from the batches the merge
    hands over, and knows whether one whose reply was lost was applied (its ``txn`` is in the hash)."""

    def __init__(self, stream: str, host: str, maxlen: int | None, txn: int, forget: Sequence[Identity] = ()) -> None:
        """``forget``: files the hash holds that are finished and gone (dropped by the first transaction)."""
        self.stream = stream
        self.host = host.encode()
        self.key = positions_key(stream, host)
        self.txn = txn
        self._trim: tuple[Any, ...] = ("MAXLEN", "~", maxlen) if maxlen is not None else ()
        self._paths: dict[tuple[str, bool], bytes] = {}
        self._files: dict[Identity, bytes] = {}
        self._forget = [f"{f.dev}:{f.ino}" for f in forget]
        self.owner = f"{os.getpid()}-{secrets.token_hex(8)}".encode()
        self._owns = False  # a transaction of this shipper was applied: the hash is ours from then on

    def entries(self, batches: Sequence[Handed], paths: Sequence[str]) -> list[Command]:
        """An ``XADD`` per line (or record) of ``batches``; ``paths``: each origin's path as given."""
        commands: list[Command] = []
        head = ("XADD", self.stream, *self._trim, "*", b"host", self.host, b"path")
        for batch in batches:
            for one in batch.batches() if isinstance(batch, Interleaved) else (batch,):
                given = paths[one.origin.index]
                for chunk in as_chunks(one.chunks):  # never spans: made for raw file outputs only
                    # standard input, or a stream read: no file identity (no position to resume from), and
                    # its name as given; a file: its absolute path
                    if chunk.file is None:
                        path, file = self._path(given, absolute=False), b""
                    else:
                        path, file = self._path(given, absolute=True), self._file(chunk.file)
                    commands += [
                        (*head, path, b"file", file, b"offset", end, b"line", line) for line, end in chunk.line_ends()
                    ]
        return commands

    def _path(self, path: str, *, absolute: bool) -> bytes:
        if (b := self._paths.get((path, absolute))) is None:
            full = os.path.abspath(path) if absolute else path
            b = self._paths[(path, absolute)] = full.encode("utf-8", "surrogateescape")
        return b

    def _file(self, file: Identity) -> bytes:
        if (b := self._files.get(file)) is None:
            b = self._files[file] = f"{file.dev}:{file.ino}".encode()
        return b

    def shipment(self, entries: list[Command], reads: list[FileRead]) -> Shipment | None:
        """The transaction adding ``entries`` and recording ``reads``; None when there is nothing to do."""
        if not entries and not reads:
            return None
        txn = self.txn + 1
        mapping: dict[str, Any] = dict(map(_encode_read, reads))
        mapping |= {"txn": txn, "committed_at": repr(time.time()), "owner": self.owner}
        commands = [
            ("HGET", self.key, "owner"),
            *entries,
            ("HSET", self.key, *(x for pair in mapping.items() for x in pair)),
        ]
        if self._forget:
            commands.append(("HDEL", self.key, *self._forget))
        return Shipment(commands, reads, txn, len(entries))

    def probe(self) -> Command:
        """Asks which transaction was applied last (after a lost reply)."""
        return ("HGET", self.key, "txn")

    def applied(self, shipment: Shipment, reply: bytes | None) -> bool:
        """Whether ``shipment`` is in Redis, from the reply to ``probe()``."""
        return reply is not None and int(reply) >= shipment.txn

    def check(self, replies: Sequence[Any]) -> None:
        """The replies of an applied transaction; a StreamError when another shipper wrote the positions
        since this one's last transaction (the same host name into the same stream)."""
        before = replies[0] if replies else None
        if self._owns and before is not None and before != self.owner:
            raise StreamError(
                f"{self.stream}: another shipper is shipping as host name {self.host.decode()!r} (the positions "
                f"{self.key} changed under this one); give each shipper its own --host-name"
            )

    def done(self, shipment: Shipment) -> None:
        self.txn = shipment.txn
        self._forget = []
        self._owns = True


# -- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One of our entries, read back."""

    id: bytes
    host: str
    path: str
    file: str
    offset: int
    line: bytes


def parse_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    """An entry as ``XREAD``/``XRANGE`` give it; an EntryError names what is missing."""
    missing = [f.decode() for f in ENTRY_FIELDS if f not in fields]
    if missing:
        raise EntryError(f"entry {entry_id.decode()} is not a tailmerge line (no {', '.join(missing)} field)")
    try:
        offset = int(fields[b"offset"])
    except ValueError:
        raise EntryError(f"entry {entry_id.decode()}: offset {fields[b'offset']!r} is not a number") from None
    return Entry(
        entry_id,
        fields[b"host"].decode("utf-8", "replace"),
        fields[b"path"].decode("utf-8", "surrogateescape"),
        fields[b"file"].decode("ascii", "replace"),
        offset,
        fields[b"line"],
    )


def batch_size(batches: Sequence[Handed]) -> int:
    """Bytes of the sources ``batches`` cover."""
    return sum(b.consumed for b in batches)
