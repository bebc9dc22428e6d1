"""Benchmark tailmerge against itself (three engines) and GNU tail -F / cat.

    python bench/run.py [--quick] [--runs N] [--scenarios a,b,...] [--baseline REV]

Run it with the interpreter that has tailmerge installed. Contenders run one after another, interleaved
per repetition (the order rotates every repetition); tables show medians over repetitions, ratios to a
reference contender in the same repetition, and totals of lost/doubled/split lines. The markdown goes to
stdout, progress to stderr, and everything measured to bench/results/<time>.json.

With ``--baseline REV``, ``git archive REV src/tailmerge`` is unpacked next to the copy of src/, and each
tailmerge engine gets a twin, ``ENGINE@REV``, that runs that code. Twins are ordinary contenders in the
same repetitions; an engine and its twin run back to back, which of them first alternating. A table per
scenario shows each engine's figures divided by its twin's from the same repetition (the median of those
ratios), marking those that got worse by more than 10%.
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

import procs
from contenders import Contender, paired
from report import (
    WORSE_BY,
    Comparison,
    Record,
    compare,
    comparison_table,
    loadavg,
    machine,
    markdown_table,
    src_digest,
    target_rows,
)
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
    p.add_argument("--render", metavar="RESULTS_JSON", help="print the tables of a saved run again; run nothing")
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="also run every engine on git revision REV's src/tailmerge (as ENGINE@REV) and compare with it",
    )
    ns = p.parse_args(argv)
    ns.scenarios = [s.strip() for s in ns.scenarios.split(",") if s.strip()]
    unknown = [s for s in ns.scenarios if s not in names]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if ns.runs is None:
        ns.runs = 1 if ns.quick else 3
    if ns.runs < 1:
        p.error("--runs must be at least 1")
    if ns.baseline is not None and not ns.render:
        short = _git("rev-parse", "--short", "--verify", "--end-of-options", f"{ns.baseline}^{{commit}}")
        if short is None:
            p.error(f"--baseline: {ns.baseline!r} is not a commit of {REPO}")
        ns.baseline_commit = _git("rev-parse", f"{short}^{{commit}}")
        ns.baseline = short
    return ns


def _git(*args: str) -> str | None:
    """A git command's output in the repository, stripped; None when it fails or says nothing."""
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _load1() -> float:
    try:
        return float(loadavg().split()[0])
    except ValueError:
        return math.nan


def run_order(contenders: Sequence[Contender], rep: int) -> list[Contender]:
    """The order of repetition ``rep``: it starts with contender ``rep`` (mod n). An engine and its
    baseline twin run back to back, so their ratio compares two runs made close together; which of the
    two goes first alternates from one repetition to the next."""
    groups = paired(contenders)
    shift = rep % len(groups)
    return [c for g in groups[shift:] + groups[:shift] for c in (g if rep % 2 == 0 else g[::-1])]


def run_scenario(scenario: Scenario, runs: int) -> list[Record]:
    """Every contender, ``runs`` times, interleaved (see ``run_order``)."""
    records: list[Record] = []
    timed_out: set[str] = set()
    _progress(f"== {scenario.name}: setting up")
    scenario.setup()
    try:
        for rep in range(runs):
            for c in run_order(scenario.contenders(), rep):
                record = Record(scenario.name, c.name, rep)
                records.append(record)
                if c.name in timed_out:
                    record.skipped = "timed out in an earlier repetition"
                    continue
                started = time.monotonic()
                load_before = _load1()  # to spot a busy machine in the JSON
                try:
                    outcome = scenario.run(c, rep)
                except Exception as e:  # a harness failure: recorded, and the other runs go on
                    record.error = f"{type(e).__name__}: {e}"
                    _progress(traceback.format_exc())
                    continue
                record.metrics, record.notes = outcome.metrics, outcome.notes
                record.metrics["load1_before"] = load_before
                if scenario.skip_after_timeout and outcome.metrics.get("timeout"):
                    timed_out.add(c.name)
                _progress(f"   run {rep + 1}/{runs} {c.name:<26} {time.monotonic() - started:6.1f} s  {_brief(record)}")
    finally:
        scenario.teardown()
    return records


def snapshot_src(root: Path) -> Path:
    """Copy src/ (byte-compiled) under ``root`` and point every child's PYTHONPATH at the copy, so the
    whole run measures one state of the code even while src/ is being edited."""
    dest = root / "src"
    shutil.copytree(REPO / "src" / "tailmerge", dest / "tailmerge", ignore=shutil.ignore_patterns("__pycache__"))
    _use_copy(dest, "")
    return dest


def snapshot_baseline(root: Path, rev: str) -> Path:
    """Unpack ``git archive rev src/tailmerge`` (byte-compiled) under ``root`` for the twins of code ``rev``."""
    dest = root / f"baseline-{rev}"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src/tailmerge"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    _use_copy(dest / "src", rev)
    return dest / "src"


