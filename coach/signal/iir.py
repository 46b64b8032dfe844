"""Butterworth band filters as second-order sections, without importing ``scipy.signal`` on the way.

Importing ``scipy.signal`` costs about a second of CPU (it pulls in ``scipy.stats``), more than the
rest of a 15-minute replay's filtering put together. The stroke detector needs three designs per role,
all Butterworth, and the second-order-section filter with carried state:

- :func:`butter_sos` gives the coefficients of ``scipy.signal.butter(order, cutoff_hz, btype,
  fs=rate_hz, output="sos")`` from the shipped table ``iir_coefficients.json`` beside this module
  (written by ``python -m coach.signal.iir``, which says in the file which call, parameters and SciPy
  version made each entry; floats round-trip bit for bit through JSON). A design the table lacks (an
  unusual sample rate) is computed by ``scipy.signal`` as before, imported then.
- :func:`sosfilt` is ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for float64 arrays: the same
  compiled direct-form II transposed loop (SciPy's ``_sosfilt`` extension, loaded on its own, without
  the ``scipy.signal`` package around it) behind the same copies and axis moves, so the output is the
  same bit for bit. Where that extension cannot be loaded (another SciPy layout), it is
  ``scipy.signal.sosfilt`` itself. ``tests/test_iir.py`` holds both against ``scipy.signal``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np

from coach.samples import FloatArray

TABLE_FILE: Final = "iir_coefficients.json"
TABLE_FORMAT: Final = "retro-coach-iir-coefficients"
#: The designs the stroke detector's frames use (coach.signal.strokes.frames), per sample rate.
SHIPPED_RATES_HZ: Final = (
    10.0, 12.5, 13.0, 15.0, 20.0, 25.0, 26.0, 30.0, 40.0, 50.0, 52.0, 60.0, 64.0, 100.0, 104.0,
    120.0, 125.0, 128.0, 200.0, 208.0, 250.0, 256.0, 400.0, 416.0, 500.0, 512.0, 800.0, 833.0,
    1000.0, 1600.0, 1666.0,
)  # fmt: skip

_table: dict[str, FloatArray] | None = None
_sosfilt_kernel: Callable[[FloatArray, FloatArray, FloatArray], None] | None = None
_kernel_tried = False


def design_key(order: int, cutoff_hz: float | Sequence[float], btype: str, rate_hz: float) -> str:
    """The table's key of one design: exact floats (``repr``), so a key matches only the same call."""
    cut = [float(cutoff_hz)] if isinstance(cutoff_hz, int | float) else [float(c) for c in cutoff_hz]
    return f"{int(order)}|{btype}|{','.join(repr(c) for c in cut)}|{float(rate_hz)!r}"


def frame_designs(rate_hz: float) -> list[tuple[int, float | list[float], str]]:
    """``(order, cutoff_hz, btype)`` of each filter the stroke detector's frames design at ``rate_hz``
    (mirrors :class:`coach.signal.strokes.frames.FrameStream`)."""
    nyq = 0.5 * rate_hz
    return [
        (4, min(15.0, 0.55 * nyq), "highpass"),
        (4, [1.5, min(7.0, 0.45 * rate_hz)], "bandpass"),
        (2, 0.5, "highpass"),
    ]


def butter_sos(order: int, cutoff_hz: float | Sequence[float], btype: str, rate_hz: float) -> FloatArray:
    """``scipy.signal.butter(order, cutoff_hz, btype, fs=rate_hz, output="sos")`` (see the module
    docstring): from the shipped table when it holds this design, else computed."""
    hit = _load_table().get(design_key(order, cutoff_hz, btype, rate_hz))
    if hit is not None:
        return hit.copy()
    import scipy.signal

    cut = cutoff_hz if isinstance(cutoff_hz, int | float) else list(cutoff_hz)
    butter: Any = scipy.signal.butter  # btype is checked by SciPy, not by its stubs' literals
    sos: FloatArray = butter(order, cut, btype, fs=rate_hz, output="sos")
    return sos


