"""Output formats: how chunks of lines become output bytes (raw, labeled, JSONL: made in ``jsonl``), and
source labels.

Formatting is pure: chunks in, bytes out.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, get_args

from ..core import Chunk, Span
from .jsonl import chunk_objects, jsonl_release
from .output import Buffer, Piece

if TYPE_CHECKING:
    from ..core.release import Release

__all__ = [
    "FORMATS",
    "LABEL_SEP",
    "Format",
    "Formatter",
    "Labels",
    "jsonl_release",
    "labeled_release",
    "labels_for",
    "raw_pieces",
]

log = logging.getLogger("tailmerge")

Format = Literal["raw", "labeled", "jsonl", "headers"]
FORMATS: tuple[Format, ...] = get_args(Format)
LABEL_SEP = b" | "
CONTINUATION_SEP = b" + "  # before each line of a multiline record but its first
_COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)


def raw_pieces(chunks: Sequence[Chunk | Span]) -> list[Piece]:
    """Raw output of lines as bytes or spans: the chunks' own bytes (not copied), spans as they are (the
    output moves them)."""
    return [c if isinstance(c, Span) else c.data for c in chunks]


def labels_for(paths: Sequence[str]) -> list[str]:
    """For each path, the shortest suffix of path components that no other path ends with."""
    split = [tuple(_components(p)) for p in paths]
    labels: list[str | None] = [None] * len(split)
    depth = max(map(len, split), default=0)
    for k in range(1, depth + 1):
        # counting suffixes per length keeps this linear in the number of paths (10,000 files)
        counts = Counter(parts[-k:] for parts in split)
        for i, parts in enumerate(split):
            if labels[i] is None and (counts[parts[-k:]] == 1 or k == len(parts)):
                labels[i] = "/".join(parts[-k:])
    return [label or "/".join(parts) for label, parts in zip(labels, split, strict=True)]


def _components(path: str) -> list[str]:
    parts = [p for p in os.path.normpath(path).split(os.sep) if p]
    return parts or [path]


class Labels:
    """The label of each source, kept telling the sources apart as sources join.

    When a source joins whose name makes an earlier label ambiguous (``one/x.log`` labelled ``x.log``,
    then ``two/x.log`` appears), the sources it covered get longer labels from then on, said once.
    """

    def __init__(self) -> None:
        self._paths: list[str] = []
        self.labels: list[str] = []
        self.width = 0
        """The longest label: labels are padded to it, so lines start in one column."""

    def add(self, paths: Sequence[str]) -> list[int]:
        """Add sources (their indexes follow on); return the indexes of earlier sources whose label changed."""
        known = len(self._paths)
        self._paths.extend(paths)
        new = labels_for(self._paths)
        changed = [i for i in range(known) if new[i] != self.labels[i]]
        for i in changed:
            log.warning("label %r is now %r, to tell it from a source found later", self.labels[i], new[i])
        self.labels = new
        self.width = max(map(len, new), default=0)
        return changed


class Formatter:
    """Turns chunks from one source into output bytes in one of FORMATS."""

    def __init__(self, fmt: str, path: str, label: str, *, colour: int | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        self.fmt = fmt
        self.path = path
        name = os.fsencode(label)
        if colour is not None:
            name = b"\x1b[%dm%s\x1b[0m" % (_COLOURS[colour % len(_COLOURS)], name)
        self._prefix = name + LABEL_SEP
        continued = name + CONTINUATION_SEP
        # what follows each newline of a chunk, and the view's end that leaves it out after the last one
        self._after_line = (b"\n" + self._prefix, -len(self._prefix))
        self._after_record = (b"\n" + continued, -len(continued))
        self._json_path = b""
        if fmt == "jsonl":  # json is imported for JSONL only
            import json

            self._json_path = json.dumps(path).encode()  # ASCII: non-ASCII (and undecodable) names escaped

    def format(self, chunks: Sequence[Chunk]) -> list[Buffer]:
        """Output buffers for ``chunks`` (raw, headers: the chunks' own bytes, not copied)."""
        if self.fmt in ("raw", "headers"):
            return [c.data for c in chunks]
        if self.fmt == "labeled":
            # one C-level replace per chunk puts a mark after every newline; the label goes before the first
            # line and a view leaves out the mark after the last: no copy of the chunk but the replace
            out: list[Buffer] = []
            for c in chunks:
                after, cut = self._after_record if c.record else self._after_line
                out += (self._prefix, memoryview(c.data.replace(b"\n", after))[:cut])
            return out
        # buffers written together with writev: joining them would hold the batch twice
        return [b for c in chunks for b in chunk_objects(c, *self.heads(c, c.times))]

    def header(self) -> bytes:
        """The ``headers`` format's line before a run of lines from this source, as tail prints it."""
        return b"==> %s <==\n" % os.fsencode(self.path)

    def heads(self, chunk: Chunk, times: Sequence[float | None] | None) -> tuple[bytes, list[bytes] | None]:
        """What starts an object of ``chunk``'s file up to its offset: without a time, and for each line with
        its own time (where ``times`` are given; repr, as %a gives for a float)."""
        inode = b'"inode": %d, ' % chunk.file.ino if chunk.file is not None else b""
        head = b'{"path": ' + self._json_path + b", " + inode
        plain = head + b'"offset": '
        if times is None:
            return plain, None
        timed = head.replace(b"%", b"%%") + b'"time": %a, "offset": '
        return plain, [plain if t is None else timed % t for t in times]


def labeled_release(release: Release, formatter: Callable[[int], Formatter]) -> bytes:
    """A time order release in the labeled format (``formatter``: of a source key), as one buffer: each unit
    after its source's label, joined in C (a chunk and a batch per run cost a dozen Python steps a line)."""
    units: list[bytes] = []
    labels: list[bytes] = []
    for key, segments in release.parts:
        of = formatter(key)
        had = len(units)
        for seg in segments:
            more = seg.run.unit_bytes()[seg.start : seg.stop]
            if seg.run.chunk.record:  # its continuation lines marked
                more = [u.replace(b"\n", of._after_record[0]) for u in more]
            units += more
        labels += itertools.repeat(of._prefix, len(units) - had)
    if release.order is not None:
        units = list(map(units.__getitem__, release.order))
        labels = list(map(labels.__getitem__, release.order))
    return b"".join(itertools.chain.from_iterable(zip(labels, units, itertools.repeat(b"\n"))))
