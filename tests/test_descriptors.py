"""More files than descriptors (issue 11): the least recently read files are closed, and opened again by
name when they change, so that every line of every file is merged under a low open-file limit."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tailmerge.options import Engine
from tailmerge.sources.open_files import OpenFiles
from tailmerge.verify import verify

from .conftest import PY, assert_no_traceback, file_lines, tailmerge, wait_for, writer

FILES = 2000
LINES = 50
FOLLOWED = 700  # files followed under writers, at a limit of 256


class _Holder:
    """A source as the budget sees it: it holds one file, or none, and may be busy."""

    def __init__(self, budget: OpenFiles, name: str) -> None:
        self.budget, self.name, self.busy, self.open = budget, name, False, False

    def read(self) -> None:
        if not self.open:
            self.budget.make_room(1, self)
            self.open = True
        self.budget.hold(self, 1)

    def close_idle(self) -> bool:
        if self.busy or not self.open:
            return False
        self.open = False
        self.budget.hold(self, 0)
        return True


def test_the_budget_closes_the_least_recently_read_first_and_never_a_busy_one() -> None:
    budget = OpenFiles(3)
    a, b, c, d, e = (_Holder(budget, n) for n in "abcde")
    for h in (a, b, c):
        h.read()
    a.read()  # read again: b is now the least recently read
    d.read()
    assert [h.open for h in (a, b, c, d)] == [True, False, True, True] and budget.count == 3
    c.busy = True  # the oldest now, but being read: the next oldest goes instead
    e.read()
    assert [h.open for h in (a, c, d, e)] == [False, True, True, True] and budget.count == 3
    for h in (c, d, e):
        h.busy = True
    assert not budget.make_room(1, a)  # nobody can make room: said, and nothing is closed
    assert budget.count == 3
    budget.hold(e, 0)  # a holder that ends
    assert budget.make_room(1) and budget.count == 2
    budget.lower(1)  # out of descriptors below the limit: one fewer than held now
    assert budget.limit == 1
    c.busy = False
    assert budget.make_room(1) is False and not c.open  # c closed; d is still busy
    assert OpenFiles(0).limit == 1  # at least one file at a time


def _limited(limit: int) -> Callable[[], None]:
    def set_limit() -> None:  # in the child: soft and hard, so it cannot raise its own
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return set_limit


def _files(folder: Path, n: int = FILES, lines: int = LINES) -> list[Path]:
    folder.mkdir()
    files = [folder / f"f{i:04d}.log" for i in range(n)]
    for i, f in enumerate(files):
        f.write_bytes(b"".join(b"file %d line %d\n" % (i, j) for j in range(lines)))
    return files


def _merger(args: list[str], limit: int, err: Path) -> subprocess.Popen[bytes]:
    """The CLI under ``limit``; its stderr to a file (a pipe nobody reads could fill up and hold it)."""
    with err.open("wb") as errors:
        return tailmerge(*args, stdout=subprocess.DEVNULL, stderr=errors, preexec_fn=_limited(limit))


def _verified(files: list[Path], out: Path) -> None:
    verdict = verify([str(f) for f in files], str(out), format="raw")
    assert verdict.ok, verdict


_TABLE_SCRIPT = """
import fcntl, os, resource, sys, threading
from tailmerge.options import Options
from tailmerge.run import make_run
from tailmerge.sources.limits import reserve_descriptors

def table():
    for line in open("/proc/self/status"):
        if line.startswith("FDSize:"):
            return int(line.split()[1])

def used():
    return sorted(int(n) for n in os.listdir("/proc/self/fd"))

mode, folder = sys.argv[1], sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as tailmerge does; a low soft limit caps the table
if mode == "run":  # a run of every file in the folder grows the table before any thread of its starts
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
    before = table()
    make_run(paths, Options(), [])
    print(before, table(), threading.active_count())
else:  # a descriptor in use above the table is kept; an oversized ask stays below the soft limit
    threading.Thread(target=threading.Event().wait, daemon=True).start()  # as in a run: more than one thread
    with open(os.path.join(folder, "kept"), "w") as f:
        f.write("kept")
    high = fcntl.fcntl(os.open(os.path.join(folder, "kept"), os.O_RDONLY), fcntl.F_DUPFD, 300)
    fds = used()
    reserve_descriptors(3000)
    grown, same = table(), used() == fds
    kept = os.pread(high, 4, 0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4100, hard))
    reserve_descriptors(100_000)
    print(grown, same, kept.decode(), table(), used() == fds)