def _use_copy(dest: Path, code: str) -> None:
    """Byte-compile the tailmerge under ``dest`` and start the children of ``code`` with it first on
    PYTHONPATH; make sure that is the tailmerge they import."""
    compileall.compile_dir(dest, quiet=1)
    path = os.pathsep.join(p for p in (str(dest), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    probe = [sys.executable, "-c", "import tailmerge; print(tailmerge.__file__)"]
    where = subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(dest)):
        raise SystemExit(f"tailmerge imports from {where}, not from the copy {dest}")
    procs.use_env(env, code)


def _brief(record: Record) -> str:
    keys = ("p99_ms", "idle_cpu_s", "mb_s", "ready_s", "lost", "doubled", "split", "timeout", "killed")
    return " ".join(f"{k}={record.metrics[k]:.4g}" for k in keys if k in record.metrics)


def render(
    scenarios: Sequence[Scenario], records: Sequence[Record], info: dict[str, str], runs: int, quick: bool
) -> str:
    i = defaultdict(lambda: "unknown", info)
    changed = "; src/ changed during the run" if i["src_changed"] == "yes" else ""
    out = [
        f"Runs per contender: {runs}. Machine: {i['nproc']} x {i['cpu']}, {i['kernel']}, Python {i['python']}, "
        f"{i['date']}; load average {i['loadavg_at_start']} at the start, {i['loadavg_at_end']} at the end. "
        f"tailmerge: {i['tailmerge']} (a copy of src/ taken at the start is what ran{changed}).",
        "",
    ]
    if "baseline" in info:
        out[0] += f" Baseline (the contenders named ENGINE@REV): {i['baseline']}."
    target_lines: list[list[str]] = []
    comparisons: list[tuple[Scenario, Comparison]] = []
    for s in scenarios:
        mine = [r for r in records if r.scenario == s.name]
        names = [c.name for c in s.contenders()]
        out += [f"### {s.title} (`{s.name}`)", "", s.describe(), "", markdown_table(mine, names, s.columns(), s.ref)]
        found = compare(mine, s.twins(), s.compared())
        if found:
            out += ["", _against(s.baseline), "", comparison_table(found)]
            comparisons += [(s, c) for c in found]
        out += _anomalies(mine)
        target_lines += target_rows(mine, s.targets(), s.ref)
    if target_lines:
        head = ["target", "contender", "measured", "verdict", "gap"]
        rows = [head, ["---"] * len(head), *target_lines]
        out += ["### Targets", "", *("| " + " | ".join(r) + " |" for r in rows)]
        if quick:
            out += [
                "",
                "With --quick sizes these verdicts are indicative only: a 40 MB copy, for one, is mostly "
                "start-up time. The targets are defined for the full sizes.",
            ]
    if comparisons:
        out += ["", *_regressions(comparisons)]
    return "\n".join(out) + "\n"


def _against(rev: str | None) -> str:
    return (
        f"Against the baseline: each engine's figure ÷ {rev}'s (its twin) in the same repetition, median over "
        f'repetitions; where the baseline was 0 every time, and for counts (totals), "new vs {rev}". Bold: worse '
        f"by more than {WORSE_BY:.0%}."
    )


def _regressions(comparisons: Sequence[tuple[Scenario, Comparison]]) -> list[str]:
    """The figures that got worse than the baseline by more than WORSE_BY, by scenario."""
    revs = sorted({s.baseline for s, _ in comparisons if s.baseline})
    head = [f"### Against {', '.join(revs)}: worse by more than {WORSE_BY:.0%}", ""]
    worse = [f"- {s.name}: {c.describe()}" for s, c in comparisons if c.worse]
    return head + (worse or ["None: no compared figure got worse by more than that."])


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


def rerender(path: Path) -> int:
    """Print the markdown of a saved results file (with the current table layout)."""
    data = json.loads(path.read_text())
    records = []
    for r in data["records"]:
        metrics = {k: math.nan if v is None else float(v) for k, v in r["metrics"].items()}
        records.append(Record(**{**r, "metrics": metrics}))
    present = {r.scenario for r in records}
    sizes = QUICK if data["quick"] else FULL
    all_scenarios = make_scenarios(sizes, Path("/"), data.get("baseline"))
    scenarios = [s for name, s in all_scenarios.items() if name in present]
    print(render(scenarios, records, data["machine"], data["runs"], data["quick"]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parse(argv)
    if ns.render:
        return rerender(Path(ns.render))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    procs.raise_nofile()
    sizes = QUICK if ns.quick else FULL
    started = time.monotonic()
    records: list[Record] = []
    root = Path(tempfile.mkdtemp(prefix="tailmerge-bench-", dir=ns.tmp))
    scenarios = [s for name, s in make_scenarios(sizes, root, ns.baseline).items() if name in ns.scenarios]
    try:
        src = snapshot_src(root)
        info = machine(REPO, src)
        info["src_digest"] = src_digest(src / "tailmerge")
        if ns.baseline:
            old = snapshot_baseline(root, ns.baseline)
            info["baseline"] = (
                f"{ns.baseline} (commit {ns.baseline_commit}), src digest {src_digest(old / 'tailmerge')}"
            )
        for scenario in scenarios:
            records += run_scenario(scenario, ns.runs)
    except KeyboardInterrupt:
        _progress("interrupted: stopping every child and removing the data")
        return 130
    finally:
        procs.kill_all()
        shutil.rmtree(root, ignore_errors=True)
    info["loadavg_at_end"] = loadavg()
    info["src_changed"] = "yes" if src_digest(REPO / "src" / "tailmerge") != info["src_digest"] else "no"
    text = render(scenarios, records, info, ns.runs, ns.quick)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    payload = {
        "argv": sys.argv,
        "quick": ns.quick,
        "runs": ns.runs,
        "baseline": ns.baseline,
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
