"""Child processes: start them in their own session, sample them through /proc, and always kill them.

Every process the benchmark starts goes through :func:`spawn`, which records it; :func:`kill_all` (run
from ``run.py``'s ``finally``) kills each recorded process group that is still alive, by its id.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["ProcSample", "cpu_ns", "cpu_seconds", "kill_all", "raise_nofile", "sample", "spawn", "stop", "use_env"]

CLK_TCK = os.sysconf("SC_CLK_TCK")
_children: list[subprocess.Popen[bytes]] = []
_envs: dict[str, dict[str, str]] = {}  # environment of the children, by the copy of tailmerge they run


def use_env(env: dict[str, str], code: str = "") -> None:
    """Start every later child that runs ``code`` ("" the snapshot of src/, else a baseline revision)
    with ``env``. A child of code "" with no environment set inherits this process's."""
    _envs[code] = dict(env)


def _env_for(code: str) -> dict[str, str] | None:
    if code and code not in _envs:
        raise KeyError(f"no environment for tailmerge at {code}: use_env(env, {code!r}) first")
    return _envs.get(code)


def raise_nofile() -> int:
    """Open-file soft limit up to the hard limit, for this process and so every child it starts.

    (Done once in the parent rather than in a ``preexec_fn``: the harness has threads running when it
    starts children, and code between fork and exec is not safe then.) Returns the limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    code: str = "",
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new session (so its whole group can be killed) and record it.
    ``code`` picks the environment (see :func:`use_env`), so the copy of tailmerge it imports."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=_env_for(code),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    _children.append(proc)
    return proc


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process group ``proc`` leads, only while ``proc`` is unreaped (its id cannot be reused)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop(proc: subprocess.Popen[bytes], grace: float) -> tuple[float, bool]:
    """SIGTERM ``proc``; SIGKILL its group if it has not exited after ``grace`` seconds.

    Returns (seconds it took to exit, whether it had to be killed).
    """
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
        killed = False
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        killed = True
    took = time.monotonic() - started
    _forget(proc)
    return took, killed


def _forget(proc: subprocess.Popen[bytes]) -> None:
    if proc in _children:
        _children.remove(proc)


def kill_all() -> None:
    """Kill every process group this benchmark started that may still be alive."""
    while _children:
        proc = _children.pop()
        _signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# -- /proc ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcSample:
    threads: int
    rss_kb: int
    hwm_kb: int


def sample(pid: int) -> ProcSample | None:
    """Threads, VmRSS and VmHWM of ``pid`` (None once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    if "Threads" not in fields:
        return None
    return ProcSample(fields["Threads"], fields.get("VmRSS", 0), fields.get("VmHWM", 0))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return text[text.rindex(")") + 2 :].split()


def _descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (scanning /proc for parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid``, its reaped children (cutime, cstime) and its live descendants."""
    total_ticks = 0
    fields = _stat_fields(pid)
    if fields is None:
        return float("nan")
    # after the name: state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
    total_ticks += sum(int(f) for f in fields[11:15])
    for child in _descendants(pid):
        child_fields = _stat_fields(child)
        if child_fields is not None:
            total_ticks += int(child_fields[11]) + int(child_fields[12])
    return total_ticks / CLK_TCK


def cpu_ns(pid: int) -> int:
    """CPU time in ns of the live threads of ``pid`` and its live descendants, from each thread's
    /proc/PID/task/TID/schedstat: finer than the 10 ms ticks of ``cpu_seconds``, but threads that have
    exited are not counted (so use it over windows where no thread ends)."""
    total = 0
    for proc in [pid, *_descendants(pid)]:
        try:
            tasks = list(os.scandir(f"/proc/{proc}/task"))
        except (FileNotFoundError, ProcessLookupError):
            continue
        for task in tasks:
            try:
                total += int(Path(task.path, "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    return total
