"""coach-trace v1 reader and writer: round trips, chunk invariance, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from benchmarks.real_data import XIO_TRACE
from coach.errors import TraceFormatError
from coach.samples import SampleBlock
from coach.trace import TraceMeta, open_trace, read_trace, write_trace

HEADER = '# coach-trace: 1\n# meta: {"arm": "left"}\nt,sensor,ax,ay,az,gx,gy,gz\n'
GOOD_ROWS = [
    "0.00,treated,0.1,0.2,9.8,0.01,0.02,0.03\n",
    "0.00,hand,0.1,0.2,9.8,0.01,0.02,0.03\n",
    "0.01,treated,0.1,0.2,9.8,0.01,0.02,0.03\n",
    "0.01,hand,0.1,0.2,9.8,0.01,0.02,0.03\n",
    "0.02,treated,0.1,0.2,9.8,0.01,0.02,0.03\n",
]


def _blocks(n: int = 500, seed: int = 0) -> dict[str, SampleBlock]:
    rng = np.random.default_rng(seed)
    out = {}
    for k, role in enumerate(("treated", "hand", "stroker")):
        t = np.cumsum(rng.uniform(0.005, 0.015, n)) + 0.001 * k
        out[role] = SampleBlock(
            role,
            t,
            rng.normal(0, 5, (n, 3)),
            rng.normal(0, 1, (n, 3)),
            rng.normal(0, 40, (n, 3)),
            rng.normal(101325, 10, n),
        )
    return out


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_round_trip_keeps_values_meta_and_unknown_keys(tmp_path: Path) -> None:
    blocks = _blocks()
    meta = TraceMeta({"arm": "left", "calibration": {"still": [0, 3]}, "vendor_extra": {"x": 1}})
    path = tmp_path / "rt.csv"
    assert write_trace(path, meta, blocks) == 1500
    trace = read_trace(path)
    assert trace.meta.raw["vendor_extra"] == {"x": 1}
    assert trace.meta.phase("still") == (0.0, 3.0)
    assert trace.meta.arm == "left"
    for role, b in blocks.items():
        r = trace.blocks[role]
        np.testing.assert_allclose(r.t_s, b.t_s, atol=1e-6)
        np.testing.assert_allclose(r.acc_mps2, b.acc_mps2, atol=1e-5)
        np.testing.assert_allclose(r.gyr_rps, b.gyr_rps, atol=1e-6)
        assert r.mag_ut is not None and r.pressure_pa is not None
        assert b.mag_ut is not None and b.pressure_pa is not None  # written: the trace had them
        np.testing.assert_allclose(r.mag_ut, b.mag_ut, atol=1e-3)
        np.testing.assert_allclose(r.pressure_pa, b.pressure_pa, atol=1e-2)


def test_gzip_round_trip(tmp_path: Path) -> None:
    blocks = _blocks(50)
    path = tmp_path / "rt.csv.gz"
    write_trace(path, TraceMeta(), blocks)
    assert len(read_trace(path).blocks["hand"]) == 50


@pytest.mark.parametrize("rows", [1, 7, 64, 100000])
def test_chunk_size_does_not_change_the_data(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "c.csv"
    write_trace(path, TraceMeta(), _blocks(300))
    whole = read_trace(path)
    with open_trace(path) as reader:
        chunks = list(reader.chunks(rows=rows))
    assert all(len(c) <= rows for c in chunks)
    t = np.concatenate([c.t_s for c in chunks])
    assert t.size == 900
    lines = np.concatenate([c.line for c in chunks])
    assert lines[0] == 4 and lines[-1] == 903
    treated = np.concatenate([c.by_role()["treated"].t_s for c in chunks if "treated" in c.by_role()])
    np.testing.assert_array_equal(treated, whole.blocks["treated"].t_s)


def test_real_third_party_trace_reads() -> None:
    trace = read_trace(XIO_TRACE)
    assert trace.roles == ["treated"]
    assert len(trace.blocks["treated"]) == 13514
    assert trace.header.has_mag
    assert not trace.meta.arm_given and trace.meta.phase("still") is None


def test_columns_in_any_order_and_blank_lines_ignored(tmp_path: Path) -> None:
    text = (
        "# coach-trace: 1\n\ngz,gy,gx,az,ay,ax,sensor,t,pressure\n"
        "3,2,1,9.8,0,0,treated,0.0,\n\n3,2,1,9.8,0,0,treated, 0.5,101300\n"
    )
    trace = read_trace(_write(tmp_path, text))
    b = trace.blocks["treated"]
    np.testing.assert_array_equal(b.t_s, [0.0, 0.5])
    np.testing.assert_array_equal(b.gyr_rps[0], [1, 2, 3])
    assert b.pressure_pa is not None and np.isnan(b.pressure_pa[0]) and b.pressure_pa[1] == 101300


@pytest.mark.parametrize(
    ("bad_line", "line_no", "needle"),
    [
        ("0.03,treated,0.1,abc,9.8,0.01,0.02,0.03\n", 9, "'ay' has 'abc'"),
        ("0.03,elbow,0.1,0.2,9.8,0.01,0.02,0.03\n", 9, "unknown sensor role 'elbow'"),
        ("0.005,treated,0.1,0.2,9.8,0.01,0.02,0.03\n", 9, "time goes backwards for sensor 'treated'"),
        ("0.03,treated,0.1,0.2,9.8,0.01,0.02\n", 9, "7 fields where the header has 8"),
        ("0.03,treated,0.1,,9.8,0.01,0.02,0.03\n", 9, "'ay' is empty"),
        ("0.03,treated,0.1,nan,9.8,0.01,0.02,0.03\n", 9, "must be finite"),
        ("0.03,treated,0.1,0.2,9.8,0.01,0.02,0.03,7\n", 9, "9 fields"),
    ],
)
def test_bad_row_names_file_and_line_and_keeps_good_rows(
    tmp_path: Path, bad_line: str, line_no: int, needle: str
) -> None:
    text = HEADER + "".join(GOOD_ROWS) + bad_line + GOOD_ROWS[0]
    path = _write(tmp_path, text)
    got = []
    with open_trace(path) as reader, pytest.raises(TraceFormatError) as info:
        for chunk in reader.chunks(rows=3):
            got.append(chunk)
    err = info.value
    assert err.path == str(path) and err.line == line_no, str(err)
    assert needle in err.reason
    assert f"{path}:{line_no}:" in str(err)
    assert sum(len(c) for c in got) == len(GOOD_ROWS)


@pytest.mark.parametrize(
    ("text", "line_no", "needle"),
    [
        ("t,sensor\n", 1, "not a coach-trace file"),
        ("# coach-trace: 2\nt,sensor,ax,ay,az,gx,gy,gz\n", 1, "version 2 is not supported"),
        ('# coach-trace: 1\n# meta: {"arm": left}\nt,sensor,ax,ay,az,gx,gy,gz\n', 2, "not valid JSON"),
        ("# coach-trace: 1\n# meta: [1, 2]\nt,sensor,ax,ay,az,gx,gy,gz\n", 2, "one JSON object"),
        ('# coach-trace: 1\n# meta: {"a": NaN}\nt,sensor,ax,ay,az,gx,gy,gz\n', 2, "not valid JSON"),
        ("# coach-trace: 1\nt,sensor,ax,ay,az,gx,gy\n", 2, "lacks required column(s) gz"),
        ("# coach-trace: 1\nt,sensor,ax,ay,az,gx,gy,gz,ax\n", 2, "'ax' appears twice"),
        ("# coach-trace: 1\n", 1, "no header line"),
    ],
)
def test_bad_header_names_file_and_line(tmp_path: Path, text: str, line_no: int, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TraceFormatError) as info:
        read_trace(path)
    assert info.value.line == line_no and needle in info.value.reason, str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="cannot open"):
        read_trace(tmp_path / "absent.csv")


_CORRUPTIONS = st.sampled_from(
    [
        lambda f: f[:3],  # too few fields
        lambda f: [*f, "1"],  # too many fields
        lambda f: [f[0], "", *f[2:]],  # empty role
        lambda f: [f[0], "nose", *f[2:]],  # unknown role
        lambda f: [f[0], f[1], "x1", *f[3:]],  # non-numeric
        lambda f: [f[0], f[1], f[2], "", *f[4:]],  # empty required value
        lambda f: ["-5", *f[1:]],  # time backwards
        lambda f: [f[0], f[1], "inf", *f[3:]],  # non-finite
    ]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_any_corrupted_line_is_reported_exactly(tmp_path: Path, data: st.DataObject) -> None:
    """Corrupt one random row of a valid trace: the error names that line and every earlier row is kept."""
    n = data.draw(st.integers(min_value=2, max_value=60))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    rows = []
    for i in range(n):
        role = ("treated", "hand", "stroker")[i % 3]
        vals = ",".join(f"{v:.4f}" for v in rng.normal(0, 3, 6))
        rows.append([f"{(i // 3) * 0.01 + 1:.4f}", role, *vals.split(",")])
    k = data.draw(st.integers(min_value=0, max_value=n - 1))
    corrupt = data.draw(_CORRUPTIONS)
    rows[k] = corrupt(rows[k])
    assume(k >= 3 or rows[k][0] != "-5")  # time can only go backwards after an earlier row of that sensor
    text = "# coach-trace: 1\nt,sensor,ax,ay,az,gx,gy,gz\n" + "".join(",".join(r) + "\n" for r in rows)
    path = tmp_path / "prop.csv"
    path.write_text(text)
    chunk_rows = data.draw(st.integers(min_value=1, max_value=70))
    kept = 0
    with open_trace(path) as reader, pytest.raises(TraceFormatError) as info:
        for chunk in reader.chunks(rows=chunk_rows):
            kept += len(chunk)
    assert info.value.line == k + 3, (info.value, k)
    assert kept == k


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400))
def test_property_garbage_never_escapes_as_another_error(tmp_path: Path, blob: bytes) -> None:
    """Arbitrary bytes after a valid header either parse or raise TraceFormatError, nothing else."""
    path = tmp_path / "garbage.csv"
    path.write_bytes(HEADER.encode() + blob)
    try:
        read_trace(path)
    except TraceFormatError as exc:
        assert exc.line is None or exc.line >= 1
