"""The command line keeps freed heap for a merge that copies what it reads (by time, or into a format other
than raw), and collects cycles less often, in its own process and only there."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tailmerge import _heap
from tailmerge.cli import cli, main

from .test_time_order import BASE, stamp, write_log

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt's parameters are glibc's")
def test_glibc_takes_the_settings() -> None:
    # in a process of its own, as the command line does it: not the test run's allocator
    check = "import sys; from tailmerge._heap import keep_freed_heap; sys.exit(0 if keep_freed_heap() else 3)"
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0


def test_only_the_console_entry_point_tunes_the_collector_and_only_a_merge_that_copies_the_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def keep_freed_heap() -> bool:
        calls.append("heap")
        return True

    monkeypatch.setattr(_heap, "keep_freed_heap", keep_freed_heap)
    monkeypatch.setattr(_heap, "collect_less", lambda: calls.append("gc"))
    log = tmp_path / "a.log"
    write_log(log, [0, 1], "a")
    args = ["follow", "--no-follow", "-o", str(tmp_path / "out.log"), str(log)]
    assert cli(*args, "--order", "time") == 0  # inside a test's process: its allocator is not ours
    assert calls == []
    assert cli(*args, own_process=True) == 0  # raw in arrival order: moved by the kernel, the collector only
    assert calls == ["gc"]
    assert cli(*args, "--format", "labeled", own_process=True) == 0  # each step copied into its format
    assert calls == ["gc", "gc", "heap"]
    monkeypatch.setattr(sys, "argv", ["tailmerge", *args, "--order", "time"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert calls == ["gc", "gc", "heap", "gc", "heap"]


def test_the_collector_runs_less_often_in_a_process_of_our_own() -> None:
    before = gc.get_threshold()
    try:
        _heap.collect_less()
        assert gc.get_threshold()[0] == _heap.YOUNG > before[0]
    finally:
        gc.set_threshold(*before)


def test_the_command_line_still_holds_a_bounded_part_of_each_file(tmp_path: Path) -> None:
    # as test_time_order's bound through the API, with the heap kept: every line of late.log is later than
    # every line of early.log, so late.log would be held whole if its follower did not wait for room
    early, late = tmp_path / "early.log", tmp_path / "late.log"
    for path, start in ((early, 0.0), (late, 10**6)):
        with path.open("wb") as f:
            f.writelines(stamp(BASE + start + n) + b" %0100d\n" % n for n in range(200_000))
    small = tmp_path / "small.log"
    write_log(small, [0, 1], "small")

    def peak_kib(*inputs: Path) -> int:
        out = tmp_path / "out.log"
        argv = [sys.executable, "-m", "tailmerge", "follow", "--no-follow", "--order", "time", "-o", str(out)]
        pid = os.posix_spawn(sys.executable, [*argv, "--", *map(str, inputs)], os.environ)
        _, status, usage = os.wait4(pid, 0)  # this child's own peak
        assert os.waitstatus_to_exitcode(status) == 0
        assert out.stat().st_size == sum(p.stat().st_size for p in inputs)
        return usage.ru_maxrss

    held_kib = peak_kib(late, early) - peak_kib(small)
    assert held_kib < late.stat().st_size // 1024 * 3 // 4, held_kib  # held whole, it would be over 1x
