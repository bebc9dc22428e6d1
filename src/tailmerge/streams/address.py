"""A stream's address: ``redis://[[USER]:PASSWORD@]HOST[:PORT]/STREAM[?db=N]`` (``rediss://`` for TLS).

The stream name is the whole path after the first ``/`` (percent-decoded, so it may hold ``/`` as ``%2F``);
the database is the ``db`` query parameter (default 0). A password not in the URL comes from
``REDISCLI_AUTH``, as for ``redis-cli``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["SCHEMES", "StreamAddress", "StreamError", "is_stream_url", "parse_address"]

SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379


class StreamError(Exception):
    """A stream that cannot be used: unreachable, refused, of another type, not ours."""


@dataclass(frozen=True, slots=True)
class StreamAddress:
    """Where a stream lives; ``shown`` names it in messages (never with its password)."""

    tls: bool
    host: str
    port: int
    db: int
    stream: str
    username: str | None
    password: str | None

    @property
    def server(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}" + (f"/?db={self.db}" if self.db else "")

    @property
    def shown(self) -> str:
        db = f"?db={self.db}" if self.db else ""
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.stream}{db}"


def is_stream_url(text: str) -> bool:
    """Whether an argument names a stream rather than a file (``redis://`` or ``rediss://``)."""
    return text.startswith(("redis://", "rediss://"))


def parse_address(url: str, environ: dict[str, str] | None = None) -> StreamAddress:
    """Parse ``url``; a ValueError says what is wrong with it."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url}: not a redis:// or rediss:// address")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"{_safe(url)}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{_safe(url)}: no host (redis://HOST:PORT/STREAM)")
    stream = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not stream:
        raise ValueError(f"{_safe(url)}: no stream name (redis://HOST:PORT/STREAM)")
    query = parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"db"}:
        raise ValueError(f"{_safe(url)}: unknown parameter {', '.join(sorted(set(query) - {'db'}))} (only db=N)")
    db_text = query.get("db", ["0"])[-1]
    if not db_text.isdigit():
        raise ValueError(f"{_safe(url)}: db must be a number, not {db_text!r}")
    password = unquote(parts.password) if parts.password is not None else env.get("REDISCLI_AUTH") or None
    username = unquote(parts.username) if parts.username else None
    return StreamAddress(parts.scheme == "rediss", parts.hostname, port, int(db_text), stream, username, password)


def _safe(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{netloc}").geturl()
