"""numpy's loader for trace rows gives exactly pandas' chunk, or leaves the batch to pandas.

The reader tries :func:`coach.trace.rows._numpy_parse` first (it spares the pandas import) and falls
back to :func:`coach.trace.rows._pandas_parse`, the reference that also locates the first bad line. A
batch numpy vouches for must give the same rows, codes, line numbers and doubles, bit for bit (NaN
included), as pandas; anything else it must leave to pandas (``None``).
"""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.samples import ROLES
from coach.trace.lines import Lines
from coach.trace.rows import (
    REQUIRED_COLUMNS,
    TraceChunk,
    _numpy_parse,
    _pandas_parse,
)

ALL_COLUMNS = (*REQUIRED_COLUMNS, "mx", "my", "mz", "pressure")
REPO = Path(__file__).resolve().parents[1]


def _lines(rows: list[str]) -> Lines:
    return Lines("\n".join(rows).encode("utf-8"), len(rows))


def _fresh_last_t() -> np.ndarray:
    return np.full(len(ROLES), -math.inf)


def _same(a: TraceChunk, b: TraceChunk) -> bool:
    fields = ("t_s", "role_code", "acc_mps2", "gyr_rps", "mag_ut", "pressure_pa", "line")
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None):
            return False
        if x is not None and (x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes()):
            return False
    return True


def _writer_rows(rng: np.random.Generator, n: int, empty_share: float) -> list[str]:
    """Rows as :mod:`coach.trace.writer` formats them (``%.6f`` time, ``%.5f`` acc, ...)."""
    rows = []
    for i in range(n):
        t = 0.01 * i + rng.uniform(0, 0.005)
        acc = rng.normal(0, 20, 3)
        gyr = rng.normal(0, 5, 3)
        mag = ["" if rng.random() < empty_share else f"{v:.3f}" for v in rng.normal(0, 50, 3)]
        pres = "" if rng.random() < empty_share else f"{rng.uniform(9e4, 1.1e5):.2f}"
        role = ROLES[i % len(ROLES)]
        nums = ",".join([f"{v:.5f}" for v in acc] + [f"{v:.6f}" for v in gyr])
        rows.append(f"{t:.6f},{role},{nums},{','.join(mag)},{pres}")
    return rows


def test_written_rows_take_numpys_way_and_match_pandas_bit_for_bit() -> None:
    rng = np.random.default_rng(14)
    for empty_share in (0.0, 0.3, 1.0):
        lines = _lines(_writer_rows(rng, 500, empty_share))
        fast = _numpy_parse(lines, 7, ALL_COLUMNS, _fresh_last_t())
        ref = _pandas_parse(lines, 7, ALL_COLUMNS, _fresh_last_t())
        assert fast is not None and ref is not None
        assert _same(fast, ref)
        assert fast.line[0] == 7 and fast.line[-1] == 7 + 499


def test_numbers_pandas_may_round_differently_are_left_to_pandas() -> None:
    row = "0.5,hand,1,2,3,4,5,6"
    for cell in (
        "0.1234567890123456",
        "1234567890123456",
        "-1234.56789012345",
        "1e-3",
        "1E2",
        "nan",
        "inf",
        "0x10",
        '"1"',
    ):
        lines = _lines([row, f"0.6,hand,{cell},2,3,4,5,6"])
        assert _numpy_parse(lines, 1, REQUIRED_COLUMNS, _fresh_last_t()) is None, cell
    # Up to 15 digits are exact in both (an exact integer divided once by an exact power of ten); the
    # guard counts the point too, so 15 characters of digits and point at most take numpy's way.
    lines = _lines([row, "0.6,hand,-1234.5678901234,99999.999999999,3,4,5,6"])
    fast = _numpy_parse(lines, 1, REQUIRED_COLUMNS, _fresh_last_t())
    ref = _pandas_parse(lines, 1, REQUIRED_COLUMNS, _fresh_last_t())
    assert fast is not None and ref is not None and _same(fast, ref)


def test_empty_lines_and_bad_time_order_are_left_to_pandas() -> None:
    good = ["0.5,hand,1,2,3,4,5,6", "0.6,hand,1,2,3,4,5,6"]
    for rows in ([good[0], "", good[1]], [good[0], good[1], ""], ["", *good], [good[1], good[0]]):
        assert _numpy_parse(_lines(rows), 1, REQUIRED_COLUMNS, _fresh_last_t()) is None, rows
    last_t = _fresh_last_t()
    last_t[ROLES.index("hand")] = 0.55
    assert _numpy_parse(_lines(good), 1, REQUIRED_COLUMNS, last_t) is None


