"""What a new user tripped on: an output that feeds on itself, an input erased, doubled or lost lines
under rotation, a quiet `| head -1`, and the demo's leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tailmerge

from .conftest import PY, assert_no_traceback, file_lines, verify_ok, wait_for
from .conftest import tailmerge as start_tailmerge


def run_in(cwd: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    """The real command line, run in ``cwd`` (so relative globs are the user's)."""
    return subprocess.run([PY, "-m", "tailmerge", *args], cwd=cwd, capture_output=True, timeout=timeout)


# -- 1. the output is never an input ------------------------------------------------------------------


@pytest.mark.parametrize("existed", [False, True])
def test_a_glob_that_matches_the_output_does_not_feed_on_itself(tmp_path: Path, existed: bool) -> None:
    (tmp_path / "a.log").write_bytes(b"a1\na2\n")
    (tmp_path / "b.log").write_bytes(b"b1\n")
    if existed:
        (tmp_path / "out.log").write_bytes(b"old output\n")
    res = run_in(tmp_path, "follow", "*.log", "-o", "out.log", "--no-follow")
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(file_lines(tmp_path / "out.log")) == [b"a1\n", b"a2\n", b"b1\n"]
    assert res.stderr.count(b"is the output; left out") == 1


def test_a_recursive_glob_leaves_out_an_output_in_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.log").write_bytes(b"a1\n")
    (tmp_path / "sub" / "b.log").write_bytes(b"b1\n")
    res = run_in(tmp_path, "follow", "**/*.log", "-o", "sub/out.log", "--no-follow")
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(file_lines(tmp_path / "sub" / "out.log")) == [b"a1\n", b"b1\n"]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_to_the_output_given_as_input_is_refused_before_anything_is_truncated(tmp_path: Path, link: str) -> None:
    out = tmp_path / "out.log"
    out.write_bytes(b"precious\n")
    alias = tmp_path / "alias.log"
    if link == "symlink":
        alias.symlink_to(out)
    else:
        os.link(out, alias)
    res = run_in(tmp_path, "follow", "alias.log", "-o", "out.log", "--no-follow")
    assert res.returncode == 2
    assert b"usage: tailmerge follow" in res.stderr and b"is also an input" in res.stderr
    assert out.read_bytes() == b"precious\n"


def test_a_later_glob_match_of_the_output_is_left_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(b"a1\n")
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(logs / "*.log"), "-o", str(out))
    try:
        wait_for(lambda: file_lines(out) == [b"a1\n"], what="the first line")
        os.link(out, logs / "z.log")  # the output appears under the glob, by another name
        with (logs / "a.log").open("ab") as f:
            f.write(b"a2\n")
        wait_for(lambda: len(file_lines(out)) == 2, what="the second line")
        time.sleep(0.5)  # were it followed, the output would now grow on its own
        assert file_lines(out) == [b"a1\n", b"a2\n"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert b"z.log: is the output; left out" in err


def test_the_api_refuses_an_output_that_is_an_input_and_leaves_it_intact(tmp_path: Path) -> None:
    x = tmp_path / "x.log"
    x.write_bytes(b"keep me\n")
    with pytest.raises(ValueError, match="is also an input"):
        tailmerge.merge([x], x, follow=False)
    assert x.read_bytes() == b"keep me\n"


# -- 3. 4. rotation ---------------------------------------------------------------------------------


def _rotate_like_logrotate(log: Path, keep: int) -> None:
    """logrotate's default: shift app.log.N to N+1, rename app.log to app.log.1, create a new app.log."""
    for n in range(keep - 1, 0, -1):
        older = log.with_name(f"{log.name}.{n}")
        if older.exists():
            older.rename(log.with_name(f"{log.name}.{n + 1}"))
    log.rename(log.with_name(f"{log.name}.1"))
    log.touch()


def test_a_glob_that_matches_rotated_names_reads_each_line_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    out = tmp_path / "out.log"
    proc = start_tailmerge(
        "follow", str(tmp_path / "app.log*"), "-o", str(out), "--rotate-wait", "0.2", "--idle-exit", "3"
    )
    sent = []
    for generation in range(3):
        with log.open("ab") as f:
            for i in range(100):
                line = b"gen %d line %03d\n" % (generation, i)
                f.write(line)
                sent.append(line)
        wait_for(lambda: len(file_lines(out)) >= len(sent), what=f"generation {generation}")
        time.sleep(0.5)  # past --rotate-wait: the rotated file is let go, and met again under a new name
        _rotate_like_logrotate(log, keep=4)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    got = file_lines(out)
    assert sorted(got) == sorted(sent), f"{len(got)} lines for {len(sent)}"


def test_a_rotated_file_still_written_to_is_followed_past_rotate_wait(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    out = tmp_path / "out.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b"before 0\n")
        proc = start_tailmerge("follow", str(log), "-o", str(out), "--rotate-wait", "0.5", "-v")
        wait_for(lambda: file_lines(out) == [b"before 0\n"], what="the first line")
        log.rename(tmp_path / "app.log.1")
        log.write_bytes(b"new 0\n")
        for i in range(12):  # 2.4 s of writes to the rotated file, each within --rotate-wait of the last
            os.write(fd, b"late %d\n" % i)
            time.sleep(0.2)
    finally:
        os.close(fd)
    wait_for(lambda: len(file_lines(out)) == 14, what="every late line")
    time.sleep(1.0)  # quiet for longer than --rotate-wait: let go
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert sorted(file_lines(out)) == sorted([b"before 0\n", b"new 0\n"] + [b"late %d\n" % i for i in range(12)])
    assert b"let go after" in err and b"without growth" in err
    verify_ok([tmp_path / "app.log.1", log], out)


# -- 10. | head -1 ----------------------------------------------------------------------------------


def test_head_minus_one_ends_the_pipeline_while_the_input_is_quiet(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"only line\n")
    started = time.monotonic()
    res = subprocess.run(
        f"{PY} -m tailmerge follow {a} | head -1", shell=True, capture_output=True, timeout=10, executable="/bin/bash"
    )
    assert time.monotonic() - started < 3
    assert res.stdout == b"only line\n"
    assert_no_traceback(res.stderr)


# -- 11. the demo -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_demo_stopped_early_leaves_no_folder_and_no_traceback(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [PY, "-m", "tailmerge", "demo", "--seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a terminal's Ctrl-C goes to the whole group: the writers too
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    folder = first.split(" in ")[1].split(" for ")[0]
    assert os.path.isdir(folder)
    time.sleep(1.0)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=10)
    assert not os.path.exists(folder)
    assert_no_traceback(err)
    assert proc.returncode == 130


# -- the JSONL path is the path as given --------------------------------------------------------------


def test_jsonl_path_of_a_literal_is_as_given(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_bytes(b"x\n")
    res = run_in(tmp_path, "follow", "logs/a.log", "--no-follow", "--format", "jsonl")
    assert res.returncode == 0
    assert json.loads(res.stdout)["path"] == "logs/a.log"


def test_python_dash_m_and_the_script_agree() -> None:
    res = subprocess.run([sys.executable, "-m", "tailmerge", "--version"], capture_output=True, timeout=10)
    assert res.stdout.decode().strip() == f"tailmerge {tailmerge.__version__}"


def test_a_file_renamed_away_with_nothing_at_its_path_is_still_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    out = tmp_path / "out.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b"one\n")
        proc = start_tailmerge("follow", str(log), "-o", str(out))
        wait_for(lambda: file_lines(out) == [b"one\n"], what="the first line")
        log.rename(tmp_path / "app.log.old")  # no new file at the path: inotify sees writes by the new name
        time.sleep(0.3)
        os.write(fd, b"two\n")
        wait_for(lambda: file_lines(out) == [b"one\n", b"two\n"], timeout=5, what="the line after the rename")
    finally:
        os.close(fd)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert proc.returncode == 0
