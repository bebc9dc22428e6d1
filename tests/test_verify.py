"""verify: exact proof that an output is an interleaving of its inputs, each line once and in order."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailmerge import verify
from tailmerge.sinks import labels_for

from .conftest import run_cli

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
    """8 inputs of 200k lines: the CLI answers in seconds (the time is the benchmark's to report)."""
    inputs = [[b"%d line %d of input\n" % (i, n) for n in range(200_000)] for i in range(8)]
    out = [line for group in zip(*inputs, strict=True) for line in group]
    names, merged = write(tmp_path, inputs, out)
    res = run_cli("verify", *names, "--merged", merged, timeout=60)
    assert res.returncode == 0, res.stdout
    assert b"1600000 lines" in res.stdout
