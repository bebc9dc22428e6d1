"""The command line: ``tailmerge follow``, ``serve``, ``verify``, ``state show`` and ``demo``.

``cli(*args)`` is a plain function returning the exit status, so tests call it directly.
Exit status: 0 done; 1 a failure (output unwritable or not all written, verify disproved); 2 bad usage;
3 verify undecided; 141 the reader of our output went away (as GNU tools killed by SIGPIPE).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import TYPE_CHECKING

from .. import __version__
from .parser import ExtraMissing, UsageError, build_parser, command_of

if TYPE_CHECKING:
    from ..core import Framing

__all__ = ["cli", "main"]

log = logging.getLogger("tailmerge")


def cli(*args: str, own_process: bool = False) -> int:
    """Run the command line with ``args``; return the exit status. ``own_process``: the process is this
    run's alone (the console entry point), so its allocator may be tuned for it (``follow``)."""
    parser = build_parser(__version__, command_of(args))
    try:
        ns, extra = parser.parse_known_args(args)
    except SystemExit as e:
        return int(e.code or 0)
    if ns.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        _setup_logging(getattr(ns, "verbose", False))
        if ns.command == "verify":
            return _verify(ns)
        if ns.command == "state":
            from .state import show_state

            return show_state(ns.state_path)
        if ns.command == "demo" and ns.redis is not None:
            from .demo_redis import run_redis_demo

            return run_redis_demo(ns.redis, engine=ns.engine, seconds=ns.seconds, files=ns.files)
        if ns.command == "demo":
            from .demo import run_demo

            return run_demo(engine=ns.engine, seconds=ns.seconds, files=ns.files, writers=ns.writers)
        if ns.command == "serve":
            from .serve import run_serve

            return run_serve(ns)
        from .follow import run_follow  # the run's modules only for a run

        return run_follow(ns, own_process=own_process)
    except UsageError as e:
        return _usage_error(ns, str(e))
    except ExtraMissing as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1


def _setup_logging(verbose: bool) -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tailmerge: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def _usage_error(ns: argparse.Namespace, message: str) -> int:
    """The subcommand's usage and ``message`` on stderr (argparse's own ``error``); exit status 2."""
    try:
        ns.subparser.error(message)
    except SystemExit as e:
        return int(e.code or 2)
    return 2


def _verify(ns: argparse.Namespace) -> int:
    from ..core.timestamps import parse_tz
    from ..sources.archives import ArchiveError
    from ..verify import expand_inputs, verify

    try:
        inputs = expand_inputs(ns.inputs, ns.merged)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for path in [*inputs, ns.merged]:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file")
    try:
        records = _records(ns)
        tz = parse_tz(ns.tz) if ns.tz is not None else None
    except (ValueError, re.error) as e:
        raise UsageError(str(e)) from None
    lateness = ns.lateness if ns.order == "time" else None
    try:
        verdict = verify(
            inputs,
            ns.merged,
            format=ns.format,
            max_line_bytes=ns.max_line_bytes,
            budget=ns.budget,
            records=records,
            lateness=lateness,
            tz=tz,
        )
    except ArchiveError as e:
        raise UsageError(str(e)) from None
    print(("FAIL: " if verdict.ok is False else "") + verdict.message)
    return {True: 0, False: 1, None: 3}[verdict.ok]


def _records(ns: argparse.Namespace) -> Framing | None:
    """The framing of records ``verify --multiline``/``--multiline-start`` check, if any."""
    if ns.multiline is not None and ns.multiline_start is not None:
        raise ValueError("give --multiline or --multiline-start, not both")
    if ns.multiline is None and ns.multiline_start is None:
        return None
    from ..core import Framing, record_starts

    return Framing(ns.max_line_bytes, record_starts(ns.multiline, ns.multiline_start))


def main() -> None:
    """Console entry point."""
    sys.exit(cli(*sys.argv[1:], own_process=True))
