"""The sans-I/O core: framing bytes into lines, positions, and the follow plan. No os, threads or asyncio."""

from .framing import DEFAULT_MAX_LINE_BYTES, Chunk, LineFramer, split_lines
from .order import Release, TimeOrder
from .pace import Follower, Wait, pace
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
