"""Real recordings: forearm-elevation accuracy on BROAD (optical ground truth), issue 2 item 8.

Each trial is converted to a coach-trace in a temporary folder and replayed as a whole process
(``coach replay --mounting nominal --posture-hz 10``); the elevation of the device x axis in its
posture events is scored against the optical ground truth inside ``movement``. The target is a mean
RMSE ≤ 0.6° over the trials (``./run bench broad`` reports every trial it
finds; tests/data/README.md says where the in-repo BROAD subset comes from).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_broad import TARGET_MEAN_RMSE_DEG, run_trial
from benchmarks.real_data import BROAD_IN_REPO

TRIALS = ["02_undisturbed_slow_rotation_B", "16_undisturbed_fast_translation_B"]


@pytest.mark.slow
def test_elevation_on_broad_trials_meets_the_target(tmp_path: Path) -> None:
    results = [run_trial(BROAD_IN_REPO / f"{name}.npz", tmp_path) for name in TRIALS]
    for r in results:
        assert r["scored"] > 900  # about 10 events per second of movement
    rmse = [r["rmse_deg"] for r in results]
    assert sum(rmse) / len(rmse) <= TARGET_MEAN_RMSE_DEG, rmse
    # The replay adds nothing to VQF's own error (same filter, exact times).
    for r in results:
        assert r["rmse_deg"] <= r["vqf_alone_rmse_deg"] + 0.05
