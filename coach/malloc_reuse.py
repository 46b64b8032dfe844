"""Freed memory kept for reuse in a replay (glibc's ``mallopt``).

A replay's detector works in slices of ~550 candidate ends: each slice makes and frees a few dozen
arrays of 0.2–7 MB. glibc serves such blocks with ``mmap`` and returns them with ``munmap`` when freed
(its dynamic threshold rises only to the largest block freed so far), so every slice's arrays start on
fresh pages the kernel must fault in and zero: a 15-minute three-sensor replay took 75,000 page faults
and 0.2–0.3 s of system CPU for it (0.05 s with this). With the ``mmap`` threshold at
:data:`MMAP_THRESHOLD_BYTES` and the heap trimmed only beyond :data:`TRIM_THRESHOLD_BYTES` of free space
at its top, freed blocks are reused from the heap instead. Peak memory is the same (the same arrays
are alive at once); the numbers computed are the same (only where the bytes live changes).

Only for batch work (``coach replay``): a live coach's per-step arrays are small. A ``MALLOC_*``
variable the user set wins, and a C library without ``mallopt`` (not glibc) is left as it is.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from typing import Any, Final

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
#: Blocks up to this size come from the heap (glibc's largest allowed value on 64-bit systems).
MMAP_THRESHOLD_BYTES: Final = 32 * 1024 * 1024
#: Free space at the heap's top returned to the system only beyond this.
TRIM_THRESHOLD_BYTES: Final = 64 * 1024 * 1024
#: The environment variables through which a user sets these thresholds (they win).
MALLOC_VARIABLES: Final = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(environ: Mapping[str, str] | None = None, libc: Any = None) -> bool:
    """Set the thresholds above through ``mallopt``; whether both were set. ``libc``: the C library
    (this process's by default)."""
    env = os.environ if environ is None else environ
    if any(name in env for name in MALLOC_VARIABLES):
        return False
    if libc is None:
        try:
            libc = ctypes.CDLL(None)
        except OSError:
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    ok_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return bool(ok_mmap and ok_trim)
