"""A raw client of ``tailmerge serve``'s stream, for the tests: events as they come, over a plain socket, so a
test sees exactly what the server sends (and can stop reading, as a stalled viewer does).

Run as a program (``python tests/sse.py URL N STALLED LINES TIMEOUT``) it is a crowd of viewers: N
connections, STALLED of which never read while the others read up to line LINES; it prints, per viewer,
the first and last line numbers it got and how many lines it was told it missed, as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Event", "Stream", "get"]


@dataclass
class Event:
    name: str
    data: str
    id: str | None

    def json(self) -> dict[str, object]:
        value = json.loads(self.data)
        assert isinstance(value, dict)
        return value


@dataclass
class Stream:
    """One connection to ``/events``: the response's status and headers, then its events."""

    url: str
    last_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rcvbuf: int | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if self.rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        query = f"?{parts.query}" if parts.query else ""
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        if self.last_id is not None:
            extra += f"Last-Event-ID: {self.last_id}\r\n"
        request = f"GET /events{query} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        self.sock.sendall(request.encode())
        self._file = self.sock.makefile("rb")
        status = self._file.readline().decode()
        self.status = int(status.split()[1])
        self.response_headers: dict[str, str] = {}
        while (line := self._file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        self._chunk_left = 0
        self._chunked = self.response_headers.get("transfer-encoding") == "chunked"

    def _lines(self) -> Iterator[str]:
        """The body's lines, through chunked transfer encoding."""
        pending = b""
        while True:
            if self._chunked:
                size_line = self._file.readline()
                if not size_line:
                    return
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    return
                data = self._file.read(size)
                self._file.readline()
            else:
                data = self._file.read1(65536)
                if not data:
                    return
            pending += data
            *whole, pending = pending.split(b"\n")
            for line in whole:
                yield line.decode()

    def events(self) -> Iterator[Event]:
        name, data, event_id = "message", list[str](), None
        for line in self._lines():
            if line == "":
                if data:
                    yield Event(name, "\n".join(data), event_id)
                name, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    name = value
                elif key == "data":
                    data.append(value)
                elif key == "id":
                    event_id = value

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def __del__(self) -> None:
        self.close()


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One raw GET of ``path`` exactly as given (no normalising of ``..`` or ``%2e``): status and body."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with socket.create_connection((host, port), timeout=10) as sock:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        if "Host" not in (headers or {}):
            extra += f"Host: {parts.netloc}\r\n"
        sock.sendall(f"GET {path} HTTP/1.1\r\n{extra}Connection: close\r\n\r\n".encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def _viewer(host: str, port: int, query: str, lines: int, done: asyncio.Event | None) -> dict[str, int]:
    """One viewer of the crowd: reads until line ``lines`` (counting missed ones, by their numbers only, so
    the crowd takes little of the CPU it shares); or, stalled (``done`` given), never reads until ``done``."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    if done is not None:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(f"GET /events{query} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    await writer.drain()
    got = {"first": 0, "last": 0, "missed": 0}
    if done is not None:
        await done.wait()
        writer.close()
        return got
    if not (await reader.readline()).startswith(b"HTTP/1.1 200"):
        writer.close()
        return got  # refused (--max-viewers): it got nothing
    tail = b""
    while got["last"] < lines:
        data = await reader.read(1 << 16)
        if not data:
            break
        # whole events only: what follows the last blank line waits for the next read
        data, cut = tail + data, (tail + data).rfind(b"\n\n") + 2
        data, tail = data[:cut], data[cut:]
        if (at := data.rfind(b"\nid: ")) >= 0 or data.startswith(b"id: "):
            start = at + 5 if at >= 0 else 4
            got["last"] = int(data[start : data.index(b"\n", start)].rpartition(b"-")[2])
        if not got["first"] and (at := data.find(b'data: {"first":')) >= 0:
            got["first"] = int(data[at + 15 : data.index(b",", at)])
        for part in data.split(b"event: missed\ndata: ")[1:]:
            got["missed"] += json.loads(part[: part.index(b"\n")])["count"]
    writer.close()
    return got


async def _crowd(url: str, count: int, stalled: int, lines: int, seconds: float) -> list[dict[str, int]]:
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    done = asyncio.Event()
    stalling = [asyncio.create_task(_viewer(host, port, query, lines, done)) for _ in range(stalled)]
    reading = [asyncio.create_task(_viewer(host, port, query, lines, None)) for _ in range(count - stalled)]
    try:
        async with asyncio.timeout(seconds):
            read = await asyncio.gather(*reading)
    finally:
        done.set()
    return [*await asyncio.gather(*stalling), *read]


if __name__ == "__main__":
    # the crowd stands for browsers on other machines: on this one it yields the CPU to the merge it measures
    os.nice(19)
    url, count, stalled, lines, timeout = sys.argv[1], *map(int, sys.argv[2:5]), float(sys.argv[5])
    print(json.dumps(asyncio.run(_crowd(url, count, stalled, lines, timeout))), flush=True)
