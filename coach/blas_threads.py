"""One BLAS thread for the coach's own processes.

The coach's matrix products are small (networks of at most a few dozen units over a few thousand rows
per call), so BLAS worker threads cannot speed them up; OpenBLAS's workers spin while they wait. On a
2-core machine they doubled a 15-minute three-sensor replay's CPU time (5.2 s → 3.0 s with one thread)
at the same wall time, with byte-identical events, and a live coach pays the same spin on every
detector call. The variables are read when numpy first loads its BLAS, so the command line sets them
before any subcommand imports numpy. A value the user has set wins. (threadpoolctl could limit the
pools after loading; setting the variables first needs no dependency and no library inspection.)
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: The thread-count variables of the BLAS and OpenMP runtimes numpy and scipy may load.
BLAS_THREAD_VARIABLES: tuple[str, ...] = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def use_one_blas_thread(environ: MutableMapping[str, str] | None = None) -> None:
    """Set each of :data:`BLAS_THREAD_VARIABLES` to ``"1"`` unless it is already set."""
    env = os.environ if environ is None else environ
    for name in BLAS_THREAD_VARIABLES:
        env.setdefault(name, "1")
