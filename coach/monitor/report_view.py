"""The session report in the clinic's language and locale: its texts, figures, dates and paper.

The clinic's locale is the monitor's ``language`` setting (``coach monitor --language``): a shipped
language, optionally with its territory — ``de``, ``de_AT``, ``en_GB``, ``es-MX``, ``Deutsch``. A bare
language stands for its main territory (CLDR's likely subtags: ``de`` → Germany, ``es`` → Spain,
``en`` → United States). A report request may name another language with ``?lang=`` (same forms; the
clinic's territory stays unless it names its own). From the locale:

- **texts**: the ``monitor`` message catalogue (:mod:`coach.monitor.report_text`) in that language; the
  cues in the words the patient's catalogue has for them (the event's English where it has none);
- **dates, times and numbers**: Babel (CLDR) for language and territory when CLDR has that locale
  (``de_AT``, ``en_GB``), else for the language alone (``de``: 24.11.2026, 11,1; ``en``: Nov 24, 2026),
  in the monitor host's local time (``TZ``), as the adherence calendar;
- **paper**: ``?paper=a4|letter``; else US Letter when the territory is one of CLDR's Letter
  territories, else A4.

Without a setting the report is English and, as before the setting existed, its paper follows the
monitor's environment locale (``LC_ALL``, else ``LC_PAPER``, else ``LANG``; A4 without one).
"""

from __future__ import annotations

import decimal
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from babel import Locale, UnknownLocaleError
from babel.core import get_global, parse_locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent

from coach.cue_texts import cue_source, cue_text
from coach.i18n import DEFAULT_LANGUAGE, LanguageError, Texts, resolve_language, texts
from coach.monitor.report_text import REPORT_TEXT

#: The catalogue domain of the therapist's side.
MONITOR_DOMAIN: Final = "monitor"
#: Territories whose paper is US Letter (CLDR supplemental data, measurementData/paperSize "US-Letter").
LETTER_TERRITORIES: Final = frozenset(
    {"US", "CA", "MX", "CL", "CO", "CR", "GT", "PA", "PH", "PR", "SV", "VE", "BZ", "NI"}
)
DASH: Final = "–"
#: Roles and modes a cue's English may have been written for (coach.cue_texts).
_CUE_VARIANTS: Final = tuple(
    (role, helper) for role in ("", "treated", "hand", "stroker") for helper in (False, True)
)


@dataclass(frozen=True)
class ReportLocale:
    """What a report is shown in: catalogue ``language``, CLDR ``locale`` for formats, ``paper``."""

    language: str = DEFAULT_LANGUAGE
    locale: str = DEFAULT_LANGUAGE
    paper: str = "A4"

    @property
    def tag(self) -> str:
        """The BCP 47 tag for the page's ``lang`` attribute (``de-AT``)."""
        return self.locale.replace("_", "-")

    def texts(self) -> Texts:
        return texts(self.language, MONITOR_DOMAIN)


def _territory(code: str) -> str | None:
    """The territory of a POSIX or BCP 47 locale name (``de_AT.UTF-8``, ``es-MX``), if it names one."""
    name = code.strip().split(".")[0].split("@")[0].replace("-", "_")
    try:
        return parse_locale(name)[1]
    except ValueError:
        return None


def parse_language(setting: str) -> tuple[str, str | None]:
    """``(language, territory)`` for a clinic's language setting; :class:`LanguageError` if not shipped."""
    territory = _territory(setting)
    if territory is not None and territory.upper() not in Locale("en").territories:
        raise LanguageError(f"{setting!r}: {territory!r} is not a territory (use e.g. de_AT, en_GB, es_MX)")
    try:
        return resolve_language(setting), territory
    except LanguageError as unknown:
        # A shipped language in a territory CLDR has no locale for (``de_US``): the language alone.
        bare = setting.strip().replace("-", "_").split("_")[0]
        if territory is None or bare == setting.strip():
            raise
        try:
            return resolve_language(bare), territory
        except LanguageError:
            raise unknown from None


def likely_territory(language: str) -> str | None:
    """The territory CLDR takes for a bare language (likely subtags: de → DE, es → ES, en → US)."""
    likely = get_global("likely_subtags").get(language)
    return parse_locale(likely)[1] if likely else None


