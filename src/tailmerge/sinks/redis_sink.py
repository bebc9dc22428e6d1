"""The sink that ships the merge into a Redis Stream, exactly once (``-o redis://HOST:PORT/STREAM``).

Each hand-over is queued (the block policy, bounded in bytes of lines); a shipper (a thread with the
blocking client for the threads engine, a task with the asyncio client on the loop engines) takes
everything queued and sends it as one ``MULTI``/``EXEC``: an ``XADD`` per line and an ``HSET`` of the source
positions. Both shippers build and judge their transactions with one ``Shipper`` (sans-I/O) and take the
same decisions here; only the two lines that talk to the server differ.

A server that is down or restarting is waited for with backoff, said once; meanwhile the queue fills and
then the merge waits for room (reading stops), so nothing is dropped. A transaction whose reply was lost is
resent only if the positions hash does not hold its number.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..bridge.handoff import Handoff
from ..streams.client import async_client, blocking_client, describe, retryable, transaction
from ..streams.protocol import Shipment, Shipper, batch_size
from .contract import Handed, Origin

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ..bridge.stop import StopToken
    from ..state.checkpoint import Mark, Positions
    from ..streams.address import StreamAddress

__all__ = ["SHIP_AHEAD", "RedisSink"]

log = logging.getLogger("tailmerge")

SHIP_AHEAD = 8 << 20  # bytes of lines queued while the server is slow or away, before the merge waits
TICK = 0.25  # seconds between looks for files opened or finished (their positions are committed alone)
BACKOFF = (0.1, 2.0)  # first and longest wait between tries while the server is away
GIVE_UP_WAIT = 3.0  # seconds a shipper told to give up may take to leave (a reply under way)
SIGNAL_LOOK = 0.2  # how often a finish with no time limit looks for a signal (only while the server is slow)
SIGNAL_GRACE = 0.8  # then what a signal leaves the shipper, as a stop's grace does

Item = tuple[Sequence[Handed], "Mark"]


class RedisSink:
    """The merge into a Redis Stream; block policy. ``positions``: what was committed (read from Redis)."""

    policy: Literal["block", "lag"] = "block"

    def __init__(self, address: StreamAddress, positions: Positions, shipper: Shipper) -> None:
        self.address = address
        self.positions = positions
        self._shipper = shipper
        self._paths: list[str] = []
        self._queue: Handoff[Item] = Handoff(SHIP_AHEAD)
        self._token: StopToken | None = None
        self._ended = threading.Event()
        self._give_up = threading.Event()
        self._handed = 0
        self.shipped = 0
        """Bytes of the sources whose lines are in the stream."""
        self.lines = 0
        self.transactions = 0
        self._away_since: float | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, token: StopToken) -> None:
        """Ship from a task on the running loop (asyncio client), or from a thread (blocking client)."""
        self._token = token
        token.on_stop(self._queue.release)  # stopping: what was read is queued whatever the bound
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._thread = threading.Thread(target=self._ship_blocking, name="tailmerge shipper", daemon=True)
            self._thread.start()
        else:
            self._task = loop.create_task(self._ship_async())

    def add_sources(self, origins: Sequence[Origin]) -> None:
        self._paths.extend(o.path for o in origins)

    def put(self, batches: Sequence[Handed]) -> None:
        size = batch_size(batches)
        self._handed += size
        self._queue.put((batches, self._mark(batches)), size)

    async def aput(self, batches: Sequence[Handed]) -> None:
        size = batch_size(batches)
        self._handed += size
        await self._queue.aput((batches, self._mark(batches)), size)

    def _mark(self, batches: Sequence[Handed]) -> Mark:
        return [position for batch in batches for position in self.positions.mark(batch)]

    def finish(self, timeout: float | None) -> int:
        """Ship what is queued; after ``timeout`` (a signal's grace) give up waiting for an absent server.
        Returns the bytes of lines not shipped (their positions are not committed: read again next time)."""
        self._queue.end()
        if not self._wait_shipped(timeout):
            self._give_up.set()
            self._queue.release()
            self._ended.wait(GIVE_UP_WAIT)
        return self.unshipped

    def _wait_shipped(self, timeout: float | None) -> bool:
        """Wait until all is shipped, at most ``timeout``; with none, until a signal asks to stop (the run
        has ended, so nothing else makes it: ``--no-follow`` with the server away would wait forever)."""
        if timeout is not None:
            return self._ended.wait(timeout)
        while not self._ended.wait(SIGNAL_LOOK):
            if self._token is not None and self._token.requested is not None:
                return self._ended.wait(SIGNAL_GRACE)
        return True

    @property
    def unshipped(self) -> int:
        return self._handed - self.shipped

    def close(self) -> None:
        log.info(
            "%s: %d lines in %d transactions",
            self.address.shown,
            self.lines,
            self.transactions,
        )

    # -- what both shippers decide ------------------------------------------------------------------------

    def _prepare(self, items: list[Item]) -> Shipment | None:
        """One transaction for everything taken (None: nothing to ship or commit)."""
        entries = []
        size = 0
        for batches, mark in items:
            self.positions.delivered(mark)
            entries += self._shipper.entries(batches, self._paths)
            size += batch_size(batches)
        shipment = self._shipper.shipment(entries, self.positions.collect())
        if shipment is not None:
            shipment.size = size
        return shipment

    def _shipped(self, shipment: Shipment) -> None:
        self._shipper.done(shipment)
        self.positions.recorded(shipment.reads)
        self.shipped += shipment.size
        self.lines += shipment.lines
        self.transactions += 1
        if self._away_since is not None:
            log.warning(
                "%s: back after %.1f s; shipping again", self.address.server, time.monotonic() - self._away_since
            )
            self._away_since = None

    def _backoff(self, error: BaseException, tries: int) -> float | None:
        """How long to wait before the next try after ``error``; None: give up (it was said why)."""
        if not retryable(error):
            self._fail(error)
            return None
        if self._give_up.is_set():
            return None
        if self._away_since is None:
            self._away_since = time.monotonic()
            log.warning(
                "%s; waiting for it (retrying; up to %d MiB of lines are kept, then reading waits)",
                describe(error, self.address),
                SHIP_AHEAD >> 20,
            )
        return float(min(BACKOFF[1], BACKOFF[0] * 2**tries))

    def _fail(self, error: BaseException) -> None:
        from ..streams.client import StreamError

        self._queue.close()
        if self._token is not None:
            self._token.fail(StreamError(describe(error, self.address)))

    def _take_nowait(self) -> list[Item] | None:
        return self._queue.take_nowait()

    # -- the blocking shipper (threads engine) ------------------------------------------------------------
    # _ship_blocking/_ship_async and _send_blocking/_send_async are declared twins: the same steps, one with
    # redis-py's blocking client in a thread, one with its asyncio client on the loop

    def _ship_blocking(self) -> None:
        client: redis.Redis | None = None
        try:
            while True:
                items = self._queue.get(TICK)
                shipment = self._prepare(items or [])
                if shipment is not None:
                    tries = 0
                    while True:
                        try:
                            client = client or blocking_client(self.address)
                            self._send_blocking(client, shipment)
                            break
                        except Exception as e:
                            _drop_blocking(client)
                            client = None
                            if (wait := self._backoff(e, tries)) is None:
                                return
                            self._give_up.wait(wait)
                            tries += 1
                    self._shipped(shipment)
                if items is None:
                    return
        except Exception as e:
            self._fail(e)
        finally:
            _drop_blocking(client)
            self._ended.set()

    def _send_blocking(self, client: redis.Redis, shipment: Shipment) -> None:
        if shipment.tried and self._shipper.applied(shipment, client.execute_command(*self._shipper.probe())):  # type: ignore[no-untyped-call]
            return
        pipe = transaction(client, shipment.commands)
        shipment.tried = True
        self._shipper.check(pipe.execute())

    # -- the asyncio shipper (loop engines) ---------------------------------------------------------------

    async def _ship_async(self) -> None:
        client: redis.asyncio.Redis | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(TICK):
                        items = await self._queue.aget()
                except TimeoutError:
                    items = []
                shipment = self._prepare(items or [])
                if shipment is not None:
                    tries = 0
                    while True:
                        try:
                            client = client or async_client(self.address)
                            await self._send_async(client, shipment)
                            break
                        except Exception as e:
                            await _drop_async(client)
                            client = None
                            if (wait := self._backoff(e, tries)) is None:
                                return
                            await asyncio.sleep(wait)
                            tries += 1
                    self._shipped(shipment)
                if items is None:
                    return
        except Exception as e:
            self._fail(e)
        finally:
            await _drop_async(client)
            self._ended.set()

    async def _send_async(self, client: redis.asyncio.Redis, shipment: Shipment) -> None:
        probe = self._shipper.probe()
        if shipment.tried and self._shipper.applied(shipment, await client.execute_command(*probe)):  # type: ignore[no-untyped-call]
            return
        pipe = transaction(client, shipment.commands)
        shipment.tried = True
        self._shipper.check(await pipe.execute())


def _drop_blocking(client: Any) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:
            pass


async def _drop_async(client: Any) -> None:
    if client is not None:
        try:
            await client.aclose()
        except Exception:
            pass
