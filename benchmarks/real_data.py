"""Where the real (third-party) recordings are: ``tests/data/`` in this repository (see its README.md).

``tests/data/broad/`` holds a subset of the BROAD trials; to run the benchmarks on another set (for
example all 11 trials, written by ``python -m benchmarks.broad_convert``), set ``COACH_BROAD_DIR`` to
that folder or pass ``--data DIR`` to ``./run bench broad``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "tests" / "data"

#: x-io Fusion's example recording as a coach-trace (one ``treated`` sensor, irregular timestamps).
XIO_TRACE = DATA_DIR / "xio_fusion" / "sensor_data.coach-trace.csv"

#: The BROAD subset in the repository (``tests/data/broad/index.csv`` lists it).
BROAD_IN_REPO = DATA_DIR / "broad"

#: The 11 BROAD trials the project's BROAD figures are quoted over (docs/signal.md §10).
BROAD_FULL_SET = (
    "02_undisturbed_slow_rotation_B",
    "05_undisturbed_slow_rotation_with_breaks_B",
    "07_undisturbed_fast_rotation_B",
    "09_undisturbed_fast_rotation_with_breaks_B",
    "11_undisturbed_slow_translation_B",
    "14_undisturbed_slow_translation_with_breaks_B",
    "16_undisturbed_fast_translation_B",
    "21_undisturbed_fast_combined",
    "24_disturbed_tapping_A",
    "27_disturbed_phone_vibration_B",
    "30_disturbed_stationary_magnet_C",
)


def broad_dir() -> Path:
    """The BROAD folder the benchmarks read: ``$COACH_BROAD_DIR`` when set, else the in-repo subset."""
    override = os.environ.get("COACH_BROAD_DIR")
    return Path(override) if override else BROAD_IN_REPO


def broad_trials(folder: Path | None = None) -> list[Path]:
    """The trial files (``*.npz``) in ``folder`` (default :func:`broad_dir`), by name."""
    return sorted((folder or broad_dir()).glob("*.npz"))