def paper_for_locale(locale: str | None) -> str:
    """``"A4"`` or ``"Letter"`` for a POSIX locale name such as ``en_US.UTF-8`` (default A4)."""
    territory = _territory(locale) if locale else None
    return "Letter" if territory is not None and territory.upper() in LETTER_TERRITORIES else "A4"


def _environment_paper(environ: Mapping[str, str]) -> str:
    for name in ("LC_ALL", "LC_PAPER", "LANG"):
        value = environ.get(name)
        if value:
            return paper_for_locale(value)
    return "A4"


def _cldr_locale(language: str, territory: str | None) -> str:
    if territory:
        try:
            return str(Locale.parse(f"{language}_{territory}"))
        except (ValueError, UnknownLocaleError):
            pass
    return language


def report_locale(
    setting: str | None = None,
    *,
    override: str | None = None,
    paper: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ReportLocale:
    """The locale of a report: the clinic's ``setting``, a request's ``override`` (``?lang=``) and
    ``paper`` (``?paper=``; anything but a4/letter is ignored). Raises :class:`LanguageError`."""
    language, territory = DEFAULT_LANGUAGE, None
    if setting:
        language, own = parse_language(setting)
        territory = own or likely_territory(language)
    if override:
        language, own = parse_language(override)
        territory = own or territory
    if paper and paper.lower() in ("a4", "letter"):
        chosen = "A4" if paper.lower() == "a4" else "Letter"
    elif territory:
        chosen = "Letter" if territory.upper() in LETTER_TERRITORIES else "A4"
    else:
        chosen = _environment_paper(os.environ if environ is None else environ)
    return ReportLocale(language, _cldr_locale(language, territory), chosen)


# --- formats ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)  # an int too big for a float is finite too


def _room_for(value: float, shift: int = 0) -> decimal.Context:
    """A decimal context with room for every digit of ``value``: Babel rounds in the current context,
    whose 28 digits a stored (absurd) count such as 1e25 strokes would overflow. ``shift``: the digits
    a format adds before the point (2 for a percentage)."""
    digits = len(str(abs(value))) if isinstance(value, int) else len(f"{abs(value):.0f}")
    return decimal.Context(prec=max(28, digits + shift + 10))


def m_ss(seconds: Any) -> str:
    """Seconds as m:ss, rounded to the whole second first (59.6 s is "1:00"; as ``Charts.fmtTime``)."""
    if not _is_number(seconds):
        return DASH
    total = round(abs(seconds))
    return f"{'-' if seconds < 0 and total else ''}{total // 60}:{total % 60:02d}"


def _local(unix_s: Any) -> datetime | None:
    if not _is_number(unix_s) or unix_s <= 0:
        return None
    try:
        return datetime.fromtimestamp(unix_s).astimezone()
    except (OverflowError, OSError, ValueError):  # beyond the platform's calendar
        return None


def format_day(unix_s: Any, loc: ReportLocale) -> str:
    moment = _local(unix_s)
    return DASH if moment is None else format_date(moment, "medium", locale=loc.locale)


def format_when(unix_s: Any, loc: ReportLocale) -> str:
    """Date (medium) and time (short), joined as the locale joins them."""
    moment = _local(unix_s)
    if moment is None:
        return DASH
    pattern = str(Locale.parse(loc.locale).datetime_formats["medium"]).replace("'", "")
    day = format_date(moment, "medium", locale=loc.locale)
    clock = format_time(moment, "short", locale=loc.locale)
    return pattern.replace("{1}", day).replace("{0}", clock)


def format_number(value: Any, loc: ReportLocale, pattern: str | None = None) -> str:
    if not _is_number(value):
        return DASH
    with decimal.localcontext(_room_for(value)):
        return format_decimal(value, format=pattern, locale=loc.locale)


def format_share(fraction: Any, loc: ReportLocale) -> str:
    if not _is_number(fraction):
        return DASH
    with decimal.localcontext(_room_for(fraction, shift=2)):
        return format_percent(fraction, locale=loc.locale)


# --- the report's words and figures -------------------------------------------------------------


def cue_words(tr: Texts, cue: Mapping[str, Any]) -> str:
    """A cue in ``tr``'s language, from its code as every view translates it (docs/languages.md).

    The event's English is the catalogue's text for the sensor's role and the session's mode it was
    said in, which the stored cue no longer names: the variant whose English it is gives them. A code
    the catalogue does not know keeps its English message; so does every cue in an English report.
    """
    code, message = str(cue.get("code") or ""), str(cue.get("message") or "")
    if tr.language == DEFAULT_LANGUAGE:
        return message or (cue_source(code) or "")
    for role, helper in _CUE_VARIANTS:
        source = cue_source(code, {"role": role}, helper=helper)
        if source is not None and source == message:
            return tr(source)
    return cue_text(tr, cue)


def report_view(
    data: Mapping[str, Any], in_force: Mapping[str, Any], loc: ReportLocale, *, targets_sent: bool
) -> dict[str, Any]:
    """What the report page shows besides its fixed labels, worded and formatted for ``loc``."""
    tr = loc.texts()

    def t(key: str, **fields: object) -> str:
        return tr(REPORT_TEXT[key], **fields)

    start = data.get("start_unix_s")
    summary = data.get("summary")
    s: Mapping[str, Any] = summary if isinstance(summary, Mapping) else {}
    total = s.get("strokes_total")
    proximal, cadence = s.get("strokes_proximal"), s.get("mean_cadence_spm")
    wrist = s.get("wrist_neutral_fraction")
    wrist_unmeasured = "wrist_neutral_fraction" in s and wrist is None
    tiles = [
        (t("duration"), m_ss(s.get("duration_s"))),
        (t("strokes"), format_number(len(data.get("strokes") or []) if total is None else total, loc)),
        (
            t("toward_elbow"),
            format_share(proximal / total, loc)
            if _is_number(total) and total and _is_number(proximal)
            else DASH,
        ),
        (t("toward_fingertips"), format_number(s.get("strokes_distal"), loc)),
        (
            t("mean_cadence"),
            t("per_min", value=format_number(cadence, loc, "#,##0.0")) if _is_number(cadence) else DASH,
        ),
        (t("hand_raised"), format_share(s.get("elevated_fraction"), loc)),
        (
            t("wrist_neutral"),
            t("not_measured") if wrist_unmeasured else format_share(wrist, loc),
        ),
        (
            t("pain_swelling"),
            f"{format_number(s.get('pain_0_10'), loc)} / {format_number(s.get('swelling_0_10'), loc)}",
        ),
    ]
    targets = t(
        "targets_line",
        duration=m_ss(in_force["target_duration_s"]),
        min_spm=format_number(in_force["min_spm"], loc),
        max_spm=format_number(in_force["max_spm"], loc),
        elevation_deg=format_number(in_force["elevation_deg"], loc),
        flexion_deg=format_number(in_force["wrist_flexion_deg"], loc),
        deviation_deg=format_number(in_force["wrist_deviation_deg"], loc),
    )
    if not targets_sent:
        targets += " " + t("targets_default")
    generated, therapist = data.get("generated_unix_s"), data.get("therapist")
    patient_tr = texts(loc.language)  # the cues' words are the patient's catalogue's
    return {
        "lang": loc.tag,
        "header": t("page_header", patient=data.get("patient_id", ""), date=format_day(start, loc)),
        "meta": [
            (t("patient"), data.get("display_name") or DASH),
            (t("patient_id"), data.get("patient_id") or DASH),
            (t("session"), data.get("session_id") or DASH),
            (t("started"), format_when(start, loc)),
        ],
        "tiles": tiles,
        "targets": targets,
        "footer": t(
            "footer",
            when=format_when(generated, loc),
            for_therapist=t("for_therapist", therapist=therapist) if therapist else "",
        ),
        "cues": [
            {
                "t": c.get("t") if _is_number(c.get("t")) else None,
                "code": str(c.get("code") or ""),
                "message": cue_words(patient_tr, c),
            }
            for c in data.get("cues") or ()
            if isinstance(c, Mapping)
        ],
    }
