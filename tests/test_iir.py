"""The shipped Butterworth designs are ``scipy.signal``'s own (to within a few units in the last
place: scipy's floating point differs by CPU, e.g. one coefficient by 1 ULP with AVX-512), the product
uses the shipped table on every machine, the state-carrying ``sosfilt`` (coach.signal.iir) is scipy's
bit for bit, and the stroke detector's frames no longer import ``scipy.signal``."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from importlib import resources
from typing import Any

import numpy as np
import pytest
import scipy
import scipy.signal

from coach.signal import iir


def test_every_shipped_design_is_what_scipy_designs_and_the_table_is_used() -> None:
    raw = json.loads(resources.files("coach.signal").joinpath(iir.TABLE_FILE).read_text("utf-8"))
    assert raw["format"] == iir.TABLE_FORMAT
    assert raw["provenance"]["design_call"].startswith("scipy.signal.butter(")
    expected_keys = set()
    for rate in iir.SHIPPED_RATES_HZ:
        for order, cutoff, btype in iir.frame_designs(rate):
            key = iir.design_key(order, cutoff, btype, rate)
            expected_keys.add(key)
            butter: Any = scipy.signal.butter  # btype is a plain str here, not the stubs' literals
            want = butter(order, cutoff, btype, fs=rate, output="sos")
            got = np.array(raw["designs"][key])
            assert got.shape == want.shape, key
            # Not bit for bit across machines: scipy's design is computed with the CPU's own vector
            # paths (this table was written on one machine; another gave 1 ULP off in one entry).
            np.testing.assert_array_max_ulp(got, want, maxulp=4)
            # The product uses the table, not this machine's scipy: the same filters everywhere.
            assert np.array_equal(iir.butter_sos(order, cutoff, btype, rate), got), key
    assert set(raw["designs"]) == expected_keys


def test_a_design_the_table_lacks_is_computed() -> None:
    want = scipy.signal.butter(4, [1.5, 7.0], "bandpass", fs=99.212, output="sos")
    assert iir.design_key(4, [1.5, 7.0], "bandpass", 99.212) not in iir._load_table()
    assert np.array_equal(iir.butter_sos(4, [1.5, 7.0], "bandpass", 99.212), want)


def test_the_compiled_loop_is_found_so_the_fast_path_is_the_one_tested() -> None:
    assert iir._kernel() is not None, f"scipy {scipy.__version__}: _sosfilt extension not found"


@pytest.mark.parametrize("rate", [25.0, 100.0, 208.0])
def test_sosfilt_in_pieces_is_scipy_sosfilt_bit_for_bit(rate: float) -> None:
    rng = np.random.default_rng(int(rate))
    x = rng.normal(0.0, 3.0, size=(2000, 3)) + np.linspace(0.0, 5.0, 2000)[:, None]
    for order, cutoff, btype in iir.frame_designs(rate):
        sos = iir.butter_sos(order, cutoff, btype, rate)
        zi_ours = np.zeros((sos.shape[0], 2, 3))
        zi_ref = zi_ours.copy()
        cuts = [0, 1, 7, 300, 301, 1200, 2000]
        for a, b in itertools.pairwise(cuts):
            y_ours, zi_ours = iir.sosfilt(sos, x[a:b], zi_ours)
            y_ref, zi_ref = scipy.signal.sosfilt(sos, x[a:b], axis=0, zi=zi_ref)
            assert y_ours.shape == y_ref.shape and y_ours.strides == y_ref.strides
            assert zi_ours.strides == zi_ref.strides
            assert np.array_equal(y_ours, y_ref) and np.array_equal(zi_ours, zi_ref)


def test_sosfilt_refuses_a_state_that_does_not_fit() -> None:
    sos = iir.butter_sos(2, 0.5, "highpass", 100.0)
    with pytest.raises(ValueError, match="do not fit"):
        iir.sosfilt(sos, np.zeros((10, 3)), np.zeros((2, 2, 3)))


def test_frames_run_without_importing_scipy_signal() -> None:
    code = (
        "import sys, numpy as np\n"
        "from coach.signal.strokes.frames import FrameStream\n"
        "fs = FrameStream('treated', 100.0)\n"
        "x = np.random.default_rng(1).normal(size=(50, 3))\n"
        "fs._hp(x); fs._bp(x); fs._ghp(x)\n"
        "print('scipy.signal' in sys.modules, 'scipy.stats' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
