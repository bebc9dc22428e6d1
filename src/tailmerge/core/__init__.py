"""The sans-I/O core: framing bytes into lines, positions, and the follow plan. No os, threads or asyncio."""

from .framing import DEFAULT_MAX_LINE_BYTES, Chunk, LineFramer, split_lines
from .pace import Follower, Wait, pace
from .positions import FINGERPRINT_BYTES, Change, Identity, follow_path, look

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "FINGERPRINT_BYTES",
    "Change",
    "Chunk",
    "Follower",
    "Identity",
    "LineFramer",
    "Wait",
    "follow_path",
    "look",
    "pace",
    "split_lines",
]
