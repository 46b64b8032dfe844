"""The rows of a `coach-trace` v1 file: batch parsing, checks, and the exact first bad line.

A batch of the writer's fixed-point rows is read by :func:`coach.trace.plain.parse_plain` (numpy
arithmetic, the same doubles, no text-to-number call per field). Any other batch is first read by
numpy's C loader (:func:`_numpy_parse`), which vouches for a batch only when
it is sure pandas' C parser would read the same doubles and accept every line; anything else (a bad
line, an empty line, a quoted field, an exponent, a number of 16 digits and point or more) goes to
pandas.
pandas is the reference: it parses the batch (:func:`_pandas_parse`, a field tool, much faster than a
Python loop) and checks it as a whole with numpy. When a batch fails, the longest prefix that passes
the *same* parser and checks is found by bisection, so the first bad line is exactly the one the
parser stumbled on (not a guess from a second, different parser) and every good row before it is
kept; :func:`_why_bad` then says in plain words what is wrong with that line.

Why numpy's loader first, for a trace of any size: importing pandas costs ~0.3 s of CPU, and numpy
(≥ 1.23, C-implemented ``loadtxt``) is imported anyway and parses a batch of plain rows faster than
pandas here (0.19 s against ~0.3 s for 15 minutes of three sensors in 16,384-row batches, checks
included); pandas is imported only when a batch is refused.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coach.errors import TraceFormatError
from coach.samples import ROLES, FloatArray, SampleBlock
from coach.trace.limits import MAX_ABS_TIME_S, MAX_ROW_CHARS, column_limit
from coach.trace.lines import Lines
from coach.trace.plain import parse_plain

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS: tuple[str, ...] = ("t", "sensor", "ax", "ay", "az", "gx", "gy", "gz")
OPTIONAL_COLUMNS: tuple[str, ...] = ("mx", "my", "mz", "pressure")
NUMERIC_REQUIRED: tuple[str, ...] = ("t", "ax", "ay", "az", "gx", "gy", "gz")
_ROLE_CODE = {r: i for i, r in enumerate(ROLES)}
_REQUIRED_LIMITS = np.array(
    [MAX_ABS_TIME_S] + [column_limit(c) or math.inf for c in NUMERIC_REQUIRED[1:]], dtype=np.float64
)
#: What pandas' C parser reads as a number here: a plain decimal, optionally with an exponent.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


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


def parse_rows(
    lines: Lines,
    first_line: int,
    columns: tuple[str, ...],
    path: str,
    last_t: FloatArray,
    use_numpy: bool = True,
) -> tuple[TraceChunk | None, TraceFormatError | None]:
    """Parse a batch of lines; return the good rows (up to the first bad line) and the error, if any.

    ``last_t`` (per role) carries the time order check across batches and is updated in place.
    ``use_numpy`` tries numpy's loader first (pandas alone when false, for tests); the rows are the
    same either way.
    """
    chunk = _numpy_parse(lines, first_line, columns, last_t) if use_numpy else None
    if chunk is None:
        chunk = _pandas_parse(lines, first_line, columns, last_t)
    if chunk is not None:
        _update_last_t(chunk, last_t)
        return chunk, None
    text = lines.text
    lo, hi = 0, len(text)  # a prefix of lo lines parses, one of hi lines does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _pandas_parse(_prefix(text, mid), first_line, columns, last_t) is not None:
            lo = mid
        else:
            hi = mid
    good = _pandas_parse(_prefix(text, lo), first_line, columns, last_t) if lo else None
    if good is not None:
        _update_last_t(good, last_t)
    reason = _why_bad(text[lo], columns, last_t)
    return good, TraceFormatError(path, first_line + lo, reason)


def _prefix(text: list[str], n: int) -> Lines:
    return Lines("\n".join(text[:n]).encode("utf-8"), n)


#: Bytes a plain decimal number, a separator or a line end is made of: what is left of a batch without
#: them must be exactly its rows' role names (so no number has an exponent, ``nan``, ``inf``, a quote
#: or a tab, which are left to pandas).
_PLAIN_BYTES = b"0123456789.+-, \n"
#: A number written with 16 or more digits and point is left to pandas: its default float converter
#: (``precise_xstrtod``) is sure to round correctly only up to 15 digits without an exponent (an exact
#: integer divided once by an exact power of ten), while numpy always rounds correctly. Found as 16
#: zeros in a row once every digit and the point read as "0" (a bytes search: a regular expression
#: costs ~10x more). The writer's longest number has 13 characters.
_AS_ZEROS = bytes.maketrans(b"123456789.", b"0000000000")
_LONG_NUMBER = b"0" * 16
_ROLE_CHARS = np.array([len(r) for r in ROLES], dtype=np.int64)
#: Wide enough for the longest role and one character more, so a longer name cannot be cut to a role.
_ROLE_DTYPE = f"U{max(len(r) for r in ROLES) + 1}"


def _numpy_parse(
    lines: Lines, first_line: int, columns: tuple[str, ...], last_t: FloatArray
) -> TraceChunk | None:
    """The batch read by numpy's C loader when it is sure to give exactly :func:`_pandas_parse`'s
    chunk; ``None`` when it cannot vouch for that (a bad line among others): pandas decides then."""
    blob = lines.blob
    if not len(lines) or "sensor" not in columns:
        return None
    line_no = first_line + np.arange(len(lines), dtype=np.int64)
    plain = parse_plain(blob, len(lines), columns)
    if plain is not None:  # the writer's fixed-point numbers: the same doubles without a parse per field
        codes, values = plain
        numeric_req = np.empty((len(lines), len(NUMERIC_REQUIRED)), dtype=np.float64)
        for i, c in enumerate(NUMERIC_REQUIRED):
            numeric_req[:, i] = values[c]
        optional = {c: values[c] for c in OPTIONAL_COLUMNS if c in columns}
        return _checked_chunk(codes, numeric_req, optional, line_no, last_t)
    if _LONG_NUMBER in blob.translate(_AS_ZEROS):
        return None
    if not blob or blob[:1] == b"\n" or blob[-1:] == b"\n":
        return None  # an empty line: numpy skips it, pandas keeps the line numbers
    # An empty line inside: numpy skips it, so fewer rows than lines (checked below; no bytes search).
    letters = len(blob.translate(None, _PLAIN_BYTES))
    text = blob
    if any(c in OPTIONAL_COLUMNS for c in columns):
        # An empty optional cell is NaN, as pandas reads it (a written "nan" was refused above).
        text = text.replace(b",,", b",nan,").replace(b",,", b",nan,").replace(b",\n", b",nan\n")
        text = text + b"nan" if text.endswith(b",") else text
    dtype = np.dtype([(c, _ROLE_DTYPE if c == "sensor" else np.float64) for c in columns])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "input contained no data": pandas decides
            data = np.loadtxt(
                io.BytesIO(text), dtype=dtype, delimiter=",", comments=None, ndmin=1, encoding="utf-8"
            )
    except (ValueError, UserWarning):
        return None
    if data.shape[0] != len(lines):  # numpy skips empty lines; pandas keeps their line numbers
        return None
    sensor = data["sensor"]
    codes = np.full(len(lines), -1, dtype=np.int8)
    for code, role in enumerate(ROLES):
        codes[sensor == role] = code
    if (codes < 0).any() or int(np.bincount(codes, minlength=len(ROLES)) @ _ROLE_CHARS) != letters:
        return None
    numeric_req = np.empty((len(lines), len(NUMERIC_REQUIRED)), dtype=np.float64)
    for i, c in enumerate(NUMERIC_REQUIRED):
        numeric_req[:, i] = data[c]
    optional = {c: np.ascontiguousarray(data[c]) for c in OPTIONAL_COLUMNS if c in columns}
    return _checked_chunk(codes, numeric_req, optional, line_no, last_t)


def pandas_frame(blob: bytes, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The rows of ``blob`` as pandas' C parser reads them with the reader's settings, before any
    limit check; ``None`` when pandas cannot read them as numbers."""
    # Imported here: a batch that numpy's loader vouches for never needs it (~0.3 s CPU to import).
    import pandas as pd

    # Every line is at most MAX_ROW_CHARS bytes long (LineSource.take refuses longer ones), so at most
    # that many characters. The pandas C parser reads the UTF-8 bytes as they are (a text stream
    # would be encoded to UTF-8 again first).
    dtypes: dict[str, str | type[float]] = dict.fromkeys(columns, float)
    dtypes["sensor"] = "category"  # role names become small integer codes in C, no Python loop per row
    try:
        return pd.read_csv(
            io.BytesIO(blob + b"\n"),
            header=None,
            names=list(columns),
            dtype=dtypes,
            skip_blank_lines=False,
            keep_default_na=False,
            na_values={c: [""] for c in columns},
            engine="c",
            skipinitialspace=True,
        )
    except (ValueError, OverflowError, pd.errors.ParserError):
        return None


