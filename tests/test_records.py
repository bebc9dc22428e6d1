"""Multiline records (--multiline, --multiline-start): a traceback or a stack trace comes out whole."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tailmerge
from tailmerge.core import Chunk, RecordFramer, record_starts
from tailmerge.options import Engine

from .conftest import file_lines, run_cli, wait_for
from .conftest import tailmerge as start_tailmerge

PYTHON_RECORD = [
    b"2026-11-29 01:00:01 ERROR request failed\n",
    b"Traceback (most recent call last):\n",
    b'  File "app.py", line 10, in handle\n',
    b"    parse(body)\n",
    b"ValueError: bad body\n",
    b"\n",
    b"During handling of the above exception, another exception occurred:\n",
    b"\n",
    b"Traceback (most recent call last):\n",
    b'  File "app.py", line 12, in handle\n',
    b"KeyError: 'id'\n",
]
JAVA_RECORD = [
    b'Exception in thread "main" java.lang.IllegalStateException: boom\n',
    b"\tat com.example.App.run(App.java:10)\n",
    b"\tat com.example.App.main(App.java:5)\n",
    b"Caused by: java.io.IOException: disk\n",
    b"\tat com.example.Disk.read(Disk.java:42)\n",
    b"\t... 2 more\n",
]


def frame(starts: str | None, data: bytes, *, preset: str | None = None, max_record: int = 1 << 20) -> list[Chunk]:
    framer = RecordFramer(record_starts(preset, starts)(), 1024, max_record_bytes=max_record)
    return framer.feed(data) + framer.flush()


def test_the_python_preset_keeps_a_chained_traceback_with_its_log_line() -> None:
    data = b"2026-11-29 01:00:00 INFO start\n" + b"".join(PYTHON_RECORD) + b"2026-11-29 01:00:02 INFO after\n"
    records = [c.data for c in frame(None, data, preset="python")]
    assert records == [
        b"2026-11-29 01:00:00 INFO start\n",
        b"".join(PYTHON_RECORD),
        b"2026-11-29 01:00:02 INFO after\n",
    ]


def test_the_python_preset_takes_a_traceback_begun_after_a_log_prefix() -> None:
    # some loggers print the traceback's first line after their prefix
    data = (
        b"2026-11-29 01:00:00 INFO start\n"
        b"2026-11-29 01:00:01 ERROR Traceback (most recent call last):\n"
        b'  File "app.py", line 10, in handle\n'
        b"ValueError: bad body\n"
        b"2026-11-29 01:00:02 INFO after\n"
    )
    records = [c.data for c in frame(None, data, preset="python")]
    assert records == [data[:31], data[31:-31], data[-31:]]


def test_the_java_and_indented_presets_and_a_start_regex() -> None:
    data = b"".join(JAVA_RECORD) + b"next line\n"
    assert [c.data for c in frame(None, data, preset="java")] == [b"".join(JAVA_RECORD), b"next line\n"]
    assert [c.data for c in frame(None, b"a\n  b\n\tc\nd\n", preset="indented")] == [b"a\n  b\n\tc\n", b"d\n"]
    data = b"[1] x\ny\n[2] z\n"
    assert [c.data for c in frame(r"\[\d+\]", data)] == [b"[1] x\ny\n", b"[2] z\n"]
    stamped = b"2026-11-29T01:00:00Z a\nmore\nNov 29 01:00:01 host b\n1764378001 c\n[29/Nov/2026:01:00:02 +0000] d\n"
    assert len(frame(None, stamped, preset="timestamp")) == 4


def test_a_record_over_max_record_bytes_is_emitted_cut() -> None:
    chunks = frame(None, b"start\n" + b"  more\n" * 10 + b"next\n", preset="indented", max_record=30)
    assert b"".join(c.data for c in chunks) == b"start\n" + b"  more\n" * 10 + b"next\n"
    assert chunks[0].cut and len(chunks[0].data) >= 30 and not chunks[-1].cut


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"start x\n", b"  cont\n", b"\tcont2\n", b"other\n"]), max_size=30),
    cuts=st.lists(st.integers(0, 300), max_size=6),
)
def test_records_cover_the_input_exactly_with_offsets_just_past_each(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(lines)
    framer = RecordFramer(record_starts("indented")(), 1024)
    chunks: list[Chunk] = []
    last = 0
    for cut in [*sorted(cuts), len(data)]:
        chunks += framer.feed(data[last:cut])
        last = max(last, cut)
    chunks += framer.flush()
    assert b"".join(c.data for c in chunks) == data
    assert [c.end for c in chunks] == [sum(len(c.data) for c in chunks[: i + 1]) for i in range(len(chunks))]
    for c in chunks:  # each record starts at a line that starts one, and holds none after its first
        _, *rest = c.data.splitlines(keepends=True)
        assert all(line[:1] in (b" ", b"\t") for line in rest)


WRITER = textwrap.dedent(
    """
    import sys, time
    path, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    record = {records}[kind]
    with open(path, "ab", buffering=0) as f:
        for n in range(count):
            for i, line in enumerate(record):
                f.write(line.replace(b"ERROR", b"ERROR %d" % n) if i == 0 else line)
                time.sleep(0.01)  # one line at a time, as a logger writes a traceback
    """
).format(records=repr({"python": PYTHON_RECORD, "java": JAVA_RECORD}))


def test_records_from_live_writers_come_out_whole_on_every_engine(tmp_path: Path, engine: Engine) -> None:
    py, java, busy = tmp_path / "py.log", tmp_path / "java.log", tmp_path / "busy.log"
    for p in (py, java, busy):
        p.touch()
    out = tmp_path / "out.jsonl"
    proc = start_tailmerge("follow", str(py), str(java), str(busy), "-o", str(out), "--format", "jsonl",
                           "--multiline", "python", "--engine", engine)  # fmt: skip
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(py), "python", "5"]),
        subprocess.Popen([sys.executable, "-m", "tailmerge._writer", str(busy), "--rate", "500", "--count", "400"]),
    ]
    for w in writers:
        assert w.wait(timeout=30) == 0
    wait_for(lambda: len(file_lines(out)) >= 5 + 400, what="every record")
    proc.terminate()
    proc.communicate(timeout=10)
    objects = [json.loads(line) for line in file_lines(out)]
    records = [o["line"] for o in objects if o["path"].endswith("py.log")]
    assert len(records) == 5
    for n, text in enumerate(records):
        expected = b"".join(PYTHON_RECORD).replace(b"ERROR", b"ERROR %d" % n).decode()
        assert text + "\n" == expected  # whole: not cut by the busy file's lines, nor by the pauses


def test_java_stack_traces_through_the_api_and_labeled_output(tmp_path: Path) -> None:
    java = tmp_path / "java.log"
    subprocess.run([sys.executable, "-c", WRITER, str(java), "java", "3"], check=True)
    lines = list(tailmerge.follow([java], multiline="java", follow=False))
    assert [line.data for line in lines] == [b"".join(JAVA_RECORD)] * 3
    res = run_cli("follow", str(java), "--multiline", "java", "--no-follow", "--format", "labeled")
    out = res.stdout.splitlines()
    assert out[0].startswith(b"java.log | Exception") and all(o.startswith(b"java.log + ") for o in out[1:6])


def test_a_held_record_is_released_after_the_timeout(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes(b"start\n  more\n")
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(app), "-o", str(out), "--multiline", "indented", "--multiline-timeout", "0.3")
    wait_for(lambda: out.exists() and out.read_bytes() == b"start\n  more\n", what="the record after the timeout")
    proc.terminate()
    proc.communicate(timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--multiline-start", "("], b"not a regular expression"),
        (["--multiline", "python", "--multiline-start", "x"], b"not both"),
        (["--multiline", "cobol"], b"invalid choice"),
        (["--max-record-bytes", "1"], b"at least 2"),
    ],
)
def test_bad_record_options_are_usage_errors(tmp_path: Path, args: list[str], message: bytes) -> None:
    res = run_cli("follow", str(tmp_path / "x.log"), "--no-follow", *args)
    assert res.returncode == 2 and message in res.stderr


def test_a_cut_record_is_said_once_per_file(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes((b"start\n" + b"  more\n" * 20) * 3)
    res = run_cli("follow", str(app), "--multiline", "indented", "--max-record-bytes", "50", "--no-follow")
    assert res.returncode == 0 and res.stdout == app.read_bytes()
    assert res.stderr.count(b"longer than --max-record-bytes 50") == 1


@pytest.mark.parametrize("fmt", ["raw", "labeled", "jsonl", "headers"])
def test_verify_checks_record_output_line_by_line(tmp_path: Path, fmt: str) -> None:
    py, java = tmp_path / "py.log", tmp_path / "java.log"
    subprocess.run([sys.executable, "-c", WRITER, str(py), "python", "3"], check=True)
    subprocess.run([sys.executable, "-c", WRITER, str(java), "java", "3"], check=True)
    out = tmp_path / f"out.{fmt}"
    args = ["follow", str(py), str(java), "--multiline", "python", "--no-follow", "--format", fmt, "-o", str(out)]
    assert run_cli(*args).returncode == 0
    ok = run_cli("verify", str(py), str(java), "--merged", str(out))
    assert ok.returncode == 0 and b"OK" in ok.stdout, ok.stdout
    if fmt == "labeled":  # a continuation line taken out is missed
        lines = out.read_bytes().splitlines(keepends=True)
        out.write_bytes(b"".join(line for i, line in enumerate(lines) if i != 3))
        assert run_cli("verify", str(py), str(java), "--merged", str(out)).returncode == 1
