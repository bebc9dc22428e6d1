"""JSONL: the objects of lines, made many lines at a time.

Each object is ``{"path": ..., "inode": ..., "offset": ..., "line": ...}`` (a ``"time"`` before the offset
where lines are timed, ``"line_base64"`` where a line is not UTF-8, ``"cut": true`` after a piece of a line).
A run of lines is escaped at once, as one JSON string with DEL (``_SEP``, which JSON leaves as it is) for
its newlines: each DEL becomes the end of one object and the start of the next. A run whose lines share one
head (untimed: copying, following) has its offsets written into place by numpy where it is installed (the
``fast`` extra), with no Python object per line; a run with a head per line (timed), a time order release,
or any run without numpy, puts heads and offsets in with one ``%``.
A run with a DEL of its own, or bytes that are not UTF-8, is made a line at a time.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..core import Chunk
from .output import Buffer

if TYPE_CHECKING:
    from ..core.release import Release
    from .formats import Formatter

__all__ = ["chunk_objects", "jsonl_release"]

PIECE = 1 << 18
"""A chunk's lines are made this many bytes at a time (or one longer line): small enough that its
intermediate buffers are reused by malloc from one piece to the next, large enough that numpy's few calls
per piece cost little."""
FILLED = 1 << 14
"""A run of lines this long or longer that share one head has its offsets filled in by numpy; a shorter one
(a few lines, as when following) is quicker with one ``%``, and imports no numpy."""
UNITS = 1024  # a time order release is made in JSONL this many units at a time
_SEP = b"\x7f"
"""Stands for each newline while a run of lines is escaped at once: JSON leaves DEL as it is."""
_LINE = b', "line": "'
_END = b'"}\n'


def chunk_objects(chunk: Chunk, plain: bytes, heads: list[bytes] | None) -> list[Buffer]:
    """The objects of ``chunk``'s lines; ``plain``: the head of an object up to its offset (``..."offset": ``),
    ``heads``: each line's own head where lines are timed."""
    if chunk.cut or chunk.record or chunk.added_newline:  # one object: a piece, a record, a flushed last line
        extra = b', "cut": true' if chunk.cut else b""
        return [_object(heads[0] if heads else plain, chunk.data, chunk.end, extra)]
    data = chunk.data
    size = len(data)
    out: list[Buffer] = []
    pos = line = 0
    while pos < size:
        cut = size if size - pos <= PIECE else data.rfind(b"\n", pos, pos + PIECE) + 1
        if cut <= pos:  # a line longer than a piece
            cut = data.index(b"\n", pos + PIECE) + 1
        piece = data if cut - pos == size else data[pos:cut]
        start = chunk.start + pos
        pos = cut
        if heads is None and len(piece) >= FILLED and _numpy_installed():
            out += _filled(plain, piece, start) or [_one_by_one(itertools.repeat(plain), piece, start)]
            continue
        ends = Chunk(piece, start + len(piece)).ends()
        part = heads[line : line + len(ends)] if heads is not None else [plain] * len(ends)
        line += len(ends)
        out.append(_templated(part, piece, ends) or _one_by_one(part, piece, start))
    return out


@functools.cache
def _numpy_installed() -> bool:
    """Whether numpy is there (``tailmerge[fast]``); without it every run is made with one ``%`` (the same
    bytes, 1.4-1.8x slower for long runs)."""
    import importlib.util

    return importlib.util.find_spec("numpy") is not None


def _filled(head: bytes, data: bytes, start: int) -> list[Buffer] | None:
    """The objects of a run of lines that share one head, ``data`` from source offset ``start``: escaped at
    once, each offset written into its place (numpy finds the newlines, orjson writes the numbers). None
    when the run holds a DEL or is not UTF-8."""
    literal = _lines_literal(data)
    if literal is None:
        return None
    import numpy as np  # imported for JSONL only
    import orjson

    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    ends = newlines + (start + 1)
    first, last = b"%d" % ends[0], b"%d" % ends[-1]
    if len(first) < len(last):  # the offsets of a run's objects must be of one length: split where they grow
        cut = int(newlines[int(np.searchsorted(ends, 10 ** (len(last) - 1))) - 1]) + 1
        return [*(_filled(head, data[:cut], start) or ()), *(_filled(head, data[cut:], start + cut) or ())]
    if len(literal) == len(data) + 2:  # nothing escaped: each DEL where its newline was
        seps = newlines + 1
    else:
        seps = np.flatnonzero(np.frombuffer(literal, np.uint8) == _SEP[0])
    # the literal is '"' + line + DEL + line + DEL ... + DEL + '"'. Each DEL becomes the end of an object and
    # the head of the next: its offset the digits all offsets of the run start with, then zeros until filled
    same = next((i for i, (a, b) in enumerate(zip(first, last, strict=True)) if a != b), len(last))
    digits = len(last)
    opening = head + last[:same] + b"0" * (digits - same) + _LINE
    out = bytearray(literal).replace(_SEP, _END + opening)
    # the first object's head, then ``out`` without the last DEL's head and the literal's closing quote
    buffers: list[Buffer] = [head + first + _LINE[:-1], memoryview(out)[: -len(opening) - 1]]
    # line i's text starts at seps[i - 1] + 1 in the literal, and in ``out`` after i DELs made an end and a
    # head each (``each`` bytes longer); the digits of its offset that differ are before its ``_LINE``
    each = len(_END) + len(opening) - 1
    n = len(ends)
    at = seps[:-1] + np.arange(each, n * each, each)
    at += 1 - len(_LINE) - digits
    numbers = np.frombuffer(orjson.dumps(ends, option=orjson.OPT_SERIALIZE_NUMPY), np.uint8)
    table = numbers[1:].reshape(n, digits + 1)  # "[e0,e1,...]": each offset and the comma after it
    view = np.frombuffer(out, np.uint8)
    for k in range(same, digits):
        view[at + k] = table[1:, k]
    return buffers