def _pandas_parse(
    lines: Lines, first_line: int, columns: tuple[str, ...], last_t: FloatArray
) -> TraceChunk | None:
    """Vectorised parse and check of a batch by pandas' C parser; ``None`` when any line is bad."""
    if not len(lines):
        return None
    frame = pandas_frame(lines.blob, columns)
    if frame is None:
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
        keep[i] = bool(lines.text[i].strip())
    numeric_req = frame[list(NUMERIC_REQUIRED)].to_numpy(dtype=np.float64)[keep]
    optional = {c: frame[c].to_numpy(dtype=np.float64)[keep] for c in OPTIONAL_COLUMNS if c in columns}
    line_no = first_line + np.flatnonzero(keep).astype(np.int64)
    return _checked_chunk(codes_all[keep], numeric_req, optional, line_no, last_t)


def _checked_chunk(
    codes: npt.NDArray[np.int8],
    numeric_req: FloatArray,
    optional: dict[str, FloatArray],
    line_no: npt.NDArray[np.int64],
    last_t: FloatArray,
) -> TraceChunk | None:
    """The parsed rows as a chunk if every role is known, every value within its limits and every
    role's time in order; ``None`` otherwise. ``numeric_req`` holds :data:`NUMERIC_REQUIRED` by column."""
    if (codes < 0).any() or not (np.abs(numeric_req) <= _REQUIRED_LIMITS).all():  # NaN fails too
        return None
    t = numeric_req[:, 0]
    if not _time_order_ok(t, codes, last_t):
        return None
    for c, values in optional.items():
        if (np.abs(values) > (column_limit(c) or math.inf)).any():  # NaN (an empty cell) is allowed here
            return None
    has_mag = all(c in optional for c in ("mx", "my", "mz"))
    mag = np.column_stack([optional[c] for c in ("mx", "my", "mz")]) if has_mag else None
    pres = np.ascontiguousarray(optional["pressure"]) if "pressure" in optional else None
    return TraceChunk(
        np.ascontiguousarray(t),
        codes,
        np.ascontiguousarray(numeric_req[:, 1:4]),
        np.ascontiguousarray(numeric_req[:, 4:7]),
        mag,
        pres,
        line_no,
    )


