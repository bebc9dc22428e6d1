"""The labeled and JSONL formats, made a chunk at a time, equal a plain per-line reference."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tailmerge
from tailmerge.core import Chunk, Identity
from tailmerge.core.release import Release
from tailmerge.sinks import Formatter, file_sink, formats
from tailmerge.sinks.formats import _COLOURS
from tailmerge.sinks.output import Buffer

# bytes that JSON escapes, the stand-in for newlines (DEL), "%" (formatting), a lone \r (splitlines),
# UTF-8 beyond ASCII, and bytes that are not UTF-8
_pieces = [b"a", b"%", b"%d", b"\x7f", b"\r", b'"', b"\\", b"\x00", b"\x1f", b"\t", b" ", "é€😀\u2028".encode()]
_pieces += [b"\xff", b"\xc3", b"xyz" * 5]
line = st.lists(st.sampled_from(_pieces), max_size=8).map(b"".join)
lines = st.lists(line, min_size=1, max_size=12)
time = st.none() | st.floats(0, 4e9, allow_nan=False) | st.sampled_from([0.0, 1.5, 1e22, 1700000000.123456])


@st.composite
def chunks(draw: st.DrawFn) -> Chunk:
    parts = draw(lines)
    kind = draw(st.sampled_from(["run", "record", "cut", "flushed"]))
    if kind in ("cut", "flushed"):
        parts = parts[:1]
    data = b"".join(p + b"\n" for p in parts)
    start = draw(st.integers(0, 1 << 40))
    added = kind in ("cut", "flushed")
    file = draw(st.none() | st.builds(Identity, st.integers(0, 1 << 20), st.integers(0, 1 << 40)))
    units = 1 if kind != "run" else len(parts)
    times = draw(st.none() | st.lists(time, min_size=units, max_size=units).map(tuple))
    end = start + len(data) - added
    return Chunk(data, end, added, file, kind == "cut", kind == "record", times)


def labeled_reference(chunk: Chunk, label: str, colour: int | None) -> bytes:
    name = label.encode()
    if colour is not None:
        name = b"\x1b[%dm%s\x1b[0m" % (_COLOURS[colour % len(_COLOURS)], name)
    out = b""
    for i, text in enumerate(chunk.data.split(b"\n")[:-1]):
        out += name + (b" + " if chunk.record and i else b" | ") + text + b"\n"
    return out


def jsonl_reference(chunk: Chunk, path: str) -> bytes:
    if chunk.record or chunk.added_newline:
        units = [chunk.data]
    else:
        units = [p + b"\n" for p in chunk.data.split(b"\n")[:-1]]
    out = b""
    end = chunk.start
    for i, unit in enumerate(units):
        end += len(unit)
        obj = f'{{"path": {json.dumps(path)}, '
        if chunk.file is not None:
            obj += f'"inode": {chunk.file.ino}, '
        if chunk.times is not None and chunk.times[i] is not None:
            obj += f'"time": {chunk.times[i]!r}, '
        obj += f'"offset": {end - chunk.added_newline}, '
        try:
            obj += '"line": ' + json.dumps(unit[:-1].decode("utf-8"), ensure_ascii=False)
        except UnicodeDecodeError:
            obj += '"line_base64": "' + base64.b64encode(unit[:-1]).decode() + '"'
        if chunk.cut:
            obj += ', "cut": true'
        out += obj.encode() + b"}\n"
    return out


@settings(max_examples=400)
@given(
    st.lists(chunks(), min_size=1, max_size=3),
    st.sampled_from(["a.log", "x%d é", "50%"]),
    st.none() | st.integers(0, 30),
)
def test_labeled_is_each_line_after_its_label(batch: list[Chunk], label: str, colour: int | None) -> None:
    formatter = Formatter("labeled", "/logs/a.log", label, colour=colour)
    assert b"".join(formatter.format(batch)) == b"".join(labeled_reference(c, label, colour) for c in batch)


@settings(max_examples=400)
@given(
    st.lists(chunks(), min_size=1, max_size=3),
    st.sampled_from(["a.log", '/logs/50%d "q" é.log', "\udcff.log"]),
    st.sampled_from([1, 5, 30, formats._PIECE]),
)
def test_jsonl_is_one_object_per_line(batch: list[Chunk], path: str, piece: int) -> None:
    formatter = Formatter("jsonl", path, "a.log")
    default, formats._PIECE = formats._PIECE, piece  # small pieces: a chunk is made in many
    try:
        out = b"".join(formatter.format(batch))
    finally:
        formats._PIECE = default
    assert out == b"".join(jsonl_reference(c, path) for c in batch)
    for obj in map(json.loads, out.splitlines()):
        assert obj["path"] == path


def test_a_large_chunk_is_made_in_pieces_each_on_its_own_path() -> None:
    lines = [b'line %d 100%% "done"\n' % i for i in range(5000)]
    lines[10] = b"not UTF-8 \xff\n"  # its piece goes a line at a time, the others stay fast
    lines[4000] = b"x" * 70_000 + b"\n"  # longer than a piece
    data = b"".join(lines)
    times = tuple(float(i) if i % 3 else None for i in range(len(lines)))
    for chunk in (Chunk(data, 1000 + len(data), file=Identity(1, 7)), Chunk(data, 1000 + len(data), times=times)):
        out = Formatter("jsonl", "big.log", "big.log").format([chunk])
        assert len(out) > 2
        assert b"".join(out) == jsonl_reference(chunk, "big.log")


@pytest.mark.parametrize(
    ("fmt", "colour", "odd"),
    [("labeled", False, b"\xff"), ("labeled", True, b"\xff"), ("jsonl", False, b"\xff"), ("jsonl", False, b"\xc3\xa9")],
)
def test_a_time_order_release_is_formatted_as_each_of_its_runs_would_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, colour: bool, odd: bytes
) -> None:
    # lines of two sources interleaved by time, records with continuation lines, a cut line, an untimed line,
    # "%", and ``odd`` bytes: not UTF-8 (JSONL: base64, a unit at a time) or UTF-8 (JSONL: a release at once)
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(
        b"".join(b'2026-11-25T21:00:%02d.000Z a %d "%%"\n' % (2 * i, i) for i in range(20)) + b"x" * 99 + b"\n"
    )
    record = b"2026-11-25T21:00:%02d.500Z b %d Exception: boom%s\n    at one(B.java:1)\n    at two(B.java:2)\n"
    b.write_bytes(
        b"untimed\n" + b"".join(record % (2 * i + 1, i, odd) for i in range(20)) + b"2026-11-25T21:01Z %s\n" % odd
    )

    def merged(out: Path) -> bytes:
        tailmerge.merge([a, b], out, format=fmt, follow=False, order="time", multiline="java",
                        max_line_bytes=60, colour=colour, engine="threads")  # fmt: skip
        return out.read_bytes()

    def per_run(release: Release, formatter: Callable[[int], Formatter]) -> list[Buffer]:
        return [b for key, chunks in release.runs() for b in formatter(key).format(chunks)]

    monkeypatch.setattr(formats, "_UNITS", 3)  # JSONL: a release in many pieces
    joined = merged(tmp_path / "joined.out")
    if fmt == "labeled":
        monkeypatch.setattr(file_sink, "labeled_release", lambda r, f: b"".join(per_run(r, f)))
    else:
        monkeypatch.setattr(file_sink, "jsonl_release", per_run)
    assert joined == merged(tmp_path / "per-run.out")
    if fmt == "labeled":
        assert joined.count(b"\n") == 20 + 2 + 1 + 60 + 1 and joined.count(b" +     at ") == 40
    else:
        # a cut piece joins "a 19" as a continuation
        assert joined.count(b"\n") == 21 + 22 and joined.count(b"line_base64") == (21 if odd == b"\xff" else 0)
