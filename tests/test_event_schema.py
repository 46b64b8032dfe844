"""The event contract as JSON Schema (coach/event_schema) and the stream checker (``coach check-events``).

Good streams pass; each crafted bad stream breaks one rule and must be caught with a message that says
what and where. The schemas are checked as published files too: valid draft 2020-12, resolvable from
the folder alone, and agreeing with the per-type validation the checker uses.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from coach import events as coach_events
from coach.event_schema import EVENT_TYPES, SCHEMA_NAMES, load_schema, schema_problems
from coach.event_schema.stream import check

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "coach" / "event_schema"
Event = dict[str, Any]

CAL = {"mounting": "meta", "still": [0.0, 3.0], "rotate": [3.0, 9.0], "checks_off": []}
GOOD: list[Event] = [
    {
        "type": "state",
        "t": 0.0,
        "id": "state-1",
        "state": "calibrating",
        "reason": "calibration from meta",
        "wall_utc": "2026-11-24T09:30:00.000Z",
    },
    {
        "type": "state",
        "t": 9.0,
        "id": "state-2",
        "state": "active",
        "reason": "calibrated (meta)",
        "wall_utc": "2026-11-24T09:30:09+01:00",
    },
    {
        "type": "posture",
        "t": 10.0,
        "id": "posture-1",
        "elevated": True,
        "elevation_deg": 21.5,
        "wrist_neutral": True,
        "wrist_flexion_deg": 3.0,
        "wrist_deviation_deg": -1.0,
        "forearm_roll_deg": 4.0,
    },
    {
        "type": "stroke",
        "t": 12.2,
        "id": "stroke-1",
        "t_start": 10.5,
        "t_end": 11.9,
        "direction": "proximal",
        "confidence": 0.93,
        "sensor": "treated",
        "region": "forearm",
    },
    {"type": "cadence", "t": 12.2, "id": "cadence-1", "strokes_per_min": 0},
    {
        "type": "stroke",
        "t": 14.0,
        "id": "stroke-2",
        "t_start": 13.0,
        "t_end": 14.0,
        "direction": "unknown",
        "confidence": 0.5,
        "sensor": "stroker",
        "region": None,
    },
    {
        "type": "cue",
        "t": 15.0,
        "id": "cue-1",
        "code": "stroke_toward_elbow",
        "message": "Stroke toward your elbow.",
    },
    {
        "type": "posture",
        "t": 16.0,
        "id": "posture-2",
        "elevated": None,
        "elevation_deg": None,
        "wrist_neutral": None,
        "wrist_flexion_deg": None,
        "wrist_deviation_deg": None,
        "forearm_roll_deg": None,
        "gap": "treated",
    },  # an added field
    {"type": "heartbeat", "t": 16.5, "id": "heartbeat-1"},  # an added event type: envelope only
    {
        "type": "state",
        "t": 20.0,
        "id": "state-3",
        "state": "finished",
        "reason": "end of trace",
        "wall_utc": None,
    },
    {
        "type": "summary",
        "t": 20.0,
        "id": "summary-1",
        "wall_utc": None,
        "duration_s": 20.0,
        "strokes_total": 2,
        "strokes_proximal": 1,
        "strokes_distal": 0,
        "strokes_unknown": 1,
        "mean_cadence_spm": None,
        "elevated_fraction": 1.0,
        "wrist_neutral_fraction": 0.5,
        "calibration": CAL,
        "cues": {"x": 1},
    },
]


def lines(events: list[Event]) -> list[str]:
    return [json.dumps(e) for e in events]


def at(events: list[Event], event_id: str) -> Event:
    return next(e for e in events if e["id"] == event_id)


def test_a_good_stream_passes_with_every_type_counted() -> None:
    problems, counts = check(lines(GOOD), hand=True)
    assert problems == []
    assert counts == {
        "state": 3,
        "posture": 2,
        "stroke": 2,
        "cadence": 1,
        "cue": 1,
        "heartbeat": 1,
        "summary": 1,
    }


# Each case: (what it breaks, how to break the good stream, a piece of the message that must appear).
Mutation = Callable[[list[Event]], Any]


def _set(event_id: str, key: str, value: Any) -> Mutation:
    return lambda ev: at(ev, event_id).__setitem__(key, value)


def _drop(event_id: str, key: str) -> Mutation:
    return lambda ev: at(ev, event_id).pop(key)


BAD_EVENTS: list[tuple[str, Mutation, str]] = [
    ("type missing", _drop("cue-1", "type"), "'type' is a required property"),
    ("t missing", _drop("cue-1", "t"), "'t' is a required property"),
    ("t a string", _set("cue-1", "t", "15"), "t: '15' is not of type 'number'"),
    ("t a boolean", _set("cue-1", "t", True), "t: True is not of type 'number'"),
    ("id missing", _drop("cue-1", "id"), "'id' is a required property"),
    ("id empty", _set("cue-1", "id", ""), "id: '' should be non-empty"),
    ("stroke direction", _set("stroke-1", "direction", "up"), "direction: 'up' is not one of"),
    ("stroke confidence", _set("stroke-1", "confidence", 1.5), "confidence: 1.5 is greater than the maximum"),
    ("stroke sensor", _drop("stroke-1", "sensor"), "'sensor' is a required property"),
    ("stroke region", _set("stroke-1", "region", "elbow"), "region: 'elbow' is not one of"),
    ("stroke t_end", _drop("stroke-1", "t_end"), "'t_end' is a required property"),
    ("posture field missing", _drop("posture-1", "forearm_roll_deg"), "'forearm_roll_deg' is a required"),
    ("posture bool", _set("posture-1", "elevated", "yes"), "elevated: 'yes' is not of type"),
    (
        "posture number",
        _set("posture-1", "wrist_flexion_deg", "bent"),
        "wrist_flexion_deg: 'bent' is not of type",
    ),
    ("posture elevation range", _set("posture-1", "elevation_deg", 95.0), "elevation_deg: 95.0 is greater"),
    ("cadence negative", _set("cadence-1", "strokes_per_min", -1), "strokes_per_min: -1 is less than"),
    ("cadence missing", _drop("cadence-1", "strokes_per_min"), "'strokes_per_min' is a required"),
    ("cue message empty", _set("cue-1", "message", ""), "message: '' should be non-empty"),
    ("cue code not snake_case", _set("cue-1", "code", "Raise Hand"), "code: 'Raise Hand' does not match"),
    ("state unknown", _set("state-2", "state", "sleeping"), "state: 'sleeping' is not one of"),
    ("state reason missing", _drop("state-2", "reason"), "'reason' is a required property"),
    ("state wall_utc", _set("state-2", "wall_utc", "yesterday"), "wall_utc: 'yesterday' does not match"),
    ("summary key missing", _drop("summary-1", "mean_cadence_spm"), "'mean_cadence_spm' is a required"),
    ("summary count", _set("summary-1", "strokes_total", 2.5), "strokes_total: 2.5 is not of type 'integer'"),
    ("summary fraction", _set("summary-1", "elevated_fraction", 1.2), "elevated_fraction: 1.2 is greater"),
    (
        "summary mounting",
        _set("summary-1", "calibration", {**CAL, "mounting": "magic"}),
        "calibration.mounting",
    ),
    (
        "summary checks_off",
        _set("summary-1", "calibration", {**CAL, "checks_off": "none"}),
        "calibration.checks_off",
    ),
    ("summary still", _set("summary-1", "calibration", {**CAL, "still": [0.0]}), "calibration.still"),
]


def _swap(a: str, b: str) -> Mutation:
    def mutate(ev: list[Event]) -> None:
        i, j = ev.index(at(ev, a)), ev.index(at(ev, b))
        ev[i], ev[j] = ev[j], ev[i]

    return mutate


BAD_STREAMS: list[tuple[str, Mutation, str]] = [
    (
        "id repeats",
        _set("stroke-2", "id", "stroke-1"),
        "line 6 (stroke stroke-1): id 'stroke-1' repeats (first on line 4)",
    ),
    ("t goes back", _set("cue-1", "t", 11.0), "line 7 (cue cue-1): t=11.0 goes back in time (previous 14.0)"),
    ("stroke ends after t", _set("stroke-1", "t_end", 12.5), "a stroke needs t_start <= t_end <= t"),
    (
        "stroke starts after it ends",
        _set("stroke-1", "t_start", 12.0),
        "a stroke needs t_start <= t_end <= t",
    ),
    ("event after the summary", _swap("state-3", "summary-1"), "an event after the summary (line 10)"),
    (
        "summary twice",
        lambda ev: ev.append({**ev[-1], "id": "summary-2"}),
        "an event after the summary (line 11)",
    ),
    ("no summary", lambda ev: ev.pop(), "the last event is 'state', not 'summary'"),
    ("empty stream", lambda ev: ev.clear(), "no events at all"),
]


@pytest.mark.parametrize(("what", "mutate", "message"), BAD_EVENTS + BAD_STREAMS, ids=lambda x: str(x))
def test_each_rule_can_fail(what: str, mutate: Mutation, message: str) -> None:
    events = copy.deepcopy(GOOD)
    mutate(events)
    problems, _ = check(lines(events))
    assert problems, what
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "cue", "t": NaN, "id": "c"}', "not strict JSON (NaN is not JSON)"),
        ('{"type": "cue", "t": Infinity, "id": "c"}', "not strict JSON (Infinity is not JSON)"),
        ('{"type": "cue", "t": 1e999, "id": "c"}', "not strict JSON (1e999 overflows to inf)"),
        ('{"type": "cue", "t": 1,', "not strict JSON"),
        ('["cue", 1]', "an event must be a JSON object, not list"),
    ],
)
def test_a_line_that_is_not_a_strict_json_object_names_its_line(text: str, message: str) -> None:
    stream = [*lines(GOOD[:2]), text, *lines(GOOD[2:])]
    problems, _ = check(stream)
    assert len(problems) == 1 and problems[0].startswith(f"line 3: {message}"), problems


def test_bytes_that_are_not_utf8_are_a_problem_of_their_line() -> None:
    stream = [s.encode() for s in lines(GOOD)]
    stream[1] = b'{"type": "cue", "t": 9.0, "id": "x", "code": "a", "message": "\xff"}'
    problems, _ = check(stream)
    assert problems == ["line 2: not UTF-8 (invalid start byte at byte 62)"]


def test_the_hand_rule_needs_wrist_neutral_in_most_posture_events() -> None:
    events = copy.deepcopy(GOOD)
    at(events, "posture-1")["wrist_neutral"] = None
    assert check(lines(events)).problems == []  # no hand sensor: null is right
    assert check(lines(events), hand=True).problems == [
        "a hand sensor is present but wrist_neutral is null in 2 of 2 posture events"
    ]


def test_problems_stop_at_the_limit() -> None:
    events = copy.deepcopy(GOOD)
    for e in events:
        e["id"] = "same"
    problems, _ = check(lines(events), max_problems=3)
    assert len(problems) == 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
                ),
                max_leaves=12,
            ).map(json.dumps),
            st.sampled_from(lines(GOOD)),
        ),
        max_size=12,
    )
)
def test_any_input_gives_problems_never_an_exception(stream: list[str]) -> None:
    problems, counts = check(stream)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    assert sum(counts.values()) <= len(stream)


# --- the schema files as published ----------------------------------------------------------------


def test_every_schema_file_is_valid_draft_2020_12_and_named_by_its_id() -> None:
    files = sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))
    assert files == sorted(f"{n}.schema.json" for n in SCHEMA_NAMES)
    for name in SCHEMA_NAMES:
        schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"{name}.schema.json"
        assert schema == load_schema(name)  # the package reads these very files


def _folder_validator() -> Draft202012Validator:
    """The folder on its own, as docs/events.md tells an integrator to load it."""
    registry: Registry[Any] = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text(encoding="utf-8"))))
        for p in SCHEMA_DIR.glob("*.schema.json")
    )
    event_schema = json.loads((SCHEMA_DIR / "event.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(event_schema, registry=registry)


def test_the_any_event_schema_agrees_with_the_per_type_check() -> None:
    validator = _folder_validator()
    for event in GOOD:
        assert list(validator.iter_errors(event)) == []
    for _what, mutate, _message in BAD_EVENTS:
        events = copy.deepcopy(GOOD)
        mutate(events)
        for event in events:
            assert validator.is_valid(event) == (schema_problems(event) == []), event


def test_events_as_mqtt_carries_them_keep_the_contract(tmp_path: Path) -> None:
    """On MQTT an event is its events-file line plus ``seq`` (the spool's delivery number): the schemas
    and the stream checker accept it; a ``seq`` that is not a whole number from 1 is refused."""
    from coach.mqtt.spool import Spool

    spool = Spool(tmp_path / "spool.sqlite3")
    try:
        for event in GOOD:
            spool.append_event("coach/v1/p-1/s-1/events", "p-1", "s-1", coach_events.encode(event))
        sent = [json.loads(r.payload) for r in spool.pending(limit=len(GOOD))]
    finally:
        spool.close()
    assert [e.pop("seq") for e in copy.deepcopy(sent)] == list(range(1, len(GOOD) + 1))
    assert [{k: v for k, v in e.items() if k != "seq"} for e in sent] == GOOD
    assert all(schema_problems(e) == [] for e in sent)
    problems, _ = check(lines(sent), hand=True)
    assert problems == []
    validator = _folder_validator()
    for bad in (0, -1, 1.5, "3", True, None):
        event = {**GOOD[0], "seq": bad}
        assert schema_problems(event) != [] and not validator.is_valid(event), bad


def test_the_schemas_say_what_the_code_says() -> None:
    """One contract: the enums and required fields of the schemas are the constants in coach.events."""
    assert set(EVENT_TYPES) == set(coach_events.EVENT_TYPES)
    props = {t: load_schema(t)["properties"] for t in EVENT_TYPES}
    assert props["state"]["state"]["enum"] == list(coach_events.STATES)
    assert props["stroke"]["direction"]["enum"] == list(coach_events.DIRECTIONS)
    assert load_schema("posture")["required"][3:] == list(coach_events.POSTURE_FIELDS)
    assert load_schema("summary")["required"][3:] == list(coach_events.SUMMARY_FIELDS)
    assert props["stroke"]["region"]["enum"] == [
        "finger",
        "between_fingers",
        "back_of_hand",
        "palm",
        "forearm",
        None,
    ]


# --- the command ------------------------------------------------------------------------------------


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coach", "check-events", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_command_passes_a_good_file_and_names_file_and_line_of_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines(GOOD)) + "\n")
    done = _cli(str(good))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"{good}: 11 events keep the contract: cadence=1, cue=1,")
    bad_events = copy.deepcopy(GOOD)
    at(bad_events, "stroke-1")["direction"] = "up"
    done = _cli(stdin="\n".join(lines(bad_events)) + "\n")
    assert done.returncode == 1
    assert done.stdout.startswith("<stdin>: line 4 (stroke stroke-1): direction: 'up' is not one of")
    assert done.stderr == ""


def test_the_command_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    done = _cli(str(tmp_path / "missing.jsonl"))
    assert done.returncode == 2
    assert done.stderr.startswith("coach check-events: error: ") and "missing.jsonl" in done.stderr
    assert "Traceback" not in done.stderr
    done = _cli("--schema-dir")
    assert done.returncode == 0 and (Path(done.stdout.strip()) / "event.schema.json").is_file()
