"""Every text of the session report, by key, marked for the ``monitor`` message catalogue.

The report page (``static/report.js``) shows only these texts, translated into the clinic's language
and embedded in the page's data (:func:`report_texts`); the words the server fills in itself (the
figures, the targets, the page header and the footer) come from the same catalogue
(``coach/monitor/report_view.py``). Placeholders in braces are named (``{n}``, ``{when}``,
``{therapist}``). Catalogue: ``coach/i18n/locale/<lang>/LC_MESSAGES/monitor.po`` (docs/languages.md).
"""

from __future__ import annotations

from typing import Final

from coach.i18n import N_, Texts

REPORT_TEXT: Final[dict[str, str]] = {
    # TRANSLATORS: the report's heading; the reader is the therapist.
    "title": N_("Retrograde massage session report"),
    # TRANSLATORS: the browser window's and the PDF's title.
    "document_title": N_("Session report · {patient} · {session}"),
    "back": N_("← Back"),
    "print": N_("Print"),
    "download_pdf": N_("Download PDF"),
    "download_png": N_("Download PNG"),
    # TRANSLATORS: label before the patient's name (a gender-neutral word is best).
    "patient": N_("Patient"),
    # TRANSLATORS: label before the pseudonymous patient id (such as p-0042).
    "patient_id": N_("Patient id"),
    "session": N_("Session"),
    # TRANSLATORS: label before the date and time the session started.
    "started": N_("Started"),
    # TRANSLATORS: at the top of every printed page; {patient} is the pseudonymous id, {date} a date.
    "page_header": N_("Patient {patient} · session of {date}"),
    "duration": N_("Duration"),
    # TRANSLATORS: massage strokes (movements of the hand along the arm), not a medical stroke.
    "strokes": N_("Strokes"),
    "toward_elbow": N_("Toward the elbow"),
    "toward_fingertips": N_("Toward the fingertips"),
    # TRANSLATORS: the mean number of massage strokes per minute.
    "mean_cadence": N_("Mean cadence"),
    "per_min": N_("{value} /min"),
    # TRANSLATORS: share of the session with the treated hand above heart level.
    "hand_raised": N_("Hand raised"),
    # TRANSLATORS: share of the session with the wrist within the neutral band.
    "wrist_neutral": N_("Wrist neutral"),
    "not_measured": N_("not measured"),
    "pain_swelling": N_("Pain / swelling"),
    "no_summary": N_("This session has no summary yet (still running or interrupted)."),
    # TRANSLATORS: heading above the charts over the session time.
    "over_time": N_("Over time"),
    "cues_heading": N_("Cues given to the patient"),
    "no_cues": N_("No cues."),
    # TRANSLATORS: column heading: the instruction the coach gave.
    "cue": N_("Cue"),
    # TRANSLATORS: column heading: how many times the instruction was given.
    "times": N_("Times"),
    # TRANSLATORS: column heading: when in the session, as minutes:seconds.
    "at": N_("At (min:s)"),
    "more": N_("+{n} more"),
    "targets_heading": N_("Targets in force"),
    # TRANSLATORS: {duration} is m:ss; cadence in strokes per minute; angles in degrees.
    "targets_line": N_(
        "Session {duration} · cadence {min_spm}–{max_spm} /min · forearm raised ≥ {elevation_deg}° · "
        "wrist flexion within ±{flexion_deg}°, deviation within ±{deviation_deg}°"
    ),
    "targets_default": N_("(coach defaults: no targets sent)"),
    # TRANSLATORS: {when} is a date and time; {for_therapist} is empty or the text " for {therapist}".
    "footer": N_(
        "Generated {when}{for_therapist} by the Retro Coach therapist monitor. Angles and stroke "
        "directions are sensor estimates."
    ),
    # TRANSLATORS: inserted into the footer after the date; keep the leading space.
    "for_therapist": N_(" for {therapist}"),
    "chart_elevation": N_("Forearm elevation (hand higher than elbow is positive)"),
    "chart_wrist": N_("Wrist angles (shaded: neutral band)"),
    "chart_cadence": N_("Cadence"),
    "chart_strokes": N_("Stroke timeline"),
    "legend_elevation": N_("elevation"),
    "legend_hand_low": N_("hand low"),
    "legend_needed": N_("elevation needed"),
    "legend_flexion": N_("flexion / extension"),
    "legend_deviation": N_("radial / ulnar deviation"),
    "legend_spm": N_("strokes per minute"),
    "legend_proximal": N_("proximal (toward elbow)"),
    "legend_distal": N_("distal (toward fingertips)"),
    # TRANSLATORS: a stroke whose direction could not be told.
    "legend_unknown": N_("unknown"),
    # TRANSLATORS: row labels of the stroke timeline (direction of the stroke).
    "row_proximal": N_("proximal"),
    "row_distal": N_("distal"),
    "row_unknown": N_("unknown"),
    "axis_degrees": N_("degrees"),
    # TRANSLATORS: axis label of the cadence chart; keep it short.
    "axis_spm": N_("strokes/min"),
}


def report_texts(tr: Texts) -> dict[str, str]:
    """Every report text in ``tr``'s language, placeholders left in for the page's script."""
    return {key: tr.template(msgid) for key, msgid in REPORT_TEXT.items()}
