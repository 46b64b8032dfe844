"""Every text of the session report, in one place (English).

The report page (``static/report.js``) shows only strings from :data:`REPORT_TEXT`, embedded in the
page's data, so translating the report is wrapping these values in the message catalogue's gettext
(coach/i18n, being built at the same time) and choosing the clinic's locale. Placeholders in braces
are filled by the page (``{n}``, ``{when}``, ``{therapist}``).
"""

from __future__ import annotations

from typing import Final

REPORT_TEXT: Final[dict[str, str]] = {
    "title": "Retrograde massage session report",
    "back": "← Back",
    "print": "Print",
    "download_pdf": "Download PDF",
    "download_png": "Download PNG",
    "patient": "Patient",
    "patient_id": "Patient id",
    "session": "Session",
    "started": "Started",
    "page_header": "Patient {patient} · session of {date}",
    "duration": "Duration",
    "strokes": "Strokes",
    "toward_elbow": "Toward the elbow",
    "toward_fingertips": "Toward the fingertips",
    "mean_cadence": "Mean cadence",
    "per_min": "{value} /min",
    "hand_raised": "Hand raised",
    "wrist_neutral": "Wrist neutral",
    "not_measured": "not measured",
    "pain_swelling": "Pain / swelling",
    "no_summary": "This session has no summary yet (still running or interrupted).",
    "over_time": "Over time",
    "cues_heading": "Cues given to the patient",
    "no_cues": "No cues.",
    "cue": "Cue",
    "times": "Times",
    "at": "At (min:s)",
    "more": "+{n} more",
    "targets_heading": "Targets in force",
    "targets_line": (
        "Session {duration} · cadence {min_spm}–{max_spm} /min · forearm raised ≥ {elevation_deg}° · "
        "wrist flexion within ±{flexion_deg}°, deviation within ±{deviation_deg}°"
    ),
    "targets_default": "(coach defaults: no targets sent)",
    "footer": (
        "Generated {when}{for_therapist} by the Retro Coach therapist monitor. Angles and stroke "
        "directions are sensor estimates."
    ),
    "for_therapist": " for {therapist}",
    "chart_elevation": "Forearm elevation (hand higher than elbow is positive)",
    "chart_wrist": "Wrist angles (shaded: neutral band)",
    "chart_cadence": "Cadence",
    "chart_strokes": "Stroke timeline",
    "legend_elevation": "elevation",
    "legend_hand_low": "hand low",
    "legend_needed": "elevation needed",
    "legend_flexion": "flexion / extension",
    "legend_deviation": "radial / ulnar deviation",
    "legend_spm": "strokes per minute",
    "legend_proximal": "proximal (toward elbow)",
    "legend_distal": "distal (toward fingertips)",
    "legend_unknown": "unknown",
    "axis_degrees": "degrees",
    "axis_spm": "strokes/min",
}
