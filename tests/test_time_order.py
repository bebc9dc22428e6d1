"""Time order (--order time), the time window (--since/--until), and the lines' times through the API."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tailmerge
from tailmerge.core.timestamps import TimeParser
from tailmerge.options import Engine
from tailmerge.sources.start import since_offset

from .conftest import file_lines, run_cli, wait_for
from .conftest import tailmerge as start_tailmerge

BASE = datetime(2026, 11, 25, 21, 0, 0, tzinfo=UTC).timestamp()


def stamp(t: float) -> bytes:
    """An RFC 3339 time with milliseconds, as a logger writes it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].encode() + b"Z"


def write_log(path: Path, times: list[float], name: str) -> list[bytes]:
    lines = [stamp(BASE + t) + b" %s %d\n" % (name.encode(), n) for n, t in enumerate(times)]
    path.write_bytes(b"".join(lines))
    return lines


sorted_offsets = st.lists(st.integers(0, 40).map(lambda n: n / 4), max_size=15).map(sorted)


@settings(max_examples=15, deadline=None)
@given(st.lists(sorted_offsets, min_size=1, max_size=4))
def test_an_exact_time_merge_is_a_stable_sort_of_every_record(tmp_path_factory: pytest.TempPathFactory,
                                                               sources: list[list[float]]) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("sorted")
    paths, everything = [], []
    for k, times in enumerate(sources):
        path = folder / f"s{k}.log"
        lines = write_log(path, times, f"s{k}")
        paths.append(path)
        everything += [(t, k, n, line) for n, (t, line) in enumerate(zip(times, lines, strict=True))]
    merged = [line.data for line in tailmerge.follow(paths, follow=False, order="time")]
    assert merged == [line for *_, line in sorted(everything)]


OFFSETS = {"Z": 0, "+00:00": 0, "+01:00": 3600, "-0530": -19800}
layouts = st.tuples(st.sampled_from([3, 3, 3, 0, 1, 6]), st.sampled_from(["Z", "Z", "+00:00", "+01:00", "-0530"]))


def written(t: float, layout: tuple[int, str]) -> bytes:
    """The time ``BASE + t`` as a logger of this layout (fraction digits, zone) writes it."""
    digits, zone = layout
    wall = datetime.fromtimestamp(BASE + t + OFFSETS[zone], UTC)
    fraction = "." + wall.strftime("%f")[:digits] if digits else ""
    return (wall.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone).encode()


