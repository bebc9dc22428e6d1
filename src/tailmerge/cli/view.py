"""What ``serve`` and ``follow --serve`` share: the page's options checked, the run served, the URL said."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from ..serve import EXTRA
from .parser import ExtraMissing, UsageError

if TYPE_CHECKING:
    from ..run import Run
    from ..serve.server import WebOptions
    from ..sinks.viewer import ViewerHub

__all__ = ["hub_for", "serve_run", "web_options"]


def web_options(ns: argparse.Namespace, host: str | None, port: int) -> WebOptions:
    """The page's options from parsed arguments; raises ExtraMissing without the web extra, and UsageError."""
    try:
        import aiohttp  # noqa: F401 - only to say what to install before anything is opened
    except ImportError:
        raise ExtraMissing(EXTRA) from None
    from ..serve.server import WebOptions

    if ns.token is not None and (len(ns.token) < 8 or not ns.token.isprintable() or " " in ns.token):
        raise UsageError("--token: at least 8 printable characters, no spaces")
    return WebOptions(host or "127.0.0.1", port, ns.token, ns.history, ns.max_viewers)


def hub_for(web: WebOptions) -> ViewerHub:
    from ..sinks.viewer import ViewerHub

    return ViewerHub(web.history, web.max_viewers)


def serve_run(
    run: Run, hub: ViewerHub, web: WebOptions, to: IO[str], linger: Callable[[], None] | None = None
) -> int | None:
    """Run ``run`` while serving its page (and, once it has ended, while ``linger`` waits); print the URL
    on ``to``. Returns 1 if the address cannot be taken (said on stderr), None once the run has ended."""
    from ..serve.launch import run_serving
    from ..serve.server import ListenError, ViewServer

    def announce(url: str) -> None:
        print(f"tailmerge: the merge is live at {url}" if to is sys.stderr else url, file=to, flush=True)

    try:
        run_serving(run, ViewServer(hub, web), announce, linger)
    except ListenError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    return None
