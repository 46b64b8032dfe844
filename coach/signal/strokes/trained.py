"""The detector's trained parameters as data: ``model.json`` beside this module (package data).

``model.json`` is one JSON object::

    {"format": "retro-coach-stroke-model", "version": 2,
     "provenance": {"command": ..., "train_sessions": ..., "tune_seeds": ..., "date": ...,
                    "commit": ..., "figures": {...}},
     "parameters": {"treated": {...network...}, "with_stroker": ..., "bias": ..., ...}}

Version 2 added the optional ``hand`` section of ``parameters`` (networks used only when a session has a
``hand`` sensor; :mod:`coach.signal.strokes.hand`) and its provenance under ``provenance.hand``;
version 1 files (no ``hand`` section) read as before.

``parameters`` is what :meth:`~coach.signal.strokes.detector.DetectorModel.from_dict` reads;
``provenance`` says how the numbers were made (written by ``python -m benchmarks.stroke_training``,
never edited by hand). Floats are written by :func:`json.dumps` (the shortest ``repr`` that reads
back to the same double), so a parameter file round-trips bit for bit.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

MODEL_FILE: Final = "model.json"
MODEL_FORMAT: Final = "retro-coach-stroke-model"
MODEL_FORMAT_VERSION: Final = 2
#: Versions this code reads (1: before the ``hand`` section).
MODEL_READABLE_VERSIONS: Final = (1, 2)
#: Where the shipped parameters live in a source checkout (the trainer writes here).
SOURCE_PATH: Final = Path(__file__).resolve().with_name(MODEL_FILE)
#: The direction networks, trained apart from the candidate networks (``benchmarks.direction_training``):
#: when present, its ``direction_treated`` and ``direction_stroker`` replace those of ``model.json``, and its
#: optional ``direction_pitch_gate`` (:mod:`~coach.signal.strokes.pitch_gate`) is added.
DIRECTION_FILE: Final = "direction.json"
DIRECTION_FORMAT: Final = "retro-coach-direction-model"
DIRECTION_KEYS: Final = ("direction_treated", "direction_stroker")
DIRECTION_OPTIONAL_KEYS: Final = ("direction_pitch_gate",)
DIRECTION_SOURCE_PATH: Final = Path(__file__).resolve().with_name(DIRECTION_FILE)


class ModelFileError(ValueError):
    """A model file that is not a stroke-model file of a version this code reads."""


def _shipped(name: str) -> Path | Traversable:
    """A data file of this package: the file beside this module when the package is a folder
    (``resources.files`` would import importlib.readers and zipfile for it, ~3 ms of a replay), else
    through the resource API (a zipped package)."""
    beside = Path(__file__).with_name(name)
    if beside.parent.is_dir():
        return beside
    return resources.files(__name__.rpartition(".")[0]).joinpath(name)


def read_model(path: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``parameters`` and ``provenance`` of a model file (default: the shipped ``model.json``)."""
    return read_parameter_file(path, MODEL_FILE, MODEL_FORMAT, MODEL_READABLE_VERSIONS, ModelFileError)


def read_direction(path: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The direction parameters and provenance (default: the shipped ``direction.json``; None when the
    package has none)."""
    if path is None and not _shipped(DIRECTION_FILE).is_file():
        return None
    params, provenance = read_parameter_file(
        path, DIRECTION_FILE, DIRECTION_FORMAT, MODEL_FORMAT_VERSION, ModelFileError
    )
    if not _direction_keys_ok(params):
        raise ModelFileError(f"{path or DIRECTION_FILE}: {_DIRECTION_KEYS_RULE}")
    return params, provenance


_DIRECTION_KEYS_RULE: Final = (
    f"parameters must be exactly {', '.join(DIRECTION_KEYS)}"
    f", and optionally {', '.join(DIRECTION_OPTIONAL_KEYS)}"
)


def _direction_keys_ok(params: dict[str, Any]) -> bool:
    return set(DIRECTION_KEYS) <= set(params) <= {*DIRECTION_KEYS, *DIRECTION_OPTIONAL_KEYS}


def write_direction(path: str | Path, parameters: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write a direction file (the layout of a model file, format ``retro-coach-direction-model``)."""
    if not _direction_keys_ok(parameters):
        raise ValueError(f"direction {_DIRECTION_KEYS_RULE}")
    doc = {"format": DIRECTION_FORMAT, "version": MODEL_FORMAT_VERSION, "provenance": provenance}
    doc["parameters"] = parameters
    text = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    if json.loads(text)["parameters"] != parameters:
        raise ValueError("the parameters do not survive a JSON round trip (numpy values? tuples?)")
    Path(path).write_text(text, encoding="utf-8")


def read_parameter_file(
    path: str | Path | None,
    shipped: str,
    file_format: str,
    version: int | tuple[int, ...],
    error: type[ValueError],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``parameters`` and ``provenance`` of a trained-parameter file of this package (``shipped``
    when ``path`` is None), checked for its format and version; ``error`` names what is wrong."""
    if path is None:
        text = _shipped(shipped).read_text("utf-8")
        where = shipped
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("format") != file_format:
        raise error(f"{where}: not a {file_format} file")
    versions = (version,) if isinstance(version, int) else version
    if doc.get("version") not in versions:
        shown = " or ".join(map(str, versions))
        raise error(f"{where}: version {doc.get('version')!r} (this code reads {shown})")
    parameters, provenance = doc.get("parameters"), doc.get("provenance")
    if not isinstance(parameters, dict) or not isinstance(provenance, dict):
        raise error(f"{where}: needs 'parameters' and 'provenance' objects")
    return parameters, provenance


def model_text(parameters: dict[str, Any], provenance: dict[str, Any]) -> str:
    """The file text for ``parameters`` and ``provenance`` (one number per line: a retrain's diff shows
    the numbers that changed)."""
    doc = {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        "provenance": provenance,
        "parameters": parameters,
    }
    return json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def write_model(path: str | Path, parameters: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write a model file; raises ``ValueError`` for parameters that would not read back exactly."""
    text = model_text(parameters, provenance)
    if json.loads(text)["parameters"] != parameters:
        raise ValueError("the parameters do not survive a JSON round trip (numpy values? tuples?)")
    Path(path).write_text(text, encoding="utf-8")
