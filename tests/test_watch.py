"""Event-driven waking, glob discovery, the polling fallback and running out of limits."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tailmerge import follow
from tailmerge.options import Engine

from .conftest import PY, assert_no_traceback, file_lines, needs_root, tailmerge, wait_for


def test_inotify_delivers_without_polling(tmp_path: Path, engine: Engine) -> None:
    """Each file's real folder is watched: a plain file, a file in a folder reached through a symlink,
    and a symlink to a file in another folder."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real)
    src, in_linked, target = tmp_path / "a.log", real / "b.log", real / "c-target.log"
    for f in (src, in_linked, target):
        f.touch()
    (tmp_path / "c.log").symlink_to(target)
    out = tmp_path / "out.log"
    # a poll interval of an hour: only a change notification can deliver the line in time
    # the link to a file in real/ first: its watch of real/ was then taken over by linked/'s (the same
    # directory, the same watch), and its lines never came
    proc = tailmerge("follow", str(tmp_path / "c.log"), str(src), str(tmp_path / "linked" / "b.log"),
                     "-o", str(out), "--engine", engine, "--watch", "inotify",
                     "--poll-interval", "3600", "-v")  # fmt: skip
    time.sleep(0.5)  # let it start and reach its first wait
    for f, line in ((src, b"wake up\n"), (in_linked, b"in a linked folder\n"), (target, b"through a link\n")):
        with f.open("ab") as w:
            w.write(line)
    started = time.monotonic()
    expected = sorted([b"wake up\n", b"in a linked folder\n", b"through a link\n"])
    try:
        wait_for(lambda: sorted(file_lines(out)) == expected, timeout=5, what="the lines")
    except AssertionError:
        proc.kill()
        raise AssertionError(f"out: {file_lines(out)}; stderr: {proc.communicate()[1]!r}") from None
    assert time.monotonic() - started < 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0 and b"polling" not in err, err


def test_a_file_created_later_under_a_glob_is_followed(tmp_path: Path, engine: Engine) -> None:
    logs = tmp_path / "logs"
    (logs / "deep" / "er").mkdir(parents=True)
    (logs / "first.log").write_bytes(b"first\n")
    (logs / "skip.txt").write_bytes(b"not a log\n")
    out = tmp_path / "out.log"
    proc = tailmerge("follow", f"{logs}/**/*.log", "-o", str(out), "--engine", engine, "--exclude", "*.old.log",
                     "--poll-interval", "3600")  # fmt: skip
    wait_for(lambda: file_lines(out) == [b"first\n"], what="the first file")
    (logs / "deep" / "er" / "second.log").write_bytes(b"second\n")
    (logs / "deep" / "ignored.old.log").write_bytes(b"excluded\n")
    (logs / "new").mkdir()
    wait_for(lambda: len(file_lines(out)) == 2, what="the file in an existing folder")
    (logs / "new" / "third.log").write_bytes(b"third\n")  # in a folder created after start
    wait_for(lambda: len(file_lines(out)) == 3, what="the file in a new folder")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert sorted(file_lines(out)) == [b"first\n", b"second\n", b"third\n"]


HOG = """
import errno, os, select, signal, subprocess, sys, time
from tailmerge.watch.inotify_fd import InotifyFd as Inotify
folder, engine = sys.argv[1], sys.argv[2]
src, out = os.path.join(folder, "a.log"), os.path.join(folder, "out.log")
open(src, "wb").close()
hogs = []
while True:  # this user's inotify instances, used up for real
    try:
        hogs.append(Inotify())
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        break
errors = open(os.path.join(folder, "stderr"), "w+b")
merger = subprocess.Popen([sys.executable, "-m", "tailmerge", "follow", src, "-o", out, "--engine", engine,
                           "--poll-interval", "0.05"], stderr=errors)
deadline = time.monotonic() + 10  # the instances are given back only once the merger has met the refusal
while time.monotonic() < deadline and b"inotify is not available" not in open(errors.name, "rb").read():
    time.sleep(0.02)
for hog in hogs:
    hog.close()
with open(src, "ab") as f:
    f.write(b"polled\\n")
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not (os.path.exists(out) and open(out, "rb").read()):
    time.sleep(0.02)
merger.send_signal(signal.SIGTERM)
merger.wait(timeout=5)
sys.stdout.buffer.write(open(out, "rb").read())
sys.stderr.buffer.write(open(errors.name, "rb").read())
"""


