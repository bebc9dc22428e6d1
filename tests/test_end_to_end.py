"""The real command line against real writer processes, for every engine."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tailmerge.options import Engine

from .conftest import PY, assert_no_traceback, file_lines, tailmerge, verify_ok, wait_for, writer


def test_eight_files_three_writers_merge_exactly(tmp_path: Path, engine: Engine) -> None:
    files = [tmp_path / f"svc{i}.log" for i in range(8)]
    for f in files:
        f.touch()
    out = tmp_path / "merged.log"
    merger = tailmerge("follow", *map(str, files), "-o", str(out), "--engine", engine, "--idle-exit", "1.5")
    writers = [writer(files[i::3], "--id", f"w{i}", "--rate", "400", "--count", "60") for i in range(3)]
    for w in writers:
        assert w.wait(timeout=30) == 0
    _, err = merger.communicate(timeout=30)
    assert merger.returncode == 0, err.decode()
    assert_no_traceback(err)
    assert len(file_lines(out)) == sum(len(file_lines(f)) for f in files) > 0
    verify_ok(files, out)


def test_a_line_written_in_two_halves_is_never_split(tmp_path: Path, engine: Engine) -> None:
    files = [tmp_path / "slow.log", tmp_path / "fast.log"]
    for f in files:
        f.touch()
    out = tmp_path / "merged.log"
    merger = tailmerge(
        "follow", *map(str, files), "-o", str(out), "--engine", engine, "--idle-exit", "1.0", "--poll-interval", "0.01"
    )
    slow = writer(files[:1], "--split-ms", "30", "--rate", "20", "--count", "15")
    fast = writer(files[1:], "--rate", "200", "--count", "100")
    assert slow.wait(timeout=30) == 0 and fast.wait(timeout=30) == 0
    merger.communicate(timeout=30)
    assert merger.returncode == 0
    lines = file_lines(out)
    assert len(lines) == 115
    assert all(len(line.split()) == 5 for line in lines), "a line was split or glued"
    verify_ok(files, out)


def test_sigterm_flushes_every_complete_line_and_names_the_unfinished_one(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "app.log"
    src.write_bytes(b"first\nsecond\n")
    out = tmp_path / "merged.log"
    merger = tailmerge("follow", str(src), "-o", str(out), "--engine", engine)
    wait_for(lambda: len(file_lines(out)) == 2, what="the first lines")
    with src.open("ab") as f:
        f.write(b"third\nno newline yet")
    wait_for(lambda: len(file_lines(out)) == 3, what="the third line")
    assert b"no newline" not in out.read_bytes()  # never emitted while following
    started = time.monotonic()
    merger.send_signal(signal.SIGTERM)
    _, err = merger.communicate(timeout=5)
    assert merger.returncode == 0, err.decode()
    assert time.monotonic() - started < 1.0
    # a stop does not finish the file: its unfinished line stays unread (a restart reads it whole), and
    # one warning names it
    assert out.read_bytes() == b"first\nsecond\nthird\n"
    assert f"{src}: 14 bytes of an unfinished line not read".encode() in err


def test_sigint_also_stops_cleanly(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "app.log"
    src.write_bytes(b"one\n")
    out = tmp_path / "merged.log"
    merger = tailmerge("follow", str(src), "-o", str(out), "--engine", engine)
    wait_for(lambda: out.exists() and out.read_bytes() == b"one\n", what="the line")
    merger.send_signal(signal.SIGINT)
    _, err = merger.communicate(timeout=5)
    assert merger.returncode == 0, err.decode()
    assert_no_traceback(err)


def test_no_follow_copies_what_is_there_and_exits(tmp_path: Path, engine: Engine) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"a1\na2\n")
    b.write_bytes(b"b1\nb2 unterminated")
    merger = tailmerge("follow", str(a), str(b), "--no-follow", "--engine", engine, "--format", "labeled")
    out, err = merger.communicate(timeout=20)
    assert merger.returncode == 0, err.decode()
    assert sorted(out.splitlines()) == [b"a.log | a1", b"a.log | a2", b"b.log | b1", b"b.log | b2 unterminated"]
    assert os.path.getsize(a) == 6  # inputs untouched


def test_from_end_skips_what_is_there_and_never_cuts_a_line(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "app.log"
    src.write_bytes(b"old 1\nold 2\nhalf of a li")
    out = tmp_path / "merged.log"
    merger = tailmerge("follow", str(src), "--from", "end", "-o", str(out), "--engine", engine)
    wait_for(lambda: out.exists(), what="the output")
    time.sleep(0.3)
    with src.open("ab") as f:
        f.write(b"ne\nnew\n")
    wait_for(lambda: len(file_lines(out)) == 2, what="the new lines")
    merger.send_signal(signal.SIGTERM)
    merger.communicate(timeout=5)
    # starts after the last complete line: the line being written when it started is whole
    assert file_lines(out) == [b"half of a line\n", b"new\n"]


def test_a_signal_taken_by_another_thread_still_stops_the_run(tmp_path: Path, engine: Engine) -> None:
    # the kernel may give a process-directed signal to any thread; here one of the run's own threads takes
    # SIGTERM (pthread_kill), while the main thread sleeps with nothing else to wake it
    (tmp_path / "a.log").write_bytes(b"one\n")
    script = f"""
import os, signal, sys, threading, time
from tailmerge.cli import cli

def take_it():
    # once the run is going (its line is out, so its handlers are in), however slow the start under load
    while not os.path.exists("out.log") or os.path.getsize("out.log") < 4:
        time.sleep(0.01)
    time.sleep(0.2)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=take_it, daemon=True).start()
sys.exit(cli("follow", "a.log", "-o", "out.log", "--engine", "{engine}"))
"""
    started = time.monotonic()
    proc = subprocess.run([PY, "-c", script], cwd=tmp_path, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert time.monotonic() - started < 4.0
    assert file_lines(tmp_path / "out.log") == [b"one\n"]
