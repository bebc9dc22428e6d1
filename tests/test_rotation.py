"""Rotation, truncation, deletion and symlinks under a live writer: nothing lost, split or doubled."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from tailmerge.options import Engine

from .conftest import file_lines, tailmerge, verify_ok, wait_for, writer


def generations(path: Path) -> list[Path]:
    """Every file a rotating writer produced, oldest first (app.log.1, app.log.2, ..., app.log)."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: int(p.suffix[1:]))
    return [*rotated, path]


def test_rename_rotation_at_2000_lines_per_second(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"ready\n")
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--idle-exit", "1.5",
                     "--rotate-wait", "1")  # fmt: skip
    # the follower must hold app.log before the first rotation (a second away): a loaded machine may take
    # longer than that to start it, and a generation it never saw it cannot read
    wait_for(lambda: file_lines(out) == [b"ready\n"], what="the follower to start")
    w = writer([log], "--rate", "2000", "--count", "7000", "--rotate", "rename", "--rotate-every", "2000")
    assert w.wait(timeout=30) == 0
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    gens = generations(log)
    assert len(gens) == 4  # three rotations happened under the reader
    assert len(file_lines(out)) == 7001
    verify_ok(gens, out)  # every line of every generation once, each file in its own order


def test_copytruncate_with_the_reader_caught_up_loses_nothing(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"before %d\n" % i for i in range(100)))
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine)
    wait_for(lambda: len(file_lines(out)) == 100, what="the first lines")
    shutil.copyfile(log, tmp_path / "app.log.1")  # what logrotate's copytruncate does
    os.truncate(log, 0)
    with log.open("ab") as f:
        f.write(b"after 0\nafter 1\n")
    wait_for(lambda: len(file_lines(out)) == 102, what="the lines after truncation")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert b"truncated" in err
    verify_ok([tmp_path / "app.log.1", log], out)


def test_copytruncate_under_a_live_writer_at_2000_lines_per_second(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"ready\n")
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--idle-exit", "1.5")
    wait_for(lambda: file_lines(out) == [b"ready\n"], what="the follower to start")  # as above
    w = writer([log], "--rate", "2000", "--count", "6000", "--rotate", "copytruncate", "--rotate-every", "2000")
    assert w.wait(timeout=30) == 0
    proc.communicate(timeout=30)
    gens = generations(log)
    assert len(gens) == 4
    # this writer never writes between the copy and the truncation, so nothing may be lost: lines not read
    # before the truncation are read from the copy
    verify_ok(gens, out)


def test_copytruncate_reads_what_it_had_not_read_yet_from_the_copy(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d of the first generation\n" % i for i in range(100)))
    out = tmp_path / "merged.log"
    # polling once a second: the copy and truncation happen before tailmerge looks again
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--watch", "poll",
                     "--poll-interval", "1")  # fmt: skip
    wait_for(lambda: len(file_lines(out)) == 100, what="the first lines")
    time.sleep(0.2)
    with log.open("ab") as f:
        f.write(b"unread 1\nunread 2\n")
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    with log.open("ab") as f:
        f.write(b"second generation\n")
    wait_for(lambda: len(file_lines(out)) == 103, what="the unread lines and the new one", timeout=10)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert b"were read from its copy" in err, err
    assert file_lines(out)[100:] == [b"unread 1\n", b"unread 2\n", b"second generation\n"]