@needs_root
def test_polling_takes_over_when_inotify_is_refused(tmp_path: Path, engine: Engine) -> None:
    """Use up inotify instances for real, then start tailmerge: it says so and polls. It runs in a user
    namespace of its own whose instance limit is lowered to 2, so the machine's other users (and this
    one) keep theirs."""
    limit = 'echo 2 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"'
    res = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", limit, PY, "-c", HOG, str(tmp_path), engine],
        capture_output=True,
        timeout=30,
    )
    assert res.stdout == b"polled\n", res.stderr.decode()
    err = res.stderr
    assert b"inotify is not available" in err and b"max_user_instances" in err, err
    assert err.count(b"inotify is not available") == 1
    assert_no_traceback(err)


def test_more_files_than_file_descriptors_are_all_followed(tmp_path: Path, engine: Engine) -> None:
    """Twice as many files as the open-file limit: the least recently read are closed to make room and
    opened again when they change (2,000 files at 1,024: ``test_descriptors.py``)."""
    files = [tmp_path / f"f{i:03d}.log" for i in range(200)]
    for i, f in enumerate(files):
        f.write_bytes(b"line of %d\n" % i)
    out = tmp_path / "out.log"

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    res = subprocess.run(
        [PY, "-m", "tailmerge", "follow", *map(str, files), "-o", str(out), "--engine", engine, "--idle-exit", "1"],
        capture_output=True, timeout=60, preexec_fn=low_limit,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""  # no file left out, nothing to say
    assert sorted(file_lines(out)) == sorted(b"line of %d\n" % i for i in range(200))


def test_a_written_file_is_read_without_looking_at_its_path_each_time(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the folder's watch reports renames and deletions, so a wake-up for a write needs no stat of the path
    log = tmp_path / "a.log"
    log.write_bytes(b"0\n")
    looks: list[str] = []
    real_stat = os.stat

    def stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(path) == str(log):
            looks.append(str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    lines = follow([log], engine=engine, watch="inotify")
    try:
        assert next(lines).data == b"0\n"
        before = len(looks)
        with log.open("ab", buffering=0) as f:
            for i in range(1, 60):
                f.write(b"%d\n" % i)
                assert next(lines).data == b"%d\n" % i
                os.utime(log)  # a wake-up that finds nothing new: still no need to look at the path
                time.sleep(0.005)  # taken on its own, not with the next write
        assert len(looks) - before <= 3, looks
        os.rename(log, tmp_path / "a.log.1")  # and a rotation is still seen
        log.write_bytes(b"new\n")
        assert next(lines).data == b"new\n"
    finally:
        lines.close()


def test_the_inotify_descriptor_reports_each_event_of_a_read_with_its_name(tmp_path: Path) -> None:
    """Events straight from the kernel, parsed by hand (inotify_fd): names padded to different lengths,
    a nameless event, and several in one read."""
    from tailmerge.watch import inotify_fd as ino

    fd = ino.InotifyFd()
    try:
        assert fd.read() == []  # non-blocking: nothing there yet
        wd = fd.add_watch(str(tmp_path), ino.IN_CREATE | ino.IN_MODIFY | ino.IN_DELETE_SELF | ino.IN_ONLYDIR)
        names = ["a", "a-name-of-thirty-two-bytes-.....", "é.log"]
        for name in names:
            (tmp_path / name).write_bytes(b"x\n")
        tmp_path.joinpath(names[0]).rename(tmp_path / "moved")  # not asked for: not reported
        events = fd.read()
        assert [(w, m & ino.IN_CREATE, n) for w, m, n in events if m & ino.IN_CREATE] == [
            (wd, ino.IN_CREATE, n) for n in names
        ]
        assert {n for _, m, n in events if m & ino.IN_MODIFY} == set(names)
        assert all(n != "moved" for *_, n in events)
        fd.rm_watch(wd)
        assert any(m & ino.IN_IGNORED and n is None for _, m, n in fd.read())  # the removal, nameless
        with pytest.raises(FileNotFoundError):
            fd.add_watch(str(tmp_path / "missing"), ino.IN_CREATE)
        with pytest.raises(NotADirectoryError):  # IN_ONLYDIR is honoured
            fd.add_watch(str(tmp_path / "moved"), ino.IN_CREATE | ino.IN_ONLYDIR)
        flags = os.get_inheritable(fd.fd), os.get_blocking(fd.fd)
        assert flags == (False, False)  # close-on-exec and non-blocking
    finally:
        fd.close()
    fd.close()  # twice: nothing happens
