"""The command line's grammar. ``follow``'s options come from the fields of :class:`Options` (flags, help,
defaults, bounds), so the CLI has no default of its own."""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from typing import Any, cast

from ..core import DEFAULT_MAX_LINE_BYTES, PRESETS
from ..options import ENGINES, ORDERS, OptionArgs, Options
from ..serve import DEFAULT_HISTORY, DEFAULT_MAX_VIEWERS, DEFAULT_PORT
from ..sinks import FORMATS
from ..state import FSYNC_POLICIES
from ..verify import DEFAULT_BUDGET, VERIFY_FORMATS

__all__ = ["ExtraMissing", "UsageError", "build_parser", "command_of", "number", "options_from"]


class UsageError(Exception):
    """Bad usage found after parsing: printed with the command's usage, exit status 2."""


class ExtraMissing(Exception):
    """What a command needs is not installed (aiohttp: the ``web`` extra); the message says which extra
    to install. Exit status 1."""


def number(
    kind: type[float] | type[int], minimum: float, *, inclusive: bool = True, maximum: float | None = None
) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind``, at least (or more than) ``minimum``, at most ``maximum``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        if value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, not {text}")
        return value

    return parse


def _add_option_fields(p: argparse.ArgumentParser) -> None:
    """One argument per field of Options, as its metadata says."""
    defaults = Options()
    for f in fields(Options):
        meta = dict(f.metadata)
        flag, help_text = meta.pop("flag"), meta.pop("help")
        default = getattr(defaults, f.name)
        if flag is None:
            continue  # set by another flag
        if f.name == "last_lines":
            p.add_argument(
                meta.pop("short"), flag, dest=f.name, type=_lines, help=f"{help_text} (default: whole files)", **meta
            )
        elif f.name == "follow":
            p.add_argument(flag, dest=f.name, action="store_false", help=help_text)
        elif f.name == "start_at_end":
            p.add_argument(flag, dest=f.name, default="start", help=f"{help_text} (default: start)", **meta)
        elif f.name == "exclude":
            p.add_argument(flag, dest=f.name, action="append", default=[], help=f"{help_text} (default: none)", **meta)
        else:
            if "minimum" in meta:
                kind = int if f.default is not MISSING and type(f.default) is int else float
                meta["type"] = number(kind, meta.pop("minimum"), inclusive=f.name != "poll_interval")
            shown = "none" if default is None else default
            p.add_argument(flag, dest=f.name, default=default, help=f"{help_text} (default: {shown})", **meta)


def _lines(text: str) -> tuple[str, int]:
    """``-n N`` (the last N lines) or ``-n +N`` (from line N), as tail takes them."""
    value = number(int, 1 if text.startswith("+") else 0)(text)
    return ("from", value) if text.startswith("+") else ("last", value)


def _add_view_options(p: argparse.ArgumentParser) -> None:
    """The page's options, for ``serve`` and ``follow --serve``."""
    p.add_argument(
        "--history",
        type=number(int, 1),
        default=DEFAULT_HISTORY,
        metavar="N",
        help="lines a page gets when it connects (default: %(default)s)",
    )
    p.add_argument(
        "--token",
        help="the token a viewer needs (in the URL); bound off loopback without one, one is made and printed "
        "(default: none on loopback)",
    )
    p.add_argument(
        "--max-viewers",
        type=number(int, 1),
        default=DEFAULT_MAX_VIEWERS,
        help="pages open at once (default: %(default)s)",
    )


def options_from(ns: argparse.Namespace) -> OptionArgs:
    """The API's keyword options from parsed arguments, field by field."""
    values: dict[str, Any] = {f.name: getattr(ns, f.name, None) for f in fields(Options)}
    values["start_at_end"] = values["start_at_end"] == "end"
    lines = values.pop("last_lines")
    values["last_lines"] = lines[1] if lines is not None and lines[0] == "last" else None
    values["from_line"] = lines[1] if lines is not None and lines[0] == "from" else None
    values["exclude"] = tuple(values["exclude"])
    return cast(OptionArgs, values)


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, given the terminal's width: argparse makes one per argument added, and
    left to itself each imports ``shutil`` (with bz2 and lzma) to ask it, a few ms of every start."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, width if width is not None else _columns())


