"""What the person in a session hears and reads for each cue, in the session's language: every cue's
words, one home (the pipeline's cue rules are :mod:`coach.feedback.cues`; the views, the session and the
monitor's report read the words here).

A ``cue`` event carries a stable ``code`` and an English ``message`` (what the therapist and the logs
read: see docs/languages.md). The page, the voice and the terminal view never show that English text
as it is: they look the code up here and translate it (:func:`cue_text`), with the event's fields
(``role`` for a sensor's link) and the session's mode — in *helper mode* a family member wears the
``stroker`` sensor and does the massage, so the cues about strokes speak to the helper.

A code missing here (a new cue added elsewhere) still reaches the person: its English message is
shown and spoken as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coach.i18n import N_, Texts

#: What the mounting checks say (:mod:`calibration.plausibility`): a sensor on backwards, on the other
#: arm, or the forearm and hand sensors swapped. The coach never coaches through these silently.
MOUNTING_CUES: dict[str, str] = {
    "check_watch_backwards": N_(
        "The sensor on your forearm seems to be on the wrong way round. Please check how it is "
        "strapped on, then start again."
    ),
    "check_hand_sensor_backwards": N_(
        "The sensor on your hand seems to be on the wrong way round. Please check how it is "
        "strapped on, then start again."
    ),
    "check_sensor_arm": N_(
        "The sensors seem to be on your other arm. Please check they are on the arm you are treating "
        "today, then start again."
    ),
    "check_sensor_roles": N_(
        "The forearm and hand sensors seem to be swapped. Please check which one is on your forearm, "
        "then start again."
    ),
}

#: After both sensor straps turned at once (:mod:`coach.signal.recalibration`): the still pose asked
#: for again, and thanks once it was held.
RECALIBRATION_CUES: dict[str, str] = {
    "recalibrate_wrist": N_(
        "Your sensors have moved on their straps. Please rest your elbow, raise your hand above heart "
        "level, palm down, wrist straight, and hold still for 5 seconds."
    ),
    "recalibration_done": N_("Thank you. You can carry on now."),
}

#: The pipeline's cues (:mod:`coach.feedback.cues`), in the ``message`` of their ``cue`` events.
PIPELINE_CUES: dict[str, str] = {
    "raise_hand": N_("Raise your hand a little: keep it above the level of your heart."),
    "straighten_wrist": N_("Straighten your wrist and let it rest in line with your forearm."),
    "stroke_toward_elbow": N_(
        "Stroke toward your elbow, from the fingertips down the arm, not the other way."
    ),
    "slower": N_("Slow down: take longer, gentler strokes."),
    "faster": N_("Keep a steady rhythm: stroke a little more often."),
    "five_minutes_left": N_("5 minutes left."),
    "one_minute_left": N_("1 minute left."),
    "session_complete": N_("Time is up: that is today's session. You can stop now."),
    **MOUNTING_CUES,
    **RECALIBRATION_CUES,
}

#: The guided calibration's prompts (the same English as ``coach.session.guided_calibration.PROMPTS``; a test
#: keeps them equal).
CALIBRATION_TEXTS: dict[str, str] = {
    "calibration_still": N_(
        "Calibration: rest your elbow, raise your hand above heart level, palm down, wrist straight, "
        "and hold still."
    ),
    "calibration_still_retry": N_("Please hold your arm completely still for 3 seconds, palm down."),
    "calibration_rotate": N_("Now turn your palm up and down twice, slowly, keeping your elbow resting."),
    "calibration_rotate_retry": N_(
        "Turn your forearm slowly so your palm faces up, then down again; do it twice. "
        "Keep the elbow resting."
    ),
    "calibration_done": N_(
        "Calibration done. Start the massage: stroke from your fingertips toward your elbow."
    ),
    "calibration_failed": N_(
        "Calibration did not work. Check the sensors are strapped on firmly and start again."
    ),
}

SCREENING_BLOCKED = N_(
    "Please do not do the massage today. One of your answers means it may not be safe: talk to your "
    "clinician or hand therapist first. Your therapist can clear you to continue."
)
SCREENING_CLEARED = N_("Your therapist has cleared you for today's session.")

#: Texts the session itself adds (screening outcome); the sensors' link cues are below, per role.
SESSION_TEXTS: dict[str, str] = {
    "screening_blocked": SCREENING_BLOCKED,
    "screening_cleared": SCREENING_CLEARED,
}

#: Texts the page and the voice add of their own (the person's own stop and pause).
OWN_TEXTS: dict[str, str] = {
    "session_stopped": N_("Stopping the session."),
    "paused_by_person": N_("Paused. Press Resume when you are ready to go on."),
    "resumed_by_person": N_("Carry on."),
}

SELF_REPORT_INTRO = N_("Before you go: how do your hand and arm feel now?")
SELF_REPORT_PAIN = N_("Pain")
SELF_REPORT_SWELLING = N_("Swelling")

#: In helper mode: the cues about the massage, addressed to the helper.
HELPER_TEXTS: dict[str, str] = {
    "stroke_toward_elbow": N_(
        "Helper: stroke toward the elbow, from the fingertips down the arm, not the other way."
    ),
    "slower": N_("Helper: slow down, with longer, gentler strokes."),
    "faster": N_("Helper: keep a steady rhythm and stroke a little more often."),
    "calibration_done": N_(
        "Calibration done. Helper, start the massage: stroke from the fingertips toward the elbow."
    ),
    "recalibrate_wrist": N_(
        "The sensors have moved on their straps. Helper, please pause the massage. Rest the elbow, "
        "raise the hand above heart level, palm down, wrist straight, and hold still for 5 seconds."
    ),
    "recalibration_done": N_("Thank you. Helper, you can carry on with the massage now."),
}

#: Where each sensor sits, as a label (the page's sensor list).
SENSOR_NAMES: dict[str, str] = {
    "treated": N_("Forearm"),
    "hand": N_("Hand"),
    "stroker": N_("Other wrist"),
}
HELPER_SENSOR_NAMES: dict[str, str] = {**SENSOR_NAMES, "stroker": N_("Helper's wrist")}

_LOST: dict[str, str] = {
    "treated": N_("The sensor on your forearm lost its connection. The session is paused until it is back."),
    "hand": N_("The sensor on your hand lost its connection. The session is paused until it is back."),
    "stroker": N_(
        "The sensor on your other wrist lost its connection. The session is paused until it is back."
    ),
    "": N_("A sensor lost its connection. The session is paused until it is back."),
}
_LOST_HELPER = N_(
    "The sensor on the helper's wrist lost its connection. The session is paused until it is back."
)
_BACK: dict[str, str] = {
    "treated": N_("The sensor on your forearm is back. Carry on."),
    "hand": N_("The sensor on your hand is back. Carry on."),
    "stroker": N_("The sensor on your other wrist is back. Carry on."),
    "": N_("The sensor is back. Carry on."),
}
_BACK_HELPER = N_("The sensor on the helper's wrist is back. Carry on.")

#: Cues that go before all others and cut off a less urgent one being spoken.
URGENT_CODES: frozenset[str] = frozenset(
    {"screening_blocked", "sensor_lost", "calibration_failed", "session_stopped"}
)


def is_urgent(code: str) -> bool:
    return code in URGENT_CODES


def cue_source(code: str, fields: Mapping[str, Any] | None = None, *, helper: bool = False) -> str | None:
    """The English message id for a cue (``None``: a code this module does not know)."""
    fields = fields or {}
    if code in ("sensor_lost", "sensor_back"):
        role = str(fields.get("role") or "")
        if helper and role == "stroker":
            return _LOST_HELPER if code == "sensor_lost" else _BACK_HELPER
        table = _LOST if code == "sensor_lost" else _BACK
        return table.get(role, table[""])
    if helper and code in HELPER_TEXTS:
        return HELPER_TEXTS[code]
    for table in (PIPELINE_CUES, CALIBRATION_TEXTS, SESSION_TEXTS, OWN_TEXTS):
        if code in table:
            return table[code]
    return None


def english(code: str, **fields: Any) -> str:
    """The English text of a cue, for the ``message`` of its event."""
    source = cue_source(code, fields)
    if source is None:
        raise KeyError(code)
    return source.format_map(fields)


def cue_text(tr: Texts, event: Mapping[str, Any], *, helper: bool = False) -> str:
    """The text of a ``cue`` event in ``tr``'s language (its English message for an unknown code)."""
    source = cue_source(str(event.get("code", "")), event, helper=helper)
    if source is None:
        return str(event.get("message") or "")
    return tr(source)


def sensor_name(tr: Texts, role: str, *, helper: bool = False) -> str:
    names = HELPER_SENSOR_NAMES if helper else SENSOR_NAMES
    return tr(names[role]) if role in names else role
