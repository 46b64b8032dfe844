"""The event contract as JSON Schema (draft 2020-12): one schema per event type, shipped with the package.

The files beside this module are the published contract for integrators (docs/events.md):
``envelope.schema.json`` (``type``, ``t``, ``id``: every event), one ``<type>.schema.json`` per event
type (stroke, posture, cadence, cue, state, summary) and ``event.schema.json`` (any event: the
envelope, plus its type's schema for the known types). Every ``$id`` is the file's own name and
every ``$ref`` names a sibling file, so the folder resolves as it is, on disk or registered as a
whole. Rules that span events (``t`` never decreases, ids unique, the summary last and once, a
stroke's ``t_start <= t_end <= t``) are in :mod:`coach.event_schema.stream`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

#: The event types with a schema of their own (``<type>.schema.json``).
EVENT_TYPES: Final[tuple[str, ...]] = ("stroke", "posture", "cadence", "cue", "state", "summary")
#: Every schema file in this package, by name (without ``.schema.json``).
SCHEMA_NAMES: Final[tuple[str, ...]] = ("envelope", "event", *EVENT_TYPES)


def schema_file_name(name: str) -> str:
    return f"{name}.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """One schema (``envelope``, ``event`` or an event type) as parsed JSON."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no event schema named {name!r} (known: {', '.join(SCHEMA_NAMES)})")
    text = resources.files(__package__).joinpath(schema_file_name(name)).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def registry() -> Registry[Any]:
    """All the schemas, registered under their ``$id`` (their file names)."""
    return Registry().with_resources(
        (schema_file_name(n), Resource.from_contents(load_schema(n), default_specification=DRAFT202012))
        for n in SCHEMA_NAMES
    )


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for one schema (``event`` checks any event; an event type checks that type)."""
    return Draft202012Validator(load_schema(name), registry=registry())


def schema_problems(event: Mapping[str, Any]) -> list[str]:
    """What in one event breaks its schema (empty: it keeps the contract), each as ``field: what``.

    A known type is checked against its own schema, any other type against the envelope only (new
    event types may be added to the contract).
    """
    typ = event.get("type")
    name = typ if isinstance(typ, str) and typ in EVENT_TYPES else "envelope"
    errors = sorted(
        validator(name).iter_errors(event), key=lambda e: ([str(p) for p in e.absolute_path], e.message)
    )
    out: list[str] = []
    for err in errors:
        where = ".".join(str(p) for p in err.absolute_path)
        text = f"{where}: {err.message}" if where else err.message
        if text not in out:  # a type's schema repeats the envelope's required fields
            out.append(text)
    return out