_GOOD_CELLS = [
    "0",
    "1",
    "-2.5",
    "+3.25",
    ".5",
    "5.",
    "-0.000000",
    " 1.5",
    "1.5 ",
    "9999.99999",
    "-1234.5678901234",
]
_ODD_CELLS = [
    "",
    " ",
    "-",
    ".",
    "1.2.3",
    "1e3",
    "nan",
    "inf",
    "1_0",
    "\t2",
    "0.12345678901234567",
    "1e6",
    '"1"',
]
_ODD_ROLES = ["", " hand", "hand ", "Hand", "treatedx", "nan", "1"]


@st.composite
def _batches(draw: st.DrawFn) -> list[str]:
    """Up to 6 rows, mostly good values so that whole batches often pass, now and then an odd one
    (the choices come from a drawn seed: hypothesis' own choices lean to the odd ends)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def pick(good: list[str], odd: list[str]) -> str:
        return str(rng.choice(odd if rng.random() < 0.015 else good))

    rows = []
    t = 0.0
    for _ in range(int(rng.integers(1, 7))):
        t += float(rng.choice([0.0, 0.5, -0.01, *[0.01] * 7]))
        cells = [f"{t:.6f}", pick(list(ROLES), _ODD_ROLES)]
        cells += [pick(_GOOD_CELLS, _ODD_CELLS) for _ in REQUIRED_COLUMNS[2:]]
        cells += [pick([*_GOOD_CELLS, "", ""], _ODD_CELLS) for _ in ALL_COLUMNS[len(REQUIRED_COLUMNS) :]]
        cut = int(rng.choice([0] * 30 + [-1, -4, 1]))
        cells = cells[: len(cells) + cut] if cut <= 0 else [*cells, "7"]
        rows.append(",".join(cells))
    return rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_batches())
def test_property_numpy_gives_pandas_chunk_or_none(rows: list[str]) -> None:
    lines = _lines(rows)
    fast = _numpy_parse(lines, 3, ALL_COLUMNS, _fresh_last_t())
    if fast is not None:
        ref = _pandas_parse(lines, 3, ALL_COLUMNS, _fresh_last_t())
        assert ref is not None and _same(fast, ref)


def _pandas_imported_after_reading(trace: Path) -> str:
    code = (
        "import sys\nfrom coach.errors import TraceFormatError\nfrom coach.trace import read_trace\n"
        "try:\n    read_trace(sys.argv[1])\nexcept TraceFormatError:\n    pass\n"
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(trace)], capture_output=True, text=True, check=True, cwd=REPO
    )
    return out.stdout.strip()


def test_a_good_trace_is_read_without_pandas_a_bad_one_with_it(tmp_path: Path) -> None:
    header = (
        '# coach-trace: 1\n# meta: {"sensors": {"hand": {"rate_hz": 100.0}}}\nt,sensor,ax,ay,az,gx,gy,gz\n'
    )
    good = tmp_path / "good.csv"
    good.write_text(header + "".join(f"{0.01 * i:.6f},hand,0.1,0.2,9.8,0,0,0\n" for i in range(200)))
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + "2.1,hand,0.1,zz,9.8,0,0,0\n")
    assert _pandas_imported_after_reading(good) == "False"
    assert _pandas_imported_after_reading(bad) == "True"


def test_a_big_trace_is_read_without_pandas_too(tmp_path: Path) -> None:
    """Any size: 13 MB of rows (beyond the 12 MB the reader once kept numpy's way to) and gzipped."""
    header = (
        '# coach-trace: 1\n# meta: {"sensors": {"hand": {"rate_hz": 100.0}}}\nt,sensor,ax,ay,az,gx,gy,gz\n'
    )
    row = "{:.6f},hand,0.12345,-1.23456,9.81234,0.012345,-0.023456,0.034567\n"
    big = tmp_path / "big.csv"
    big.write_text(header + "".join(row.format(0.01 * i) for i in range(210_000)))
    assert big.stat().st_size > 13 << 20
    (tmp_path / "big.csv.gz").write_bytes(gzip.compress(big.read_bytes(), compresslevel=1))
    assert _pandas_imported_after_reading(big) == "False"
    assert _pandas_imported_after_reading(tmp_path / "big.csv.gz") == "False"
