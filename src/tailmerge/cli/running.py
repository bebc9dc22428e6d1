"""A run from the command line is stopped by signals (``follow``, ``serve`` and shipping to Redis share
it); it runs on its engine with ``run.run_to_end``."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..run import Run, troubled

__all__ = ["not_all_read", "signals_stop"]

log = logging.getLogger("tailmerge")


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


def not_all_read(run: Run) -> bool:
    """Whether some input could not be read (missing, unreadable; a pattern that matched nothing), said
    with ``-v``: as with tail, what could be read was merged, and the exit status says not everything was."""
    missing = troubled(run)
    if missing:
        log.info("not read: %s", ", ".join(missing))
    return bool(missing)
