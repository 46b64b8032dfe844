"""The writer's fixed-point rows read by arithmetic give pandas' doubles bit for bit, or are left alone.

:func:`coach.trace.plain.parse_plain` is the reader's first way for a batch (before numpy's loader and
pandas). Whatever it returns must be what pandas (the reference) reads, signs of zeros included; any
row outside its narrow form must give ``None``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.samples import ROLES
from coach.trace import rows as trace_rows
from coach.trace.lines import Lines
from coach.trace.plain import MAX_FIELD_CHARS, parse_plain
from coach.trace.rows import REQUIRED_COLUMNS

ALL_COLUMNS = (*REQUIRED_COLUMNS, "mx", "my", "mz", "pressure")
# The writer's decimals per column (coach/trace/writer.py: %.6f time, %.5f acc, %.6f gyr, %.3f mag,
# %.2f pressure).
WRITER_DECIMALS = {"t": 6, "ax": 5, "ay": 5, "az": 5, "gx": 6, "gy": 6, "gz": 6}
WRITER_DECIMALS |= {"mx": 3, "my": 3, "mz": 3, "pressure": 2}


def _blob(rows: list[str]) -> bytes:
    return "\n".join(rows).encode("utf-8")


def _fresh_last_t() -> np.ndarray:
    return np.full(len(ROLES), -math.inf)


def _pandas_values(rows: list[str], columns: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """pandas' C parser with the reader's settings (``coach.trace.rows.pandas_frame``), before its
    limit checks (the numbers here go beyond what a sensor measures, to try every width)."""
    frame = trace_rows.pandas_frame(_blob(rows), columns)
    if frame is None:
        return None
    if len(frame) != len(rows):
        return None
    role = {r: i for i, r in enumerate(ROLES)}
    out = {"code": np.array([role.get(str(r), -1) for r in frame["sensor"]], dtype=np.int8)}
    for c in columns:
        if c != "sensor":
            out[c] = frame[c].to_numpy(dtype=np.float64)
    return out


def _same_as_pandas(rows: list[str], columns: tuple[str, ...]) -> bool:
    """parse_plain's answer for the rows is pandas' bit for bit (``True``), or it left them (``False``)."""
    got = parse_plain(_blob(rows), len(rows), columns)
    if got is None:
        return False
    codes, values = got
    ref = _pandas_values(rows, columns)
    assert ref is not None, rows
    assert codes.dtype == np.int8 and codes.tobytes() == ref["code"].tobytes()
    for c in columns:
        if c == "sensor":
            continue
        assert values[c].dtype == np.float64 and values[c].tobytes() == ref[c].tobytes(), (c, rows)
        texts = [row.split(",")[columns.index(c)] for row in rows]
        assert values[c].tolist() == [float(x) for x in texts]  # correctly rounded, as Python reads it
    return True


def _cell(rng: np.random.Generator, decimals: int) -> str:
    """A fixed-point number of up to MAX_FIELD_CHARS characters, of any magnitude, now and then zero."""
    most = MAX_FIELD_CHARS - 2  # with a sign: 15 characters with a point, 14 without
    digits = int(rng.integers(decimals + 1, most + 1))
    mantissa = 0 if rng.random() < 0.05 else int(rng.integers(0, 10**digits))
    sign = "-" if rng.random() < 0.5 else ""
    text = str(mantissa).rjust(digits, "0") if rng.random() < 0.2 else str(mantissa).rjust(decimals + 1, "0")
    return sign + (f"{text[:-decimals]}.{text[-decimals:]}" if decimals else text)


def _rows(rng: np.random.Generator, n: int, columns: tuple[str, ...], decimals: dict[str, int]) -> list[str]:
    rows = []
    for i in range(n):
        cells = [f"{0.01 * i:.6f}" if c == "t" else _cell(rng, decimals[c]) for c in columns if c != "sensor"]
        cells.insert(columns.index("sensor"), ROLES[int(rng.integers(len(ROLES)))])
        rows.append(",".join(cells))
    return rows


def test_writer_rows_are_read_here_exactly_as_pandas_reads_them() -> None:
    rng = np.random.default_rng(2026)
    for columns in (REQUIRED_COLUMNS, ALL_COLUMNS):
        for n in (1, 2, 700):
            rows = _rows(rng, n, columns, WRITER_DECIMALS)
            assert _same_as_pandas(rows, columns), rows[:3]


def test_all_widths_signs_zeros_and_decimals() -> None:
    rng = np.random.default_rng(7)
    for decimals in range(0, 12):
        dec = dict.fromkeys(ALL_COLUMNS, decimals) | {"t": 6}
        rows = _rows(rng, 300, REQUIRED_COLUMNS, dec)
        assert _same_as_pandas(rows, REQUIRED_COLUMNS), decimals
    zeros = ["0.000001,hand,-0.00000,0.00000,-0,0,-0.0,0.0", "0.000002,hand,-0.00000,00.00000,-00,0,-0.0,0.0"]
    assert _same_as_pandas(zeros, REQUIRED_COLUMNS)
    got = parse_plain(_blob(zeros), 2, REQUIRED_COLUMNS)
    assert got is not None and math.copysign(1.0, float(got[1]["ax"][0])) == -1.0
    longest = ["1.000000,treated,-1234567.890123,12345678901234,1,2,3,4"]  # 15 and 14 characters
    assert _same_as_pandas(longest, REQUIRED_COLUMNS)


def test_the_reader_takes_this_way_for_written_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        acc, gyr = rng.normal(0, 20, 3), rng.normal(0, 5, 3)
        nums = ",".join([f"{v:.5f}" for v in acc] + [f"{v:.6f}" for v in gyr])
        rows.append(f"{0.01 * i:.6f},{ROLES[i % len(ROLES)]},{nums}")
    lines = Lines(_blob(rows), len(rows))
    calls: list[bool] = []

    def spy(blob: bytes, count: int, columns: tuple[str, ...]) -> object:
        got = parse_plain(blob, count, columns)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(trace_rows, "parse_plain", spy)
    chunk = trace_rows._numpy_parse(lines, 4, REQUIRED_COLUMNS, _fresh_last_t())
    ref = trace_rows._pandas_parse(lines, 4, REQUIRED_COLUMNS, _fresh_last_t())
    assert calls == [True] and chunk is not None and ref is not None
    for name in ("t_s", "role_code", "acc_mps2", "gyr_rps", "line"):
        a, b = getattr(chunk, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert chunk.line[0] == 4 and chunk.mag_ut is None and chunk.pressure_pa is None


_ODD = [
    "",
    " 1.5",
    "1.5 ",
    "+1.5",
    "1.50",  # another count of decimals than the column's
    "2",
    ".5",
    "5.",
    "-.5",
    "-",
    ".",
    "--1.5",
    "1.-5",
    "1.5-",
    "1..5",
    "1.2.3",
    "1e3",
    "nan",
    "inf",
    "0x1.5",
    '"1.5"',
    "1_0.5",
    "\t1.5",
    "123456789012345.5",
    "1234567890123.50",
    "hand",
    "é.5",
]
_ODD_ROLES = ["", " hand", "hand ", "Hand", "treatedx", "trea", "hand.", "-hand", "1.5", "stroker\t"]


@st.composite
def _odd_batches(draw: st.DrawFn) -> list[str]:
    """Rows of one-decimal numbers, now and then an odd cell or role (choices from a drawn seed)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = []
    for i in range(int(rng.integers(1, 7))):
        cells = [f"{0.01 * i:.6f}", str(rng.choice(_ODD_ROLES if rng.random() < 0.05 else list(ROLES)))]
        for _ in REQUIRED_COLUMNS[2:]:
            odd = rng.random() < 0.03
            cells.append(str(rng.choice(_ODD)) if odd else f"{rng.integers(-99999, 99999) / 10:.1f}")
        cut = int(rng.choice([0] * 30 + [-1, 1]))
        cells = cells[: len(cells) + cut] if cut <= 0 else [*cells, "7.0"]
        rows.append(",".join(cells))
    if rng.random() < 0.05:
        rows.insert(int(rng.integers(len(rows) + 1)), "")
    return rows


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_odd_batches())
def test_property_pandas_doubles_or_none(rows: list[str]) -> None:
    _same_as_pandas(rows, REQUIRED_COLUMNS)


def test_rows_outside_the_form_are_left_to_the_other_parsers() -> None:
    good = "0.010000,hand,1.5,-2.5,3.5,4.5,5.5,6.5"
    for cell in _ODD:
        row = f"0.020000,hand,{cell},-2.5,3.5,4.5,5.5,6.5"
        assert parse_plain(_blob([good, row]), 2, REQUIRED_COLUMNS) is None, cell
    for role in _ODD_ROLES:
        row = f"0.020000,{role},1.5,-2.5,3.5,4.5,5.5,6.5"
        assert parse_plain(_blob([good, row]), 2, REQUIRED_COLUMNS) is None, role
    for rows in ([good, ""], ["", good], [good, "0.02,hand,1.5,2.5"], [good + ",7.5"]):
        assert parse_plain(_blob(rows), len(rows), REQUIRED_COLUMNS) is None, rows
    assert parse_plain(_blob([good]), 2, REQUIRED_COLUMNS) is None  # a line short
