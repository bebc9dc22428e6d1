"""The sans-I/O core: framing bytes into lines, positions, records, times and their order, and the follow
plan. No os, threads or asyncio."""

from typing import TYPE_CHECKING

from .._lazy import exports

# ``pace`` names both a module and its function: imported now, so that importing the module later never puts
# the module where the function is looked up
from .pace import Follower, Wait, pace

if TYPE_CHECKING:
    from .framing import DEFAULT_MAX_LINE_BYTES, Chunk, LineFramer, Span, Spans, split_lines
    from .order import Release, TimeOrder
    from .positions import FINGERPRINT_BYTES, Change, Identity, follow_path, look
    from .records import DEFAULT_MAX_RECORD_BYTES, PRESETS, Framing, RecordFramer, record_starts
    from .timestamps import TimeParser, parse_tz, parse_when
    from .timing import NO_TIME, SourceClock, TimedRun, Window

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_RECORD_BYTES",
    "FINGERPRINT_BYTES",
    "NO_TIME",
    "PRESETS",
    "Change",
    "Chunk",
    "Follower",
    "Framing",
    "Identity",
    "LineFramer",
    "RecordFramer",
    "Release",
    "SourceClock",
    "Span",
    "Spans",
    "TimeOrder",
    "TimeParser",
    "TimedRun",
    "Wait",
    "Window",
    "follow_path",
    "look",
    "pace",
    "parse_tz",
    "parse_when",
    "record_starts",
    "split_lines",
]

if not TYPE_CHECKING:  # a module is imported when one of its names is first used (timestamps: timed runs)
    __getattr__, __dir__ = exports(
        __name__,
        {
            "DEFAULT_MAX_LINE_BYTES": ".framing",
            "Chunk": ".framing",
            "LineFramer": ".framing",
            "Span": ".framing",
            "Spans": ".framing",
            "split_lines": ".framing",
            "Release": ".order",
            "TimeOrder": ".order",
            "FINGERPRINT_BYTES": ".positions",
            "Change": ".positions",
            "Identity": ".positions",
            "follow_path": ".positions",
            "look": ".positions",
            "DEFAULT_MAX_RECORD_BYTES": ".records",
            "PRESETS": ".records",
            "Framing": ".records",
            "RecordFramer": ".records",
            "record_starts": ".records",
            "TimeParser": ".timestamps",
            "parse_tz": ".timestamps",
            "parse_when": ".timestamps",
            "NO_TIME": ".timing",
            "SourceClock": ".timing",
            "TimedRun": ".timing",
            "Window": ".timing",
        },
    )
