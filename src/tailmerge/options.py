"""Options of a run, defined once: the API's keywords, ``Options`` and the command line's flags all come
from the fields below (a test compares them), so no face has a default of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, get_args

from .core import DEFAULT_MAX_LINE_BYTES

__all__ = ["ENGINES", "WATCH_MODES", "Engine", "OptionArgs", "Options", "WatchMode", "check_number"]

Engine = Literal["asyncio", "threads", "mixed"]
WatchMode = Literal["auto", "inotify", "poll"]
ENGINES: tuple[Engine, ...] = get_args(Engine)
WATCH_MODES: tuple[WatchMode, ...] = get_args(WatchMode)


def check_number(name: str, value: float, minimum: float, *, inclusive: bool = True) -> None:
    """Reject NaN, infinities and values below ``minimum`` (or equal to it, when not ``inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value}")
    if value < minimum or (not inclusive and value == minimum):
        bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
        raise ValueError(f"{name} must be {bound}, not {value:g}")


def _cli(flag: str, help: str, **kwargs: Any) -> dict[str, Any]:
    """How a field appears on the command line: its flag, help text and argparse keywords."""
    return {"flag": flag, "help": help, **kwargs}


@dataclass(frozen=True)
class Options:
    """How to follow. Every public entry point takes these as keyword arguments.

    engine: ``asyncio`` (a task per file), ``threads`` (a thread per file) or ``mixed`` (blocking followers in
      an executor handing lines to the event loop). They give the same result.
    follow: keep following after the end of each file (False: copy what is there, then stop).
    start_at_end: begin each file that exists at start at its end (``--from end``, ``-n 0``), not its start.
    last_lines: begin each file that exists at start this many lines before its end (``tail -n N``).
    from_line: begin each file that exists at start at this line number (``tail -n +N``; 1 is the first).
    idle_timeout: stop once no source has grown for this many seconds (None: never).
    poll_interval: seconds between looks at a polled file; idle polled files back off to ``poll_max``.
    max_line_bytes: a longer line is emitted in pieces of this many bytes, each ending in a newline.
    watch: ``auto`` (inotify where it works), ``inotify`` or ``poll``.
    rotate_wait: seconds a rotated or deleted file is still followed after it last grew.
    exclude: glob patterns of paths never to follow.
    stdin_label: the name standard input (the path ``-``) goes by in labels and JSONL.
    """

    engine: Engine = field(default="asyncio", metadata=_cli("--engine", "how followers are driven", choices=ENGINES))
    follow: bool = field(default=True, metadata=_cli("--no-follow", "copy what is there, then exit"))
    start_at_end: bool = field(
        default=False,
        metadata=_cli("--from", "where to begin files that exist at start", choices=("start", "end")),
    )
    last_lines: int | None = field(
        default=None,
        metadata=_cli(
            "--lines",
            "begin files that exist at start N lines before their end (as tail -n N), or at line N with +N",
            metavar="[+]N",
            short="-n",
        ),
    )
    from_line: int | None = field(default=None, metadata={"flag": None, "help": "set by --lines +N"})
    idle_timeout: float | None = field(
        default=None,
        metadata=_cli("--idle-exit", "exit once no source has grown for SECONDS", metavar="SECONDS", minimum=0.0),
    )
    poll_interval: float = field(
        default=0.1,
        metadata=_cli("--poll-interval", "seconds between looks at polled files", metavar="SECONDS", minimum=0.0),
    )
    max_line_bytes: int = field(
        default=DEFAULT_MAX_LINE_BYTES,
        metadata=_cli("--max-line-bytes", "emit longer lines in pieces of N bytes", metavar="N", minimum=2),
    )
    watch: WatchMode = field(
        default="auto",
        metadata=_cli("--watch", "change notification: inotify where it works (auto), or poll", choices=WATCH_MODES),
    )
    rotate_wait: float = field(
        default=5.0,
        metadata=_cli(
            "--rotate-wait", "follow a rotated file until it has not grown for SECONDS", metavar="SECONDS", minimum=0.0
        ),
    )
    exclude: tuple[str, ...] = field(
        default=(), metadata=_cli("--exclude", "never follow paths matching GLOB (repeatable)", metavar="GLOB")
    )
    stdin_label: str = field(
        default="-", metadata=_cli("--label-stdin", "the name of standard input (given as -)", metavar="NAME")
    )

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.watch not in WATCH_MODES:
            raise ValueError(f"unknown watch mode {self.watch!r}; choose from {', '.join(WATCH_MODES)}")
        check_number("poll_interval", self.poll_interval, 0.0, inclusive=False)
        if self.last_lines is not None:
            check_number("last_lines", self.last_lines, 0)
        if self.from_line is not None:
            check_number("from_line", self.from_line, 1)
        if self.idle_timeout is not None:
            check_number("idle_timeout", self.idle_timeout, 0.0)
        check_number("max_line_bytes", self.max_line_bytes, 2)
        check_number("rotate_wait", self.rotate_wait, 0.0)
        if isinstance(self.exclude, str):
            raise TypeError("exclude must be a list of patterns, not a single string")
        object.__setattr__(self, "exclude", tuple(self.exclude))

    @property
    def tail_lines(self) -> int | None:
        """Lines before the end where files that exist at start begin (0: their end; None: their start)."""
        return 0 if self.start_at_end else self.last_lines

    @property
    def poll_max(self) -> float:
        """The longest wait between looks at an idle polled file."""
        return max(self.poll_interval, 1.0)


class OptionArgs(TypedDict, total=False):
    """Keyword options shared by every entry point; see :class:`tailmerge.Options` for meanings."""

    engine: Engine
    follow: bool
    start_at_end: bool
    last_lines: int | None
    from_line: int | None
    idle_timeout: float | None
    poll_interval: float
    max_line_bytes: int
    watch: WatchMode
    rotate_wait: float
    exclude: tuple[str, ...]
    stdin_label: str
