"""Convert a documented subset of the SP-SW-HAR smartwatch recordings into coach-trace files.

Source: github.com/GeoTecINIT/sp-sw-har-dataset (Matey-Sanz, Casteleyn, Granell, Data in Brief 2023,
doi:10.1016/j.dib.2023.109809; dataset CC BY 4.0). Usage, with a checkout (or bare git mirror) of it:

    python scripts/convert_spsw_har.py /path/to/sp-sw-har-dataset benchmarks/data/spsw_har

Writes, per subject, the smartwatch (``*_sw.csv``) executions concatenated on one clock (1 s apart) as
``<split>/sXX.csv.gz`` (role ``treated``, no calibration metadata) and ``sXX.labels.json`` with no
strokes and the source's activity labels as movements. Nothing else is changed: the accelerometer is
m/s², the gyroscope rad/s, both in the watch's frame; times are the source's millisecond timestamps.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from coach.samples import SampleBlock
from coach.trace import TraceMeta, write_trace

SPLITS = {
    "train": ["s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08"],
    "report": ["s18", "s19", "s20", "s21", "s22", "s23"],
}
KINDS = {
    "SEATED": "seated",
    "STANDING_UP": "stand_up",
    "WALKING": "walk",
    "TURNING": "turn",
    "SITTING_DOWN": "sit_down",
}
COMMIT_NOTE = "1408d85"


def _read(repo: Path, rel: str) -> str:
    if (repo / rel).exists():
        return (repo / rel).read_text()
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{rel}"], check=True, capture_output=True, text=True
    ).stdout


def convert(repo: Path, out: Path) -> None:
    for split, subjects in SPLITS.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        for subj in subjects:
            ts, acc, gyr, moves = [], [], [], []
            t_off = 0.0
            info = [r.split(",") for r in _read(repo, "DATA/subjects_info.csv").strip().splitlines()[1:]]
            executions = int(next(r[-1] for r in info if r[0] == subj))
            for k in range(1, executions + 1):
                text = _read(repo, f"DATA/{subj}/{subj}_{k:02d}_sw.csv")
                rows = np.genfromtxt(io.StringIO(text), delimiter=",", skip_header=1, usecols=range(7))
                labels = [line.rsplit(",", 1)[1] for line in text.strip().splitlines()[1:]]
                t = (rows[:, 6] - rows[0, 6]) / 1000.0 + t_off
                ts.append(t)
                acc.append(rows[:, 0:3])
                gyr.append(rows[:, 3:6])
                start = 0
                for i in range(1, len(labels) + 1):
                    if i == len(labels) or labels[i] != labels[start]:
                        moves.append(
                            {
                                "kind": KINDS[labels[start]],
                                "t_start": round(float(t[start]), 3),
                                "t_end": round(float(t[i - 1]), 3),
                                "role": "treated",
                            }
                        )
                        start = i
                t_off = float(t[-1]) + 1.0
            t_all = np.concatenate(ts)
            rate = round(1.0 / float(np.median(np.diff(t_all))), 1)
            meta = TraceMeta(
                {
                    "arm": "left",
                    "sensors": {"treated": {"rate_hz": rate, "device": "ticwatch-pro-3"}},
                    "software": {"name": "convert_spsw_har", "source": "sp-sw-har-dataset " + COMMIT_NOTE},
                }
            )
            block = SampleBlock("treated", t_all, np.vstack(acc), np.vstack(gyr))
            write_trace(out / split / f"{subj}.csv.gz", meta, {"treated": block})
            labels_doc = {
                "format": "coach-real-labels",
                "version": 1,
                "source": f"sp-sw-har-dataset DATA/{subj}/{subj}_01..{executions:02d}_sw.csv (CC BY 4.0)",
                "arm": "left",
                "roles": ["treated"],
                "duration_s": round(float(t_all[-1]), 3),
                "active": [0.0, round(float(t_all[-1]), 3)],
                "massage_free": True,
                "strokes": [],
                "movements": moves,
            }
            (out / split / f"{subj}.labels.json").write_text(
                json.dumps(labels_doc, separators=(",", ":")) + "\n"
            )
            print(f"{split}/{subj}: {len(t_all)} samples, {t_all[-1] / 60:.1f} min at {rate} Hz")


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
