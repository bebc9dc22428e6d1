"""The command line's contract: usage errors, bad inputs, output trouble, closed pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailmerge.cli import cli
from tailmerge.options import Engine

from .conftest import PY, assert_no_traceback, file_lines, needs_root, run_cli, tailmerge, wait_for


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["follow"],
        ["follow", "a.log", "--engine", "fibers"],
        ["follow", "a.log", "--poll-interval", "0"],
        ["follow", "a.log", "--max-line-bytes", "1"],
        ["follow", "a.log", "--idle-exit", "soon"],
        ["verify", "a.log"],
        ["frobnicate"],
        ["serve", "a.log", "--port", "99999"],
        ["serve", "a.log", "--port", "-1"],
        ["follow", "a.log", "--serve", "99999"],
        ["follow", "a.log", "--serve", "localhost:http"],
        ["follow", "a.log", "-o", "redis://127.0.0.1:6379/s", "--maxlen", "0"],
    ],
)
def test_usage_errors_exit_2_with_the_usage(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(*args) == 2
    assert "usage: tailmerge" in capsys.readouterr().err


def test_output_that_is_also_an_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"x\n")
    assert cli("follow", str(a), "-o", str(a), "--no-follow") == 2
    assert "also an input" in capsys.readouterr().err
    assert a.read_bytes() == b"x\n"


def test_a_missing_file_is_followed_once_it_appears(tmp_path: Path, engine: Engine) -> None:
    present, later = tmp_path / "present.log", tmp_path / "sub" / "later.log"
    present.write_bytes(b"here\n")
    out = tmp_path / "out.log"
    proc = tailmerge("follow", str(present), str(later), "-o", str(out), "--engine", engine)
    wait_for(lambda: file_lines(out) == [b"here\n"], what="the present file")
    later.parent.mkdir()  # the folder appears too, after start
    later.write_bytes(b"late\n")
    wait_for(lambda: len(file_lines(out)) == 2, what="the late file")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert f"{later}: no such file".encode() in err
    assert sorted(file_lines(out)) == [b"here\n", b"late\n"]


# as root, permissions are not enforced: run tailmerge without the capability that overrides them
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@needs_root
def test_an_unreadable_file_is_named_and_the_others_go_on(tmp_path: Path, engine: Engine) -> None:
    ok, secret = tmp_path / "ok.log", tmp_path / "secret.log"
    ok.write_bytes(b"fine\n")
    secret.write_bytes(b"hidden\n")
    secret.chmod(0o000)
    out = tmp_path / "out.log"
    res = subprocess.run(
        [*NO_DAC, PY, "-m", "tailmerge", "follow", str(secret), str(ok), "-o", str(out), "--no-follow",
         "--engine", engine],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr  # as tail: the rest is merged, the status says not everything was
    assert f"{secret}: permission denied".encode() in res.stderr
    assert_no_traceback(res.stderr)
    assert out.read_bytes() == b"fine\n"


@needs_root
def test_permission_given_back_resumes_the_file(tmp_path: Path, engine: Engine) -> None:
    f = tmp_path / "flaky.log"
    f.write_bytes(b"one\n")
    f.chmod(0o000)
    out = tmp_path / "out.log"
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [*NO_DAC, PY, "-m", "tailmerge", "follow", str(f), "-o", str(out), "--engine", engine], stderr=err
        )
    wait_for(lambda: b"flaky.log: permission denied" in errors.read_bytes(), what="the refusal")
    f.chmod(0o644)
    wait_for(lambda: file_lines(out) == [b"one\n"], what="the line after chmod")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0


@pytest.fixture
def small_fs() -> Iterator[Path]:
    """A real 64 KiB tmpfs, to fill up or make read-only."""
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts a tmpfs")
    d = Path(tempfile.mkdtemp(prefix="tailmerge-fs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)
        d.rmdir()


def test_disk_full_is_a_clear_error_and_nothing_written_is_lost(tmp_path: Path, small_fs: Path, engine: Engine) -> None:
    src = tmp_path / "big.log"
    lines = [b"%06d %s\n" % (i, b"y" * 90) for i in range(2000)]  # ~200 KB: more than fits
    src.write_bytes(b"".join(lines))
    out = small_fs / "out.log"
    res = run_cli("follow", str(src), "-o", str(out), "--no-follow", "--engine", engine)
    assert res.returncode == 1
    assert f"cannot write to {out}: No space left on device".encode() in res.stderr
    assert_no_traceback(res.stderr)
    written = out.read_bytes()
    assert written and lines[0] + lines[1] == written[: len(lines[0]) * 2]
    assert b"".join(lines).startswith(written)  # a prefix: nothing written was lost or mangled


def test_read_only_output_is_a_clear_error(tmp_path: Path, small_fs: Path, engine: Engine) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(b"x\n")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    res = run_cli("follow", str(src), "-o", str(small_fs / "out.log"), "--no-follow", "--engine", engine)
    assert res.returncode == 1
    assert b"Read-only file system" in res.stderr and str(small_fs).encode() in res.stderr
    assert_no_traceback(res.stderr)


def test_a_closed_pipe_ends_quietly(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "big.log"
    src.write_bytes(b"".join(b"line %d\n" % i for i in range(200_000)))
    res = subprocess.run(
        f"{PY} -m tailmerge follow {src} --engine {engine} | head -1; echo status=${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.stdout.startswith(b"line 0\nstatus=141"), res.stdout
    assert res.stderr == b""


def test_a_closed_pipe_leaves_unread_lines_unmentioned(tmp_path: Path, engine: Engine) -> None:
    # labeled: the bytes are read, and a step (8 MiB) ends mid-line, so the stop leaves a part line unread;
    # the reader asked for no more (as with cat | head), so that is said only with -v
    src = tmp_path / "big.log"
    src.write_bytes(b"line 0000000\n" * 4_000_000)  # 52 MB: six steps

    def head(*flags: str) -> subprocess.CompletedProcess[bytes]:
        follow = f"{PY} -m tailmerge follow --no-follow --format labeled --engine {engine} {' '.join(flags)}"
        return subprocess.run(
            f"{follow} {src} | head -1; echo status=${{PIPESTATUS[0]}}",
            shell=True, executable="/bin/bash", capture_output=True, timeout=30,
        )  # fmt: skip

    quiet, verbose = head(), head("-v")
    assert quiet.stdout == verbose.stdout == b"big.log | line 0000000\nstatus=141\n", quiet.stdout
    assert quiet.stderr == b""
    # 8 MiB = 645,277 lines and 7 bytes: nothing was read after the first step, whose write found the
    # reader gone (letting the follower go before the run was stopped, one more step was read)
    assert b"big.log: 7 bytes of an unfinished line not read" in verbose.stderr, verbose.stderr


def test_sighup_reopens_the_output(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(b"before\n")
    out = tmp_path / "out.log"
    proc = tailmerge("follow", str(src), "-o", str(out), "--engine", engine)
    wait_for(lambda: file_lines(out) == [b"before\n"], what="the first line")
    os.rename(out, tmp_path / "out.log.1")  # logrotate moves our output away ...
    proc.send_signal(signal.SIGHUP)  # ... and tells us
    wait_for(lambda: out.exists(), what="the reopened output")
    with src.open("ab") as f:
        f.write(b"after\n")
    wait_for(lambda: file_lines(out) == [b"after\n"], what="the line in the new output")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)
    assert (tmp_path / "out.log.1").read_bytes() == b"before\n"


def test_existing_output_is_truncated_unless_append(tmp_path: Path) -> None:
    src, out = tmp_path / "a.log", tmp_path / "out.log"
    src.write_bytes(b"new\n")
    out.write_bytes(b"old\n")
    assert cli("follow", str(src), "-o", str(out), "--no-follow") == 0
    assert out.read_bytes() == b"new\n"
    assert cli("follow", str(src), "-o", str(out), "--no-follow", "--append") == 0
    assert out.read_bytes() == b"new\nnew\n"


def test_no_follow_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    src = tmp_path / "a.log"
    src.write_bytes(b"x" * 100 + b"\n")
    out = tmp_path / "out.log"
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a real terminal has a size
    proc = subprocess.Popen([PY, "-m", "tailmerge", "follow", str(src), "-o", str(out), "--no-follow"],
                            stderr=terminal)  # fmt: skip
    os.close(terminal)
    shown = b""

    def read_terminal() -> None:
        nonlocal shown
        try:
            while chunk := os.read(controller, 4096):
                shown += chunk
        except OSError:
            pass  # EIO: the terminal's other side is closed

    reader = threading.Thread(target=read_terminal)
    reader.start()
    assert proc.wait(timeout=30) == 0
    reader.join(timeout=5)
    os.close(controller)
    assert b"tailmerge" in shown and b"101" in shown, shown  # a tqdm bar with the byte count
    piped = run_cli("follow", str(src), "-o", str(out), "--no-follow")
    assert piped.stderr == b""  # never in a pipe
