"""The command line: ``tailmerge follow``, ``tailmerge verify``, ``tailmerge demo``.

``cli(*args)`` is a plain function returning the exit status, so tests call it directly.
Exit status: 0 done; 1 a failure (output unwritable, verify disproved); 2 bad usage; 3 verify undecided;
141 the reader of our output went away (as GNU tools killed by SIGPIPE).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ._api import OptionArgs, amerge, merge
from ._discovery import is_pattern
from ._framing import DEFAULT_MAX_LINE_BYTES
from ._limits import raise_fd_limit
from ._options import ENGINES, WATCH_MODES, Options
from ._sinks import FORMATS, Output, OutputClosed, OutputError
from ._verify import DEFAULT_BUDGET, verify

__all__ = ["cli", "main"]

log = logging.getLogger("tailmerge")
EXIT_PIPE = 141
DEFAULTS = Options()


def _positive(kind: type[float] | type[int], minimum: float, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, not {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tailmerge",
        description="Follow many growing log files and merge their complete lines into one stream.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{follow,verify,demo}")

    f = sub.add_parser(
        "follow",
        help="follow files and merge their lines",
        description="Follow files and "
        "merge their complete lines. Quote glob patterns so the shell leaves them to tailmerge.",
    )
    f.add_argument("paths", nargs="+", metavar="PATH", help="a file, or a quoted glob pattern ('logs/*.log', '**')")
    f.add_argument("-o", "--output", metavar="OUTPUT", help="write here (truncated unless --append); default stdout")
    f.add_argument("--append", action="store_true", help="append to OUTPUT instead of truncating it")
    f.add_argument("--engine", choices=ENGINES, default=DEFAULTS.engine)
    f.add_argument("--format", choices=FORMATS, default="raw")
    f.add_argument(
        "--from",
        dest="start",
        choices=("start", "end"),
        default="start",
        help="where to begin files that exist at start (default: start)",
    )
    f.add_argument(
        "--idle-exit",
        type=_positive(float, 0, "--idle-exit"),
        metavar="SECONDS",
        help="exit once no source has grown for this long",
    )
    f.add_argument("--no-follow", action="store_true", help="copy what is there, then exit")
    f.add_argument(
        "--poll-interval",
        type=_positive(float, 0.001, "--poll-interval"),
        metavar="SECONDS",
        default=DEFAULTS.poll_interval,
        help="seconds between looks at polled files",
    )
    f.add_argument(
        "--max-line-bytes",
        type=_positive(int, 2, "--max-line-bytes"),
        metavar="N",
        default=DEFAULTS.max_line_bytes,
        help="emit longer lines in pieces of N bytes",
    )
    f.add_argument(
        "--watch",
        choices=WATCH_MODES,
        default=DEFAULTS.watch,
        help="change notification: inotify where it works (auto), or poll",
    )
    f.add_argument(
        "--rotate-wait",
        type=_positive(float, 0, "--rotate-wait"),
        metavar="SECONDS",
        default=DEFAULTS.rotate_wait,
        help="keep reading a rotated file this long",
    )
    f.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="never follow paths matching GLOB (repeatable)"
    )
    f.add_argument("-v", "--verbose", action="store_true", help="also report rotations and reopened files")

    v = sub.add_parser("verify", help="check that a merged output holds every input line once, in order")
    v.add_argument("inputs", nargs="+", metavar="INPUT")
    v.add_argument("--merged", required=True, metavar="OUTPUT")
    v.add_argument("--format", choices=FORMATS, default="raw")
    v.add_argument(
        "--max-line-bytes",
        type=_positive(int, 2, "--max-line-bytes"),
        metavar="N",
        default=DEFAULT_MAX_LINE_BYTES,
        help="as given to follow",
    )
    v.add_argument(
        "--budget",
        type=_positive(int, 1, "--budget"),
        default=DEFAULT_BUDGET,
        help="choices the raw search may try before it says it cannot decide",
    )

    d = sub.add_parser("demo", help="merge live writers on demo data, then verify the merge")
    d.add_argument("--engine", choices=ENGINES, default=DEFAULTS.engine)
    d.add_argument("--seconds", type=_positive(float, 0.5, "--seconds"), default=4.0)
    d.add_argument("--files", type=_positive(int, 1, "--files"), default=4)
    d.add_argument("--writers", type=_positive(int, 1, "--writers"), default=3)
    for sp in (f, v, d):
        sp.set_defaults(subparser=sp)  # so a usage error found after parsing prints this command's usage
    return p  # fmt: skip


def cli(*args: str) -> int:
    """Run the command line with ``args``; return the exit status."""
    parser = _parser()
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return int(e.code or 0)
    _setup_logging(getattr(ns, "verbose", False))
    if ns.command == "verify":
        return _verify(ns)
    if ns.command == "demo":
        from ._demo import run_demo

        return run_demo(engine=ns.engine, seconds=ns.seconds, files=ns.files, writers=ns.writers)
    return _follow(ns)


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
    for path in [*ns.inputs, ns.merged]:
        if not os.path.isfile(path):
            return _usage_error(ns, f"{path}: no such file")
    verdict = verify(ns.inputs, ns.merged, format=ns.format, max_line_bytes=ns.max_line_bytes, budget=ns.budget)
    print(("FAIL: " if verdict.ok is False else "") + verdict.message)
    return {True: 0, False: 1, None: 3}[verdict.ok]


def _follow(ns: argparse.Namespace) -> int:
    options: OptionArgs = {
        "engine": ns.engine,
        "follow": not ns.no_follow,
        "start_at_end": ns.start == "end",
        "idle_timeout": ns.idle_exit,
        "poll_interval": ns.poll_interval,
        "max_line_bytes": ns.max_line_bytes,
        "watch": ns.watch,
        "rotate_wait": ns.rotate_wait,
        "exclude": tuple(ns.exclude),
    }
    if ns.output is not None:
        for path in ns.paths:
            if not is_pattern(path) and os.path.exists(path) and os.path.exists(ns.output) \
                    and os.path.samefile(path, ns.output):  # fmt: skip
                return _usage_error(ns, f"the output {ns.output} is also an input")
    raise_fd_limit()
    try:
        output = Output(ns.output, append=ns.append)
    except OutputError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    progress = _progress(ns.paths) if ns.no_follow and sys.stderr.isatty() else None
    kwargs: dict[str, Any] = dict(format=ns.format, progress=progress.update if progress else None)
    try:
        if ns.engine == "threads":
            _run_threads(ns.paths, output, options, kwargs)
        else:
            asyncio.run(_run_async(ns.paths, output, options, kwargs))
    except OutputClosed:
        _silence_stdout()
        return EXIT_PIPE
    except OutputError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if progress is not None:
            progress.close()
    return 0


async def _run_async(paths: Sequence[str], output: Output, options: OptionArgs, kwargs: dict[str, Any]) -> None:
    """The asyncio and mixed engines: SIGINT and SIGTERM stop following; SIGHUP reopens the output."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reopen, output)
    await amerge(paths, output, stop_event=stop, **options, **kwargs)


def _run_threads(paths: Sequence[str], output: Output, options: OptionArgs, kwargs: dict[str, Any]) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: _reopen(output))
    try:
        merge(paths, output, stop_event=stop, **options, **kwargs)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)


def _reopen(output: Output) -> None:
    try:
        output.reopen()
        log.info("%s: reopened (SIGHUP)", output.name)
    except OutputError as e:
        log.error("%s", e)


def _progress(paths: Sequence[str]) -> Any:
    from tqdm import tqdm

    total = 0
    for p in paths:
        try:
            total += os.path.getsize(p)
        except OSError:
            pass
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="tailmerge", leave=False)


def _silence_stdout() -> None:
    # the reader is gone: point stdout at /dev/null so the interpreter's final flush stays quiet
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def main() -> None:
    """Console entry point."""
    sys.exit(cli(*sys.argv[1:]))
