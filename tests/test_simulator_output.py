"""What the simulator hands out: trace files, labels, transport faults, device limits, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coach.cli import main
from coach.trace import read_trace
from coach.units import GRAVITY_MPS2
from simulators import Scenario, SensorSpec, labels_path_for, random_scenario, simulate, simulate_motion

DOCUMENTED_META = {"arm", "start_utc", "sensors", "calibration", "body", "software"}


def _no_nan(name: str) -> None:
    raise ValueError(f"{name} in labels")


def test_trace_reads_back_with_the_same_samples_and_only_documented_meta(tmp_path: Path) -> None:
    sc = random_scenario(12, duration_s=60, roles=("treated", "hand", "stroker"))
    session = simulate(sc, 12)
    trace_path = tmp_path / "s.csv"
    labels_path = session.write(trace_path)
    assert labels_path == tmp_path / "s.labels.json" == labels_path_for(trace_path)
    trace = read_trace(trace_path)
    assert set(trace.meta.raw) <= DOCUMENTED_META
    assert trace.meta.raw["arm"] == sc.arm
    assert trace.meta.phase("still") == tuple(session.meta.raw["calibration"]["still"])
    assert set(trace.meta.sensor_roles) == set(sc.roles)
    for role, block in session.blocks.items():
        got = trace.blocks[role]
        assert len(got) == len(block)
        assert np.abs(got.t_s - block.t_s).max() <= 0.6e-6
        assert np.abs(got.acc_mps2 - block.acc_mps2).max() <= 0.6e-5
        assert np.abs(got.gyr_rps - block.gyr_rps).max() <= 0.6e-6
        assert trace.meta.sensor(role).rate_hz == sc.sensors[role].rate_hz
    labels = json.loads(labels_path.read_text(), parse_constant=_no_nan)
    for key in (
        "format",
        "version",
        "seed",
        "scenario",
        "calibration",
        "active",
        "strokes",
        "fidgets",
        "episodes",
    ):
        assert key in labels
    assert labels["format"] == "coach-sim-labels" and labels["version"] == 1
    assert Scenario.from_dict(labels["scenario"]) == sc
    post = labels["posture"]
    n = len(post["t"])
    assert n == (60 * 10) + 1 and post["rate_hz"] == 10
    for key in (
        "elevation_deg",
        "elevated",
        "wrist_flexion_deg",
        "wrist_deviation_deg",
        "wrist_neutral",
        "forearm_roll_deg",
    ):
        assert len(post[key]) == n
    assert np.allclose(np.diff(post["t"]), 0.1)


def test_gzip_trace_and_labels_name(tmp_path: Path) -> None:
    session = simulate(Scenario(duration_s=25), 1)
    labels = session.write(tmp_path / "x.csv.gz")
    assert labels.name == "x.labels.json"
    assert len(read_trace(tmp_path / "x.csv.gz").blocks["treated"]) == len(session.blocks["treated"])


def test_calibration_can_be_left_out_of_meta() -> None:
    sc = Scenario(duration_s=30).replace(**{"calibration.in_meta": False})
    session = simulate(sc, 1)
    assert "calibration" not in session.meta.raw
    assert session.truth["calibration"]["still"] is not None  # it was performed all the same


def test_a_session_without_calibration_has_no_phases_and_a_neutral_reference() -> None:
    sc = Scenario(duration_s=40, sensors={"treated": SensorSpec(), "hand": SensorSpec()}).replace(
        **{"calibration.enabled": False, "posture.wrist_per_10min": 0.0, "posture.roll_per_10min": 0.0}
    )
    session = simulate(sc, 2)
    truth = session.truth
    assert "calibration" not in session.meta.raw
    assert truth["active"][0] == 0.0 and truth["calibration"]["still"] is None
    post = truth["posture"]
    # Reference = anatomical neutral: roll and wrist angles are the person's small habitual offsets.
    later = np.asarray(post["t"]) > 3.0
    assert np.abs(np.asarray(post["forearm_roll_deg"])[later]).max() < 25.0
    assert np.abs(np.asarray(post["wrist_flexion_deg"])[later]).max() < 25.0


def test_transport_faults_drop_gap_jitter_and_drift_but_keep_time_order() -> None:
    spec = SensorSpec(
        rate_hz=100,
        drop_rate=0.05,
        samples_per_packet=3,
        gaps=((30.0, 5.0),),
        gaps_per_10min=0.0,
        jitter_s=0.003,
        clock_offset_s=0.02,
        clock_drift_ppm=200.0,
        rate_error_ppm=8000.0,
    )
    session = simulate(Scenario(duration_s=60, sensors={"treated": spec}), 3)
    b = session.blocks["treated"]
    info = session.truth["sensors"]["treated"]
    assert np.all(np.diff(b.t_s) >= 0) and b.t_s[0] >= 0
    # Nothing inside the disconnection (true time, shifted by the offset on the session clock).
    inside = (b.t_s > 30.0 + 0.03) & (b.t_s < 35.0 + 0.01)
    assert not inside.any()
    assert info["gaps"] == [[30.0, 35.0]] == session.truth["gaps"]["treated"]
    taken, delivered, dropped = info["samples_taken"], info["samples_delivered"], info["dropped_samples"]
    assert delivered == len(b)
    assert 0.03 < dropped / taken < 0.07
    assert taken - delivered - dropped in (503, 504)  # everything taken in the 5 s gap at 100.8 Hz
    # Rate error: the device really samples at ~100.8 Hz while meta says 100.
    assert session.meta.sensor("treated").rate_hz == 100.0
    assert info["clock"]["actual_rate_hz"] == pytest.approx(100.8, abs=1e-3)
    dt = np.diff(b.t_s)
    assert np.median(dt) == pytest.approx(1 / 100.8, rel=0.02)
    assert dt.std() > 0.001  # jitter


def test_random_gaps_avoid_the_calibration() -> None:
    spec = SensorSpec(gaps_per_10min=20.0, gap_s=(1.0, 3.0))
    session = simulate(Scenario(duration_s=120, sensors={"treated": spec}), 9)
    gaps = session.truth["sensors"]["treated"]["gaps"]
    cal_end = session.truth["active"][0]
    assert gaps, "20 per 10 minutes over 2 minutes should give some"
    assert all(a > cal_end for a, _ in gaps)


def test_motion_for_the_ble_backend_is_on_the_device_grid_without_transport_faults() -> None:
    spec = SensorSpec(rate_hz=50, drop_rate=0.2, gaps=((10.0, 5.0),), rate_error_ppm=9000.0)
    sc = Scenario(duration_s=40, sensors={"treated": spec, "stroker": SensorSpec(rate_hz=200)})
    motion = simulate_motion(sc, 5)
    recorded = simulate(sc, 5)
    for role, rate in (("treated", 50.0), ("stroker", 200.0)):
        b = motion.blocks[role]
        assert np.allclose(b.t_s, np.arange(len(b)) / rate)
        assert len(b) == int(40 * rate) + 1
    assert motion.truth["strokes"] == recorded.truth["strokes"]
    assert motion.meta == recorded.meta
    clean = simulate_motion(sc, 5, sensor_errors=False)
    still = clean.meta.phase("still")
    assert still is not None
    b = clean.blocks["treated"]
    m = (b.t_s > still[0]) & (b.t_s < still[1])
    assert abs(np.linalg.norm(b.acc_mps2[m], axis=1).mean() - GRAVITY_MPS2) < 0.01
    noisy = motion.blocks["treated"]
    assert not np.allclose(noisy.acc_mps2, b.acc_mps2, atol=1e-3)


def test_saturation_and_quantisation_follow_the_device_range() -> None:
    spec = SensorSpec(rate_hz=100, acc_range_g=1.0, gyro_range_dps=60.0)
    # Forearm level (gravity nearly all on z) and frequent quick fidgets: some samples exceed 1 g.
    sc = Scenario(duration_s=40, sensors={"treated": spec}).replace(
        **{"posture.height_m": 0.0, "fidgets.per_10min": 60.0, "fidgets.duration_s": 0.4}
    )
    b = simulate(sc, 2).blocks["treated"]
    full = GRAVITY_MPS2
    assert np.abs(b.acc_mps2).max() <= full + 1e-9
    assert (np.abs(b.acc_mps2) >= full - 1e-9).any()  # gravity plus motion does clip at ±1 g
    gyr_full = np.deg2rad(60.0)
    assert np.abs(b.gyr_rps).max() <= gyr_full + 1e-9
    assert (np.abs(b.gyr_rps) >= gyr_full - 1e-9).any()  # the calibration turns exceed 60 °/s
    lsb = full / 32768
    assert np.allclose(np.round(b.acc_mps2 / lsb) * lsb, b.acc_mps2, atol=1e-12)


def test_cheap_devices_are_noisier_and_more_biased_than_good_ones() -> None:
    def still_stats(device_class: str) -> tuple[float, float]:
        sc = Scenario(duration_s=25, sensors={"treated": SensorSpec(rate_hz=100, device_class=device_class)})
        session = simulate(sc, 4)
        b = session.blocks["treated"]
        still = session.meta.phase("still")
        assert still is not None
        m = (b.t_s > still[0]) & (b.t_s < still[1])
        gyr = b.gyr_rps[m]
        return float(np.abs(gyr.mean(axis=0)).max()), float(np.abs(np.diff(b.acc_mps2[m], axis=0)).std())

    bias_good, noise_good = still_stats("good")
    bias_cheap, noise_cheap = still_stats("cheap")
    assert noise_cheap > 1.5 * noise_good
    assert bias_cheap > bias_good


def test_cli_writes_trace_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "simulate",
                "--random",
                "--seed",
                "3",
                "--duration",
                "40",
                "--roles",
                "treated,stroker",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "r.labels.json" in err and "strokes" in err
    trace = read_trace(out)
    assert set(trace.blocks) == {"treated", "stroker"}
    labels = json.loads((tmp_path / "r.labels.json").read_text())
    assert labels["seed"] == 3 and labels["duration_s"] == 40.0
    # The same command again gives the same file.
    again = tmp_path / "again.csv"
    main(
        [
            "simulate",
            "--random",
            "--seed",
            "3",
            "--duration",
            "40",
            "--roles",
            "treated,stroker",
            "-o",
            str(again),
        ]
    )
    assert again.read_bytes() == out.read_bytes()


def test_cli_scenario_file_overrides_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('duration_s = 30\narm = "left"\n[sensors.treated]\nrate_hz = 50\n')
    out = tmp_path / "t.csv"
    assert (
        main(
            [
                "simulate",
                str(scenario),
                "--set",
                "strokes.distal_fraction=1.0",
                "--rate",
                "200",
                "--ideal",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    labels = json.loads((tmp_path / "t.labels.json").read_text())
    assert labels["arm"] == "left"
    assert labels["scenario"]["sensors"]["treated"]["rate_hz"] == 200.0
    assert all(s["direction"] == "distal" for s in labels["strokes"]) and labels["strokes"]
    capsys.readouterr()
    scenario.write_text("[strokes]\ncadence_spm = 'fast'\n")
    assert main(["simulate", str(scenario), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "strokes.cadence_spm" in err and str(scenario) in err and "Traceback" not in err
    assert main(["simulate", "--random", str(scenario), "-o", str(out)]) == 2
    assert main(["simulate", "--fields"]) == 0
    assert "`strokes.cadence_spm`" in capsys.readouterr().out
