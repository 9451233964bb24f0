"""How the C allocator serves the operator's threads.

glibc gives a thread that allocates while others do an arena of its own (up to eight per core), and
an arena keeps what is freed in it. The operator's worker threads (Kubernetes calls on the default
executor, Azure calls in the pool) each grow one during a burst of work and keep it. At 10 000
objects that was 80 MB of the operator's peak (benchmarks/README.md). Two arenas is the usual
setting for threaded Python services (glibc's MALLOC_ARENA_MAX=2); the GIL serialises most
allocation anyway, so the threads hardly contend for them.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # glibc's <malloc.h>
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Ask glibc for at most `count` arenas, unless MALLOC_ARENA_MAX already says how many. Call it
    before any worker thread starts: a thread keeps the arena it got first. False when it did not
    apply (set from the environment, or a C library without glibc's mallopt)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
