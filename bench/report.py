"""Records of runs, their medians and ratios, and the markdown that shows them."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "WORSE_BY",
    "Column",
    "Compare",
    "Comparison",
    "Record",
    "Target",
    "code_identity",
    "compare",
    "comparison_table",
    "loadavg",
    "machine",
    "markdown_table",
    "src_digest",
    "target_rows",
]

Metrics = dict[str, float]


@dataclass
class Record:
    """One run of one contender in one scenario."""

    scenario: str
    contender: str
    rep: int
    metrics: Metrics = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""  # why the run did not happen (a timeout in an earlier repetition)
    error: str = ""  # the harness could not complete the run


def _values(records: Sequence[Record], contender: str, key: str) -> list[float]:
    return [r.metrics[key] for r in records if r.contender == contender and key in r.metrics]


def _ratios(records: Sequence[Record], contender: str, ref: str, key: str) -> list[float]:
    """Per repetition, the contender's value over the reference's value in the same repetition."""
    mine = {r.rep: r.metrics.get(key, math.nan) for r in records if r.contender == contender}
    theirs = {r.rep: r.metrics.get(key, math.nan) for r in records if r.contender == ref}
    return [mine[rep] / theirs[rep] for rep in mine if rep in theirs and theirs[rep] > 0]


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


@dataclass(frozen=True)
class Column:
    """A table column: a metric aggregated over the runs (median, sum or max), or its median ratio to
    the reference contender's value in the same run."""

    header: str
    key: str
    how: str = "median"  # median | sum | max | ratio
    digits: int = 2

    def value(self, records: Sequence[Record], contender: str, ref: str | None) -> float:
        if self.how == "ratio":
            if ref is None:
                return math.nan
            vals = _finite(_ratios(records, contender, ref, self.key))
        else:
            vals = _finite(_values(records, contender, self.key))
        if not vals:
            return math.nan
        if self.how == "sum":
            return sum(vals)
        if self.how == "max":
            return max(vals)
        return statistics.median(vals)

    def cell(self, records: Sequence[Record], contender: str, ref: str | None) -> str:
        v = self.value(records, contender, ref)
        if math.isnan(v):
            return "n/a"
        text = f"{v:.{self.digits}f}"
        return f"{text}x" if self.how == "ratio" else text


def markdown_table(
    records: Sequence[Record], contenders: Sequence[str], columns: Sequence[Column], ref: str | None
) -> str:
    """One row per contender: runs done (of runs tried), then every column."""
    head = ["contender", "runs", *(c.header for c in columns)]
    rows = [head, ["---"] * len(head)]
    for name in contenders:
        mine = [r for r in records if r.contender == name]
        done = [r for r in mine if not r.skipped and not r.error]
        why = [
            f"{n} {what}"
            for n, what in (
                (sum(1 for r in done if r.metrics.get("timeout")), "timed out"),
                (sum(1 for r in mine if r.skipped), "skipped"),
                (sum(1 for r in mine if r.error), "failed"),
            )
            if n
        ]
        runs = f"{len(done)}/{len(mine)}" + (f" ({', '.join(why)})" if why else "")
        rows.append([name, runs, *(c.cell(records, name, ref) for c in columns)])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


WORSE_BY = 0.10  # a figure "got worse" when it moved this much the wrong way against the baseline


@dataclass(frozen=True)
class Compare:
    """A figure of an engine set against its baseline twin's. ``better`` says which way is good: "lower"
    or "higher" compare the median of the per-repetition ratios (twin and engine ran in the same
    repetition); "count" compares totals (lost lines and the like), where any increase is worse."""

    header: str
    key: str
    better: str = "lower"  # lower | higher | count
    digits: int = 2


