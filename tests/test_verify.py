"""verify: exact proof that an output is an interleaving of its inputs, each line once and in order."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailmerge import verify
from tailmerge.sinks import labels_for

from .conftest import file_lines, run_cli, tailmerge, wait_for, writer

lines_st = st.lists(st.sampled_from([b"a\n", b"b\n", b"c\n", b"a b\n"]), max_size=8)


def write(tmp: Path, inputs: list[list[bytes]], out: list[bytes]) -> tuple[list[str], str]:
    names = []
    for i, lines in enumerate(inputs):
        p = tmp / f"in{i}.log"
        p.write_bytes(b"".join(lines))
        names.append(str(p))
    m = tmp / "merged.log"
    m.write_bytes(b"".join(out))
    return names, str(m)


@st.composite
def interleaving(draw: st.DrawFn) -> tuple[list[list[bytes]], list[bytes]]:
    inputs = draw(st.lists(lines_st, min_size=1, max_size=4))
    order = draw(st.permutations([i for i, lines in enumerate(inputs) for _ in lines]))
    pos = [0] * len(inputs)
    out = []
    for i in order:
        out.append(inputs[i][pos[i]])
        pos[i] += 1
    return inputs, out


many = settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])


@many
@given(interleaving())
def test_every_interleaving_is_accepted(tmp_path: Path, case: tuple[list[list[bytes]], list[bytes]]) -> None:
    names, merged = write(tmp_path, *case)
    assert verify(names, merged).ok is True


@many
@given(interleaving(), st.data())
def test_a_dropped_doubled_swapped_or_split_line_is_rejected(
    tmp_path: Path, case: tuple[list[list[bytes]], list[bytes]], data: st.DataObject
) -> None:
    inputs, out = case
    if not out:
        return
    i = data.draw(st.integers(0, len(out) - 1))
    kind = data.draw(st.sampled_from(["drop", "double", "swap", "split"]))
    bad = list(out)
    if kind == "drop":
        del bad[i]
    elif kind == "double":
        bad.insert(i, out[i])
    elif kind == "split":
        line = out[i]
        bad[i : i + 1] = [line[:1] + b"\n", line[1:]] if len(line) > 2 else [line, b"\n"]
    else:
        j = data.draw(st.integers(0, len(out) - 1))
        bad[i], bad[j] = bad[j], bad[i]
    # a swap of two equal lines, or of lines from different inputs, can still be a valid merge: ask a model
    names, merged = write(tmp_path, inputs, bad)
    assert verify(names, merged).ok is _is_interleaving(inputs, bad)


def _is_interleaving(inputs: list[list[bytes]], out: list[bytes]) -> bool:
    """Brute force, for small cases: can ``out`` be produced by interleaving ``inputs``?"""
    memo: dict[tuple[int, ...], bool] = {}

    def go(pos: tuple[int, ...]) -> bool:
        i = sum(pos)
        if i == len(out):
            return all(p == len(s) for p, s in zip(pos, inputs, strict=True))
        if pos not in memo:
            memo[pos] = any(
                p < len(s) and s[p] == out[i] and go((*pos[:j], p + 1, *pos[j + 1 :]))
                for j, (p, s) in enumerate(zip(pos, inputs, strict=True))
            )
        return memo[pos]

    return go((0,) * len(inputs))


def test_shared_lines_need_search_not_greedy_matching(tmp_path: Path) -> None:
    names, merged = write(tmp_path, [[b"a\n", b"x\n"], [b"a\n", b"y\n"]], [b"a\n", b"y\n", b"a\n", b"x\n"])
    assert verify(names, merged).ok is True


def test_failures_name_the_line_and_what_is_wrong(tmp_path: Path) -> None:
    inputs = [[b"one\n", b"two\n", b"three\n"], [b"alpha\n"]]
    cases = {
        "missing": [b"one\n", b"alpha\n", b"three\n"],
        "doubled": [b"one\n", b"one\n", b"two\n", b"three\n", b"alpha\n"],
        "out of order": [b"one\n", b"three\n", b"two\n", b"alpha\n"],
        "split": [b"one\n", b"tw\n", b"o\n", b"three\n", b"alpha\n"],
        "glued": [b"onetwo\n", b"three\n", b"alpha\n"],
        "unknown": [b"one\n", b"two\n", b"three\n", b"alpha\n", b"stranger\n"],
    }
    for kind, out in cases.items():
        names, merged = write(tmp_path, inputs, out)
        verdict = verify(names, merged)
        assert verdict.ok is False and verdict.message.startswith(kind), (kind, verdict.message)


def test_the_search_says_when_its_budget_runs_out(tmp_path: Path) -> None:
    # identical inputs make every line a choice; a missing last line forces the whole search
    inputs = [[b"same\n"] * 30 + [b"end\n"] for _ in range(3)]
    out = [b"same\n"] * 90 + [b"end\n", b"end\n"]
    names, merged = write(tmp_path, inputs, out)
    verdict = verify(names, merged, budget=50)
    assert verdict.ok is None and "budget" in verdict.message
    res = run_cli("verify", *names, "--merged", merged, "--budget", "50")
    assert res.returncode == 3


def test_labeled_and_jsonl_outputs_are_checked_per_input(tmp_path: Path) -> None:
    names, merged = write(tmp_path, [[b"a\n", b"b\n"], [b"a\n"]], [])
    labels = labels_for(names)
    good = [f"{labels[1]} | a\n", f"{labels[0]} | a\n", f"{labels[0]} | b\n"]
    Path(merged).write_text("".join(good))
    assert verify(names, merged, format="labeled").ok is True
    Path(merged).write_text("".join([good[0], good[2], good[1]]))
    assert verify(names, merged, format="labeled").ok is False
    rows = [{"path": names[0], "offset": 2, "line": "a"}, {"path": names[1], "offset": 2, "line": "a"},
            {"path": names[0], "offset": 4, "line_base64": "Yg=="}]  # fmt: skip
    Path(merged).write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert verify(names, merged, format="jsonl").ok is True


def test_verify_is_fast_on_large_inputs(tmp_path: Path) -> None:
    """8 inputs of 100k lines: the CLI answers in seconds (the time is the benchmark's to report)."""
    inputs = [[b"%d line %d of input\n" % (i, n) for n in range(100_000)] for i in range(8)]
    out = [line for group in zip(*inputs, strict=True) for line in group]
    names, merged = write(tmp_path, inputs, out)
    res = run_cli("verify", *names, "--merged", merged, timeout=60)
    assert res.returncode == 0, res.stdout
    assert b"800000 lines" in res.stdout


# -- attributed outputs: rotated generations, labels that grew, headers -------------------------------


def jsonl(rows: list[tuple[Path, str]]) -> str:
    """A JSONL output as follow writes it, with keys verify does not know (they are ignored)."""
    return "".join(
        json.dumps({"path": str(p), "inode": 7, "offset": 0, "line": t, "cut": False}) + "\n" for p, t in rows
    )


def labeled(rows: list[tuple[str, str]], width: int = 0) -> str:
    """A labeled output with coloured labels padded to ``width``, as follow writes it."""
    return "".join(f"\x1b[31m{label.ljust(width)}\x1b[0m | {text}\n" for label, text in rows)


def rotated(tmp: Path, *suffixes: str) -> tuple[list[Path], Path]:
    """app.log's generations (the first suffix the oldest, ending with app.log itself) and other.log."""
    gens = [tmp / f"app.log{s}" for s in suffixes]
    for g, lines in zip(gens, (["l1", "l2"], ["l3", "l4", "l5"], ["l6"]), strict=False):
        g.write_text("".join(f"{t}\n" for t in lines))
    other = tmp / "other.log"
    other.write_text("o1\no2\n")
    return gens, other


ROTATED = [("app", "l1"), ("other", "o1"), ("app", "l2"), ("app", "l3"), ("app", "l4"), ("other", "o2"),
           ("app", "l5"), ("app", "l6")]  # fmt: skip


def test_rotated_generations_in_jsonl_are_read_as_one_sequence(tmp_path: Path) -> None:
    gens, other = rotated(tmp_path, ".2", ".1", "")
    log = gens[-1]
    merged = tmp_path / "m.jsonl"
    merged.write_text(jsonl([(log if who == "app" else other, t) for who, t in ROTATED]))
    res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged), "--format", "jsonl")
    assert res.returncode == 0, res.stdout
    assert res.stdout == b"OK: 8 lines from 4 inputs, each exactly once and in order\n"
    # generations given newest first: the message names the files, not the path in the output
    res = run_cli("verify", *map(str, [gens[1], gens[0], gens[2], other]), "--merged", str(merged))
    assert res.returncode == 1
    assert f"out of order: output line 1 ('l1') is {gens[0]} line 1, before {gens[1]} line 1" in res.stdout.decode()
    merged.write_text(jsonl([(log if who == "app" else other, t) for who, t in ROTATED if t != "l4"]))
    res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged))
    assert res.returncode == 1
    assert f"missing: {gens[1]} line 2 ('l4') is not in the output before output line 6 ('l5')" in res.stdout.decode()


