"""Options of a run, defined once: the API's keywords, ``Options`` and the command line's flags all come
from the fields below (a test compares them), so no face has a default of its own."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, get_args

from .core import DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_RECORD_BYTES, PRESETS

__all__ = [
    "ENGINES",
    "ORDERS",
    "WATCH_MODES",
    "Engine",
    "OptionArgs",
    "Options",
    "Order",
    "WatchMode",
    "check_number",
]

Engine = Literal["asyncio", "threads", "mixed"]
WatchMode = Literal["auto", "inotify", "poll"]
Order = Literal["arrival", "time"]
ENGINES: tuple[Engine, ...] = get_args(Engine)
WATCH_MODES: tuple[WatchMode, ...] = get_args(WatchMode)
ORDERS: tuple[Order, ...] = get_args(Order)


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

    engine: ``asyncio`` (a task per file), ``threads`` (a thread per busy file) or ``mixed`` (blocking reads in
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
    multiline: group lines into records by a preset rule: ``python`` (tracebacks), ``java`` (stack traces),
      ``indented`` (continuation lines start with whitespace), ``timestamp`` (a record starts at a time).
    multiline_start: group lines into records: a line matching this regex (at its start) starts one.
    multiline_timeout: seconds of quiet after which a held record is emitted.
    max_record_bytes: a longer record is emitted as it is, marked cut.
    order: ``arrival`` (as lines are written) or ``time`` (by the timestamp at the start of each line or
      record, detected per source: ISO 8601, syslog, Apache/nginx, epoch, JSON ``time`` fields).
    group, consumer: read Redis Streams in this consumer group, as this consumer (default: the host name);
      entries are acknowledged once their lines are written.
    lateness: with ``order="time"`` while following, hold a line at most this many seconds for earlier
      lines of other sources; a line that comes later than that is emitted at once and counted.
    since, until: keep only lines whose time is within this window: an absolute time (``2026-11-25``,
      ``2026-11-25T21:00``), a relative one before now (``15m``, ``2h``, ``1d``), or epoch seconds.
    time_format: a strptime format for the time at the start of each line, instead of detection.
    time_regex: a regex whose first group (or whole match) is the time in each line.
    tz: the zone of times that carry none: ``local`` (default), ``UTC``, ``+05:30`` or an IANA name.
    """

    # each option once, with its command-line flag: declared twins of one shape (data, not logic)
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

    multiline: str | None = field(
        default=None, metadata=_cli("--multiline", "group lines into records by a preset rule", choices=PRESETS)
    )
    multiline_start: str | None = field(
        default=None,
        metadata=_cli(
            "--multiline-start", "group lines into records, each starting at a line matching REGEX", metavar="REGEX"
        ),
    )
    multiline_timeout: float = field(
        default=1.0,
        metadata=_cli(
            "--multiline-timeout", "emit a held record after SECONDS of quiet", metavar="SECONDS", minimum=0.0
        ),
    )
    max_record_bytes: int = field(
        default=DEFAULT_MAX_RECORD_BYTES,
        metadata=_cli("--max-record-bytes", "emit a longer record as it is, marked cut", metavar="N", minimum=2),
    )

    order: Order = field(
        default="arrival",
        metadata=_cli("--order", "arrival (as written) or time (by each line's timestamp)", choices=ORDERS),
    )
    lateness: float = field(
        default=1.0,
        metadata=_cli(
            "--lateness",
            "with --order time, hold a line at most SECONDS for earlier lines of other sources",
            metavar="SECONDS",
            minimum=0.0,
        ),
    )
    since: str | float | None = field(
        default=None,
        metadata=_cli("--since", "skip lines before TIME (2026-11-25T21:00, 15m, 2h, 1d ago)", metavar="TIME"),
    )
    until: str | float | None = field(
        default=None, metadata=_cli("--until", "skip lines after TIME (as --since)", metavar="TIME")
    )
    time_format: str | None = field(
        default=None,
        metadata=_cli("--time-format", "strptime format of the time at the start of lines", metavar="FORMAT"),
    )
    time_regex: str | None = field(
        default=None,
        metadata=_cli("--time-regex", "the time in each line is this regex's first group", metavar="REGEX"),
    )
    tz: str | None = field(
        default=None,
        metadata=_cli("--tz", "zone of times without one: local, UTC, +05:30 or a zone name", metavar="ZONE"),
    )
    group: str | None = field(
        default=None,
        metadata=_cli(
            "--group",
            "read redis:// streams in this consumer group (made if missing); entries are acknowledged (XACK) "
            "once their lines are written",
            metavar="NAME",
        ),
    )
    consumer: str | None = field(
        default=None,
        metadata=_cli(
            "--consumer", "with --group, this reader's name in the group (default: the host name)", metavar="NAME"
        ),
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
        if self.multiline is not None and self.multiline not in PRESETS:
            raise ValueError(f"unknown multiline preset {self.multiline!r}; choose from {', '.join(PRESETS)}")
        if self.multiline is not None and self.multiline_start is not None:
            raise ValueError("give --multiline or --multiline-start, not both")
        if self.multiline_start is not None:
            try:
                re.compile(self.multiline_start.encode())
            except re.error as e:
                raise ValueError(
                    f"--multiline-start {self.multiline_start!r} is not a regular expression: {e}"
                ) from None
        check_number("multiline_timeout", self.multiline_timeout, 0.0)
        check_number("max_record_bytes", self.max_record_bytes, 2)
        if self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; choose from {', '.join(ORDERS)}")
        check_number("lateness", self.lateness, 0.0)
        if self.timed or any(v is not None for v in (self.tz, self.time_format, self.time_regex)):
            self.window(0.0)  # bad times, formats and zones are refused now, not when the run starts
        if isinstance(self.exclude, str):
            raise TypeError("exclude must be a list of patterns, not a single string")
        object.__setattr__(self, "exclude", tuple(self.exclude))

    @property
    def tail_lines(self) -> int | None:
        """Lines before the end where files that exist at start begin (0: their end; None: their start)."""
        return 0 if self.start_at_end else self.last_lines

    @property
    def records(self) -> bool:
        """Lines are grouped into multiline records."""
        return self.multiline is not None or self.multiline_start is not None

    @property
    def timed(self) -> bool:
        """Lines are timed: ordered by time, or kept by a time window."""
        return self.order == "time" or self.since is not None or self.until is not None

    def window(self, now: float) -> tuple[float | None, float | None]:
        """``since`` and ``until`` as epoch seconds, relative times counted back from ``now``."""
        from .core.timestamps import parse_tz, parse_when

        zone = parse_tz(self.tz) if self.tz is not None else None
        if self.time_format is not None or self.time_regex is not None:
            self.parser()
        bounds = [
            None if t is None else float(t) if isinstance(t, int | float) else parse_when(t, now, zone)
            for t in (self.since, self.until)
        ]
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            raise ValueError(f"--since {self.since} is after --until {self.until}")
        return bounds[0], bounds[1]

    def parser(self) -> Callable[[bytes], float | None]:
        """A new parser of the time at the start of a line (one per source: each detects its own format)."""
        from .core.timestamps import TimeParser, parse_tz

        zone = parse_tz(self.tz) if self.tz is not None else None
        try:
            return TimeParser(time_format=self.time_format, time_regex=self.time_regex, tz=zone).parse
        except re.error as e:
            raise ValueError(f"--time-regex {self.time_regex!r} is not a regular expression: {e}") from None

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
    multiline: str | None
    multiline_start: str | None
    multiline_timeout: float
    max_record_bytes: int
    order: Order
    lateness: float
    since: str | float | None
    until: str | float | None
    time_format: str | None
    time_regex: str | None
    tz: str | None
    group: str | None
    consumer: str | None
