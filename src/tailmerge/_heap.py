"""glibc's heap, tuned for buffers that come and go, and Python's collector, tuned for many files, in a
process of tailmerge's own (``tailmerge follow``).

A merge allocates and frees a step's worth of large buffers per source over and over: an exact
``--order time`` merge each 256 KiB read, its lines' bytes and each release joined for the output; an
arrival order merge in a format other than raw each 8 MiB read and its formatted copy. glibc gives the
top of its heap back to the kernel whenever more than its trim threshold lies free there (twice the
largest block it has mapped and freed, so far), and maps blocks of 128 KiB and more apart, unmapping them
when freed: every page of those buffers was then faulted in and zeroed again. 8 x 1M lines of 100 bytes:
100,000 faults by time (0.4-0.5 s of system time of the run's 6), 70,000-125,000 labeled and up to
370,000 in JSONL on the threads engine (a third of the run). Keeping freed memory for reuse up to a bound,
and taking blocks up to a step's copy from the heap, takes that to 8,000-30,000.

Following 10,000 files makes a few hundred thousand objects that live as long as the run (sources,
framers, tasks, watches): Python's cyclic collector went through all of them four times while they were
made, 0.3-0.6 s of a start of 2-2.5 s (``collect_less``).

Only the command line does this, for its own process: a library must not retune the allocator or the
collector of the program that imports it (an API user may set ``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_THRESHOLD_``, or ``gc.set_threshold``).
"""

from __future__ import annotations

import gc
import sys

__all__ = ["ARENAS", "KEEP_FREED", "MMAP_FROM", "YOUNG", "collect_less", "keep_freed_heap"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
KEEP_FREED = 32 << 20
"""Bytes free at the top of the heap before glibc gives them back: more than what a merge frees at once (by
time, 8 sources: about 4 MiB; in arrival order, a step and its labeled copy: about 17 MiB), far less than
a process of this kind may hold anyway."""
MMAP_FROM = 16 << 20
"""Allocations this large or larger are mapped apart (and unmapped when freed), as glibc does from 128
KiB up by default: above a step (8 MiB) and its labeled copy. A setting of either parameter stops glibc
adapting the other, so both are set."""
ARENAS = 1
"""Heaps (arenas) for all threads: glibc gives each thread that allocates while another does a heap of its
own, and each kept what it freed. Python allocates under its global lock, so one serves them all: a JSONL
copy on the threads engine peaked at 82-90 MB instead of 121-149."""


YOUNG = 50_000
"""Allocations of container objects between two collections of the youngest generation (Python: 700).
The objects a merge makes per line are freed by their reference counts, not by the collector."""


def collect_less() -> None:
    """Collect cycles less often: the youngest generation every ``YOUNG`` allocations instead of 700, the
    older two at Python's ratios to it (at 2,000 lines a second, a young collection every second or so)."""
    gc.set_threshold(YOUNG, 10, 10)


def keep_freed_heap() -> bool:
    """Keep up to ``KEEP_FREED`` bytes of freed heap for reuse, take allocations below ``MMAP_FROM`` from the
    heap, and use ``ARENAS`` heaps. True if the C library took the settings (glibc on Linux); elsewhere
    nothing is done."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # about 4 ms to import: only for a run that gains

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_FROM), (_M_TRIM_THRESHOLD, KEEP_FREED), (_M_ARENA_MAX, ARENAS))
    return all([bool(mallopt(param, value)) for param, value in settings])  # each is set, whatever the others
