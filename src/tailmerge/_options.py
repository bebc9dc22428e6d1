"""Options for a run, resolved in one place so every face (sync, async, CLI) has the same defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._framing import DEFAULT_MAX_LINE_BYTES

__all__ = ["ENGINES", "WATCH_MODES", "Options"]

ENGINES = ("asyncio", "threads", "mixed")
WATCH_MODES = ("auto", "inotify", "poll")


@dataclass(frozen=True)
class Options:
    """How to follow. Every public entry point takes these as keyword arguments.

    engine: ``asyncio`` (a task per file), ``threads`` (a thread per file) or ``mixed`` (blocking followers in
      an executor handing lines to the event loop). They give the same result.
    follow: keep following after the end of each file (False: copy what is there, then stop).
    start_at_end: begin each file that exists at start at its end (``--from end``), not its start.
    idle_timeout: stop once no source has grown for this many seconds (None: never).
    poll_interval: seconds between looks at a polled file; idle polled files back off to ``poll_max``.
    max_line_bytes: a longer line is emitted in pieces of this many bytes, each ending in a newline.
    watch: ``auto`` (inotify where it works), ``inotify`` or ``poll``.
    rotate_wait: seconds a rotated or deleted file is still read, for writers that still append to it.
    exclude: glob patterns of paths never to follow.
    """

    engine: str = "asyncio"
    follow: bool = True
    start_at_end: bool = False
    idle_timeout: float | None = None
    poll_interval: float = 0.1
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    watch: str = "auto"
    rotate_wait: float = 5.0
    exclude: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.watch not in WATCH_MODES:
            raise ValueError(f"unknown watch mode {self.watch!r}; choose from {', '.join(WATCH_MODES)}")
        if not self.poll_interval > 0:
            raise ValueError("poll_interval must be positive")
        if self.idle_timeout is not None and self.idle_timeout < 0:
            raise ValueError("idle_timeout must not be negative")
        if self.max_line_bytes < 2:
            raise ValueError("max_line_bytes must be at least 2")
        if self.rotate_wait < 0:
            raise ValueError("rotate_wait must not be negative")

    @property
    def poll_max(self) -> float:
        """The longest wait between looks at an idle polled file."""
        return max(self.poll_interval, 1.0)
