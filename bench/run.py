"""Benchmark tailmerge against itself (three engines) and GNU tail -F / cat.

    /tmp/venv/bin/python bench/run.py [--quick] [--runs N] [--scenarios a,b,...]

Run it with the interpreter that has tailmerge installed. Contenders run one after another, interleaved
per repetition (the order rotates every repetition); tables show medians over repetitions, ratios to a
reference contender in the same repetition, and totals of lost/doubled/split lines. The markdown goes to
stdout, progress to stderr, and everything measured to bench/results/<time>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

import procs
from report import Record, commit, machine, markdown_table, target_rows
from scenarios import FULL, QUICK, Scenario, make_scenarios

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
# what the mergers rightly say about rotation and truncation: not anomalies
EXPECTED_STDERR = ("tail: ", ": truncated (size ", ": rotated; ", ": deleted")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = list(make_scenarios(FULL, Path("/")))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run (under ~2 minutes)")
    p.add_argument("--runs", type=int, default=None, help="repetitions per contender (default 3; --quick: 1)")
    p.add_argument("--scenarios", default=",".join(names), help=f"comma-separated subset of: {','.join(names)}")
    p.add_argument("--tmp", default=None, help="directory for the data (default: the system temp dir)")
    ns = p.parse_args(argv)
    ns.scenarios = [s.strip() for s in ns.scenarios.split(",") if s.strip()]
    unknown = [s for s in ns.scenarios if s not in names]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if ns.runs is None:
        ns.runs = 1 if ns.quick else 3
    if ns.runs < 1:
        p.error("--runs must be at least 1")
    return ns


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_scenario(scenario: Scenario, runs: int) -> list[Record]:
    """Every contender, ``runs`` times, interleaved: repetition r starts with contender r (mod n)."""
    records: list[Record] = []
    contenders = scenario.contenders()
    timed_out: set[str] = set()
    _progress(f"== {scenario.name}: setting up")
    scenario.setup()
    try:
        for rep in range(runs):
            shift = rep % len(contenders)
            for c in contenders[shift:] + contenders[:shift]:
                record = Record(scenario.name, c.name, rep)
                records.append(record)
                if c.name in timed_out:
                    record.skipped = "timed out in an earlier repetition"
                    continue
                started = time.monotonic()
                try:
                    outcome = scenario.run(c, rep)
                except Exception as e:  # a harness failure: recorded, and the other runs go on
                    record.error = f"{type(e).__name__}: {e}"
                    _progress(traceback.format_exc())
                    continue
                record.metrics, record.notes = outcome.metrics, outcome.notes
                if scenario.skip_after_timeout and outcome.metrics.get("timeout"):
                    timed_out.add(c.name)
                _progress(f"   run {rep + 1}/{runs} {c.name:<18} {time.monotonic() - started:6.1f} s  {_brief(record)}")
    finally:
        scenario.teardown()
    return records


def _brief(record: Record) -> str:
    keys = ("p99_ms", "idle_cpu_s", "mb_s", "ready_s", "lost", "doubled", "split", "timeout", "killed")
    return " ".join(f"{k}={record.metrics[k]:.4g}" for k in keys if k in record.metrics)


def render(scenarios: Sequence[Scenario], records: Sequence[Record], info: dict[str, str], runs: int) -> str:
    out = [f"Runs per contender: {runs}. Machine: {info['nproc']} x {info['cpu']}, {info['kernel']}, "
           f"Python {info['python']}, tailmerge {info['tailmerge_commit']} (at the end: "
           f"{info['tailmerge_commit_at_end']}), {info['date']}.", ""]  # fmt: skip
    target_lines: list[list[str]] = []
    for s in scenarios:
        mine = [r for r in records if r.scenario == s.name]
        names = [c.name for c in s.contenders()]
        out += [f"### {s.title} (`{s.name}`)", "", s.describe(), "", markdown_table(mine, names, s.columns(), s.ref)]
        out += _anomalies(mine)
        target_lines += target_rows(mine, s.targets(), s.ref)
    if target_lines:
        head = ["target", "contender", "measured", "verdict", "gap"]
        rows = [head, ["---"] * len(head), *target_lines]
        out += ["### Targets", "", *("| " + " | ".join(r) + " |" for r in rows)]
    return "\n".join(out) + "\n"


def _anomalies(records: Sequence[Record]) -> list[str]:
    """Runs that failed, hung at stop, exited badly, or lost/doubled/split lines; stderr of tailmerge."""
    found = []
    for r in records:
        m = r.metrics
        problems = [f"{k}={m[k]:g}" for k in ("lost", "doubled", "split", "timeout", "killed") if m.get(k)]
        if r.error:
            problems.append(f"harness error: {r.error}")
        if r.contender != "tail -F" and not math.isnan(m.get("exit", 0.0)) and m.get("exit", 0.0) != 0:
            problems.append(f"exit status {m['exit']:g}")
        notes = [n for n in r.notes if not any(benign in n for benign in EXPECTED_STDERR)]
        if notes:
            problems.append("stderr/notes: " + " / ".join(notes[:3]))
        if problems:
            found.append(f"- run {r.rep + 1}, {r.contender}: " + "; ".join(problems))
    return ["", "Anomalies:", "", *found, ""] if found else [""]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parse(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    procs.raise_nofile()
    sizes = QUICK if ns.quick else FULL
    info = machine(REPO)
    started = time.monotonic()
    records: list[Record] = []
    root = Path(tempfile.mkdtemp(prefix="tailmerge-bench-", dir=ns.tmp))
    scenarios = [s for name, s in make_scenarios(sizes, root).items() if name in ns.scenarios]
    try:
        for scenario in scenarios:
            records += run_scenario(scenario, ns.runs)
    except KeyboardInterrupt:
        _progress("interrupted: stopping every child and removing the data")
        return 130
    finally:
        procs.kill_all()
        shutil.rmtree(root, ignore_errors=True)
    info["tailmerge_commit_at_end"] = commit(REPO)
    if info["tailmerge_commit_at_end"] != info["tailmerge_commit"]:
        _progress(f"note: the checkout changed during the run ({info['tailmerge_commit_at_end']} at the end)")
    text = render(scenarios, records, info, ns.runs)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    payload = {
        "argv": sys.argv,
        "quick": ns.quick,
        "runs": ns.runs,
        "machine": info,
        "duration_s": time.monotonic() - started,
        "records": [asdict(r) for r in records],
        "markdown": text,
    }
    path.write_text(json.dumps(_jsonable(payload), indent=1) + "\n")
    _progress(f"results: {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
