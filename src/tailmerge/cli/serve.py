"""``tailmerge serve``: follow files and show their merge live in a browser (no output file)."""

from __future__ import annotations

import argparse
import logging
import sys

from ..options import Options
from ..run import make_run, troubled
from ..sources import raise_fd_limit
from .follow import signals_stop
from .parser import UsageError, options_from
from .view import ExtraMissing, hub_for, serve_run, web_options

__all__ = ["run_serve"]

log = logging.getLogger("tailmerge")


def run_serve(ns: argparse.Namespace) -> int:
    try:
        opts = Options(**options_from(ns))
        web = web_options(ns, ns.bind, ns.port)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    except ExtraMissing as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    raise_fd_limit()
    hub = hub_for(web)
    run = make_run(ns.paths, opts, [hub])
    with signals_stop(run, None):
        if (status := serve_run(run, hub, web, sys.stdout)) is not None:
            return status
    if not opts.follow and (missing := troubled(run)):
        log.info("not read: %s", ", ".join(missing))
        return 1
    return 0
