"""Process limits that following thousands of files runs into."""

from __future__ import annotations

import logging
import os

__all__ = ["fd_budget", "fd_limit_message", "raise_fd_limit", "reserve_descriptors"]

log = logging.getLogger("tailmerge")


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the limit now in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        log.info("could not raise the open-file limit from %d to %d: %s", soft, target, e)
        return soft
    return target


RESERVE = 64  # descriptors kept for what a run opens after its sources: at least this many, or an eighth


def fd_budget() -> int:
    """How many files the sources may hold open at once: the soft limit on open files, less the
    descriptors open now (the output, the state's SQLite files, the waker) and a reserve for what opens
    later (an event loop, pipes, sockets, spans on their way out, a copy looked for): an eighth of the
    limit, at least RESERVE, at most half of what is left. At least one."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 1 << 30
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    left = soft - _open_now()
    return max(1, left - min(max(RESERVE, soft // 8), left // 2))


def _open_now() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the listing's own descriptor
    except OSError:  # no /proc: the standard streams and a few more
        return 16


def reserve_descriptors(count: int) -> None:
    """Grow the process's descriptor table now to hold ``count`` more files, in one step.

    The kernel grows the table by doubling as descriptors are opened, and while a process has more than
    one thread each growth waits for an RCU grace period (8-20 ms here): opening 1,000 files cost 30 µs
    each instead of 5, and 10,000 files waited nine times. Grown before the run's threads start, it waits
    for nothing. ``F_DUPFD`` takes the lowest free descriptor at or above the one asked for, so no
    descriptor in use is touched (``dup2`` would close one)."""
    try:
        import fcntl
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        probe = os.open("/", os.O_RDONLY | os.O_CLOEXEC)  # the lowest free descriptor: where opening starts
    except OSError:
        return
    try:
        top = probe + count
        if soft != resource.RLIM_INFINITY:
            top = min(top, soft - 1)
        if top >= _TABLE_START:
            os.close(fcntl.fcntl(probe, fcntl.F_DUPFD_CLOEXEC, top))
    except OSError:
        pass  # not reserved: the table grows as files are opened, as it would have
    finally:
        os.close(probe)


_TABLE_START = 64  # the table every process starts with (NR_OPEN_DEFAULT): below it there is nothing to grow

_fd_limit_explained = False


def fd_limit_message() -> str:
    """The full advice once per process; after that a short note per file."""
    global _fd_limit_explained
    if _fd_limit_explained:
        return "cannot open: too many open files (see above)"
    _fd_limit_explained = True
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        f"cannot open: too many open files (limit {soft}, hard limit {hard}); "
        "raise it with `ulimit -n` (and the hard limit in limits.conf or systemd's LimitNOFILE)"
    )