def test_rotated_generations_in_labeled_output_with_dated_names(tmp_path: Path) -> None:
    gens, other = rotated(tmp_path, "-20261124", "-20261125", "")
    merged = tmp_path / "m.log"
    merged.write_text(labeled([("app.log" if who == "app" else "other.log", t) for who, t in ROTATED], width=9))
    res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged), "--format", "labeled")
    assert res.returncode == 0, res.stdout
    assert verify([*map(str, gens), str(other)], str(merged)).ok is True
    # a file that the output names itself is not another path's generation
    (tmp_path / "app.logger").write_text("g1\n")
    rows = [("app.log", "l1"), ("app.logger", "g1"), *(("app.log", t) for t in ["l2", "l3", "l4", "l5", "l6"])]
    merged.write_text(labeled(rows))
    assert verify([str(tmp_path / "app.logger"), *map(str, gens)], str(merged)).ok is True


def test_labels_that_grew_match_every_input_they_are_a_suffix_of(tmp_path: Path) -> None:
    one, two = tmp_path / "h" / "one" / "x.log", tmp_path / "h" / "two" / "x.log"
    one.parent.mkdir(parents=True)
    two.parent.mkdir()
    one.write_text("same\na2\na3\n")
    two.write_text("same\nb2\n")
    # one/x.log was alone ("x.log"), then two/x.log joined and its label grew; both start with the same
    # line, and two/x.log is given first, so the first line's input is only found by searching
    rows = [("x.log", "same"), ("x.log", "a2"), ("two/x.log", "same"), ("one/x.log", "a3"), ("two/x.log", "b2")]
    merged = tmp_path / "m.log"
    merged.write_text(labeled(rows, width=9))
    res = run_cli("verify", str(two), str(one), "--merged", str(merged))
    assert res.returncode == 0, res.stdout
    merged.write_text(labeled([rows[1], rows[0], *rows[2:]]))
    res = run_cli("verify", str(two), str(one), "--merged", str(merged), "--format", "labeled")
    assert res.returncode == 1
    assert f"out of order: output line 1 ('a2') is {one} line 2, before its line 1" in res.stdout.decode()


