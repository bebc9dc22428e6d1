"""Compare inotify libraries: latency from a write to the event reaching Python, and CPU per event.

    pip install asyncinotify watchfiles && python bench/inotify_libs.py

CPU is the whole process's (the writer thread included), so compare it between libraries only.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import select
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

N = 300


def writer(path: str, stamps: list[int], ready: threading.Event) -> None:
    ready.wait()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    for _ in range(N):
        time.sleep(0.003)
        stamps.append(time.perf_counter_ns())
        os.write(fd, b"x\n")
    os.close(fd)


def measure(name: str, run: Callable[[str, threading.Event, list[int]], None]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.log")
        open(path, "wb").close()
        stamps: list[int] = []
        got: list[int] = []
        ready = threading.Event()
        t = threading.Thread(target=writer, args=(path, stamps, ready), daemon=True)  # a library missing: no wait
        t.start()
        cpu0 = time.process_time()
        run(d, ready, got)
        cpu = time.process_time() - cpu0
        t.join()
        n = min(len(stamps), len(got))
        lat = sorted((g - s) / 1e3 for s, g in zip(stamps[:n], got[:n], strict=True))
        p50, p99 = statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]
        per_event = cpu * 1e3 / max(1, len(got))
        print(f"{name:32s} events={len(got):4d} p50={p50:7.0f}us p99={p99:7.0f}us cpu={per_event:.3f} ms/event")


def asyncinotify_async(d: str, ready: threading.Event, got: list[int]) -> None:
    asyncinotify = importlib.import_module("asyncinotify")  # optional: not a dependency (any more)
    Inotify, Mask = asyncinotify.Inotify, asyncinotify.Mask

    async def main() -> None:
        with Inotify() as ino:
            ino.add_watch(d, Mask.MODIFY)
            ready.set()
            async for _ in ino:
                got.append(time.perf_counter_ns())
                if len(got) >= N:
                    return

    asyncio.run(main())


def asyncinotify_sync(d: str, ready: threading.Event, got: list[int]) -> None:
    asyncinotify = importlib.import_module("asyncinotify")  # optional: not a dependency (any more)
    Inotify, Mask = asyncinotify.Inotify, asyncinotify.Mask

    with Inotify(sync_timeout=2.0) as ino:
        ino.add_watch(d, Mask.MODIFY)
        ready.set()
        for _ in ino:
            got.append(time.perf_counter_ns())
            if len(got) >= N:
                return


def inotify_simple_sync(d: str, ready: threading.Event, got: list[int]) -> None:
    inotify_simple = importlib.import_module("inotify_simple")  # optional, untyped: not a dependency
    INotify, flags = inotify_simple.INotify, inotify_simple.flags

    ino = INotify()
    ino.add_watch(d, flags.MODIFY)
    ready.set()
    while len(got) < N:
        for _ in ino.read(timeout=2000):
            got.append(time.perf_counter_ns())
    ino.close()


def inotify_fd_sync(d: str, ready: threading.Event, got: list[int]) -> None:
    """tailmerge's own calls (``tailmerge.watch.inotify_fd``), waited on as the waker thread does."""
    from tailmerge.watch.inotify_fd import IN_MODIFY, InotifyFd

    ino = InotifyFd()
    ino.add_watch(d, IN_MODIFY)
    poller = select.poll()
    poller.register(ino.fd, select.POLLIN)
    ready.set()
    while len(got) < N and poller.poll(2000):
        got.extend(time.perf_counter_ns() for _ in ino.read())
    ino.close()


def watchfiles_sync(d: str, ready: threading.Event, got: list[int]) -> None:
    watch = importlib.import_module("watchfiles").watch  # optional: not a dependency

    ready.set()
    start = time.monotonic()
    for changes in watch(d, debounce=0, step=1, rust_timeout=500, yield_on_timeout=True):
        now = time.perf_counter_ns()
        got.extend(now for _ in changes)
        if len(got) >= N or time.monotonic() - start > N * 0.004 + 2:
            return


if __name__ == "__main__":
    for name, fn in [
        ("asyncinotify (asyncio)", asyncinotify_async),
        ("asyncinotify (blocking)", asyncinotify_sync),
        ("inotify_simple (blocking)", inotify_simple_sync),
        ("tailmerge inotify_fd (blocking)", inotify_fd_sync),
        ("watchfiles (debounce=0, step=1)", watchfiles_sync),
    ]:
        try:
            measure(name, fn)
        except ModuleNotFoundError as e:  # the others are optional: not dependencies of tailmerge
            print(f"{name:32s} not installed ({e.name})")
