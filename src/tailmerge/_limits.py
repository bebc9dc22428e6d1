"""Process limits that following thousands of files runs into."""

from __future__ import annotations

import logging

__all__ = ["raise_fd_limit"]

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
