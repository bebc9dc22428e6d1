"""Raw output moved by the kernel: spans of complete lines (copy_file_range, splice) equal the bytes path.

A span's end is decided from the tails of windows of ``--max-line-bytes`` (``core.framing.SpanScan``), the
source hands it over with a descriptor of its own, and the output moves it. Everything here compares that
path with the one that reads every byte (``TAILMERGE_SPANS=0``, or a source without spans).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tailmerge.sinks.output as output_module
import tailmerge.sources.spans as source_file
from tailmerge.core import Chunk, Framing, LineFramer, Span, Spans
from tailmerge.core.framing import SpanScan
from tailmerge.sinks import Output
from tailmerge.sinks.formats import raw_pieces
from tailmerge.sources import Source

from .conftest import PY, assert_no_traceback, verify_ok, wait_for

# lines: lengths from empty to longer than the windows below, so that cuts, long tails and partial lines occur
line_lengths = st.lists(st.integers(min_value=0, max_value=300), min_size=0, max_size=60)


def _content(lengths: list[int], seed: int, final_newline: bool) -> bytes:
    rng = random.Random(seed)
    lines = [bytes(rng.choice(b"abcdefgh \r") for _ in range(n)) + b"\n" for n in lengths]
    data = b"".join(lines)
    return data if final_newline or not data else data[:-1]


def _framed(data: bytes, limit: int) -> bytes:
    """What the framer makes of ``data`` read at once: the reference (every byte seen)."""
    framer = LineFramer(limit)
    return b"".join(c.data for c in framer.feed(data) + framer.flush())


def _materialize(lines: list[Chunk | Span]) -> bytes:
    out = []
    for c in lines:
        if isinstance(c, Span):
            out.append(os.pread(c.handle.fd, len(c), c.start))
            c.handle.close()
        else:
            out.append(c.data)
    return b"".join(out)


@settings(max_examples=300)
@given(line_lengths, st.integers(0, 1 << 30), st.integers(2, 120), st.integers(1, 80), st.integers(0, 40))
def test_a_scan_ends_where_the_framer_ends_its_lines(
    lengths: list[int], seed: int, limit: int, tail: int, head: int
) -> None:
    """From any line start, the scan's end is where the framer's complete lines end, or the scan says the
    framer must decide (a line longer than the tail); it never ends inside a line."""
    data = _content(lengths, seed, final_newline=bool(seed & 1))
    start = min(head, len(data))
    start = data.rfind(b"\n", 0, start) + 1  # a line's start, as the framer's offset always is
    scan = SpanScan(start, len(data), limit, tail)
    looked = 0
    while (window := scan.want()) is not None:
        lo, hi = window
        assert start <= lo < hi <= len(data) and hi - lo <= max(1, min(tail, limit))
        looked += hi - lo
        scan.give(data[lo:hi])
    framer = LineFramer(limit, start)
    chunks = framer.feed(data[start:])
    ends = [end for c in chunks for end in c.ends()]
    if scan.end > start:
        assert scan.end in ends, "a span ends where one of the framer's lines ends"
        assert not any(c.added_newline for c in chunks if c.end <= scan.end), "no cut line in a span"
    if not scan.slow:
        assert scan.end == framer.offset, "nothing the framer would emit is left out"


@settings(max_examples=150)
@given(line_lengths, st.integers(0, 1 << 30), st.integers(2, 200), st.integers(1, 64), st.lists(st.integers(1, 400)))
def test_a_growing_file_read_as_spans_equals_it_read_as_bytes(
    lengths: list[int], seed: int, limit: int, tail: int, pieces: list[int]
) -> None:
    """A file appended in random pieces (partial lines, lines longer than the tail or the limit) and read
    after each: spans and bytes together equal what the framer makes of the whole file, cuts included."""
    data = _content(lengths, seed, final_newline=bool(seed & 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.log"
        path.write_bytes(b"")
        source = Source(str(path), framing=Framing(limit, spans=Spans()))
        old = source_file.SPAN_TAIL
        source_file.SPAN_TAIL = tail
        got: list[Chunk | Span] = []
        try:
            at = 0
            for n in [*pieces, len(data)]:
                with path.open("ab") as f:
                    f.write(data[at : at + n])
                at = min(len(data), at + n)
                while step := source.step():
                    got += step
            got += source.finish(complete=True)
        finally:
            source_file.SPAN_TAIL = old
        assert _materialize(got) == _framed(data, limit)


def _lines(n: int, seed: int, long_every: int = 0) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        long = long_every and i % long_every == long_every - 1
        width = rng.randrange(3000, 9000) if long else rng.randrange(1, 200)
        out.append(b"%d " % i + b"x" * width + b"\n")
    return b"".join(out)


def _tailmerge(
    *args: str, spans: bool = True, stdout: int | IO[bytes] = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, TAILMERGE_SPANS="1" if spans else "0")
    return subprocess.run([PY, "-m", "tailmerge", *args], stdout=stdout, stderr=subprocess.PIPE, timeout=60, env=env)


@pytest.mark.parametrize("into", ["file", "pipe"])
@pytest.mark.parametrize("max_line", [None, "1000"])
def test_a_raw_copy_equals_the_bytes_path_byte_for_byte(tmp_path: Path, into: str, max_line: str | None) -> None:
    """One file (so the order is the file's), long lines far from a window's end, a final line without a
    newline, and --max-line-bytes cuts: to a file and through a pipe, the same bytes as without spans."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(20_000, 1, long_every=997) + b"no newline at the end")
    extra = ["--max-line-bytes", max_line] if max_line else []
    outs = []
    for spans in (True, False):
        out = tmp_path / f"out-{spans}.log"
        if into == "file":
            res = _tailmerge("follow", "-v", "--no-follow", *extra, "-o", str(out), "--", str(log), spans=spans)
            data = out.read_bytes()
        else:
            res = _tailmerge("follow", "-v", "--no-follow", *extra, "--", str(log), spans=spans)
            data = res.stdout
        assert res.returncode == 0, res.stderr.decode()
        assert_no_traceback(res.stderr)
        outs.append(data)
        said = b"moved by the kernel (%s)" % (b"copy_file_range" if into == "file" else b"splice")
        assert (said in res.stderr) == spans, res.stderr.decode()
    assert outs[0] == outs[1]
    assert (max_line is None) == (outs[0] == log.read_bytes() + b"\n")


def test_many_files_into_a_file_never_mix(tmp_path: Path) -> None:
    logs = [tmp_path / f"in{i}.log" for i in range(6)]
    for i, p in enumerate(logs):
        p.write_bytes(_lines(30_000, i, long_every=500))
    out = tmp_path / "out.log"
    res = _tailmerge("follow", "--no-follow", "-o", str(out), "--", *map(str, logs))
    assert res.returncode == 0, res.stderr.decode()
    verify_ok(logs, out)
    assert sorted(out.read_bytes().splitlines()) == sorted(b"".join(p.read_bytes() for p in logs).splitlines())


@pytest.mark.parametrize("into", ["file", "pipe"])
def test_a_file_growing_while_it_is_moved_never_yields_a_split_line(tmp_path: Path, engine: str, into: str) -> None:
    """A writer process appends lines in pieces that end mid-line (and some longer than a window's tail)
    while the merger follows: the output is the file, line for line, never a split line. A step of no more
    than the tail is written from the bytes read for it; larger ones are spans."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    script = (
        "import os, random, sys, time\n"
        "rng = random.Random(7)\n"
        "data = b''.join(b'%d ' % i + b'y' * (rng.randrange(1, 300) if i % 211 else 70000) + b'\\n'"
        " for i in range(30000))\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\n"
        "at = 0\n"
        "while at < len(data):\n"
        "    n = rng.randrange(1, 200000)\n"  # often more than a window's tail: moved as spans
        "    os.write(fd, data[at:at + n]); at += n\n"
        "    time.sleep(rng.random() / 500)\n"
    )
    out = tmp_path / "out.log"
    args = [PY, "-m", "tailmerge", "follow", "-v", "--engine", engine, "--idle-exit", "1.5"]
    with open(out, "wb") as sink:
        merger = subprocess.Popen(
            [*args, *(["-o", str(out)] if into == "file" else []), "--", str(log)],
            stdout=subprocess.DEVNULL if into == "file" else subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.3)
        subprocess.run([PY, "-c", script, str(log)], check=True, timeout=60)
        if into == "pipe":
            assert merger.stdout is not None
            shutil.copyfileobj(merger.stdout, sink)
        _, err = merger.communicate(timeout=60)
    assert merger.returncode == 0, err.decode()
    assert_no_traceback(err)
    assert out.read_bytes() == log.read_bytes()
    assert b"moved by the kernel" in err


def test_an_output_opened_for_appending_falls_back_once_and_says_so(tmp_path: Path) -> None:
    """copy_file_range refuses an output opened with O_APPEND (standard output redirected with >>): the
    lines are read and written instead, after what the file held, and -v says which path was taken."""
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    for i, p in enumerate(logs):
        p.write_bytes(_lines(5_000, i))
    out = tmp_path / "out.log"
    out.write_bytes(b"before\n")
    with open(out, "ab") as appending:
        res = _tailmerge("follow", "-v", "--no-follow", "--", *map(str, logs), stdout=appending)
    assert res.returncode == 0, res.stderr.decode()
    err = res.stderr.decode()
    assert err.count("copy_file_range refused (EBADF") == 1, err
    assert "moved by the kernel" not in err
    data = out.read_bytes()
    assert data.startswith(b"before\n")
    assert sorted(data.splitlines()[1:]) == sorted(b"".join(p.read_bytes() for p in logs).splitlines())


def test_an_output_on_another_filesystem_falls_back_or_moves(tmp_path: Path) -> None:
    """Input and output on different filesystems (tmpfs and the disk): the kernel may refuse (EXDEV) or
    take it; either way the output is right and -v names the path taken."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    log = tmp_path / "app.log"
    log.write_bytes(_lines(10_000, 3))
    with tempfile.TemporaryDirectory(dir=shm) as d:
        out = Path(d) / "out.log"
        res = _tailmerge("follow", "-v", "--no-follow", "-o", str(out), "--", str(log))
        assert res.returncode == 0, res.stderr.decode()
        assert out.read_bytes() == log.read_bytes()
    err = res.stderr.decode()
    assert ("copy_file_range refused (EXDEV" in err) != ("moved by the kernel (copy_file_range)" in err), err


def test_a_span_truncated_before_it_is_moved_is_read_again_from_the_copy(tmp_path: Path) -> None:
    """copytruncate between the step that decided a span and its move: the output finds the file short,
    moves nothing of it, and the source takes the lines up again from the copy: nothing lost or doubled."""
    log = tmp_path / "app.log"
    first = _lines(2_000, 5)
    log.write_bytes(first)
    source = Source(str(log), framing=Framing(spans=Spans()))
    out = Output(str(tmp_path / "out.log"))
    try:
        spans = source.step()
        assert spans and all(isinstance(s, Span) for s in spans)
        shutil.copyfile(log, tmp_path / "app.log.1")  # copytruncate: copy, then truncate
        with log.open("r+b") as f:
            f.truncate(0)
        assert out.write(raw_pieces(spans)) == []
        assert out.bytes == 0 and out.dropped == len(first)  # nothing moved: the file no longer holds it
        log.write_bytes(b"after\n")
        assert out.write(raw_pieces(source.step() + source.step() + source.finish(complete=True))) == []
    finally:
        source.close()
        out.close()
    assert (tmp_path / "out.log").read_bytes() == first + b"after\n"


def test_a_span_into_a_full_pipe_goes_on_from_a_line_start(tmp_path: Path) -> None:
    """A span the pipe takes in part goes on with the end of its cut line as bytes, then from a line's start."""
    log = tmp_path / "app.log"
    data = _lines(20_000, 9)
    log.write_bytes(data)
    r, w = os.pipe()
    try:
        out = Output(f"/proc/self/fd/{w}")
        source = Source(str(log), framing=Framing(spans=Spans()))
        spans = source.step()
        rest = out.write(raw_pieces(spans))  # without a wait: what the pipe does not take comes back
        assert rest and 0 < out.moved < len(data)
        assert isinstance(rest[-1], Span) and data[rest[-1].start - 1 : rest[-1].start] == b"\n"
        assert sum(map(len, rest)) + out.bytes == len(data)
        for piece in rest:
            if isinstance(piece, Span):
                piece.handle.close()
        source.close()
        out.close()
    finally:
        os.close(r)
        os.close(w)


def test_no_span_reaches_a_sink_that_needs_bytes(tmp_path: Path) -> None:
    """Labeled output, time order and follow() get bytes: spans are made only when every sink is raw."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(3_000, 2))
    res = _tailmerge("follow", "-v", "--no-follow", "--format", "labeled", "-o", str(tmp_path / "o"), "--", str(log))
    assert res.returncode == 0 and b"moved by the kernel" not in res.stderr, res.stderr.decode()
    import tailmerge

    got = b"".join(line.data for line in tailmerge.follow([str(log)], follow=False))
    assert got == log.read_bytes()


@pytest.mark.parametrize("engine_name", ["asyncio", "threads"])
def test_follow_catch_up_then_live_lines(tmp_path: Path, engine_name: str) -> None:
    """A backlog copied by spans while following, then live lines: all out, in the file's order."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(50_000, 4))
    out = tmp_path / "out.log"
    merger = subprocess.Popen(
        [PY, "-m", "tailmerge", "follow", "--engine", engine_name, "-o", str(out), "--", str(log)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: out.exists() and out.stat().st_size == log.stat().st_size, what="the backlog")
        with log.open("ab") as f:
            f.write(b"live 1\n")
            f.flush()
            f.write(b"live ")
            f.flush()
            time.sleep(0.2)
            f.write(b"2\n")
        wait_for(lambda: out.stat().st_size == log.stat().st_size, what="the live lines")
    finally:
        merger.terminate()
        merger.wait(10)
    assert out.read_bytes() == log.read_bytes()


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3 << 20), max_size=6),
    short=st.lists(st.integers(min_value=1, max_value=1 << 20), max_size=4),
)
def test_a_batch_goes_out_whole_in_writes_of_at_most_a_mebibyte(sizes: list[int], short: list[int]) -> None:
    # a write of 4 MiB or more into ext4 cost 3-4x the system time of the same bytes in smaller writes
    limit = output_module._WRITE_MAX
    buffers = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    calls: list[int] = []
    real_writev = os.writev
    cuts = list(short)  # some writes take less than they were given, as the kernel may

    def writev(fd: int, views: list[memoryview]) -> int:
        asked = sum(len(v) for v in views)
        calls.append(asked)
        if cuts and asked > 1:
            cut = min(cuts.pop(), asked - 1)
            return real_writev(fd, [b"".join(views)[:cut]])
        return real_writev(fd, views)

    with tempfile.TemporaryDirectory() as tmp:
        out = Output(os.path.join(tmp, "out.log"))
        try:
            output_module.os.writev = writev  # type: ignore[attr-defined]
            assert out.write(buffers) == []
        finally:
            output_module.os.writev = real_writev  # type: ignore[attr-defined]
        assert Path(tmp, "out.log").read_bytes() == b"".join(buffers)
    assert all(0 < n <= limit for n in calls), calls