@dataclass(frozen=True)
class Comparison:
    """One figure of one engine against its twin: medians (totals for counts) and per-repetition ratios."""

    compare: Compare
    contender: str
    twin: str
    new: float
    old: float
    ratios: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else math.nan

    @property
    def worse(self) -> bool:
        """Worse by more than WORSE_BY. Without a ratio (the baseline was 0 every time), any change the
        wrong way counts; so does any increase of a count."""
        c = self.compare
        if math.isnan(self.new) or math.isnan(self.old):
            return False
        if c.better == "count" or not self.ratios:
            return self.new < self.old if c.better == "higher" else self.new > self.old
        return self.ratio < 1 - WORSE_BY if c.better == "higher" else self.ratio > 1 + WORSE_BY

    def cell(self) -> str:
        if self.compare.better != "count" and self.ratios:
            text = f"{self.ratio:.2f}x"
        elif math.isnan(self.new) and math.isnan(self.old):
            return "n/a"
        else:
            d = 0 if self.compare.better == "count" else self.compare.digits
            text = f"{self.new:.{d}f} vs {self.old:.{d}f}"
        return f"**{text}**" if self.worse else text

    def describe(self) -> str:
        """For the list of regressions: the figure, its medians and its per-repetition ratios."""
        d = self.compare.digits
        text = f"{self.contender}, {self.compare.header}: {self.cell().strip('*')}"
        if self.compare.better == "count":
            return text + " (totals over the repetitions)"
        text += f" (median {self.new:.{d}f} against {self.old:.{d}f}"
        if self.ratios:
            text += "; per repetition " + ", ".join(f"{r:.2f}" for r in self.ratios)
        return text + ")"


def compare(
    records: Sequence[Record], pairs: Sequence[tuple[str, str]], compares: Sequence[Compare]
) -> list[Comparison]:
    """Every figure of ``compares`` for every (contender, baseline twin) in ``pairs``."""
    found = []
    for name, twin in pairs:
        for c in compares:
            how = "sum" if c.better == "count" else "median"
            new, old = (Column(c.header, c.key, how).value(records, n, None) for n in (name, twin))
            ratios = tuple(_finite(_ratios(records, name, twin, c.key)))
            found.append(Comparison(c, name, twin, new, old, ratios))
    return found


def comparison_table(comparisons: Sequence[Comparison]) -> str:
    """One row per contender, one column per figure: its ratio to the twin, or "new vs old"."""
    headers = list(dict.fromkeys(c.compare.header for c in comparisons))
    names = list(dict.fromkeys(c.contender for c in comparisons))
    cells = {(c.contender, c.compare.header): c.cell() for c in comparisons}
    rows = [["contender", *headers], ["---"] * (len(headers) + 1)]
    rows += [[n, *(cells.get((n, h), "n/a") for h in headers)] for n in names]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


@dataclass(frozen=True)
class Target:
    """A goal from the issue: ``column`` for ``contender`` at most (or at least) ``limit``."""

    goal: str
    contender: str
    column: Column
    limit: float
    at_least: bool = False
    binding: bool = True  # False: the goal is the asyncio engine's; others are shown against it


def target_rows(records: Sequence[Record], targets: Sequence[Target], ref: str | None) -> list[list[str]]:
    """[goal, contender, measured, met?, gap] for each target."""
    rows = []
    for t in targets:
        v = t.column.value(records, t.contender, ref)
        mine = [r for r in records if r.contender == t.contender]
        timeouts = sum(1 for r in mine if r.metrics.get("timeout") or r.skipped)
        if timeouts:
            verdict = f"NOT met: timed out ({timeouts} of {len(mine)} runs timed out or were skipped after one)"
            rows.append([t.goal, t.contender, "n/a", verdict, "never finished"])
            continue
        if math.isnan(v):
            verdict, gap = "not measured", ""
        else:
            met = v >= t.limit if t.at_least else v <= t.limit
            verdict = "met" if met else "NOT met"
            if not t.binding:
                verdict += " (reference only)"
            gap = "" if met else f"{v / t.limit:.2f}x the limit" if t.limit else f"{v:.3g} over"
        measured = "n/a" if math.isnan(v) else f"{v:.{t.column.digits}f}"
        rows.append([t.goal, t.contender, measured, verdict, gap])
    return rows


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def src_digest(src: Path) -> str:
    """A short digest of the tailmerge sources under ``src`` (tells two states of uncommitted code apart)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def code_identity(repo: Path, src: Path) -> str:
    """Which tailmerge is measured: the commit, whether src/ had uncommitted changes, the digest."""
    head = _run(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    changed = _run(["git", "status", "--porcelain", "--", "src"], cwd=repo) != "unknown"
    return f"{head}{' + uncommitted changes' if changed else ''}, src digest {src_digest(src)}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine(repo: Path, src: Path) -> dict[str, str]:
    """What the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "tail": _run(["tail", "--version"]),
        "tailmerge": code_identity(repo, src / "tailmerge"),
        "loadavg_at_start": loadavg(),
    }
