"""A run with its view server: on the run's own loop (asyncio and mixed engines), or on a portal's loop
beside the threads engine, which runs without one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..bridge import Portal
from ..run import Run, run_async, run_blocking
from .server import ViewServer

__all__ = ["run_serving"]


def run_serving(run: Run, server: ViewServer, announce: Callable[[str], None]) -> None:
    """Listen, ``announce`` the URL, run ``run`` to its end, then stop serving. Raises OSError (the address
    cannot be taken) before the run starts."""
    if run.options.engine == "threads":
        portal = Portal()
        try:
            announce(portal.submit(server.start()).result())
            try:
                run_blocking(run)
            finally:
                portal.submit(server.stop()).result()
        finally:
            portal.close()
    else:
        asyncio.run(_serving(run, server, announce))


async def _serving(run: Run, server: ViewServer, announce: Callable[[str], None]) -> None:
    announce(await server.start())
    try:
        await run_async(run)
    finally:
        await server.stop()
