"""The codes of the FHIR export: standard ones where they exist, the product's own code system where not.

Standard systems used: LOINC (``http://loinc.org``), UCUM units (``http://unitsofmeasure.org``), HL7's
observation categories. Our own concepts live in :data:`LOCAL_SYSTEM`, exported in every Bundle as a
``CodeSystem`` resource so a receiving EHR can read what each code means (docs/monitor.md, *FHIR*).
"""

from __future__ import annotations

from typing import Final

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"

#: The product's code system (a URN: no web address is implied; the CodeSystem travels in the Bundle).
LOCAL_SYSTEM: Final = "urn:retro-coach:fhir:codes"
LOCAL_SYSTEM_VERSION: Final = "1"
PATIENT_ID_SYSTEM: Final = "urn:retro-coach:patient-id"
SESSION_ID_SYSTEM: Final = "urn:retro-coach:session-id"
SENSOR_ID_SYSTEM: Final = "urn:retro-coach:sensor"
SCREENING_QUESTIONNAIRE: Final = "urn:retro-coach:questionnaire:screening"
SELF_REPORT_QUESTIONNAIRE: Final = "urn:retro-coach:questionnaire:self-report"

#: LOINC codes (verified against loinc.org): 55411-3 "Exercise duration"; 72514-3 "Pain severity -
#: 0-10 verbal numeric rating [Score] - Reported"; LA33-6 "Yes", LA32-8 "No" (answer codes).
LOINC_EXERCISE_DURATION: Final = ("55411-3", "Exercise duration")
LOINC_PAIN_0_10: Final = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
LOINC_NO: Final = ("LA32-8", "No")

#: Local concepts: code -> (display, definition).
LOCAL_CONCEPTS: Final[dict[str, tuple[str, str]]] = {
    "massage-session": (
        "Coached retrograde massage session",
        "One home session of retrograde massage for hand edema, measured by wrist-worn IMUs.",
    ),
    "strokes-proximal": ("Strokes toward the elbow", "Strokes whose direction was proximal (correct)."),
    "strokes-distal": ("Strokes toward the fingertips", "Strokes whose direction was distal (wrong)."),
    "strokes-unknown": ("Strokes of unknown direction", "Strokes whose direction the evidence left open."),
    "mean-cadence": (
        "Mean stroke cadence",
        "60 x strokes in bouts of two or more / active stroking time (strokes per minute).",
    ),
    "elevated-fraction": (
        "Time with the hand raised",
        "Share of the active session time with the wrist at least the elevation margin above the heart.",
    ),
    "wrist-neutral-fraction": (
        "Time with the wrist neutral",
        "Share of the active session time with wrist flexion/extension and deviation inside the limits.",
    ),
    "swelling-0-10": ("Swelling rating 0-10", "The patient's own rating of swelling after the session."),
    "yes-or-unanswered": (
        "Yes, or not answered",
        "A screening answer that blocked the session: the person said yes or gave no answer.",
    ),
    "sensor-treated": ("IMU on the treated forearm", "Wrist-worn IMU, dorsal forearm above the wrist."),
    "sensor-hand": ("IMU on the treated hand", "IMU on the dorsum of the treated hand."),
    "sensor-stroker": ("IMU on the massaging wrist", "Wrist-worn IMU of the hand doing the massage."),
}

#: Summary field -> (local code, UCUM unit code, unit text, scale applied to the value).
SESSION_COMPONENTS: Final = (
    ("strokes_proximal", "strokes-proximal", "{strokes}", "strokes", 1.0),
    ("strokes_distal", "strokes-distal", "{strokes}", "strokes", 1.0),
    ("strokes_unknown", "strokes-unknown", "{strokes}", "strokes", 1.0),
    ("mean_cadence_spm", "mean-cadence", "{strokes}/min", "strokes/min", 1.0),
    ("elevated_fraction", "elevated-fraction", "%", "%", 100.0),
    ("wrist_neutral_fraction", "wrist-neutral-fraction", "%", "%", 100.0),
)
