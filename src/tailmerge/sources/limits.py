"""Process limits that following thousands of files runs into."""

from __future__ import annotations

import logging

__all__ = ["fd_limit_message", "raise_fd_limit"]

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
