"""Output formats: how chunks of lines become output bytes (raw, labeled, JSONL), and source labels.

Formatting is pure: chunks in, bytes out.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from ..core import Chunk

__all__ = ["FORMATS", "LABEL_SEP", "Format", "Formatter", "Labels", "labels_for"]

log = logging.getLogger("tailmerge")

Format = Literal["raw", "labeled", "jsonl", "headers"]
FORMATS: tuple[Format, ...] = get_args(Format)
LABEL_SEP = b" | "
CONTINUATION_SEP = b" + "  # before each line of a multiline record but its first
_COLOURS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)


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
        self._continued = name + CONTINUATION_SEP
        self._json_path = ""
        if fmt == "jsonl":  # json is imported for JSONL only
            import json

            self._json_path = json.dumps(path)

    def format(self, chunks: Sequence[Chunk]) -> list[bytes]:
        """Output buffers for ``chunks`` (raw, headers: the chunks' own bytes, not copied)."""
        if self.fmt in ("raw", "headers"):
            return [c.data for c in chunks]
        if self.fmt == "labeled":
            prefix = self._prefix
            # one C-level replace per chunk instead of Python work per line
            return [
                prefix + c.data[:-1].replace(b"\n", b"\n" + (self._continued if c.record else prefix)) + b"\n"
                for c in chunks
            ]
        # one buffer per chunk, written together with writev: joining them would hold the batch twice
        return [self._jsonl(c) for c in chunks]

    def header(self) -> bytes:
        """The ``headers`` format's line before a run of lines from this source, as tail prints it."""
        return b"==> %s <==\n" % os.fsencode(self.path)

    def _jsonl(self, chunk: Chunk) -> bytes:
        from json.encoder import encode_basestring as _json_str  # C: a str as a JSON string literal, UTF-8 kept

        inode = f'"inode": {chunk.file.ino}, ' if chunk.file is not None else ""
        head = f'{{"path": {self._json_path}, {inode}"offset": '
        heads: Iterable[str] = itertools.repeat(head)
        if chunk.times is not None:  # each line's own time, where it has one
            timed = f'{{"path": {self._json_path}, {inode}"time": %r, "offset": '
            heads = [head if t is None else timed % t for t in chunk.times]
        if chunk.cut or chunk.record:  # one object: a piece of a line, or a whole record (its lines joined)
            extra = ', "cut": true' if chunk.cut else ""
            return self._jsonl_line(next(iter(heads)), chunk.data, chunk.end, extra)
        try:
            # the common case: the whole run is UTF-8, decoded once and escaped by json's C encoder
            texts = chunk.data.decode("utf-8").split("\n")[:-1]
        except UnicodeDecodeError:
            pairs = zip(heads, chunk.line_ends(), strict=False)
            return b"".join(self._jsonl_line(h, line, end) for h, (line, end) in pairs)
        ends = chunk.ends()
        lines = (f'{h}{end}, "line": {_json_str(t)}}}\n' for h, t, end in zip(heads, texts, ends, strict=False))
        return "".join(lines).encode()

    @staticmethod
    def _jsonl_line(head: str, line: bytes, end: int, extra: str = "") -> bytes:
        import base64
        from json.encoder import encode_basestring as _json_str

        body = line[:-1]
        try:
            field, text = "line", _json_str(body.decode("utf-8"))
        except UnicodeDecodeError:
            field, text = "line_base64", '"' + base64.b64encode(body).decode("ascii") + '"'
        return f'{head}{end}, "{field}": {text}{extra}}}\n'.encode()