def _templated(heads: Sequence[bytes], data: bytes, ends: list[int]) -> bytes | None:
    """The objects of a run of lines, each with its own head: escaped at once, the heads and offsets put in
    with one ``%``. None when the run holds a DEL or is not UTF-8."""
    literal = _lines_literal(data)
    if literal is None:
        return None
    literal = literal.replace(b"%", b"%%") if b"%" in literal else literal
    start = b'%s%d, "line": '
    template = b"".join((start, literal[:-2].replace(_SEP, _END + start + b'"'), _END))
    return template % tuple(itertools.chain.from_iterable(zip(heads, ends, strict=True)))


def _one_by_one(heads: Iterable[bytes], data: bytes, start: int) -> bytes:
    """A run's objects a line at a time (base64 where a line is not UTF-8)."""
    pairs = zip(heads, Chunk(data, start + len(data)).line_ends(), strict=False)
    return b"".join(_object(h, line, end) for h, (line, end) in pairs)


def jsonl_release(release: Release, formatter: Callable[[int], Formatter]) -> list[bytes]:
    """A time order release in JSONL (``formatter``: of a source key): ``UNITS`` units at a time, in merged
    order, escaped at once as one JSON string (as a run is), and their heads, offsets and cut marks put in
    with one ``%``. (orjson per unit keeps about 4 KiB for each small result, and a whole release at once
    grew each thread's malloc arena by several times the release.)"""
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
            heads += of.heads(c, run.own[seg.start : seg.stop])[1] or ()
            ends += map(operator.add, run.ends[seg.start : seg.stop], itertools.repeat(c.end - len(c.data)))
            extras += itertools.repeat(b', "cut": true' if c.cut else b"", len(more))
    rows = list(zip(heads, ends, extras, strict=True))
    if release.order is not None:
        units = list(map(units.__getitem__, release.order))
        rows = list(map(rows.__getitem__, release.order))
    return [_units(units[i : i + UNITS], rows[i : i + UNITS]) for i in range(0, len(units), UNITS)]


def _units(units: list[bytes], rows: list[tuple[bytes, int, bytes]]) -> bytes:
    """The objects of ``units`` (each without its last newline), given each one's head, offset and extra."""
    joined = _SEP.join(units)
    literal = _escaped(joined) if joined.count(_SEP) == len(units) - 1 else None  # no DEL of their own
    if literal is None:  # a unit at a time: base64 where it is not UTF-8
        objects = (b'%s%d, "%s": %s%s}\n' % (h, e, *_field(u), x) for u, (h, e, x) in zip(units, rows, strict=True))
        return b"".join(objects)
    body = literal[1:-1]
    body = body.replace(b"%", b"%%") if b"%" in body else body
    start = b'%s%d, "line": "'
    template = b"".join((start, body.replace(_SEP, b'"%s}\n' + start), b'"%s}\n'))
    return template % tuple(itertools.chain.from_iterable(rows))


def _lines_literal(data: bytes) -> bytes | None:
    """Newline-terminated lines as one JSON string literal with _SEP for each newline; None when they
    hold a DEL of their own or are not UTF-8."""
    return None if _SEP in data else _escaped(data.replace(b"\n", _SEP))


def _escaped(joined: bytes) -> bytes | None:
    """``joined`` as one JSON string literal; None when it is not UTF-8."""
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        return None
    import orjson  # imported for JSONL only

    return orjson.dumps(text)


def _object(head: bytes, line: bytes, end: int, extra: bytes = b"") -> bytes:
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