def sosfilt(sos: FloatArray, x: FloatArray, zi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for float64 ``sos``, ``x`` (samples × channels)
    and ``zi`` (sections × 2 × channels): the filtered samples and the final state."""
    kernel = _kernel()
    if kernel is None or x.dtype != np.float64 or sos.dtype != np.float64 or zi.dtype != np.float64:
        import scipy.signal

        y, zf = scipy.signal.sosfilt(sos, x, axis=0, zi=zi)
        return y, zf
    n_sections = sos.shape[0]
    if sos.ndim != 2 or sos.shape[1] != 6 or zi.shape != (n_sections, 2, *x.shape[1:]) or x.ndim < 1:
        raise ValueError(f"sosfilt: sos {sos.shape}, x {x.shape} and zi {zi.shape} do not fit")
    if x.ndim == 2:
        # The same copies and views as below, as plain transposes (this runs per span, live: every
        # few samples, so the generic axis juggling would cost more than the filtering).
        work = np.array(x.T, np.float64, order="C")
        state = np.ascontiguousarray(zi.transpose(2, 0, 1))
        kernel(sos, work, state)
        return work.T, state.transpose(1, 2, 0)
    # What scipy.signal.sosfilt does around its compiled loop, for axis=0, step by step.
    state = np.moveaxis(zi.copy(), (0, 1), (-2, -1))
    work = np.moveaxis(x, 0, -1)
    x_shape, zi_shape = work.shape, state.shape
    work = np.array(np.reshape(work, (-1, work.shape[-1])), np.float64, order="C")
    state = np.ascontiguousarray(np.reshape(state, (-1, n_sections, 2)))
    kernel(sos, work, state)
    y = np.moveaxis(work.reshape(x_shape), -1, 0)
    zf = np.moveaxis(state.reshape(zi_shape), (-2, -1), (0, 1))
    return y, zf


# --------------------------------------------------------------------------------------------------
# Internals


def _load_table() -> dict[str, FloatArray]:
    global _table
    if _table is None:
        # The file beside this module when the package is a folder (``resources.files`` would
        # import importlib.readers and zipfile for it, ~3 ms of a replay); else the resource API.
        beside = Path(__file__).with_name(TABLE_FILE)
        if beside.is_file():
            text = beside.read_text("utf-8")
        else:
            text = resources.files(__name__.rpartition(".")[0]).joinpath(TABLE_FILE).read_text("utf-8")
        raw = json.loads(text)
        if raw.get("format") != TABLE_FORMAT:
            raise ValueError(f"{TABLE_FILE}: not a {TABLE_FORMAT} file")
        _table = {k: np.array(v, dtype=np.float64) for k, v in raw["designs"].items()}
    return _table


def _kernel() -> Callable[[FloatArray, FloatArray, FloatArray], None] | None:
    """SciPy's compiled ``_sosfilt`` loop, loaded without the ``scipy.signal`` package (``None``: not
    found; the caller then uses ``scipy.signal.sosfilt``)."""
    global _sosfilt_kernel, _kernel_tried
    if _kernel_tried:
        return _sosfilt_kernel
    _kernel_tried = True
    loaded = sys.modules.get("scipy.signal._sosfilt")
    try:
        if loaded is None:
            spec = importlib.util.find_spec("scipy")
            folders = list(spec.submodule_search_locations or []) if spec is not None else []
            for folder in folders:
                for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                    path = Path(folder) / "signal" / f"_sosfilt{suffix}"
                    if path.is_file():
                        name = "scipy.signal._sosfilt"
                        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
                        ext_spec = importlib.util.spec_from_file_location(name, path, loader=loader)
                        if ext_spec is None:
                            continue
                        loaded = importlib.util.module_from_spec(ext_spec)
                        loader.exec_module(loaded)
                        break
                if loaded is not None:
                    break
        kernel = getattr(loaded, "_sosfilt", None)
        _sosfilt_kernel = kernel if callable(kernel) else None
    except (ImportError, OSError):
        _sosfilt_kernel = None
    return _sosfilt_kernel


def write_table(path: Path) -> None:
    """Design every filter the frames use at :data:`SHIPPED_RATES_HZ` with ``scipy.signal.butter`` and
    write the table with its provenance."""
    import scipy
    import scipy.signal

    designs: dict[str, list[list[float]]] = {}
    for rate in SHIPPED_RATES_HZ:
        for order, cutoff, btype in frame_designs(rate):
            butter: Any = scipy.signal.butter
            sos = butter(order, cutoff, btype, fs=rate, output="sos")
            designs[design_key(order, cutoff, btype, rate)] = [[float(v) for v in row] for row in sos]
    doc = {
        "format": TABLE_FORMAT,
        "version": 1,
        "provenance": {
            "command": "python -m coach.signal.iir",
            "design_call": "scipy.signal.butter(order, cutoff_hz, btype, fs=rate_hz, output='sos')",
            "key": "order|btype|cutoff_hz[,cutoff_hz]|rate_hz (floats as Python repr)",
            "designs": "coach.signal.iir.frame_designs(rate_hz) for each rate in SHIPPED_RATES_HZ",
            "scipy_version": scipy.__version__,
            "numpy_version": np.__version__,
        },
        "designs": designs,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    target = Path(__file__).resolve().with_name(TABLE_FILE)
    write_table(target)
    print(f"wrote {target}")
