"""``tailmerge serve``: follow files and show their merge live in a browser (no output file)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from ..options import Options
from ..run import make_run
from ..sources import raise_fd_limit
from .parser import UsageError, options_from
from .running import not_all_read, signals_stop
from .view import hub_for, serve_run, web_options

if TYPE_CHECKING:
    from ..bridge import StopToken

__all__ = ["run_serve"]


def _until_signal(token: StopToken) -> None:
    """``serve --no-follow``: the merge is done, the page stays until SIGINT or SIGTERM (the handlers that
    stop a run still stand, and leave their request in the token, even one that came before this)."""
    if token.requested is not None:
        return  # the run ended on a signal
    print("tailmerge: the merge has ended; the page stays until Ctrl-C", file=sys.stderr, flush=True)
    while token.requested is None:
        time.sleep(0.2)  # short sleeps: the handler runs here even when another thread took the signal


def run_serve(ns: argparse.Namespace) -> int:
    try:
        opts = Options(**options_from(ns))
        web = web_options(ns, ns.bind, ns.port)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    raise_fd_limit()
    hub = hub_for(web)
    run = make_run(ns.paths, opts, [hub])
    linger = None if opts.follow else lambda: _until_signal(run.token)
    with signals_stop(run):
        if (status := serve_run(run, hub, web, sys.stdout, linger)) is not None:
            return status
    return 1 if not opts.follow and not_all_read(run) else 0
