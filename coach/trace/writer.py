"""Writer for `coach-trace` v1 files (docs/design.md §7).

Rows go out in time order with sensors interleaved. :meth:`TraceWriter.write_blocks` merges blocks of
several roles by time (stable, so equal times keep role order). Every write is flushed, so a session
that is stopped (Ctrl-C, a crash) leaves a complete file up to its last written row; :meth:`close`
also fsyncs.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np

from coach import __version__
from coach.samples import ROLES, SampleBlock
from coach.trace.meta import TraceMeta
from coach.trace.reader import FORMAT_NAME, FORMAT_VERSION, REQUIRED_COLUMNS

# Resolution written: 1 µs in time, 1e-5 m/s², 1e-6 rad/s, 1e-3 µT, 0.01 Pa: well below any
# IMU's noise floor, so the file is a faithful copy of the samples.
_FMT = {"t": "%.6f", "acc": "%.5f", "gyr": "%.6f", "mag": "%.3f", "pressure": "%.2f"}


class TraceWriter:
    """Write a trace file: ``with TraceWriter(path, meta, mag=False) as w: w.write_blocks([...])``.

    Args:
        path: output file; ``.gz`` compresses.
        meta: the ``meta`` object; ``software`` is filled in when absent.
        mag: write ``mx,my,mz`` columns.
        pressure: write a ``pressure`` column.
    """

    def __init__(
        self, path: str | Path, meta: TraceMeta | None = None, *, mag: bool = False, pressure: bool = False
    ) -> None:
        self.path = str(path)
        self.meta = (meta or TraceMeta()).copy()
        self.meta.raw.setdefault("software", {"name": "retro-coach", "version": __version__})
        self.mag = mag
        self.pressure = pressure
        self.rows_written = 0
        self._file: IO[str] = (
            gzip.open(self.path, "wt", encoding="utf-8", newline="\n")
            if self.path.endswith(".gz")
            else open(self.path, "w", encoding="utf-8", newline="\n")
        )
        columns = (
            list(REQUIRED_COLUMNS) + (["mx", "my", "mz"] if mag else []) + (["pressure"] if pressure else [])
        )
        self._file.write(f"# {FORMAT_NAME}: {FORMAT_VERSION}\n")
        self._file.write(
            "# meta: " + json.dumps(self.meta.raw, allow_nan=False, separators=(", ", ": ")) + "\n"
        )
        self._file.write(",".join(columns) + "\n")
        self._file.flush()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_blocks(self, blocks: Iterable[SampleBlock]) -> int:
        """Write the samples of several roles merged in time order; return the rows written."""
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return 0
        t = np.concatenate([b.t_s for b in blocks])
        order = np.argsort(t, kind="stable")
        role_names = np.concatenate([np.full(len(b), b.role, dtype=object) for b in blocks])
        acc = np.concatenate([b.acc_mps2 for b in blocks])
        gyr = np.concatenate([b.gyr_rps for b in blocks])
        parts: list[np.ndarray] = [acc, gyr]
        formats = [_FMT["acc"]] * 3 + [_FMT["gyr"]] * 3
        if self.mag:
            parts.append(np.concatenate([_or_nan(b.mag_ut, len(b), 3) for b in blocks]))
            formats += [_FMT["mag"]] * 3
        if self.pressure:
            parts.append(np.concatenate([_or_nan(b.pressure_pa, len(b), None) for b in blocks])[:, None])
            formats.append(_FMT["pressure"])
        values = np.hstack(parts)[order]
        t_sorted = t[order]
        names = role_names[order]
        n = len(t_sorted)
        row_fmt = f"{_FMT['t']},%s,{','.join(formats)}\n"
        if np.isnan(t_sorted).any() or any("nan" in b.role for b in blocks):
            text = "".join(_rows_one_by_one(row_fmt, t_sorted, names, values))
        else:
            # One formatting call for all rows: the same conversions as row by row, in one string.
            columns = [t_sorted.tolist(), names.tolist(), *values.T.tolist()]
            text = (row_fmt * n) % tuple(itertools.chain.from_iterable(zip(*columns, strict=True)))
            if np.isnan(values).any():
                text = text.replace("nan", "")  # an empty cell (t and the role hold no "nan")
        self._file.write(text)
        self._file.flush()
        self.rows_written += n
        return n

    def write_block(self, block: SampleBlock) -> int:
        """Write one role's samples (the caller keeps rows of different roles in time order)."""
        return self.write_blocks([block])

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        if not self.path.endswith(".gz"):
            os.fsync(self._file.fileno())
        self._file.close()


def _rows_one_by_one(row_fmt: str, t: np.ndarray, names: np.ndarray, values: np.ndarray) -> list[str]:
    """Row by row, the missing values (NaN) of the value columns as empty cells."""
    t_fmt, rest = row_fmt.split(",%s,", 1)
    return [
        f"{t_fmt % ti},{role},{(rest % tuple(row)).replace('nan', '')}"
        for ti, role, row in zip(t, names, values, strict=True)
    ]


def _or_nan(values: np.ndarray | None, n: int, width: int | None) -> np.ndarray:
    if values is not None:
        return values
    return np.full((n, width) if width else (n,), np.nan)


def write_trace(path: str | Path, meta: TraceMeta, blocks: dict[str, SampleBlock]) -> int:
    """Write a whole trace in one go (roles in :data:`ROLES` order at equal times)."""
    ordered = [blocks[r] for r in ROLES if r in blocks]
    mag = any(b.mag_ut is not None for b in ordered)
    pressure = any(b.pressure_pa is not None for b in ordered)
    with TraceWriter(path, meta, mag=mag, pressure=pressure) as w:
        return w.write_blocks(ordered)
