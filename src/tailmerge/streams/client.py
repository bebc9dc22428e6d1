"""Connecting to Redis with redis-py (blocking or asyncio), and what its errors mean to a user.

The clients never retry on their own: a transaction whose reply was lost may have been applied, and only
the shipper can tell (``Shipper.probe``), so every retry is ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio
from redis.backoff import NoBackoff

from .address import StreamAddress, StreamError
from .protocol import Committed, decode_positions, parse_entry, positions_key

__all__ = [
    "StreamError",
    "async_client",
    "blocking_client",
    "describe",
    "ensure_group",
    "open_positions",
    "retryable",
    "transaction",
    "xread_lines",
]

CONNECT_TIMEOUT = 3.0  # seconds to reach the server before saying it cannot be reached
REPLY_TIMEOUT = 10.0  # seconds for a reply (a blocking XREAD adds its own block time)


def _kwargs(address: StreamAddress) -> dict[str, object]:
    return {
        "host": address.host,
        "port": address.port,
        "db": address.db,
        "username": address.username,
        "password": address.password,
        "ssl": address.tls,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": REPLY_TIMEOUT,
    }


def blocking_client(address: StreamAddress) -> redis.Redis:
    return redis.Redis(**_kwargs(address), retry=redis.retry.Retry(NoBackoff(), 0))  # type: ignore[arg-type]


def async_client(address: StreamAddress) -> redis.asyncio.Redis:
    from redis.asyncio.retry import Retry

    return redis.asyncio.Redis(**_kwargs(address), retry=Retry(NoBackoff(), 0))  # type: ignore[arg-type]


def transaction(client: redis.Redis | redis.asyncio.Redis, commands: Sequence[tuple[Any, ...]]) -> Any:
    """A ``MULTI``/``EXEC`` pipeline of ``commands`` (built by ``protocol``), for either client: the caller
    executes it (``execute()``, or awaits it)."""
    pipe = client.pipeline(transaction=True)
    for command in commands:
        pipe.execute_command(*command)
    return pipe


def retryable(error: BaseException) -> bool:
    """A server that is down, restarting (loading its data) or unreachable for now: worth waiting for.
    A wrong password or a refused command is not."""
    if isinstance(error, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        return False
    return isinstance(
        error,
        redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | redis.exceptions.TryAgainError | OSError,
    )


def describe(error: BaseException, address: StreamAddress) -> str:
    """A one-line message naming the server and what went wrong."""
    text = str(error) or type(error).__name__
    if isinstance(error, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        return f"{address.server}: authentication failed ({text}); check the password (URL or REDISCLI_AUTH)"
    if isinstance(error, redis.exceptions.BusyLoadingError):
        return f"{address.server}: the server is loading its data"
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | OSError):
        return f"cannot reach {address.server}: {text}"
    return f"{address.server}: {text}"


def check_stream(client: redis.Redis, address: StreamAddress) -> None:
    """Refuse a key that exists and is not a stream (as an output that is a directory)."""
    kind = client.type(address.stream)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind not in ("stream", "none"):
        raise StreamError(f"{address.shown}: the key {address.stream!r} holds a {kind}, not a stream")


def open_positions(address: StreamAddress, host: str) -> Committed:
    """What a shipper with this host name committed into this stream before (from Redis, not a local file).
    A StreamError says why not: the server cannot be reached, refuses us, or the keys are not ours."""
    client = blocking_client(address)
    try:
        client.ping()
        check_stream(client, address)
        key = positions_key(address.stream, host)
        kind = client.type(key)
        if kind not in (b"hash", b"none"):
            raise StreamError(f"{address.server}: the key {key!r} is not a tailmerge positions hash")
        try:
            return decode_positions(client.hgetall(key))  # type: ignore[arg-type]
        except ValueError as e:
            raise StreamError(f"{address.server}: {key!r}: {e}") from None
    except redis.exceptions.RedisError as e:
        raise StreamError(describe(e, address)) from None
    finally:
        client.close()


def xread_lines(
    client: redis.Redis,
    stream: str,
    after: bytes,
    count: int,
    block_ms: int | None,
    group: tuple[str, str] | None = None,
) -> tuple[list[tuple[str, bytes, int, bytes]], bytes]:
    """The lines of up to ``count`` entries after ``after`` (waiting up to ``block_ms`` for one), each with
    its ``HOST:PATH``, offset and id, and the id of the last; in ``group`` (name, consumer) with XREADGROUP.
    An EntryError (a StreamError) for an entry that is not ours."""
    raw: Any
    if group is None:
        raw = client.xread({stream: after}, count=count, block=block_ms)
    else:
        raw = client.xreadgroup(group[0], group[1], {stream: after}, count=count, block=block_ms)
    reply = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]] | None, raw)
    lines = []
    last = after
    for _, entries in reply or ():
        for entry_id, fields in entries:
            last = entry_id
            if fields is None:
                continue  # pending for us, but trimmed from the stream since (--maxlen): gone
            entry = parse_entry(entry_id, fields)
            lines.append((f"{entry.host}:{entry.path}", entry.line, entry.offset, entry_id))
    return lines, last


def ensure_group(client: redis.Redis, address: StreamAddress, group: str) -> None:
    """Make the consumer group (reading from the stream's first entry) unless it exists."""
    check_stream(client, address)
    try:
        client.xgroup_create(address.stream, group, id="0", mkstream=True)
    except redis.exceptions.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise
