"""The sans-I/O framer: any chunking of any byte stream gives the same lines and offsets."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tailmerge import Chunk, LineFramer
from tailmerge.core import split_lines


def frame(chunks: list[bytes], max_line: int = 1 << 20, final: bool = True) -> list[tuple[bytes, int]]:
    framer = LineFramer(max_line)
    out: list[Chunk] = []
    for c in chunks:
        out.extend(framer.feed(c))
    if final:
        out.extend(framer.flush())
    return [pair for chunk in out for pair in chunk.line_ends()]


def expected(data: bytes, max_line: int) -> list[tuple[bytes, int]]:
    """A plain model: split on newlines, cut long lines into max_line-byte pieces, final line gets one."""
    result = []
    offset = 0
    for part in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        is_last_unterminated = offset + len(part) == len(data)
        while len(part) + 1 > max_line:
            piece = part[: max_line - 1]
            offset += len(piece)
            result.append((piece + b"\n", offset))
            part = part[max_line - 1 :]
        if not part and is_last_unterminated:
            break
        offset += len(part) + (0 if is_last_unterminated else 1)
        result.append((part + b"\n", offset))
    return result


def chunkings(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


pieces = [b"a", b"bc", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"long-ish text"]
stream = st.lists(st.sampled_from(pieces), max_size=60).map(b"".join)


@settings(max_examples=300)
@given(stream, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20), st.integers(2, 40))
def test_any_chunking_gives_the_same_lines_and_offsets(data: bytes, cuts: list[int], max_line: int) -> None:
    whole = frame([data], max_line)
    assert whole == expected(data, max_line)
    assert frame(chunkings(data, cuts), max_line) == whole
    assert frame([bytes([b]) for b in data], max_line) == whole


@given(stream, st.integers(2, 40))
def test_no_line_is_emitted_before_its_newline(data: bytes, max_line: int) -> None:
    lines = frame([data], max_line, final=False)
    assert all(len(line) <= max_line and line.endswith(b"\n") for line, _ in lines)
    consumed = lines[-1][1] if lines else 0
    tail = data[consumed:]
    assert b"\n" not in tail and len(tail) < max_line  # only a short unterminated tail is held


def test_held_partial_waits_for_its_newline_across_feeds() -> None:
    framer = LineFramer()
    assert framer.feed(b"hello wo") == []
    assert framer.pending == 8 and framer.offset == 0
    [chunk] = framer.feed(b"rld\nnext")
    assert chunk.data == b"hello world\n" and chunk.end == 12
    assert framer.offset == 12 and framer.pending == 4


def test_runs_of_lines_come_out_as_one_chunk() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1000))
    [chunk] = LineFramer().feed(data)
    assert chunk.data is data  # no copy, no per-line work
    assert len(split_lines(chunk.data)) == 1000


def test_a_huge_line_is_cut_and_memory_stays_bounded() -> None:
    framer = LineFramer(max_line_bytes=1000)
    pieces: list[Chunk] = []
    for _ in range(100):
        pieces += framer.feed(b"x" * 777)
        assert framer.pending < 1000
    assert all(len(p.data) == 1000 and p.added_newline for p in pieces)
    assert framer.oversized == len(pieces) == 77700 // 999
