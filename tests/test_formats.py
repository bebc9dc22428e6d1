"""The labeled and JSONL formats, made a chunk at a time, equal a plain per-line reference."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tailmerge
from tailmerge.core import Chunk, Identity
from tailmerge.core.release import Release
from tailmerge.sinks import Formatter, file_sink, jsonl
from tailmerge.sinks.formats import _COLOURS
from tailmerge.sinks.output import Buffer

from .conftest import PY, run_cli

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
    st.sampled_from([1, 5, 30, jsonl.PIECE]),
    st.sampled_from([0, jsonl.FILLED]),
)
def test_jsonl_is_one_object_per_line(batch: list[Chunk], path: str, piece: int, filled: int) -> None:
    formatter = Formatter("jsonl", path, "a.log")
    # small pieces: a chunk is made in many; filled 0: every run's offsets are filled in (numpy), however short
    defaults = jsonl.PIECE, jsonl.FILLED
    jsonl.PIECE, jsonl.FILLED = piece, filled
    try:
        out = b"".join(formatter.format(batch))
    finally:
        jsonl.PIECE, jsonl.FILLED = defaults
    assert out == b"".join(jsonl_reference(c, path) for c in batch)
    for obj in map(json.loads, out.splitlines()):
        assert obj["path"] == path


def test_a_large_chunk_is_made_in_pieces_each_on_its_own_path() -> None:
    count = 3 * jsonl.PIECE // 20
    lines = [b'line %d 100%% "done"\n' % i for i in range(count)]
    lines[10] = b"not UTF-8 \xff\n"  # its piece goes a line at a time, the others stay fast
    lines[count // 2] = b"x" * (jsonl.PIECE + 10) + b"\n"  # longer than a piece
    data = b"".join(lines)
    times = tuple(float(i) if i % 3 else None for i in range(len(lines)))
    for chunk in (Chunk(data, 1000 + len(data), file=Identity(1, 7)), Chunk(data, 1000 + len(data), times=times)):
        out = Formatter("jsonl", "big.log", "big.log").format([chunk])
        assert len(out) > 2
        assert b"".join(out) == jsonl_reference(chunk, "big.log")


@pytest.mark.parametrize("start", [0, 7, 99_990, 10**12 - 50])
@pytest.mark.parametrize("filled", [0, jsonl.FILLED])
@pytest.mark.parametrize("numpy", [True, False])
def test_offsets_of_every_length_in_one_run(
    monkeypatch: pytest.MonkeyPatch, start: int, filled: int, numpy: bool
) -> None:
    monkeypatch.setattr(jsonl, "FILLED", filled)
    if not numpy:  # installed without the ``fast`` extra: every run takes the template, to the same bytes
        monkeypatch.setattr(jsonl, "_numpy_installed", lambda: False)
    # offsets from 1 digit to 5 (or across 10**12) in one run: each object's offset is as long as it is
    lines = [b"%s\n" % (b"y" * (i % 7)) for i in range(3000)]
    lines[5] = b'tab\t "quoted" \\ \x01 \x1f \xc3\xa9 \xe2\x80\xa8 %d\n'
    data = b"".join(lines)
    chunk = Chunk(data, start + len(data), file=Identity(1, 3))
    out = b"".join(Formatter("jsonl", "n.log", "n.log").format([chunk]))
    assert out == jsonl_reference(chunk, "n.log")
    offsets = [json.loads(row)["offset"] for row in out.splitlines()]
    assert offsets[-1] == start + len(data) and offsets[0] == start + 1


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

    monkeypatch.setattr(jsonl, "UNITS", 3)  # JSONL: a release in many pieces
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


def test_the_command_line_copies_tricky_lines_into_exact_jsonl_that_verify_reads(tmp_path: Path) -> None:
    # a.log: JSON escapes, control characters, UTF-8 beyond ASCII (U+2028 too), "%", a lone \r, an empty
    # line, among many plain lines (made many at once); b.log: DEL and bytes that are not UTF-8 (a line at a
    # time, base64), and a last line without its newline
    tricky = [b'tab\t "quoted" back\\slash', b"\x00\x01\x1f\x1b[0m ctl", "café \u2028 😀".encode(), b"100% %d %s"]
    tricky += [b"cr\r in it", b""]
    a_lines = [b"plain line %d of a.log" % i for i in range(20_000)]
    for i, text in enumerate(tricky):
        a_lines[i * 3001] = text
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"".join(t + b"\n" for t in a_lines))
    b.write_bytes(b"del \x7f in it\n\xff\xfe not UTF-8\nok\nno newline")
    out = tmp_path / "out.jsonl"
    with out.open("wb") as sink:
        res = subprocess.run([PY, "-m", "tailmerge", "follow", "--no-follow", "--format", "jsonl", str(a), str(b)],
                             stdout=sink, stderr=subprocess.PIPE, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = out.read_bytes().splitlines(keepends=True)
    for path in (a, b):
        st = path.stat()
        data = path.read_bytes()
        flushed = not data.endswith(b"\n")
        whole = Chunk(data[: data.rfind(b"\n") + 1], data.rfind(b"\n") + 1, file=Identity(st.st_dev, st.st_ino))
        expected = jsonl_reference(whole, str(path))
        if flushed:
            expected += jsonl_reference(Chunk(b"no newline\n", len(data), True, whole.file), str(path))
        got = b"".join(r for r in rows if json.loads(r)["path"] == str(path))
        assert got == expected
    assert run_cli("verify", str(a), str(b), "--merged", str(out), "--format", "jsonl").returncode == 0
    out.write_bytes(b"".join(rows[:100] + rows[101:]))  # a line left out is found
    assert run_cli("verify", str(a), str(b), "--merged", str(out), "--format", "jsonl").returncode != 0
