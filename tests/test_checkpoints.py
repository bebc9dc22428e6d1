"""Durable checkpoints (--state): killed with SIGKILL and restarted, nothing is lost or written twice."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tailmerge
from tailmerge.options import Engine

from .conftest import file_lines, run_cli, verify_ok, wait_for, writer
from .conftest import tailmerge as start_tailmerge
from .test_rotation import generations

KILLS = 20


def crash_and_restart(paths: list[Path], out: Path, state: Path, engine: Engine, *writers: list[str]) -> int:
    """Start writer processes with ``writers`` arguments, and the merger with ``state``; SIGKILL the merger
    at a random moment, KILLS times, restarting it each time, while they write; then let it catch up with
    --no-follow once they are done. Returns how many kills hit a merger that had written something."""
    rng = random.Random(7)
    args = [*map(str, paths), "-o", str(out), "--state", str(state), "--engine", engine, "--rotate-wait", "0.5"]
    for p in paths:
        p.touch()
    # the state knows each file before it is written to (a file rotated before any commit is not followed)
    assert run_cli("follow", *args, "--no-follow").returncode == 0
    procs = [writer([p], *w) for p, w in zip(paths, writers, strict=True)]
    hit = 0
    for n in range(KILLS):
        before = out.stat().st_size if out.exists() else 0
        proc = start_tailmerge("follow", *args, stdout=subprocess.DEVNULL)
        writing = any(w.poll() is None for w in procs)
        if n % 2 and writing:  # every other kill lands once the merger writes (a loaded machine starts it slowly)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (out.exists() and out.stat().st_size > before):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        else:  # the others at any moment, start-up included
            time.sleep(rng.uniform(0.1, 0.75))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
        assert b"Traceback" not in err, err.decode()
        hit += out.exists() and out.stat().st_size > before
    for w in procs:
        assert w.wait(timeout=60) == 0
    done = run_cli("follow", *args, "--no-follow", timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return hit


def test_sigkill_restarts_under_rename_rotation_lose_and_double_nothing(tmp_path: Path, engine: Engine) -> None:
    paths = [tmp_path / f"w{i}.log" for i in range(4)]
    out, state = tmp_path / "merged.log", tmp_path / "state.db"
    rotating = ["--rotate", "rename", "--rotate-every", "2000"]
    writers = [["--rate", "1000", "--count", "8000", "--id", f"w{i}", *(rotating if i == 0 else [])] for i in range(4)]
    hit = crash_and_restart(paths, out, state, engine, *writers)
    assert hit >= KILLS // 4  # some kills landed while the merger was writing, not only while it started
    inputs = [g for p in paths for g in generations(p)]
    assert len(generations(paths[0])) == 5  # four rotations happened across the restarts
    assert len(file_lines(out)) == 4 * 8000
    verify_ok(inputs, out)  # every line of every generation exactly once, in each file's order


def test_sigkill_restarts_under_copytruncate_lose_only_logrotates_window(tmp_path: Path) -> None:
    paths = [tmp_path / f"w{i}.log" for i in range(2)]
    out, state = tmp_path / "merged.log", tmp_path / "state.db"
    rotating = ["--rotate", "copytruncate", "--rotate-every", "2000"]
    writers = [["--rate", "1000", "--count", "6000", "--id", f"w{i}", *(rotating if i == 0 else [])] for i in range(2)]
    crash_and_restart(paths, out, state, "asyncio", *writers)
    inputs = [g for p in paths for g in generations(p)]
    verify_ok(inputs, out)  # nothing in any input is missing or doubled in the output
    # lines written between a copy and its truncation are in no input: logrotate's own window
    in_inputs = {line for p in inputs for line in file_lines(p)}
    window = 2 * 6000 - len(in_inputs)
    print(f"copytruncate: {window} of {2 * 6000} lines lost in logrotate's window, none by tailmerge")
    assert len(file_lines(out)) == len(in_inputs)
    assert window < 100


def test_stopped_then_rotated_twice_and_written_to_then_restarted(tmp_path: Path, engine: Engine) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"".join(b"gen0 %d\n" % i for i in range(100)))
    args = [str(app), "-o", str(out), "--state", str(state), "--engine", engine, "--no-follow"]
    assert run_cli("follow", *args).returncode == 0
    with app.open("ab") as f:
        f.write(b"gen0 late\n")  # written after the stop, before the rotation
    app.rename(tmp_path / "app.log.1")
    app.write_bytes(b"gen1 a\ngen1 b\n")
    app.rename(tmp_path / "app.log.2")
    app.write_bytes(b"gen2 a\n")
    res = run_cli("follow", *args, "-v")
    assert res.returncode == 0, res.stderr.decode()
    assert b"app.log.1 from byte" in res.stderr
    verify_ok(generations(app), out)
    assert len(file_lines(out)) == 100 + 1 + 2 + 1
    # a glob that matches the rotated names reads none of them again
    again = run_cli("follow", str(tmp_path / "app.log*"), "-o", str(out), "--state", str(state), "--no-follow")
    assert again.returncode == 0, again.stderr.decode()
    assert len(file_lines(out)) == 104


def test_a_partial_last_line_is_never_committed(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\ntw")
    args = [str(app), "-o", str(out), "--state", str(state), "--no-follow"]
    assert run_cli("follow", *args).returncode == 0
    assert out.read_bytes() == b"one\n"
    with app.open("ab") as f:
        f.write(b"o\nthree\n")
    assert run_cli("follow", *args).returncode == 0
    assert out.read_bytes() == b"one\ntwo\nthree\n"


def test_bytes_written_after_the_last_commit_are_cut_off_and_read_again(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\ntwo\n")
    tailmerge.merge([app], out, state=state, follow=False)
    with out.open("ab") as f:
        f.write(b"thr")  # what a crash leaves: written, not committed
    with app.open("ab") as f:
        f.write(b"three\n")
    tailmerge.merge([app], out, state=state, follow=False)
    assert out.read_bytes() == b"one\ntwo\nthree\n"


def test_state_show_says_what_the_state_holds(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\ntwo\n")
    tailmerge.merge([app], out, state=state, follow=False)
    res = run_cli("state", "show", str(state))
    assert res.returncode == 0
    text = res.stdout.decode()
    assert f"{out} " in text and "8 bytes committed" in text
    assert f"{app}" in text and "committed to byte 8" in text


# -- the errors ---------------------------------------------------------------------------------------


def test_a_damaged_state_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\n")
    out.write_bytes(b"keep me\n")
    state.write_bytes(b"this is not a database " * 100)
    res = run_cli("follow", str(app), "-o", str(out), "--state", str(state), "--no-follow")
    assert res.returncode == 2
    assert f"state {state}: not a tailmerge state, or damaged".encode() in res.stderr
    assert state.read_bytes() == b"this is not a database " * 100
    assert out.read_bytes() == b"keep me\n"
    with pytest.raises(tailmerge.StateError, match="damaged"):
        tailmerge.merge([app], out, state=state, follow=False)


def test_a_state_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\n")
    tailmerge.merge([app], out, state=state, follow=False)
    with sqlite3.connect(state) as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'version'")
    res = run_cli("follow", str(app), "-o", str(out), "--state", str(state), "--no-follow")
    assert res.returncode == 2
    assert b"written by a newer tailmerge (format 99" in res.stderr
    assert out.read_bytes() == b"one\n"


def test_a_state_of_another_output_is_refused(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\n")
    tailmerge.merge([app], out, state=state, follow=False)
    other = tmp_path / "other.log"
    other.write_bytes(b"other\n")
    res = run_cli("follow", str(app), "-o", str(other), "--state", str(state), "--no-follow")
    assert res.returncode == 2
    assert b"belongs to another output" in res.stderr and str(out).encode() in res.stderr
    assert other.read_bytes() == b"other\n"
    res = run_cli("follow", str(app), "--state", str(state), "--no-follow")  # standard output
    assert res.returncode == 2 and b"not standard output" in res.stderr


def test_a_second_process_on_the_same_state_or_output_is_refused(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"one\n")
    first = start_tailmerge("follow", str(app), "-o", str(out), "--state", str(state))
    try:
        wait_for(lambda: file_lines(out) == [b"one\n"], what="the first merger")
        res = run_cli("follow", str(app), "-o", str(tmp_path / "b.log"), "--state", str(state), "--no-follow")
        assert res.returncode == 2 and b"in use by another tailmerge" in res.stderr
        res = run_cli("follow", str(app), "-o", str(out), "--no-follow")
        assert res.returncode == 1 and b"written by another tailmerge" in res.stderr
        assert out.read_bytes() == b"one\n"  # not truncated by the refused second writer
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=10)
    assert first.returncode == 0


# -- a model: any sequence of writes, crashes and restarts ----------------------------------------------

step = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 1), st.integers(1, 5)),
    st.tuples(st.just("partial"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("rotate"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("run"), st.just(0), st.just(0)),
    st.tuples(st.just("crash"), st.just(0), st.just(0)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=12))
def test_any_writes_crashes_and_restarts_give_each_line_once_in_order(
    tmp_path: Path, steps: list[tuple[str, int, int]]
) -> None:
    """A crash is modelled as a run whose commit never happened: the state is put back as it was before
    the run, while the output keeps what the run wrote (and, at a partial write, a piece of a line)."""
    root = tmp_path / f"case{time.monotonic_ns()}"
    root.mkdir()
    files = [root / "a.log", root / "b.log"]
    out, state = root / "merged.log", root / "state.db"
    rotations = [0, 0]
    counter = [0, 0]

    def run() -> None:
        tailmerge.merge(files, out, state=state, follow=False)

    for f in files:
        f.touch()
    run()  # the state knows each file from its first run on, even while it is empty

    for action, i, n in steps:
        if action == "write":
            with files[i].open("ab") as fh:
                for _ in range(n):
                    counter[i] += 1
                    fh.write(b"%s %d\n" % (files[i].name.encode(), counter[i]))
        elif action == "partial":
            with files[i].open("ab") as fh:
                fh.write(b"half-")
        elif action == "rotate" and files[i].exists():
            rotations[i] += 1
            files[i].rename(f"{files[i]}.{rotations[i]}")
        elif action == "run":
            run()
        elif action == "crash":
            saved = root / "saved.db"
            if state.exists():
                shutil.copyfile(state, saved)
            run()
            state.unlink()
            if saved.exists():
                saved.rename(state)
            with out.open("ab") as fh:
                fh.write(b"torn pie")
    for f in files:
        with f.open("ab") as fh:
            fh.write(b"end\n")  # completes any partial line
    # a follow run lets rotated files go once quiet, with a partial last line completed
    tailmerge.merge(files, out, state=state, rotate_wait=0.0, idle_timeout=0.2)
    inputs = [g for f in files for g in generations(f)]
    expected = sum(len(file_lines(p)) for p in inputs)
    assert len(file_lines(out)) == expected
    verify_ok(inputs, out)


# -- the iterators: at least once -------------------------------------------------------------------------


def test_follow_with_a_state_resumes_at_the_first_line_not_taken(tmp_path: Path) -> None:
    app, state = tmp_path / "app.log", tmp_path / "state.db"
    app.write_bytes(b"".join(b"line %d\n" % i for i in range(10)))
    taken = []
    for line in tailmerge.follow([app], state=state, follow=False):
        taken.append(line.data)
        if len(taken) == 3:
            break  # line 2 was handed out, but the loop did not ask for the next: not delivered yet
    again = [line.data for line in tailmerge.follow([app], state=state, follow=False)]
    assert again[0] == b"line 2\n" and len(again) == 8  # at least once: line 2 again, none lost

    async def rest() -> list[bytes]:
        return [line.data async for line in tailmerge.afollow([app], state=state, follow=False)]

    assert asyncio.run(rest()) == []  # the loop above asked for a line after the last: all delivered
    with app.open("ab") as f:
        f.write(b"line 10\n")
    assert asyncio.run(rest()) == [b"line 10\n"]


def test_into_a_pipe_only_what_its_reader_took_counts_as_delivered(tmp_path: Path) -> None:
    big, state = tmp_path / "big.log", tmp_path / "state.db"
    big.write_bytes(b"".join(b"line %d\n" % i for i in range(300_000)))
    first = subprocess.run(
        f"{sys.executable} -m tailmerge follow {big} --state {state} | head -1", shell=True, capture_output=True
    )
    assert first.stdout == b"line 0\n"
    # head took one read's worth; the rest sat in the pipe when it left: at least once, so it comes again
    again = run_cli("follow", str(big), "--state", str(state), "--no-follow", timeout=60)
    assert again.returncode == 0
    lines = again.stdout.splitlines(keepends=True)
    assert lines[-1] == b"line 299999\n" and len(lines) >= 300_000 - 100_000
    assert lines[0] == b"line %d\n" % (300_000 - len(lines))  # goes on right after what was taken, or before


# -- found by a review: each was a way to lose or double lines -------------------------------------------


def follow_args(paths: list[Path], out: Path, state: Path, *extra: str) -> list[str]:
    return ["follow", *map(str, paths), "-o", str(out), "--state", str(state), *extra]


def test_a_write_that_fails_half_way_commits_only_whole_batches(tmp_path: Path) -> None:
    import resource

    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"".join(b"line %06d\n" % i for i in range(40_000)))  # 480 KB

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    args = [sys.executable, "-m", "tailmerge", *follow_args([app], out, state, "--no-follow")]
    full = subprocess.run(args, capture_output=True, preexec_fn=small_files, timeout=60)
    assert full.returncode == 1 and b"File too large" in full.stderr
    assert run_cli(*follow_args([app], out, state, "--no-follow")).returncode == 0
    assert out.read_bytes() == app.read_bytes()  # nothing doubled, nothing split


def test_a_stop_does_not_finish_a_rotated_file_read_only_in_part(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"a1\n")
    proc = start_tailmerge(*follow_args([app], out, state))
    wait_for(lambda: file_lines(out) == [b"a1\n"], what="the first line")
    app.rename(tmp_path / "app.log.1")
    app.write_bytes(b"b1\n")
    wait_for(lambda: len(file_lines(out)) == 2, what="the new file")
    with (tmp_path / "app.log.1").open("ab") as f:
        f.write(b"a2\n")  # the rotated file is polled: this may not be read before the stop
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert run_cli(*follow_args([app], out, state, "--no-follow")).returncode == 0
    verify_ok([tmp_path / "app.log.1", app], out)


def test_a_copy_read_before_a_crash_is_not_read_again(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"".join(b"old %d\n" % i for i in range(30)))
    proc = start_tailmerge(*follow_args([app], out, state))
    wait_for(lambda: len(file_lines(out)) == 30, what="the first lines")
    shutil.copyfile(app, tmp_path / "app.log.1")  # copytruncate
    app.write_bytes(b"")
    with app.open("ab") as f:
        f.write(b"new 1\n")
    wait_for(lambda: len(file_lines(out)) == 31, what="the line after the truncation")
    time.sleep(1.2)  # a commit
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert run_cli(*follow_args([app], out, state, "--no-follow")).returncode == 0
    verify_ok([tmp_path / "app.log.1", app], out)
    assert len(file_lines(out)) == 31


def test_a_followed_path_whose_name_extends_another_is_not_taken_as_its_generation(tmp_path: Path) -> None:
    app, err = tmp_path / "a.log", tmp_path / "a.log.err"
    out, state = tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"a1\n")
    err.write_bytes(b"e1\n")
    assert run_cli(*follow_args([app, err], out, state, "--no-follow")).returncode == 0
    err.rename(tmp_path / "a.log.err.1")
    err.write_bytes(b"e2\n")
    res = run_cli(*follow_args([app, err], out, state, "--no-follow", "--format", "labeled"))
    assert res.returncode == 0
    assert b"a.log.err | e2\n" in out.read_bytes()  # its own source, not a.log's


def test_a_file_begun_at_its_end_is_known_before_its_first_line(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"before\n")
    proc = start_tailmerge(*follow_args([app], out, state, "--from", "end"))
    wait_for(lambda: b"committed to byte 7" in run_cli("state", "show", str(state)).stdout, what="a commit")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    with app.open("ab") as f:
        f.write(b"after\n")  # written while tailmerge was down
    assert run_cli(*follow_args([app], out, state, "--no-follow", "--from", "end")).returncode == 0
    assert out.read_bytes() == b"after\n"


def test_sighup_with_a_state_commits_the_new_output(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    app.write_bytes(b"a1\n")
    proc = start_tailmerge(*follow_args([app], out, state))
    wait_for(lambda: file_lines(out) == [b"a1\n"], what="the first line")
    proc.send_signal(signal.SIGHUP)  # not moved: nothing to do, and no error
    out.rename(tmp_path / "merged.log.1")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: out.exists(), what="the reopened output")
    with app.open("ab") as f:
        f.write(b"a2\n")
    wait_for(lambda: file_lines(out) == [b"a2\n"], what="the line in the new output")
    proc.send_signal(signal.SIGKILL)  # before the next interval's commit, maybe
    _, err = proc.communicate(timeout=10)
    assert b"another tailmerge" not in err
    with app.open("ab") as f:
        f.write(b"a3\n")
    res = run_cli(*follow_args([app], out, state, "--no-follow"))
    assert res.returncode == 0, res.stderr.decode()
    assert (tmp_path / "merged.log.1").read_bytes() + out.read_bytes() == b"a1\na2\na3\n"


def test_the_api_refuses_an_output_object_with_a_state(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_bytes(b"a\n")
    output = tailmerge.Output(str(tmp_path / "out.log"), append=True)
    try:
        with pytest.raises(ValueError, match="state= needs the output as a path"):
            tailmerge.merge([app], output, state=tmp_path / "state.db", follow=False)
    finally:
        output.close()


def test_a_record_held_at_a_stop_is_taken_whole_by_the_next_run(tmp_path: Path) -> None:
    app, out, state = tmp_path / "app.log", tmp_path / "merged.jsonl", tmp_path / "state.db"
    app.write_bytes(b'start\nTraceback (most recent call last):\n  File "x.py", line 1\n')
    args = follow_args([app], out, state, "--multiline", "python", "--format", "jsonl", "--multiline-timeout", "60")
    proc = start_tailmerge(*args)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    with app.open("ab") as f:
        f.write(b"ValueError: x\nnext\n")
    assert run_cli(*args, "--no-follow").returncode == 0
    records = [json.loads(line)["line"] for line in file_lines(out)]
    # the traceback belongs to the line before it: one record, not cut where the stop came
    assert records == ['start\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: x', "next"]
