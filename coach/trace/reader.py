"""Readers for `coach-trace` v1 files (DESIGN.md §7).

Two ways in, one parser underneath:

- :func:`open_trace` streams: it yields :class:`TraceChunk` s of at most ``rows`` rows in file order,
  so memory stays flat on hour-long traces and a live tool can follow a growing file.
- :func:`read_trace` loads a whole file into one :class:`SampleBlock` per role.

Rows are parsed in batches by pandas' C parser (a field tool, much faster than a Python loop). Every
batch is then checked as a whole with numpy; only when a check fails is the batch walked line by line
(:func:`_first_bad_line`) to name the first offending line exactly. All good rows before a bad line are
yielded before :class:`~coach.errors.TraceFormatError` is raised, so nothing good is lost.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import pandas as pd

from coach.errors import TraceFormatError
from coach.samples import ROLES, FloatArray, SampleBlock
from coach.trace.meta import TraceMeta

FORMAT_NAME = "coach-trace"
FORMAT_VERSION = 1
REQUIRED_COLUMNS: tuple[str, ...] = ("t", "sensor", "ax", "ay", "az", "gx", "gy", "gz")
OPTIONAL_COLUMNS: tuple[str, ...] = ("mx", "my", "mz", "pressure")
NUMERIC_REQUIRED: tuple[str, ...] = ("t", "ax", "ay", "az", "gx", "gy", "gz")
DEFAULT_CHUNK_ROWS = 65536
_ROLE_CODE = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """What precedes the rows: version, ``meta`` and the column names (in file order)."""

    path: str
    version: int
    meta: TraceMeta
    columns: tuple[str, ...]
    header_line: int

    @property
    def has_mag(self) -> bool:
        return all(c in self.columns for c in ("mx", "my", "mz"))

    @property
    def has_pressure(self) -> bool:
        return "pressure" in self.columns


@dataclass(frozen=True, slots=True)
class TraceChunk:
    """Consecutive rows of a trace, in file order (sensors interleaved).

    ``role_code`` indexes :data:`coach.samples.ROLES`; ``line`` is each row's 1-based line number.
    """

    t_s: FloatArray
    role_code: npt.NDArray[np.int8]
    acc_mps2: FloatArray
    gyr_rps: FloatArray
    mag_ut: FloatArray | None
    pressure_pa: FloatArray | None
    line: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def by_role(self) -> dict[str, SampleBlock]:
        """Split into one block per role present, each in time order."""
        out: dict[str, SampleBlock] = {}
        for code, role in enumerate(ROLES):
            mask = self.role_code == code
            if not mask.any():
                continue
            out[role] = SampleBlock(
                role,
                self.t_s[mask],
                self.acc_mps2[mask],
                self.gyr_rps[mask],
                None if self.mag_ut is None else self.mag_ut[mask],
                None if self.pressure_pa is None else self.pressure_pa[mask],
            )
        return out


@dataclass(slots=True)
class Trace:
    """A whole trace in memory: its header and one block per role present."""

    header: TraceHeader
    blocks: dict[str, SampleBlock] = field(default_factory=dict)

    @property
    def meta(self) -> TraceMeta:
        return self.header.meta

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if r in self.blocks]

    @property
    def duration_s(self) -> float:
        ends = [float(b.t_s[-1]) for b in self.blocks.values() if len(b)]
        return max(ends) if ends else 0.0


class TraceReader:
    """Streaming reader over one trace file; use as a context manager (see :func:`open_trace`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._file: IO[str] = _open_text(self.path)
        try:
            self.header, self._pending = _read_header(self._file, self.path)
        except BaseException:
            self._file.close()
            raise
        self._last_t = np.full(len(ROLES), -math.inf)
        self._next_line = self.header.header_line + 1

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def meta(self) -> TraceMeta:
        return self.header.meta

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[TraceChunk]:
        """Yield the rows in chunks of at most ``rows``; raise :class:`TraceFormatError` at a bad line
        after yielding every good row before it."""
        if rows < 1:
            raise ValueError("rows must be >= 1")
        while True:
            lines, read_error = self._take_lines(rows)
            if not lines and read_error is None:
                return
            first_line = self._next_line
            self._next_line += len(lines)
            chunk, error = (
                _parse_lines(lines, first_line, self.header, self._last_t) if lines else (None, None)
            )
            if chunk is not None and len(chunk):
                yield chunk
            if error is not None:
                raise error
            if read_error is not None:
                raise TraceFormatError(self.path, self._next_line, read_error)

    def _take_lines(self, n: int) -> tuple[list[str], str | None]:
        """Up to ``n`` lines, and why reading stopped early (undecodable bytes, a broken gzip stream)."""
        lines = self._pending[:n]
        self._pending = self._pending[n:]
        error: str | None = None
        try:
            while len(lines) < n:
                line = self._file.readline()
                if not line:
                    break
                lines.append(line)
                if len(lines) < n:
                    # Batch the rest through readlines(), which is far faster than readline() per row.
                    lines.extend(self._file.readlines(max(1, (n - len(lines)) * 64)))
        except UnicodeDecodeError as exc:
            error = f"not UTF-8 text ({exc.reason}) on this line or just after it"
        except (OSError, EOFError) as exc:
            error = f"cannot read further: {exc}"
        if len(lines) > n:
            self._pending = lines[n:] + self._pending
            lines = lines[:n]
        return lines, error


def open_trace(path: str | Path) -> TraceReader:
    """Open a trace for streaming: ``with open_trace(p) as r: for chunk in r.chunks(): ...``.

    Raises :class:`TraceFormatError` at once if the comment lines or the header are broken.
    ``.gz`` files are read through gzip.
    """
    return TraceReader(path)


def read_trace(path: str | Path) -> Trace:
    """Read a whole trace into one :class:`SampleBlock` per role (the fast path for replay tools)."""
    with open_trace(path) as reader:
        parts: dict[str, list[SampleBlock]] = {}
        for chunk in reader.chunks(rows=262144):
            for role, block in chunk.by_role().items():
                parts.setdefault(role, []).append(block)
        blocks = {role: SampleBlock.concat(bs) for role, bs in parts.items()}
        return Trace(reader.header, blocks)


# --------------------------------------------------------------------------------------------------
# Header


def _open_text(path: str) -> IO[str]:
    try:
        if path.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8", newline=None)
        return open(path, encoding="utf-8", newline=None)
    except OSError as exc:
        raise TraceFormatError(path, None, f"cannot open: {exc.strerror or exc}") from exc


def _read_header(f: IO[str], path: str) -> tuple[TraceHeader, list[str]]:
    version: int | None = None
    meta: TraceMeta | None = None
    n = 0
    try:
        for raw in f:
            n += 1
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                body = line[1:].strip()
                key, sep, value = body.partition(":")
                key = key.strip()
                if n == 1 and not (sep and key == FORMAT_NAME):
                    raise TraceFormatError(
                        path,
                        n,
                        f"not a {FORMAT_NAME} file: the first line must be "
                        f"'# {FORMAT_NAME}: {FORMAT_VERSION}'",
                    )
                if key == FORMAT_NAME:
                    try:
                        version = int(value.strip())
                    except ValueError:
                        raise TraceFormatError(
                            path, n, f"version {value.strip()!r} is not a number"
                        ) from None
                    if version != FORMAT_VERSION:
                        raise TraceFormatError(
                            path,
                            n,
                            f"{FORMAT_NAME} version {version} is not supported "
                            f"(this reader knows version {FORMAT_VERSION})",
                        )
                elif key == "meta":
                    if meta is not None:
                        raise TraceFormatError(path, n, "a second 'meta' line")
                    meta = _parse_meta(value, path, n)
                continue
            if version is None:
                raise TraceFormatError(
                    path,
                    n,
                    f"not a {FORMAT_NAME} file: the first line must be '# {FORMAT_NAME}: {FORMAT_VERSION}'",
                )
            columns = tuple(c.strip() for c in line.split(","))
            _check_columns(columns, path, n)
            return TraceHeader(path, version, meta or TraceMeta(), columns, n), []
    except UnicodeDecodeError as exc:
        raise TraceFormatError(path, n + 1, f"not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise TraceFormatError(path, n + 1, f"cannot read: {exc}") from None
    raise TraceFormatError(path, n or None, "no header line (the file ends before the column names)")


def _parse_meta(text: str, path: str, line: int) -> TraceMeta:
    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        raw = json.loads(text, parse_constant=no_constants)
    except ValueError as exc:
        raise TraceFormatError(path, line, f"the meta line is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TraceFormatError(path, line, "meta must be one JSON object")
    return TraceMeta(raw)


def _check_columns(columns: tuple[str, ...], path: str, line: int) -> None:
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise TraceFormatError(path, line, f"column {c!r} appears twice in the header")
        seen.add(c)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise TraceFormatError(
            path,
            line,
            f"the header lacks required column(s) {', '.join(missing)} (needs {','.join(REQUIRED_COLUMNS)})",
        )
    mag = [c for c in ("mx", "my", "mz") if c in seen]
    if mag and len(mag) != 3:
        raise TraceFormatError(path, line, "magnetometer columns come as a set: mx,my,mz")


# --------------------------------------------------------------------------------------------------
# Rows


def _parse_lines(
    lines: list[str], first_line: int, header: TraceHeader, last_t: npt.NDArray[np.float64]
) -> tuple[TraceChunk | None, TraceFormatError | None]:
    """Parse a batch; return the good rows (up to the first bad line) and the error, if any.

    ``last_t`` (per role) carries the time order check across batches and is updated in place.
    """
    chunk = _fast_parse(lines, first_line, header, last_t)
    if chunk is not None:
        _update_last_t(chunk, last_t)
        return chunk, None
    bad_index, reason = _first_bad_line(lines, header, last_t.copy())
    good = _fast_parse(lines[:bad_index], first_line, header, last_t) if bad_index else None
    if good is not None:
        _update_last_t(good, last_t)
    return good, TraceFormatError(header.path, first_line + bad_index, reason)


def _fast_parse(
    lines: list[str], first_line: int, header: TraceHeader, last_t: npt.NDArray[np.float64]
) -> TraceChunk | None:
    """Vectorised parse and check of a batch; ``None`` when any line is bad (the slow path names it)."""
    cols = header.columns
    dtypes: dict[str, str | type[float]] = dict.fromkeys(cols, float)
    dtypes["sensor"] = "category"  # role names become small integer codes in C, no Python loop per row
    try:
        frame = pd.read_csv(
            io.StringIO("".join(lines)),
            header=None,
            names=list(cols),
            dtype=dtypes,
            skip_blank_lines=False,
            keep_default_na=False,
            na_values={c: [""] for c in cols},
            engine="c",
            skipinitialspace=True,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if len(frame) != len(lines):
        return None
    sensor = frame["sensor"].cat
    category_role = np.array([_ROLE_CODE.get(str(c).strip(), -1) for c in sensor.categories], dtype=np.int8)
    category = sensor.codes.to_numpy()
    codes_all = np.full(len(lines), -1, dtype=np.int8)
    named = category >= 0
    codes_all[named] = category_role[category[named]]
    keep = np.ones(len(lines), dtype=bool)
    for i in np.flatnonzero(~named):  # no role: fine only on a blank line (rare, so a loop is cheap)
        keep[i] = bool(lines[i].strip())
    codes = codes_all[keep]
    numeric_req = frame[list(NUMERIC_REQUIRED)].to_numpy(dtype=np.float64)
    numeric_req = numeric_req[keep]
    if (codes < 0).any() or not np.isfinite(numeric_req).all():
        return None
    t = numeric_req[:, 0]
    if not _time_order_ok(t, codes, last_t):
        return None
    optional = [c for c in OPTIONAL_COLUMNS if c in cols]
    if optional:
        opt = frame[optional].to_numpy(dtype=np.float64)[keep]
        if np.isinf(opt).any():
            return None
    line_no = first_line + np.flatnonzero(keep).astype(np.int64)
    mag = (
        np.ascontiguousarray(frame[["mx", "my", "mz"]].to_numpy(dtype=np.float64)[keep])
        if header.has_mag
        else None
    )
    pres = (
        np.ascontiguousarray(frame["pressure"].to_numpy(dtype=np.float64)[keep])
        if header.has_pressure
        else None
    )
    return TraceChunk(
        np.ascontiguousarray(t),
        codes,
        np.ascontiguousarray(numeric_req[:, 1:4]),
        np.ascontiguousarray(numeric_req[:, 4:7]),
        mag,
        pres,
        line_no,
    )


def _time_order_ok(t: FloatArray, codes: npt.NDArray[np.int8], last_t: npt.NDArray[np.float64]) -> bool:
    for code in np.unique(codes):
        tc = t[codes == code]
        if tc[0] < last_t[code] or (tc.size > 1 and (np.diff(tc) < 0).any()):
            return False
    return True


def _update_last_t(chunk: TraceChunk, last_t: npt.NDArray[np.float64]) -> None:
    for code in np.unique(chunk.role_code):
        last_t[code] = chunk.t_s[chunk.role_code == code][-1]


def _first_bad_line(
    lines: list[str], header: TraceHeader, last_t: npt.NDArray[np.float64]
) -> tuple[int, str]:
    """Walk the batch line by line; return the index of the first bad line and why it is bad."""
    cols = header.columns
    index = {c: i for i, c in enumerate(cols)}
    optional = [c for c in OPTIONAL_COLUMNS if c in index]
    for i, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(cols):
            return i, f"{len(fields)} fields where the header has {len(cols)} ({','.join(cols)})"
        role = fields[index["sensor"]].strip()
        if role not in _ROLE_CODE:
            hint = "an empty sensor role" if not role else f"unknown sensor role {role!r}"
            return i, f"{hint} (known roles: {', '.join(ROLES)})"
        values: dict[str, float] = {}
        for c in NUMERIC_REQUIRED:
            text = fields[index[c]].strip()
            if not text:
                return i, f"column {c!r} is empty (a required value)"
            try:
                v = float(text)
            except ValueError:
                return i, f"column {c!r} has {text!r}, which is not a number"
            if not math.isfinite(v):
                return i, f"column {c!r} has {text!r}; values must be finite"
            values[c] = v
        for c in optional:
            text = fields[index[c]].strip()
            if not text:
                continue
            try:
                v = float(text)
            except ValueError:
                return i, f"column {c!r} has {text!r}, which is not a number"
            if math.isinf(v):
                return i, f"column {c!r} has {text!r}; values must be finite or empty"
        code = _ROLE_CODE[role]
        if values["t"] < last_t[code]:
            return i, (
                f"time goes backwards for sensor {role!r}: t={fields[index['t']].strip()} "
                f"after t={last_t[code]:.6f}"
            )
        last_t[code] = values["t"]
    # The fast parser refused the batch but no single line is bad: report the batch honestly.
    return 0, "the rows could not be parsed as CSV (check quoting and separators)"