def test_headers_output_is_checked_per_header(tmp_path: Path) -> None:
    gens, other = rotated(tmp_path, ".1", "")  # two generations: l1..l5
    text, last = "", ""
    for who, t in ROTATED[:-1]:
        path = str(gens[-1] if who == "app" else other)
        if path != last:  # as tail prints them: a blank line between groups, a header before each
            text += ("\n" if last else "") + f"==> {path} <==\n"
        text += t + "\n"
        last = path
    merged = tmp_path / "m.log"
    merged.write_text(text)
    res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged))
    assert res.returncode == 0, res.stdout
    merged.write_text(text.replace("l4\n", ""))
    res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged), "--format", "headers")
    assert res.returncode == 1
    # line numbers count the headers and the blank lines before them
    assert f"missing: {gens[1]} line 2 ('l4') is not in the output before output line 15 ('l5')" in res.stdout.decode()


@many
@given(st.lists(st.tuples(lines_st, st.lists(st.integers(0, 8), max_size=2)), min_size=1, max_size=3), st.data())
def test_generations_are_checked_as_their_concatenation(
    tmp_path: Path, inputs: list[tuple[list[bytes], list[int]]], data: st.DataObject
) -> None:
    """Each input cut into generations: a JSONL output is accepted exactly when each path's lines, in the
    output's order, are its generations' lines one after another."""
    names, bases = [], []
    for i, (lines, cuts) in enumerate(inputs):
        base = tmp_path / f"in{i}.log"
        bounds = [0, *sorted(c % (len(lines) + 1) for c in cuts), len(lines)]
        n_gens = len(bounds) - 1
        for g in range(n_gens):  # oldest first, numbered as logrotate does: in0.log.2, in0.log.1, in0.log
            gen = base.with_name(f"{base.name}.{n_gens - 1 - g}") if g < n_gens - 1 else base
            gen.write_bytes(b"".join(lines[bounds[g] : bounds[g + 1]]))
            names.append(str(gen))
        bases += [i] * len(lines)
    order = data.draw(st.permutations(bases))
    taken = [0] * len(inputs)
    out: list[tuple[int, bytes]] = []
    for i in order:  # any interleaving that keeps each path's lines in order
        out.append((i, inputs[i][0][taken[i]]))
        taken[i] += 1
    if data.draw(st.booleans()) and out:  # a mutated output, half the time
        k = data.draw(st.integers(0, len(out) - 1))
        kind = data.draw(st.sampled_from(["drop", "double", "swap"]))
        if kind == "drop":
            del out[k]
        elif kind == "double":
            out.insert(k, out[k])
        else:
            j = data.draw(st.integers(0, len(out) - 1))
            out[k], out[j] = out[j], out[k]
    merged = tmp_path / "m.jsonl"
    merged.write_text(jsonl([(tmp_path / f"in{i}.log", line.decode()[:-1]) for i, line in out]))
    expected = all([line for j, line in out if j == i] == lines for i, (lines, _) in enumerate(inputs))
    assert verify(names, str(merged), format="jsonl").ok is expected


