"""A run with its view server. The server has an event loop of its own, in a helper thread (a portal), for
every engine: on the run's loop, each frame's writes to fifty viewers held the merge up (its p99 latency to
the output went from about 4 to 14 ms; docs/ARCHITECTURE.md, "The live view")."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..bridge import Portal
from ..run import Run, run_to_end
from .server import ViewServer

__all__ = ["GIL_SWITCH", "run_serving"]

GIL_SWITCH = 0.0005  # seconds


def run_serving(
    run: Run, server: ViewServer, announce: Callable[[str], None], linger: Callable[[], None] | None = None
) -> None:
    """Listen, ``announce`` the URL, run ``run`` to its end (in this thread, as ``follow`` runs it), then
    call ``linger`` (it returns when the page may go), then stop serving. Raises ListenError (the address
    cannot be taken) before the run starts."""
    # the server's thread runs Python for every viewer once a frame; the merge's thread waits for the GIL
    # at most this long instead of 5 ms (fifty viewers: p99 to the output +3-5 ms with 5 ms, +1.4 with this)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH)
    portal = Portal()
    try:
        announce(portal.submit(server.start()).result())
        try:
            run_to_end(run)
            if linger is not None:
                linger()
        finally:
            portal.submit(server.stop()).result()
    finally:
        portal.close()
        sys.setswitchinterval(switch)