def test_delete_and_recreate(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old 1\nold 2\n")
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--rotate-wait", "0.2")
    wait_for(lambda: len(file_lines(out)) == 2, what="the old lines")
    log.unlink()
    time.sleep(0.5)
    log.write_bytes(b"new 1\n")
    wait_for(lambda: len(file_lines(out)) == 3, what="the new file")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert file_lines(out) == [b"old 1\n", b"old 2\n", b"new 1\n"]


def test_a_swapped_symlink_is_followed_by_name(tmp_path: Path, engine: Engine) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "one.log", tmp_path / "b" / "two.log"
    a.write_bytes(b"a1\n")
    b.write_bytes(b"b1\n")
    link = tmp_path / "current.log"
    link.symlink_to(a)
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", str(link), "-o", str(out), "--engine", engine, "--rotate-wait", "0.5",
                     "--poll-interval", "3600")  # fmt: skip
    wait_for(lambda: file_lines(out) == [b"a1\n"], what="the first target")
    tmp = tmp_path / "tmp.link"
    tmp.symlink_to(b)
    tmp.rename(link)  # ln -sfn: an atomic swap
    wait_for(lambda: len(file_lines(out)) == 2, what="the new target")
    with b.open("ab") as f:
        f.write(b"b2\n")  # in another folder: seen because the new target's folder is watched
    wait_for(lambda: len(file_lines(out)) == 3, what="a write to the new target")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert file_lines(out) == [b"a1\n", b"b1\n", b"b2\n"]


def test_a_file_that_shrinks_and_grows_again_is_read_afresh(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first generation line\n" * 3)
    out = tmp_path / "merged.log"
    # polling once a second, so the file is rewritten longer than before between two looks
    proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--watch", "poll",
                     "--poll-interval", "1")  # fmt: skip
    wait_for(lambda: len(file_lines(out)) == 3, what="the first lines")
    with log.open("r+b") as f:
        f.truncate(0)
        f.write(b"second generation, longer line %d\n" % 0 + b"second generation, longer line 1\n" * 3)
    wait_for(lambda: len(file_lines(out)) == 7, what="the rewritten file", timeout=10)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert b"truncated" in err
    assert file_lines(out)[3:] == [b"second generation, longer line 0\n"] + [b"second generation, longer line 1\n"] * 3


def test_a_glob_does_not_follow_a_rotated_file_twice(tmp_path: Path, engine: Engine) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(b"one\n")
    out = tmp_path / "merged.log"
    proc = tailmerge("follow", f"{logs}/app.log*", "-o", str(out), "--engine", engine)
    wait_for(lambda: file_lines(out) == [b"one\n"], what="the first line")
    log.rename(logs / "app.log.1")  # matches the glob under its new name: same inode, already held
    log.write_bytes(b"two\n")
    wait_for(lambda: len(file_lines(out)) == 2, what="the new file")
    time.sleep(0.5)  # time for a wrong second reading of app.log.1 to show up
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert file_lines(out) == [b"one\n", b"two\n"]


def test_a_rename_seen_in_the_same_wake_up_as_growth_is_still_noticed(tmp_path: Path, engine: Engine) -> None:
    # the rename, the new file and a write to the renamed file reach the follower in one wake-up (it is
    # stopped meanwhile): it reads the growth, and must still look at the path, or it never sees the new file
    log = tmp_path / "app.log"
    out = tmp_path / "out.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b"before 0\n")
        proc = tailmerge("follow", str(log), "-o", str(out), "--engine", engine, "--rotate-wait", "5")
        try:
            wait_for(lambda: file_lines(out) == [b"before 0\n"], what="the first line")
            proc.send_signal(signal.SIGSTOP)
            try:
                log.rename(tmp_path / "app.log.1")
                log.write_bytes(b"new 0\n")
                os.write(fd, b"late 0\n")
            finally:
                proc.send_signal(signal.SIGCONT)
            wait_for(lambda: len(file_lines(out)) == 3, what="the new file's line")
            os.write(fd, b"late 1\n")  # the renamed file is still followed
            wait_for(lambda: len(file_lines(out)) == 4, what="a later line of the renamed file")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)
    finally:
        os.close(fd)
    assert sorted(file_lines(out)) == sorted([b"before 0\n", b"late 0\n", b"new 0\n", b"late 1\n"])
    assert file_lines(out).index(b"late 0\n") < file_lines(out).index(b"new 0\n")  # the old file's first