# -- inputs as globs, the format told from the output -----------------------------------------------


def test_inputs_can_be_glob_patterns_as_for_follow(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "a.log").write_text("a1\na2\n")
    (logs / "b.log").write_text("b1\n")
    (logs / "sub" / "c.log").write_text("c1\n")
    merged = logs / "merged.log"  # matched by the patterns too: left out, as follow leaves out its output
    merged.write_text("b1\na1\na2\n")
    res = run_cli("verify", f"{logs}/*.log", "--merged", str(merged))
    assert res.returncode == 0, res.stdout
    assert b"from 2 inputs" in res.stdout
    merged.write_text("c1\nb1\na1\na2\n")
    res = run_cli("verify", f"{logs}/**/*.log", "--merged", str(merged))  # ** crosses folders
    assert res.returncode == 0, res.stdout
    assert b"from 3 inputs" in res.stdout
    assert verify([f"{logs}/**/*.log"], str(merged)).ok is True
    res = run_cli("verify", f"{logs}/*.log", f"{logs}/*.txt", "--merged", str(merged))
    assert res.returncode == 2
    assert f"{logs}/*.txt: no file matches".encode() in res.stderr


def test_a_glob_lists_rotated_generations_oldest_first(tmp_path: Path) -> None:
    # logrotate's numbering: app.log.2 is older than app.log.1, which is older than app.log
    for age, (name, text) in enumerate([("app.log.2", "g1\n"), ("app.log.1", "g2\n"), ("app.log", "g3\n")]):
        path = tmp_path / name
        path.write_text(text)
        os.utime(path, ns=(10**18 + age * 10**9, 10**18 + age * 10**9))
    merged = tmp_path / "m.jsonl"
    merged.write_text(
        "".join(json.dumps({"path": str(tmp_path / "app.log"), "line": t}) + "\n" for t in "g1 g2 g3".split())
    )
    res = run_cli("verify", str(tmp_path / "app.log*"), "--merged", str(merged))
    assert res.returncode == 0, res.stdout


