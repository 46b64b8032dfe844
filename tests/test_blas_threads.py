"""The coach's processes use one BLAS thread unless the user says otherwise (coach.blas_threads)."""

from __future__ import annotations

import os
import subprocess
import sys

from coach.blas_threads import BLAS_THREAD_VARIABLES, use_one_blas_thread


def test_sets_one_thread_where_unset() -> None:
    env: dict[str, str] = {}
    use_one_blas_thread(env)
    assert env == dict.fromkeys(BLAS_THREAD_VARIABLES, "1")


def test_user_setting_wins() -> None:
    env = {"OPENBLAS_NUM_THREADS": "4"}
    use_one_blas_thread(env)
    assert env["OPENBLAS_NUM_THREADS"] == "4"
    assert env["OMP_NUM_THREADS"] == "1"


def test_command_line_sets_it_before_numpy_loads() -> None:
    """`coach` sets the variables in ``main`` before any subcommand is imported, and importing the
    command line does not load numpy (the variables are read only when numpy loads its BLAS)."""
    code = (
        "import os, sys\n"
        "import coach.cli\n"
        "loaded = 'numpy' in sys.modules\n"
        "try:\n    coach.cli.main(['replay', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('RESULT', loaded, os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    numpy_loaded_on_import, threads = out.stdout.rsplit("RESULT", 1)[1].split()
    assert numpy_loaded_on_import == "False"
    assert threads == "1"
