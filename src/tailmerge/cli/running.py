"""Running a pipeline from the command line: on its engine, stopped by signals (``follow`` and shipping
to Redis share it)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..run import Run, run_async, run_blocking

__all__ = ["execute", "signals_stop"]


def execute(run: Run) -> None:
    """The whole run on its engine: the threads engine without an event loop, the others in one."""
    if run.options.engine == "threads":
        run_blocking(run)
    else:
        asyncio.run(run_async(run))


@contextmanager
def signals_stop(run: Run, reopen: Callable[[], None] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM stop the run (exit within a second); SIGHUP calls ``reopen`` (the output's: it only
    asks, and the writer thread reopens between two writes, and says so), or with none stops it too."""
    stop = lambda *_: run.token.request("signal")  # noqa: E731 - the run's main loop makes the stop
    hangup = stop if reopen is None else (lambda *_: reopen())
    handlers: list[tuple[signal.Signals, Any]] = [
        (signal.SIGINT, stop),
        (signal.SIGTERM, stop),
        (signal.SIGHUP, hangup),
    ]
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
