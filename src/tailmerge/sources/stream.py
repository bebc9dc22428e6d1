"""A Redis Stream as a source: ``tailmerge follow redis://HOST:PORT/STREAM app.log``.

Like standard input, a stream cannot be watched with inotify: a reader thread blocks in ``XREAD`` (one
second at a time, so it notices a stop) and wakes the follower, which hands the entries' lines to the merge
as a file's lines. With ``--no-follow`` the stream is read up to the entry that was last when the run
started. A server that is away is waited for with backoff, said once; an entry that is not ours stops the
run with an error naming it. With a state (``--state``) each host and path's last entry id in the output is
committed with it; a restart reads from the least of them and skips what each already has.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..core import Chunk
from ..streams.address import StreamAddress, StreamError
from ..watch import Signal, Watcher
from .ledger import Ledger, StreamRead

if TYPE_CHECKING:
    import redis

    from ..options import Options

__all__ = ["EntryChunk", "StreamSource", "stream_source"]

log = logging.getLogger("tailmerge")
READ_COUNT = 1000  # entries per XREAD
BLOCK_MS = 1000  # an XREAD waits this long for new entries, then the reader looks at the stop
GROUP_BLOCK_MS = 200  # in a group, shorter: acknowledgements go out between two reads
BACKOFF = (0.1, 2.0)
READ_AHEAD = 8 << 20  # bytes of lines read and not yet stepped before the reader waits (backpressure)


@dataclass(slots=True)
class EntryChunk(Chunk):
    """Lines of one host and path from a stream; ``source`` (``HOST:PATH``) names them in the merge.
    ``stream``: the stream's address; ``entries``: each line's end offset and entry id, in order."""

    source: str = ""
    stream: str = ""
    entries: list[tuple[int, bytes]] = field(default_factory=list)

    def entry_at(self, end: int) -> bytes | None:
        """The id of the last entry whose line ends at or before offset ``end`` (None: none does)."""
        at = bisect_right(self.entries, end, key=_end)
        return self.entries[at - 1][1] if at else None


def _end(entry: tuple[int, bytes]) -> int:
    return entry[0]


class StreamSource:
    """A stream followed (or read to its last entry with ``follow=False``), labelled by its address."""

    rotating = False
    caught_up = False
    stream = True
    reads_in_thread = True  # woken by its reader thread, as standard input is
    routes = True  # each host and path is a source of the merge (``run.routes.Routes``)

    def __init__(
        self,
        address: StreamAddress,
        follow: bool,
        group: str | None = None,
        consumer: str | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """``group``/``consumer``: read in a consumer group; entries are acknowledged once the lines of the
        step that read them have been handed over (the sinks wrote them) and the next step is asked for.
        ``ledger``: with a state, how far earlier runs wrote each host and path (their entries are skipped);
        hosts and paths met for the first time are told to it."""
        self.address = address
        self.path = address.shown
        self._follow = follow
        self._group = (group, consumer or socket.gethostname()) if group is not None else None
        # ids of the last step's lines (handed over when the next is asked); with a state: of the lines
        # stepped and not yet committed
        self._stepped: list[tuple[str, bytes]] = []
        self._acks: list[bytes] = []  # ids whose lines were handed over, for the reader to acknowledge
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # the reader waits here while READ_AHEAD is held
        self._held = 0
        self._lines: list[tuple[str, bytes, int, bytes]] = []
        self._eof = False
        self._error: Exception | None = None
        self.ended = False
        self._leave = threading.Event()
        self._signal: Signal | None = None
        self._thread: threading.Thread | None = None
        self.entries = 0
        self._ledger = ledger if ledger is not None and ledger.resumable else None
        saved = self._ledger.stream_saved(address.shown) if self._ledger is not None else {}
        self._saved = {origin: _id(entry) for origin, entry in saved.items()}
        # every host and path has all its entries up to the least of theirs in the output: read after it
        self.last_id = min(saved.values(), key=_id) if saved else b"0-0"
        self._begun: set[str] = set(saved)
        if self._ledger is not None and group is not None:
            self._ledger.stream_listeners.append(self._committed)

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        """Start the reader thread; it sets ``signal`` when entries (or the end, or an error) arrive."""
        self._signal = signal
        if self._thread is None:
            # a daemon: a stop must not wait for a server that does not answer
            self._thread = threading.Thread(target=self._read, name=f"tailmerge {self.path}", daemon=True)
            self._thread.start()
        return True

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        self._signal = None
        self._leave.set()

    def _read(self) -> None:
        from ..streams.client import blocking_client, describe, ensure_group, retryable, xread_lines

        client: redis.Redis | None = None
        away: float | None = None
        tries = 0
        last: bytes | None = None  # with follow=False: the last entry when the run started
        group = self._group
        cursor = b"0" if group is not None else self.last_id  # in a group: this consumer's unacknowledged first
        pending = group is not None  # reading them (by id, from 0), until none is left; then new ones (">")
        start = b"0-0" if group is not None else self.last_id
        while not self._leave.is_set():
            try:
                if client is None:
                    client = blocking_client(self.address)
                    if group is not None:
                        ensure_group(client, self.address, group[0])
                if not self._follow and last is None:
                    last = _last_id(client, self.address)
                    if last is None or (group is None and _id(last) <= _id(self.last_id)):
                        return self._end()
                self._acknowledge(client)
                self._wait_room()
                block = (BLOCK_MS if group is None else GROUP_BLOCK_MS) if self._follow and not pending else None
                lines, after = xread_lines(client, self.address.stream, cursor, READ_COUNT, block, group)
            except Exception as e:
                if client is not None:
                    client.close()
                    client = None
                if not retryable(e) or not self._follow:  # --no-follow: as a missing file, said and done
                    return self._end(e if isinstance(e, StreamError) else StreamError(describe(e, self.address)))
                if away is None:
                    away = time.monotonic()
                    log.warning("%s; waiting for it (retrying)", describe(e, self.address))
                self._leave.wait(min(BACKOFF[1], BACKOFF[0] * 2**tries))
                tries += 1
                continue
            if away is not None:
                log.warning("%s: back after %.1f s", self.address.server, time.monotonic() - away)
                away, tries = None, 0
            read = after != cursor  # entries came (with a state, those an earlier run wrote are skipped)
            if self._ledger is not None and lines:
                lines = self._new_lines(lines, start)
            if lines:
                with self._lock:
                    self._lines += lines
                    self._held += sum(len(line) for _, line, _, _ in lines)
                    self.entries += len(lines)
                self._wake()
            if read:
                self.last_id = after
            if pending:
                pending = read
                cursor = after if read else b">"
            elif group is None:
                cursor = after
            elif not read and not self._follow:
                return self._end()  # nothing new for the group: read to the end
            if last is not None and _id(self.last_id) >= _id(last):
                return self._end()

    def _new_lines(
        self, lines: list[tuple[str, bytes, int, bytes]], start: bytes
    ) -> list[tuple[str, bytes, int, bytes]]:
        """Of ``lines`` read (with a state), those an earlier run did not write; a host and path met for the
        first time is told to the ledger (at ``start``, where this run began) before its lines go on."""
        kept, written = [], []
        for line in lines:
            origin, entry = line[0], line[3]
            if (saved := self._saved.get(origin)) is not None and _id(entry) <= saved:
                written.append(entry)
                continue
            if origin not in self._begun:
                self._begun.add(origin)
                assert self._ledger is not None
                self._ledger.stream_begun(StreamRead(self.address.shown, origin, start))
            kept.append(line)
        if written and self._group is not None:  # written by an earlier run, never acknowledged: now
            with self._lock:
                self._acks += written
        return kept

    def _wait_room(self) -> None:
        """While the merge has not taken READ_AHEAD bytes read (a slow output, a stalled reader of it),
        read no more: the stream keeps them, not this process."""
        with self._room:
            while self._held > READ_AHEAD and not self._leave.is_set():
                self._room.wait(BLOCK_MS / 1000)  # woken by a step, or looks at the stop every second

    def _acknowledge(self, client: redis.Redis) -> int:
        """Acknowledge what waits to be; returns how many entries that was."""
        if self._group is None:
            return 0
        with self._lock:
            acks, self._acks = self._acks, []
        if acks:
            client.xack(self.address.stream, self._group[0], *acks)
        return len(acks)

    def _end(self, error: Exception | None = None) -> None:
        with self._lock:
            self._eof = True
            self._error = error
        self._wake()

    def _wake(self) -> None:
        signal = self._signal
        if signal is not None:
            signal.set()

    def step(self) -> list[Chunk]:
        with self._lock:
            lines, self._lines = self._lines, []
            self._held = 0
            self._room.notify()
            eof, error = self._eof, self._error
            if self._group is not None and self._ledger is not None:  # acknowledged once a commit has them
                self._stepped += [(origin, entry_id) for origin, _, _, entry_id in lines]
            elif self._group is not None:  # asked again: the last step's lines were handed over (written)
                self._acks += [entry_id for _, entry_id in self._stepped]
                self._stepped = [(origin, entry_id) for origin, _, _, entry_id in lines]
        if error is not None and not lines:
            self.ended = True
            raise error
        if eof and not lines:
            self.ended = True
        chunks: list[Chunk] = []
        stream = self.address.shown
        for source, line, offset, entry in lines:  # contiguous lines of one host and file: one chunk
            added = not line.endswith(b"\n")
            line = line + b"\n" if added else line
            last = chunks[-1] if chunks else None
            if isinstance(last, EntryChunk) and last.source == source and not added and offset == last.end + len(line):
                last.data += line
                last.end = offset
                last.entries.append((offset, entry))
            else:
                chunks.append(
                    EntryChunk(
                        line, offset, added_newline=added, source=source, stream=stream, entries=[(offset, entry)]
                    )
                )
        return chunks

    def _committed(self, reads: list[StreamRead]) -> None:
        """A commit recorded ``reads`` (with a state): the entries it holds may be acknowledged; by the
        reader thread, or here once the source has finished (the run's last commit comes after that)."""
        upto = {r.origin: _id(r.entry) for r in reads if r.stream == self.address.shown}
        with self._lock:
            kept: list[tuple[str, bytes]] = []
            for origin, entry in self._stepped:
                if (at := upto.get(origin)) is not None and _id(entry) <= at:
                    self._acks.append(entry)
                else:
                    kept.append((origin, entry))
            self._stepped = kept
        if self._leave.is_set():
            self._acknowledge_now()

    def finish(self, complete: bool, quiet: bool = False) -> list[Chunk]:
        """Leave; in a group, acknowledge what was handed over, and on a complete end the last step's lines
        too (a stop may not have written them: they stay pending for this consumer's next run). With a
        state, only what a commit holds (the last commit acknowledges its own); the rest stay pending, and
        the next run skips and acknowledges those the state has."""
        self._leave.set()
        if self._group is not None:
            if complete and self._ledger is None:
                with self._lock:
                    self._acks += [entry for _, entry in self._stepped]
                    self._stepped = []
            self._acknowledge_now()
        return []

    def _acknowledge_now(self) -> None:
        """Acknowledge what waits, on a connection of its own (the reader thread has left)."""
        with self._lock:
            waiting = len(self._acks)
        if not waiting:
            return
        from ..streams.client import blocking_client

        client = blocking_client(self.address)
        try:
            self._acknowledge(client)
        except Exception as e:
            log.warning("%s: %d entries not acknowledged (%s); they are read again", self.path, waiting, e)
        finally:
            client.close()

    def next_deadline(self) -> float | None:
        return None


def _id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _last_id(client: redis.Redis, address: StreamAddress) -> bytes | None:
    from ..streams.client import check_stream

    check_stream(client, address)
    newest = cast(list[tuple[bytes, Any]], client.xrevrange(address.stream, count=1))
    return newest[0][0] if newest else None


def stream_source(url: str, options: Options, ledger: Ledger | None = None) -> StreamSource:
    """The source of the stream at ``url`` (already checked) for a run with ``options``; ``ledger``: what a
    state says earlier runs wrote."""
    from ..streams.address import parse_address

    return StreamSource(parse_address(url), options.follow, options.group, options.consumer, ledger)
