"""Output formats: how chunks of lines become output bytes (raw, labeled, JSONL), and source labels.

Formatting is pure: chunks in, bytes out.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, get_args

from ..core import Chunk, Span
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
        return [b for c in chunks for b in self._jsonl(c)]

    def header(self) -> bytes:
        """The ``headers`` format's line before a run of lines from this source, as tail prints it."""
        return b"==> %s <==\n" % os.fsencode(self.path)

    def _heads(self, chunk: Chunk, times: Sequence[float | None] | None) -> tuple[bytes, list[bytes] | None]:
        """What starts an object of ``chunk``'s file up to its offset: without a time, and for each line with
        its own time (where ``times`` are given; repr, as %a gives for a float)."""
        inode = b'"inode": %d, ' % chunk.file.ino if chunk.file is not None else b""
        head = b'{"path": ' + self._json_path + b", " + inode
        plain = head + b'"offset": '
        if times is None:
            return plain, None
        timed = head.replace(b"%", b"%%") + b'"time": %a, "offset": '
        return plain, [plain if t is None else timed % t for t in times]

    def _jsonl(self, chunk: Chunk) -> list[bytes]:
        plain, heads = self._heads(chunk, chunk.times)
        if chunk.cut or chunk.record:  # one object: a piece of a line, or a whole record (its lines joined)
            extra = b', "cut": true' if chunk.cut else b""
            return [_jsonl_line(heads[0] if heads else plain, chunk.data, chunk.end, extra)]
        # a piece at a time: its buffers stay small enough for malloc to reuse them from one piece to the
        # next, where a whole chunk's (512 KiB read) were mapped and faulted in anew for each chunk (3x slower)
        data = chunk.data
        size = len(data)
        out: list[bytes] = []
        pos = line = 0
        while pos < size:
            cut = size if size - pos <= _PIECE else data.rfind(b"\n", pos, pos + _PIECE) + 1
            if cut <= pos:  # a line longer than a piece
                cut = data.index(b"\n", pos + _PIECE) + 1
            piece = chunk if cut - pos == size else Chunk(data[pos:cut], chunk.start + cut, False, chunk.file)
            ends = piece.ends()
            part = heads[line : line + len(ends)] if heads is not None else None
            line += len(ends)
            pos = cut
            out.append(_jsonl_run(piece, plain, part, ends))
        return out


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


def jsonl_release(release: Release, formatter: Callable[[int], Formatter]) -> list[bytes]:
    """A time order release in JSONL (``formatter``: of a source key): ``_UNITS`` units at a time, in merged
    order, escaped at once as one JSON string (as ``_jsonl_run`` does a run), and their heads, offsets
    and cut marks put in with one ``%``. (orjson per unit keeps about 4 KiB for each small result, and
    a whole release at once grew each thread's malloc arena by several times the release.)"""
    units: list[bytes] = []
    heads: list[bytes] = []
    ends: list[int] = []
    extras: list[bytes] = []
    for key, segments in release.parts:
        of = formatter(key)
        for seg in segments:
            run, c = seg.run, seg.run.chunk
            more = run.unit_bytes()[seg.start : seg.stop]
            units += more
            heads += of._heads(c, run.own[seg.start : seg.stop])[1] or ()
            ends += map(operator.add, run.ends[seg.start : seg.stop], itertools.repeat(c.end - len(c.data)))
            extras += itertools.repeat(b', "cut": true' if c.cut else b"", len(more))
    rows = list(zip(heads, ends, extras, strict=True))
    if release.order is not None:
        units = list(map(units.__getitem__, release.order))
        rows = list(map(rows.__getitem__, release.order))
    return [_jsonl_units(units[i : i + _UNITS], rows[i : i + _UNITS]) for i in range(0, len(units), _UNITS)]


def _jsonl_units(units: list[bytes], rows: list[tuple[bytes, int, bytes]]) -> bytes:
    """The objects of ``units`` (each without its last newline), given each one's head, offset and extra."""
    joined = _SEP.join(units)
    literal = _escaped(joined) if joined.count(_SEP) == len(units) - 1 else None  # no DEL of their own
    if literal is None:  # a unit at a time: base64 where it is not UTF-8
        objects = (b'%s%d, "%s": %s%s}\n' % (h, e, *_field(u), x) for u, (h, e, x) in zip(units, rows, strict=True))
        return b"".join(objects)
    body = literal[1:-1]
    start = b'%s%d, "line": "'
    template = b"".join((start, body.replace(_SEP, b'"%s}\n' + start), b'"%s}\n'))
    return template % tuple(itertools.chain.from_iterable(rows))


_UNITS = 1024  # a time order release is made in JSONL this many units at a time
_PIECE = 1 << 16  # JSONL is made this many bytes of lines at a time (or one longer line)
_SEP = b"\x7f"
"""Stands for each newline while a run of lines is escaped at once: JSON leaves DEL as it is."""


def _jsonl_run(chunk: Chunk, plain: bytes, heads: list[bytes] | None, ends: list[int]) -> bytes:
    """The objects of a run of lines: escaped at once as one JSON string with _SEP for newlines.

    Each _SEP becomes the end of one object and the start of the next, and the offsets (and heads) go in
    with one ``%``: the work per line is all in C. A run with a DEL or bytes that are not UTF-8 is made a
    line at a time.
    """
    literal = None if _SEP in chunk.data else _escaped(chunk.data.replace(b"\n", _SEP))
    if literal is None:
        pairs = zip(heads or itertools.repeat(plain), chunk.line_ends(), strict=False)
        return b"".join(_jsonl_line(h, line, end) for h, (line, end) in pairs)
    body = literal[:-2]  # without the last _SEP and the closing quote
    args: Sequence[object]
    if heads is None:
        start = plain.replace(b"%", b"%%") + b'%d, "line": '
        args = ends
    else:
        start = b'%s%d, "line": '
        args = list(itertools.chain.from_iterable(zip(heads, ends, strict=True)))
    template = b"".join((start, body.replace(_SEP, b'"}\n' + start + b'"'), b'"}\n'))
    return template % tuple(args)


def _escaped(joined: bytes) -> bytes | None:
    """``joined`` (lines with _SEP for their newlines) as one JSON string literal, its ``%`` doubled for a
    template; None when it is not UTF-8."""
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        return None
    import orjson  # imported for JSONL only

    literal = orjson.dumps(text)
    return literal.replace(b"%", b"%%") if b"%" in literal else literal


def _jsonl_line(head: bytes, line: bytes, end: int, extra: bytes = b"") -> bytes:
    """One object: a line (or a record, or a piece), its newline left out; base64 when it is not UTF-8."""
    field, text = _field(line[:-1])
    return b'%s%d, "%s": %s%s}\n' % (head, end, field, text, extra)


def _field(body: bytes) -> tuple[bytes, bytes]:
    """The field and the JSON string of a line's text (without its newline): base64 where not UTF-8."""
    import orjson

    try:
        return b"line", orjson.dumps(body.decode("utf-8"))
    except UnicodeDecodeError:
        import base64

        return b"line_base64", b'"' + base64.b64encode(body) + b'"'