@functools.cache  # asked once: argparse makes a formatter per argument added (46 for a follow)
def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` tells it: ``COLUMNS``, else stdout's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="a file, a quoted glob pattern ('logs/*.log', '**'), or - for stdin"
    )


def _add_following(p: argparse.ArgumentParser) -> None:
    """What ``follow`` and ``serve`` both take after their own arguments."""
    _add_option_fields(p)
    _add_view_options(p)
    p.add_argument("-v", "--verbose", action="store_true", help="also report rotations and reopened files")


def _follow(f: argparse.ArgumentParser) -> None:
    _add_paths(f)
    f.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="write here (truncated unless --append; - is stdout), or ship to a Redis Stream: "
        "redis://[:PASSWORD@]HOST[:PORT]/STREAM[?db=N] (rediss:// for TLS) (default: stdout)",
    )
    f.add_argument("--append", action="store_true", help="append to OUTPUT instead of truncating it")
    f.add_argument(
        "--format",
        choices=FORMATS,
        default="raw",
        help="raw lines; labeled (NAME | line); jsonl; headers (==> NAME <== when the source changes) (default: raw)",
    )
    f.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour labels: auto is when the output is a terminal and NO_COLOR is not set (default: auto)",
    )
    f.add_argument(
        "--state",
        metavar="PATH",
        help="resume where the last run with this state file stopped, even after a crash: exactly once into "
        "OUTPUT (no line lost or doubled); at least once to stdout (default: none)",
    )
    f.add_argument(
        "--fsync",
        choices=FSYNC_POLICIES,
        default="interval",
        help="with --state, sync OUTPUT before each commit: at most once a second (interval), on every commit "
        "(always), or never (safe against crashes of tailmerge, not of the machine) (default: interval)",
    )
    f.add_argument(
        "--host-name",
        metavar="NAME",
        help="with -o redis://..., the host name each entry carries and the shipper's positions are kept under "
        "(default: this machine's)",
    )
    f.add_argument(
        "--maxlen",
        type=number(int, 1),
        metavar="N",
        help="with -o redis://..., trim the stream to about N entries (XADD MAXLEN ~ N); a reader further behind "
        "than that misses the oldest (default: no trimming)",
    )
    f.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        help="also show the merge live in a browser at this address (HOST: 127.0.0.1) (default: none)",
    )
    _add_following(f)


def _serve(w: argparse.ArgumentParser) -> None:
    _add_paths(w)
    w.add_argument(
        "--port", type=number(int, 0, maximum=65535), default=DEFAULT_PORT, help="the port (default: %(default)s)"
    )
    w.add_argument(
        "--bind",
        metavar="HOST",
        default="127.0.0.1",
        help="the address to listen on; anything but loopback needs a token (default: %(default)s)",
    )
    _add_following(w)


def _verify(v: argparse.ArgumentParser) -> None:
    v.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="a file, or a quoted glob pattern; rotated generations oldest first"
    )
    v.add_argument("--merged", required=True, metavar="OUTPUT", help="the merged output to check")
    v.add_argument(
        "--format",
        choices=VERIFY_FORMATS,
        default="auto",
        help="format of the merged output (default: auto, told from its first lines)",
    )
    v.add_argument(
        "--max-line-bytes",
        type=number(int, 2),
        metavar="N",
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"as given to follow (default: {DEFAULT_MAX_LINE_BYTES})",
    )
    v.add_argument(
        "--budget",
        type=number(int, 1),
        default=DEFAULT_BUDGET,
        help=f"choices the search may try before it says it cannot decide (default: {DEFAULT_BUDGET})",
    )
    v.add_argument("--multiline", choices=PRESETS, help="as given to follow: check records (default: none)")
    v.add_argument("--multiline-start", metavar="REGEX", help="as given to follow: check records (default: none)")
    v.add_argument(
        "--order", choices=ORDERS, default="arrival", help="time: also check the time order (default: arrival)"
    )
    v.add_argument(
        "--lateness",
        type=number(float, 0.0),
        default=0.0,
        metavar="SECONDS",
        help="with --order time, how much earlier than a line before it a line may be (default: 0)",
    )
    v.add_argument("--tz", metavar="ZONE", help="as given to follow (default: local)")


def _state(s: argparse.ArgumentParser) -> None:
    s_sub = s.add_subparsers(dest="state_command", metavar="{show}", required=True)
    show = s_sub.add_parser("show", help="the sources, offsets, finished files and output size of a state")
    show.add_argument("state_path", metavar="PATH", help="the state file")
    show.set_defaults(subparser=show)


def _demo(d: argparse.ArgumentParser) -> None:
    d.add_argument("--engine", choices=ENGINES, default=Options().engine, help="the engine (default: %(default)s)")
    d.add_argument(
        "--seconds", type=number(float, 0.5), default=4.0, help="how long the writers write (default: %(default)s)"
    )
    d.add_argument("--files", type=number(int, 1), default=4, help="logs to write and merge (default: %(default)s)")
    d.add_argument("--writers", type=number(int, 1), default=3, help="writer processes (default: %(default)s)")
    d.add_argument(
        "--redis",
        nargs="?",
        const="redis://127.0.0.1:6379/tailmerge-demo",
        metavar="URL",
        help="two shippers and a reader through a running Redis server (default URL: %(const)s)",
    )


# each command: its help in the list of commands, its description, and what fills in its arguments
_COMMANDS: dict[str, tuple[str, str | None, Callable[[argparse.ArgumentParser], None]]] = {
    "follow": (
        "follow files and merge their lines",
        "Follow files and merge their complete lines. Quote glob patterns so the shell leaves them to tailmerge.",
        _follow,
    ),
    "serve": (
        "follow files and show their merge live in a browser",
        "Follow files and show their merged lines live in a browser (needs tailmerge[web]). "
        "Every option of follow but the output's applies.",
        _serve,
    ),
    "verify": ("check that a merged output holds every input line once, in order", None, _verify),
    "state": ("what a state file (--state) holds", None, _state),
    "demo": ("merge live writers on demo data, then verify the merge", None, _demo),
}


def command_of(args: Sequence[str]) -> str | None:
    """The command ``args`` name (the first word that is no option: the top level takes no values)."""
    return next((a for a in args if not a.startswith("-")), None)


def build_parser(version: str, command: str | None = None) -> argparse.ArgumentParser:
    """The grammar; with ``command``, only that command's arguments are filled in (argparse spends a few
    ms on all of them, at every start), the others list just their names and help."""
    p = argparse.ArgumentParser(
        prog="tailmerge",
        description="Follow many growing log files and merge their complete lines into one stream.",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"tailmerge {version}")
    sub = p.add_subparsers(dest="command", metavar="{follow,serve,verify,state,demo}")
    for name, (help_text, description, fill) in _COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=description, formatter_class=_Formatter)
        sp.set_defaults(subparser=sp)  # so a usage error found after parsing prints this command's usage
        if command is None or command == name or command not in _COMMANDS:
            fill(sp)
    return p