"""


def test_the_descriptor_table_is_grown_once_before_the_run_starts_its_threads(tmp_path: Path) -> None:
    """While a process has more than one thread, each time the kernel grows its descriptor table it waits
    for an RCU grace period (8-20 ms here): opening 10,000 files one by one waited nine times."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(1500):
        (folder / f"f{i:04d}.log").write_text("a line\n")
    out = subprocess.run([PY, "-c", _TABLE_SCRIPT, "run", str(folder)], capture_output=True, text=True, check=True)
    before, after, threads = map(int, out.stdout.split())
    assert before < 1500 <= after, out.stdout  # made room for every file, before opening any
    assert threads == 1  # and while the process had one thread: the growth waited for nothing
    other = tmp_path / "other"
    other.mkdir()
    out = subprocess.run([PY, "-c", _TABLE_SCRIPT, "limits", str(other)], capture_output=True, text=True, check=True)
    grown, same, kept, capped, still = out.stdout.split()
    assert int(grown) >= 3000 and same == "True" and still == "True"  # no descriptor left open by it
    assert kept == "kept"  # the descriptor above the old table still names its file: none was closed
    # an ask above the soft limit grows the table as far as the limit (the kernel rounds a table up to a
    # power of two), rather than failing and growing nothing
    assert 4096 < int(capped) <= 8192


def test_no_follow_reads_more_files_than_descriptors_in_turn(tmp_path: Path, engine: Engine) -> None:
    files = _files(tmp_path / "logs")
    out = tmp_path / "out.log"
    args = ["follow", "--no-follow", "--engine", engine, str(tmp_path / "logs" / "*.log"), "-o", str(out)]
    res = subprocess.run([PY, "-m", "tailmerge", *args], capture_output=True, timeout=120, preexec_fn=_limited(1024))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stderr == b""  # nothing to say: no file was left out
    assert len(file_lines(out)) == FILES * LINES
    _verified(files, out)


def test_following_more_files_than_descriptors_under_writers(tmp_path: Path, engine: Engine) -> None:
    # the 2,000 files at 1,024 are the test above; following, 700 at 256 close and reopen as much
    files = _files(tmp_path / "logs", FOLLOWED)
    out, err = tmp_path / "out.log", tmp_path / "err"
    merger = _merger(["follow", "--engine", engine, *map(str, files), "-o", str(out), "--idle-exit", "2"], 256, err)
    size = sum(f.stat().st_size for f in files)
    wait_for(lambda: out.exists() and out.stat().st_size == size, timeout=60, what="the lines there at start")
    # a few hundred files written after they were read: most of them were closed to make room since
    written = files[::6]
    assert writer(written, "--rate", "2000", "--count", "6").wait(timeout=60) == 0
    assert merger.wait(timeout=60) == 0, err.read_bytes().decode()
    assert err.read_bytes() == b""
    assert len(file_lines(out)) == FOLLOWED * LINES + len(written) * 6
    _verified(files, out)


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` has stopped (SIGSTOP is delivered asynchronously)."""
    states = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            states.append(Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0])
        except OSError:
            pass  # a thread that has just ended
    return all(state in "tT" for state in states)


def _open_paths(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return found


def test_a_file_rotated_or_deleted_while_closed(tmp_path: Path, engine: Engine) -> None:
    """Two files closed to make room change while the merger is stopped (SIGSTOP), so it cannot see them
    before they are gone from their paths: one is renamed (logrotate) with lines it had not read and a new
    file is made at its path; the other is deleted with a line it had not read."""
    files = _files(tmp_path / "logs", 300, 5)
    out, err = tmp_path / "out.log", tmp_path / "err"
    merger = _merger(["follow", "-v", "--engine", engine, *map(str, files), "-o", str(out)], 128, err)
    try:
        wait_for(lambda: len(file_lines(out)) == 300 * 5, timeout=30, what="the lines there at start")
        merger.send_signal(signal.SIGSTOP)
        wait_for(lambda: _stopped(merger.pid), what="the merger to stop")
        held = _open_paths(merger.pid)
        rotated, deleted = [f for f in files if str(f) not in held][:2]
        with rotated.open("ab") as f:
            f.write(b"rotated late 1\nrotated late 2\n")
        rotated.rename(f"{rotated}.1")
        rotated.write_bytes(b"new file 1\nnew file 2\n")
        read_before = tmp_path / "deleted, as read"
        read_before.write_bytes(deleted.read_bytes())
        with deleted.open("ab") as f:
            f.write(b"deleted late\n")
        deleted.unlink()
        merger.send_signal(signal.SIGCONT)
        wait_for(lambda: len(file_lines(out)) == 300 * 5 + 4, timeout=30, what="the rotated and the new lines")
        time.sleep(0.3)  # nothing more comes
    finally:
        merger.send_signal(signal.SIGCONT)
        merger.send_signal(signal.SIGTERM)
        merger.wait(timeout=30)
    stderr = err.read_bytes().decode()
    assert_no_traceback(err.read_bytes())
    assert merger.returncode == 0, stderr
    assert f"{rotated}: renamed to {rotated}.1 while closed" in stderr
    lost = f"{deleted}: deleted (or moved out of reach) while closed to stay within the open-file limit; read to byte "
    assert stderr.count(lost) == 1, stderr
    assert "too many open files" not in stderr
    kept = [f for f in files if f != deleted]
    _verified([Path(f"{rotated}.1"), read_before, *kept], out)
    assert b"deleted late\n" not in out.read_bytes()