def _time_order_ok(t: FloatArray, codes: npt.NDArray[np.int8], last_t: FloatArray) -> bool:
    for code in _codes_present(codes):
        tc = t[codes == code]
        if tc[0] < last_t[code] or (tc.size > 1 and (np.diff(tc) < 0).any()):
            return False
    return True


def _update_last_t(chunk: TraceChunk, last_t: FloatArray) -> None:
    for code in _codes_present(chunk.role_code):
        last_t[code] = chunk.t_s[chunk.role_code == code][-1]


def _codes_present(codes: npt.NDArray[np.int8]) -> list[int]:
    """The role codes (all ≥ 0) present, in increasing order: ``np.unique`` without its import of
    ``numpy.ma`` and its sort."""
    return np.flatnonzero(np.bincount(codes)).tolist() if codes.size else []


def _why_bad(raw: str, columns: tuple[str, ...], last_t: FloatArray) -> str:
    """What is wrong with one line that the fast parser refused, in plain words."""
    line = raw.rstrip("\r\n")
    if len(line) > MAX_ROW_CHARS:
        return f"the row is {len(line)} characters long; a row has at most {MAX_ROW_CHARS}"
    fields = line.split(",")
    if len(fields) != len(columns):
        return f"{len(fields)} fields where the header has {len(columns)} ({','.join(columns)})"
    index = {c: i for i, c in enumerate(columns)}
    role = fields[index["sensor"]].strip()
    if role not in _ROLE_CODE:
        hint = "an empty sensor role" if not role else f"unknown sensor role {_cut(role)!r}"
        return f"{hint} (known roles: {', '.join(ROLES)})"
    values: dict[str, float] = {}
    for c in columns:
        if c == "sensor":
            continue
        text = fields[index[c]].strip()
        required = c in NUMERIC_REQUIRED
        if not text:
            if required:
                return f"column {c!r} is empty (a required value)"
            continue
        if not _NUMBER.fullmatch(text):
            if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                return f"column {c!r} has {_cut(text)!r}; values must be finite"
            return f"column {c!r} has {_cut(text)!r}, which is not a plain decimal number"
        v = float(text)
        limit = MAX_ABS_TIME_S if c == "t" else column_limit(c)
        if not math.isfinite(v):
            return f"column {c!r} has {_cut(text)!r}; values must be finite"
        if limit is not None and abs(v) > limit:
            if c == "t":
                return (
                    f"t={_cut(text)} is more than {MAX_ABS_TIME_S:g} s from the trace start (t is seconds "
                    "from the start of the session: a wall-clock or device time must have the first "
                    "row's time subtracted; start_utc in meta holds the wall clock)"
                )
            return f"column {c!r} has {_cut(text)}, beyond ±{limit:g} (no sensor measures that)"
        values[c] = v
    code = _ROLE_CODE[role]
    if values["t"] < last_t[code]:
        t_text = _cut(fields[index["t"]].strip())
        return f"time goes backwards for sensor {role!r}: t={t_text} after t={last_t[code]:.6f}"
    # The fast parser refused the line but no single cell is bad (quotes, stray characters).
    return "the row cannot be parsed as comma-separated numbers (check quoting and separators)"


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
