"""Convert BROAD trials (``data_mat/<trial>.mat`` of a clone of the BROAD repository) to our npz layout.

    python -m benchmarks.broad_convert BROAD_CLONE OUT_DIR [TRIAL_PREFIX ...]

BROAD (D. Laidig, M. Caruso, A. Cereatti, T. Seel, Data 6(7):72, 2021, doi:10.3390/data6070072; CC BY
4.0) is the source of ``tests/data/broad/``; the repository carries a subset of its trials, written by
this converter (``tests/data/README.md``). With a clone of the BROAD repository, this writes any other
trial (with no prefix, every trial found) so that ``./run bench broad -- --data OUT_DIR`` runs on the full
set. Each npz holds one 1-D array per column: ``t`` (s, ``arange(n) / fs``), ``ax ay az`` (m/s²), ``gx gy
gz`` (rad/s), ``mx my mz`` (µT), the optical ground truth ``qw qx qy qz`` (scalar first, sensor to ENU
earth frame) and ``px py pz`` (m) as float32 (NaN where the optics lost the body), ``movement`` (bool),
``fs`` (Hz) and ``meta`` (a JSON string: source, licence, description). The IMU columns are bit-exact
copies of the source. Members are LZMA-compressed (``np.load`` reads them like any npz).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SOURCE_REPO = "github.com/dlaidig/broad"
LICENCE = (
    "CC-BY-4.0 (BROAD dataset). Cite: D. Laidig, M. Caruso, A. Cereatti, T. Seel, BROAD - A Benchmark "
    "for Robust Inertial Orientation Estimation, Data 6(7):72, 2021, doi:10.3390/data6070072"
)
UNITS = {
    "t": "s",
    "a": "m/s^2 (specific force, +g on an axis pointing up)",
    "g": "rad/s",
    "m": "uT",
    "q": "unit quaternion",
    "p": "m",
}
FRAMES = (
    "a,g,m in the IMU sensor frame. q = [qw,qx,qy,qz] scalar-first, rotates sensor-frame vectors into the "
    "ENU earth frame (x east, y north, z up): v_E = q * v_S * conj(q). p = OMC marker-body position in m "
    "(the source says only 'm'; its z is up, about 1.2 m above the floor at rest)."
)


def convert_trial(mat_path: Path, trials_json: dict[str, Any], commit: str) -> dict[str, npt.NDArray[Any]]:
    """The npz columns of one trial, read from its ``.mat`` file."""
    import scipy.io

    m = scipy.io.loadmat(mat_path)
    name = mat_path.stem
    fs = float(m["sampling_rate"][0, 0])
    acc, gyr, mag = (np.asarray(m[k], dtype=np.float64) for k in ("imu_acc", "imu_gyr", "imu_mag"))
    quat = np.asarray(m["opt_quat"], dtype=np.float64)
    pos = np.asarray(m["opt_pos"], dtype=np.float64)
    n = acc.shape[0]
    info = trials_json.get("trials", {}).get(name, {})
    meta = {
        "source_repo": SOURCE_REPO,
        "source_path": f"data_mat/{mat_path.name}",
        "source_commit": commit,
        "license": LICENCE,
        "trial": name,
        "description": info.get("description", ""),
        "groups": info.get("groups", []),
        "imu": "myon aktos-t; optical reference: OptiTrack, 8 Flex13 cameras",
        "fs_hz": fs,
        "units": UNITS,
        "frames": FRAMES,
        "ground_truth_missing_samples": int(np.isnan(quat).any(axis=1).sum()),
        "movement": "True marks the motion phase used for error metrics in the BROAD paper; the rest "
        "phases before/after are for initialisation.",
    }
    cols: dict[str, npt.NDArray[Any]] = {"t": np.arange(n) / fs}
    for prefix, arr in (("a", acc), ("g", gyr), ("m", mag)):
        for i, axis in enumerate("xyz"):
            cols[prefix + axis] = np.ascontiguousarray(arr[:, i])
    for i, k in enumerate(("qw", "qx", "qy", "qz")):
        cols[k] = quat[:, i].astype(np.float32)
    for i, axis in enumerate("xyz"):
        cols["p" + axis] = pos[:, i].astype(np.float32)
    cols["movement"] = np.asarray(m["movement"]).reshape(-1).astype(bool)
    cols["fs"] = np.asarray(fs)
    cols["meta"] = np.asarray(json.dumps(meta, ensure_ascii=False))
    return cols


def write_npz_lzma(path: Path, columns: dict[str, npt.NDArray[Any]]) -> None:
    """An ``.npz`` whose members are LZMA-compressed: a third smaller than ``np.savez_compressed``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as zf:
        for key, arr in columns.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            zf.writestr(f"{key}.npy", buf.getvalue())


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.broad_convert", description=__doc__.split("\n")[0]
    )
    parser.add_argument("clone", type=Path, help="a clone (or export) of the BROAD repository")
    parser.add_argument("out", type=Path, help="folder for the npz files")
    parser.add_argument("prefixes", nargs="*", help="trials whose name starts with these (default: all)")
    parser.add_argument("--commit", help="the BROAD commit read (default: the clone's HEAD)")
    args = parser.parse_args(argv)
    mats = sorted((args.clone / "data_mat").glob("*.mat"))
    chosen = [p for p in mats if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    if not chosen:
        print(
            f"broad_convert: no data_mat/*.mat matching {args.prefixes or 'any'} in {args.clone}",
            file=sys.stderr,
        )
        return 2
    trials_json = json.loads((args.clone / "data_mat" / "trials.json").read_text(encoding="utf-8"))
    commit = args.commit or _git_commit(args.clone)
    args.out.mkdir(parents=True, exist_ok=True)
    for mat in chosen:
        target = args.out / f"{mat.stem}.npz"
        write_npz_lzma(target, convert_trial(mat, trials_json, commit))
        print(f"{target}  ({target.stat().st_size / 1e6:.2f} MB)")
    return 0


def _git_commit(clone: Path) -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