# per source: its layout, its times (in quarter seconds: equal times across sources are common), and
# where it switches to another layout (None: it does not), and whether one line goes back in time
keyed_sources = st.lists(
    st.tuples(
        layouts,
        st.lists(st.integers(0, 24).map(lambda n: n / 4), min_size=1, max_size=40).map(sorted),
        st.none() | st.tuples(st.integers(0, 20), layouts),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(keyed_sources)
def test_an_exact_merge_of_time_texts_is_a_stable_sort_by_time(
    tmp_path_factory: pytest.TempPathFactory,
    sources: list[tuple[tuple[int, str], list[float], tuple[int, tuple[int, str]] | None, bool]],
) -> None:
    """Sources whose times share a layout and zone are merged by the texts of their times (and any other
    source by its times): the output is the stable sort by time (each source's own order kept, a line
    earlier than the one before it waiting as if it had that one's time), in raw output and through the
    API, whose lines carry their parsed times: equal times across sources, fractions of different widths,
    a source that switches its layout midway, Z against +00:00."""
    folder = tmp_path_factory.mktemp("keyed")
    paths, everything, timed = [], [], {}
    for k, (layout, times, switch, back) in enumerate(sources):
        if back and len(times) > 2:
            times[-1], times[-2] = times[-2], times[-1] - 1  # one line back in time
        lines = []
        for n, t in enumerate(times):
            now = switch[1] if switch is not None and n >= switch[0] else layout
            lines.append(written(t, now) + b" s%d %d\n" % (k, n))
        path = folder / f"s{k}.log"
        path.write_bytes(b"".join(lines))
        paths.append(path)
        parser, last = TimeParser(), -math.inf
        for n, line in enumerate(lines):
            own = parser.parse(line)
            assert own is not None
            timed[line] = own
            last = max(last, own)
            everything.append((last, k, n, line))
    expected = [line for *_, line in sorted(everything)]
    out = folder / "out.log"
    progress: list[int] = []
    stats = tailmerge.merge(paths, out, follow=False, order="time", progress=progress.append)
    assert file_lines(out) == expected
    # what each source gave, as the order counted it (a run at a time), and as each release's bytes
    assert stats.per_source == {str(p): p.stat().st_size for p in paths}
    assert sum(progress) == sum(p.stat().st_size for p in paths)
    got = list(tailmerge.follow(paths, follow=False, order="time"))
    assert [line.data for line in got] == expected
    assert [line.time for line in got] == [timed[line] for line in expected]


def test_no_follow_time_order_on_every_engine_with_untimed_first_lines(tmp_path: Path, engine: Engine) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a_lines = write_log(a, [0, 2, 4], "a")
    b_lines = [b"banner without a time\n", *write_log(b, [1, 3], "b")]
    b_lines.insert(2, b"  continued, no time\n")  # takes the time of the line before it
    b.write_bytes(b"".join(b_lines))
    out = tmp_path / "out.log"
    res = run_cli("follow", str(a), str(b), "--no-follow", "--order", "time", "--engine", engine, "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert file_lines(out) == [b_lines[0], a_lines[0], b_lines[1], b_lines[2], a_lines[1], b_lines[3], a_lines[2]]


def test_an_exact_merge_of_one_layout_on_every_engine_resumes_from_its_state(tmp_path: Path, engine: Engine) -> None:
    # one layout and zone everywhere (ordered by the texts of the times); s0 and s2 share every time
    paths, everything = [], []
    for k in range(3):
        times = [(2 * n + k % 2) / 1000 for n in range(5000)]
        path = tmp_path / f"s{k}.log"
        lines = write_log(path, times, f"s{k}")
        paths.append(path)
        everything += [(t, k, n, line) for n, (t, line) in enumerate(zip(times, lines, strict=True))]
    out, state = tmp_path / "out.log", tmp_path / "state.db"
    args = ("follow", *map(str, paths), "--no-follow", "--order", "time", "--engine", engine, "--state", str(state))
    res = run_cli(*args, "-o", str(out))
    assert res.returncode == 0, res.stderr
    expected = [line for *_, line in sorted(everything)]
    assert file_lines(out) == expected
    res = run_cli(*args, "-o", str(out))  # every file was committed at its end: nothing more to write
    assert res.returncode == 0, res.stderr
    assert file_lines(out) == expected


def test_since_and_until_keep_a_window_absolute_or_relative(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = write_log(log, [0, 60, 120, 180], "x")
    since, until = stamp(BASE + 30).decode(), stamp(BASE + 150).decode()
    res = run_cli("follow", str(log), "--no-follow", "--since", since, "--until", until)
    assert res.returncode == 0 and res.stdout == lines[1] + lines[2]
    recent = tmp_path / "recent.log"
    now = time.time()
    recent.write_bytes(b"".join(stamp(now - ago) + b" ago %d\n" % ago for ago in (7200, 1800, 60)))
    res = run_cli("follow", str(recent), "--no-follow", "--since", "1h")
    assert res.stdout.splitlines() == [line for line in recent.read_bytes().splitlines() if b"ago 7200" not in line]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday-ish"), b"yesterday-ish"),
        (("--since", "2026-11-26", "--until", "2026-11-25"), b"after"),
        (("--tz", "Mars/Olympus"), b"Mars/Olympus"),
        (("--order", "time", "--time-regex", "(unclosed"), b"(unclosed"),
        (("--order", "time", "--lateness", "nan"), b"nan"),
    ],
)
def test_bad_times_zones_and_patterns_are_usage_errors(tmp_path: Path, args: tuple[str, ...], message: bytes) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x\n")
    res = run_cli("follow", str(log), "--no-follow", *args)
    assert res.returncode == 2 and b"usage: tailmerge follow" in res.stderr and message in res.stderr


def test_lines_carry_their_time_in_the_api_and_in_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    write_log(log, [0.5, 1.25], "a")
    lines = list(tailmerge.follow([log], follow=False, order="time"))
    assert [line.time for line in lines] == [BASE + 0.5, BASE + 1.25]
    res = run_cli("follow", str(log), "--no-follow", "--order", "time", "--format", "jsonl")
    assert [json.loads(o)["time"] for o in res.stdout.splitlines()] == [BASE + 0.5, BASE + 1.25]


SKEWED_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    path, skew, count, name = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(path, "ab", buffering=0) as f:
        for n in range(count):
            t = datetime.fromtimestamp(time.time() - skew, timezone.utc)
            f.write(("%s %s %d\\n" % (t.strftime("%Y-%m-%dT%H:%M:%S.%f"), name, n)).encode())
            time.sleep(0.005)
    """
)


def test_live_writers_with_skewed_clocks_come_out_in_time_order(tmp_path: Path, engine: Engine) -> None:
    logs = [tmp_path / f"w{i}.log" for i in range(4)]
    for log in logs:
        log.touch()
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", *map(str, logs), "-o", str(out), "--order", "time", "--lateness", "0.5",
                           "--tz", "UTC", "--engine", engine)  # fmt: skip
    count = 200
    writers = [
        subprocess.Popen([sys.executable, "-c", SKEWED_WRITER, str(log), str(skew), str(count), f"w{i}"])
        for i, (log, skew) in enumerate(zip(logs, (0.0, 0.1, 0.2, 0.3), strict=True))
    ]
    for w in writers:
        assert w.wait(timeout=30) == 0
    wait_for(lambda: len(file_lines(out)) == 4 * count, what="every line")
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and b"lateness" not in err, err
    times = [line.split(b" ")[0] for line in file_lines(out)]
    assert times == sorted(times)


def test_an_exact_merge_holds_a_bounded_part_of_each_file(tmp_path: Path) -> None:
    # every line of late.log is later than every line of early.log: without room to wait for, late.log
    # would be held whole while early.log is read
    early, late = tmp_path / "early.log", tmp_path / "late.log"
    lines = 200_000
    for path, start in ((early, 0.0), (late, 10**6)):
        with path.open("wb") as f:
            f.writelines(stamp(BASE + start + n) + b" %0100d\n" % n for n in range(lines))
    small = tmp_path / "small.log"
    write_log(small, [0, 1], "small")
    code = (
        "import resource, sys, tailmerge; "
        "tailmerge.merge(sys.argv[2:], sys.argv[1], follow=False, order='time'); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )

    def peak_kib(*inputs: Path) -> int:
        out = tmp_path / "out.log"
        res = subprocess.run([sys.executable, "-c", code, str(out), *map(str, inputs)], capture_output=True, check=True)
        assert out.stat().st_size == sum(p.stat().st_size for p in inputs)
        return int(res.stdout)

    alone = peak_kib(small)
    held_kib = peak_kib(late, early) - alone
    assert held_kib < late.stat().st_size // 1024 * 3 // 4, held_kib  # held whole, it would be over 1x
    merged = file_lines(tmp_path / "out.log")
    assert merged[lines - 1 : lines + 1] == [stamp(BASE + lines - 1) + b" %0100d\n" % (lines - 1),
                                             stamp(BASE + 10**6) + b" %0100d\n" % 0]  # fmt: skip


def test_verify_checks_time_order_within_the_lateness(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a_lines, b_lines = write_log(a, [0, 2], "a"), write_log(b, [1.5, 3], "b")
    merged = tmp_path / "m.log"
    merged.write_bytes(a_lines[0] + a_lines[1] + b_lines[0] + b_lines[1])  # b's 1.5 after a's 2: 0.5 s late
    inputs = (str(a), str(b), "--merged", str(merged))
    assert run_cli("verify", *inputs).returncode == 0  # every line once, in each file's order
    res = run_cli("verify", *inputs, "--order", "time")
    assert res.returncode == 1 and b"out of time order: output line 3" in res.stdout and b"0.500 s" in res.stdout
    assert run_cli("verify", *inputs, "--order", "time", "--lateness", "0.5").returncode == 0
    merged.write_bytes(a_lines[0] + b_lines[0] + a_lines[1] + b_lines[1])
    res = run_cli("verify", *inputs, "--order", "time")
    assert res.returncode == 0 and res.stdout.endswith(b"and in time order\n")


def test_verify_multiline_checks_whole_records(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    record = stamp(BASE) + b" a failed\nTraceback (most recent call last):\n  File x\nValueError: boom\n"
    a.write_bytes(record)
    b_line = stamp(BASE + 1) + b" b ok\n"
    b.write_bytes(b_line)
    merged = tmp_path / "m.log"
    lines = record.splitlines(keepends=True)
    merged.write_bytes(b"".join(lines[:2]) + b_line + b"".join(lines[2:]))  # b's line inside a's traceback
    inputs = (str(a), str(b), "--merged", str(merged))
    assert run_cli("verify", *inputs).returncode == 0  # line by line it is a merge
    res = run_cli("verify", *inputs, "--multiline", "python")
    assert res.returncode == 1 and b"FAIL" in res.stdout
    merged.write_bytes(record + b_line)
    assert run_cli("verify", *inputs, "--multiline", "python").returncode == 0


def test_since_finds_its_place_in_a_large_sorted_file_by_bisection(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with log.open("wb") as f:
        f.writelines(stamp(BASE + n) + b" %060d\n" % n for n in range(100_000))
    fd = os.open(log, os.O_RDONLY)
    reads = []
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        reads.append(n)
        return real_pread(fd, n, offset)

    try:
        os.pread = counting_pread
        for n in (0, 1, 54_321, 99_999):
            reads.clear()
            offset = since_offset(fd, log.stat().st_size, BASE + n - 0.5, TimeParser().parse)
            assert real_pread(fd, 30, offset).startswith(stamp(BASE + n))
            assert sum(reads) < 40 * 65536  # a few blocks, not the 9 MB file
    finally:
        os.pread = real_pread
        os.close(fd)
    res = run_cli("follow", str(log), "--no-follow", "--since", stamp(BASE + 99_998).decode())
    assert res.stdout == b"".join(log.read_bytes().splitlines(keepends=True)[-2:])


def test_a_stop_writes_every_held_line_in_time_order(tmp_path: Path, engine: Engine) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.touch()
    b.touch()
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(a), str(b), "-o", str(out), "--order", "time", "--lateness", "60",
                           "--engine", engine)  # fmt: skip
    wait_for(lambda: out.exists(), what="the output")
    a_lines = write_log(a, [0, 2, 4], "a")
    time.sleep(0.3)
    b_lines = write_log(b, [1, 3], "b")
    time.sleep(0.5)
    assert a_lines[2] not in file_lines(out)  # b may yet send lines before a's last (4 s): it is held
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert file_lines(out) == sorted(a_lines + b_lines)


def test_held_lines_count_as_growth_for_idle_exit(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.touch()
    b.touch()
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(a), str(b), "-o", str(out), "--order", "time", "--lateness", "30",
                           "--idle-exit", "1")  # fmt: skip
    started = time.monotonic()
    for n in range(6):  # a line every 0.4 s for 2.4 s, each held (b may yet send earlier ones)
        with a.open("ab") as f:
            f.write(stamp(BASE + n) + b" a %d\n" % n)
        time.sleep(0.4)
        assert proc.poll() is None, f"exited after {time.monotonic() - started:.1f} s while a.log grew"
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert len(file_lines(out)) == 6


@pytest.mark.parametrize("engine", ["threads", "mixed"])
def test_an_exact_merge_of_more_full_files_than_the_workers_ends(tmp_path: Path, engine: str) -> None:
    """Each file holds more than the order's room, and there are more of them than the workers run and than
    the mixed engine sends in one job: a leg that waits for room lends its worker, and in time order no leg
    waits behind another in a batch (which deadlocked)."""
    files, lines = 20, 5000
    for f in range(files):
        text = "".join(
            f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{f:06d}Z file {f} line {i} {'x' * 40}\n"
            for i in range(lines)
        )
        (tmp_path / f"f{f:02d}.log").write_text(text)
    out = tmp_path / "out.log"
    argv = [sys.executable, "-m", "tailmerge", "follow", "--no-follow", "--order", "time", "--engine", engine]
    subprocess.run([*argv, str(tmp_path / "*.log"), "-o", str(out)], check=True, timeout=60)
    merged = file_lines(out)
    assert len(merged) == files * lines
    assert merged == sorted(merged, key=lambda line: line[:27])  # every time's text is of one layout