def test_labeled_and_jsonl_outputs_are_recognised_without_format(tmp_path: Path) -> None:
    gens, other = rotated(tmp_path, ".1", "")
    rows = [(who, t) for who, t in ROTATED if t != "l6"]
    merged = tmp_path / "m.out"
    for text in (
        labeled([("app.log" if who == "app" else "other.log", t) for who, t in rows]),
        jsonl([(gens[-1] if who == "app" else other, t) for who, t in rows]),
    ):
        merged.write_text(text)
        res = run_cli("verify", *map(str, gens), str(other), "--merged", str(merged))
        assert res.returncode == 0, res.stdout
        assert verify([*map(str, gens), str(other)], str(merged)).ok is True


@pytest.mark.parametrize("fmt", ["labeled", "jsonl"])
def test_a_failed_raw_check_says_which_format_the_output_looks_like(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    merged = tmp_path / "m.out"
    merged.write_text(labeled([("app.log", "one"), ("app.log", "two")]) if fmt == "labeled" else jsonl([(log, "one")]))
    res = run_cli("verify", str(log), "--merged", str(merged), "--format", "raw")
    assert res.returncode == 1
    assert f"the output looks like {fmt} output: try --format {fmt}".encode() in res.stdout
    # told apart without --format: labeled passes, the JSONL output is really missing a line
    res = run_cli("verify", str(log), "--merged", str(merged))
    assert res.returncode == (0 if fmt == "labeled" else 1), res.stdout
    assert b"try --format" not in res.stdout


def test_raw_lines_that_look_labeled_are_still_proven_raw(tmp_path: Path) -> None:
    # "a | x" looks like the label "a" (a prefix of a.log's name): read as labeled it fails, as raw it holds
    log = tmp_path / "a.log"
    log.write_text("a | x\na | y\n")
    merged = tmp_path / "m.out"
    merged.write_text("a | x\na | y\n")
    assert verify([str(log)], str(merged)).ok is True
    assert verify([str(log)], str(merged), format="labeled").ok is False


# -- a real follower over a rotating log --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "labeled"])
def test_a_real_merge_of_a_rotating_log_verifies_against_its_generations(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("before the writer\n")
    merged = tmp_path / f"m.{fmt}"
    proc = tailmerge("follow", str(log), "--format", fmt, "-o", str(merged))
    # the follower must hold app.log before the first rotation: a generation it never saw it cannot read
    wait_for(lambda: len(file_lines(merged)) == 1, what="the follower to start")
    # 100 ms a generation: at 25 ms (2000 lines/s) a follower descheduled across two rotations under load
    # never sees the middle generation, a limit of following by name
    w = writer([log], "--rotate", "rename", "--rotate-every", "50", "--count", "200", "--rate", "500")
    assert w.wait(timeout=30) == 0
    wait_for(lambda: len(file_lines(merged)) == 201, timeout=20, what="every line")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    # this writer numbers generations oldest first: app.log.1 is the first rotated away
    gens = [*sorted(tmp_path.glob("app.log.*"), key=lambda p: int(p.suffix[1:])), log]
    assert len(gens) == 5
    res = run_cli("verify", *map(str, gens), "--merged", str(merged), "--format", fmt)
    assert res.returncode == 0, res.stdout
    assert res.stdout == b"OK: 201 lines from 5 inputs, each exactly once and in order\n"
    res = run_cli("verify", *map(str, reversed(gens)), "--merged", str(merged))  # newest first: wrong order
    assert res.returncode == 1 and b"out of order" in res.stdout
