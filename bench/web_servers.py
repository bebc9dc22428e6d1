"""aiohttp against Starlette with uvicorn for the live view's stream: the CPU a server takes to send
``FRAMES`` frames a second of ``FRAME_BYTES`` each to N Server-Sent Events viewers, and its resident memory.

``python bench/web_servers.py aiohttp|starlette [VIEWERS] [SECONDS]`` (each in its own process; needs the
package it names). Prints JSON: the server's CPU seconds per second and peak RSS. The viewers run in a
separate process (``tests/sse.py``'s crowd pattern: one socket each, reading everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

FRAMES = 10  # a second, as the hub's pump
FRAME_BYTES = 20_000  # about 100 lines of 200 bytes
FRAME = b"event: lines\ndata: " + b"x" * (FRAME_BYTES - 22) + b"\n\n"


class Hub:
    """Every viewer's queue; one frame put in each, FRAMES times a second."""

    def __init__(self) -> None:
        self.queues: list[asyncio.Queue[bytes]] = []

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1 / FRAMES)
            for q in self.queues:
                q.put_nowait(FRAME)

    async def frames(self) -> AsyncIterator[bytes]:
        q: asyncio.Queue[bytes] = asyncio.Queue()
        self.queues.append(q)
        while True:
            yield await q.get()


def serve_aiohttp(port: int) -> None:
    from aiohttp import web

    hub = Hub()

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            async for frame in hub.frames():
                await response.write(frame)
        except ConnectionError:
            pass  # the crowd left
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/events", events)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await hub.run()

    asyncio.run(main())


def serve_starlette(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    hub = Hub()

    async def events(request: object) -> StreamingResponse:
        return StreamingResponse(hub.frames(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run())
        yield
        task.cancel()

    app = Starlette(routes=[Route("/events", events)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def crowd(port: int, viewers: int, seconds: float) -> None:
    socks = []
    for _ in range(viewers):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.setblocking(False)
        socks.append(s)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in socks:
            try:
                while s.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
        time.sleep(0.005)


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024


def main() -> None:
    kind = sys.argv[1]
    viewers = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    if kind.startswith("serve-"):
        {"serve-aiohttp": serve_aiohttp, "serve-starlette": serve_starlette}[kind](viewers)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, f"serve-{kind}", str(port)])
    try:
        time.sleep(2)
        before = cpu_of(server.pid)
        started = time.monotonic()
        viewers_proc = subprocess.Popen([sys.executable, __file__, "crowd", str(viewers), str(seconds), str(port)])
        peak = 0
        while viewers_proc.poll() is None:
            peak = max(peak, rss_of(server.pid))
            time.sleep(0.2)
        used = cpu_of(server.pid) - before
        cpu = round(used / (time.monotonic() - started), 3)
        print(json.dumps({"server": kind, "viewers": viewers, "cpu_per_s": cpu, "peak_rss_mb": peak >> 20}))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if sys.argv[1] == "crowd":
        crowd(int(sys.argv[4]), int(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
