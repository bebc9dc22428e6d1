"""The web server of ``tailmerge serve``: the page's own assets and one Server-Sent Events stream, on aiohttp.

It serves exactly three kinds of path: ``/`` (the page), ``/assets/NAME`` for the names of files shipped in
``assets/`` (looked up in a table read at start, never joined to a path on disk) and ``/events`` (the
stream); everything else is 404. Bound to a loopback address it needs no token, but only takes requests
whose ``Host`` names loopback (a web page elsewhere cannot reach it by rebinding its name to 127.0.0.1);
bound anywhere else, every request needs the token (``?token=`` or the cookie the page sets), or gets 401.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from . import DEFAULT_HISTORY, DEFAULT_MAX_VIEWERS, DEFAULT_PORT

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Handler, Middleware

    from ..sinks.viewer import ViewerHub

__all__ = ["KEEPALIVE", "ListenError", "ViewServer", "WebOptions", "is_loopback", "parse_address"]

log = logging.getLogger("tailmerge")

KEEPALIVE = 15.0  # seconds between comments on an idle stream: a viewer that left is noticed
COOKIE = "tailmerge_token"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
HEADERS = {
    # the page's own script and style only: a log line that became HTML could still run nothing
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token in the URL goes nowhere
    "Cache-Control": "no-store",
}


class ListenError(Exception):
    """The address cannot be taken (in use, not this machine's, not allowed)."""


@dataclass(frozen=True)
class WebOptions:
    """Where and how to serve: ``token`` None on loopback means none is needed; off loopback one is made."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    history: int = DEFAULT_HISTORY
    max_viewers: int = DEFAULT_MAX_VIEWERS


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def parse_address(text: str) -> tuple[str | None, int]:
    """``[HOST:]PORT`` (``[::1]:8023`` for IPv6) as (host or None, port)."""
    host, sep, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: not [HOST:]PORT")
    return (host.strip("[]") or None) if sep else None, int(port)


def _assets() -> dict[str, tuple[bytes, str]]:
    """The files shipped in ``assets/``, by name, with their content type."""
    folder = resources.files(__package__) / "assets"
    table = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in TYPES:
            table[entry.name] = (entry.read_bytes(), TYPES[suffix])
    return table


class ViewServer:
    """The page and the stream of ``hub`` at ``options.host``:``options.port``, on the running loop."""

    def __init__(self, hub: ViewerHub, options: WebOptions) -> None:
        self.hub = hub
        self.options = options
        self.loopback = is_loopback(options.host)
        self.token = options.token if options.token or self.loopback else secrets.token_urlsafe(16)
        self.port = options.port
        self._assets = _assets()
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task[object]] = set()
        self._pump: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = self.options.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
        query = f"?token={self.token}" if self.token else ""
        return f"http://{shown}:{self.port}/{query}"

    async def start(self) -> str:
        """Listen; return the URL to open. Raises ListenError when the address cannot be taken."""
        from aiohttp import web

        app = web.Application(middlewares=[self._middleware()])
        app.router.add_get("/", self._page)
        app.router.add_get("/assets/{name}", self._asset)
        app.router.add_get("/events", self._events)
        app.on_response_prepare.append(_secure)
        # handler_cancellation: a viewer that closes its connection ends its stream at once
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise ListenError(f"cannot listen on {self.options.host}:{self.options.port}: {e.strerror or e}") from e
        except BaseException:
            await self._runner.cleanup()
            raise
        self._pump = asyncio.create_task(self.hub.pump())
        if self.port == 0:  # an ephemeral port: say which one was given
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        """Close every stream and stop listening."""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        self.hub.flush()
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- requests -------------------------------------------------------------------------------

    async def _guard_check(self, request: web.Request) -> web.StreamResponse | None:
        from aiohttp import web

        if self.token is None:
            if _hostname(request.host) not in LOOPBACK_NAMES:
                return web.Response(status=403, text="tailmerge: this page is served to loopback names only\n")
            return None
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=401, text="tailmerge: a token is needed (the URL tailmerge printed has it)\n")
        return None

    def _middleware(self) -> Middleware:
        from aiohttp import web

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            refused = await self._guard_check(request)
            if refused is not None:
                return refused
            response: web.StreamResponse = await handler(request)
            if self.token is not None and request.query.get("token") and not response.prepared:
                # the page's assets and stream carry the token in a cookie, not in every URL
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
            return response

        return guard

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.StreamResponse:
        from aiohttp import web

        found = self._assets.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, content_type=kind, charset="utf-8")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """The stream: a ``hello``, the sources, the history after the last line the viewer had, then the
        lines as they come, with a ``missed`` event wherever this viewer fell behind."""
        from aiohttp import web

        attached = self.hub.attach(request.headers.get("Last-Event-ID") or request.query.get("last"))
        if attached is None:
            return web.Response(status=503, text=f"tailmerge: {self.hub.max_viewers} viewers already (--max-viewers)\n")
        viewer, backlog, last = attached
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            hello = b'{"history":%d,"epoch":"%s","now":%.3f}' % (
                self.hub.history.maxlen or 0,
                self.hub.epoch.encode(),
                time.time(),  # the page draws rates against the server's clock
            )
            await response.write(b"retry: 1000\nevent: hello\ndata: " + hello + b"\n\n")
            queue = viewer.queue
            pieces = backlog
            while True:
                if viewer.sources_sent != self.hub.sources_version:
                    viewer.sources_sent = self.hub.sources_version
                    await response.write(self.hub.sources())
                out = []
                for piece in pieces:
                    if missed := viewer.missed(piece, last):
                        out.append(_missed(missed))
                    out.append(piece.data)
                    last = piece.last
                if out:
                    await response.write(b"".join(out))
                try:
                    async with asyncio.timeout(KEEPALIVE):
                        taken = await queue.aget()
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    pieces = []
                    continue
                if taken is None:
                    # the merge has ended: the page says so and keeps what it shows (a stream that ended
                    # would have the browser reconnect every second)
                    await response.write(b"event: end\ndata: {}\n\n")
                    while True:
                        await asyncio.sleep(KEEPALIVE)
                        await response.write(b": keepalive\n\n")
                pieces = taken
        except (ConnectionError, asyncio.CancelledError):
            pass  # the viewer left, or the server stops
        finally:
            self.hub.detach(viewer)
            self._streams.discard(task)
        return response


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}


def _hostname(host: str) -> str:
    """``Host`` without its port: ``[::1]:8023`` is ``[::1]``, ``localhost:8023`` is ``localhost``."""
    host = host.lower()
    return host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.partition(":")[0]


def _missed(count: int) -> bytes:
    return b'event: missed\ndata: {"count":%d}\n\n' % count


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
