"""Message catalogues: every text a patient or helper reads or hears, in the session's language.

GNU gettext catalogues (``.po`` sources, compiled ``.mo`` files committed beside them) read through
Babel. The English text is the message id, so a message that a language lacks (not yet translated,
or left empty) falls back to English instead of failing. Texts are marked where they are defined with
:func:`N_` (or :func:`NN_` for singular/plural pairs) so that ``python -m coach.i18n.tools`` extracts
them; they are translated where they are shown, with a :class:`Texts` for the language::

    RAISE = N_("Raise your hand a little: keep it above the level of your heart.")
    tr = texts("de")
    tr(RAISE)                                   # the German sentence
    tr(N_("{minutes} minutes left."), minutes=5)  # placeholders in braces, by name
    tr.plural(*NN_("{n} stroke", "{n} strokes"), n=41)

A catalogue *domain* is one set of texts with its own ``.po`` files: ``patient`` (the session page,
voice, terminal view, screening, summary). Another part of the product (the therapist's monitor and
reports) adds its own domain — a new entry in :data:`coach.i18n.tools.DOMAINS` and its ``.po`` files
— and reads it with ``texts(language, "monitor")``; nothing here changes.
"""

from __future__ import annotations

import gettext
import os
import string
from functools import cache
from pathlib import Path

#: Where the catalogues live: ``locale/<language>/LC_MESSAGES/<domain>.{po,mo}``.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The languages shipped, English (the source language) first.
LANGUAGES: tuple[str, ...] = ("en", "de", "es")
DEFAULT_LANGUAGE = "en"
DEFAULT_DOMAIN = "patient"
#: Each language's name in itself (for choosers and documentation).
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch", "es": "Español"}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def NN_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - gettext convention
    """Mark a singular/plural pair for extraction (use with :meth:`Texts.plural`)."""
    return singular, plural


class LanguageError(ValueError):
    """A language that is not shipped."""


def resolve_language(requested: str | None) -> str:
    """A shipped language for ``requested`` (``"de"``, ``"de_AT"``, ``"es-MX"``, ``"Deutsch"``...).

    ``None`` or empty picks the environment's language when it is shipped (``LANGUAGE``, ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``), else English. A language that is not shipped raises
    :class:`LanguageError` naming the shipped ones.
    """
    if not requested:
        for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
            for part in os.environ.get(var, "").split(":"):
                code = part.split(".")[0].split("@")[0]
                if code and code not in ("C", "POSIX"):
                    try:
                        return resolve_language(code)
                    except LanguageError:
                        continue
        return DEFAULT_LANGUAGE
    wanted = requested.strip()
    for lang, name in LANGUAGE_NAMES.items():
        if wanted.casefold() in (lang, name.casefold()):
            return lang
    from babel import Locale, UnknownLocaleError  # here: marking texts (N_) must stay import-light

    try:
        parsed: Locale | None = Locale.parse(wanted.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        parsed = None
    if parsed is not None and parsed.language in LANGUAGES:
        return str(parsed.language)
    raise LanguageError(
        f"language {requested!r} is not available; choose one of "
        + ", ".join(f"{code} ({LANGUAGE_NAMES[code]})" for code in LANGUAGES)
    )


def placeholders(text: str) -> set[str]:
    """The named ``{placeholders}`` of a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Texts:
    """One language's texts of one domain: ``tr(msgid, **fields)``, ``tr.plural(s, p, n=...)``."""

    def __init__(self, language: str, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._t = translations

    def __call__(self, message: str, /, **fields: object) -> str:
        return _fill(self._t.gettext(message), message, fields)

    def template(self, message: str) -> str:
        """The translation with its ``{placeholders}`` left in (for a script that fills them)."""
        return self._t.gettext(message)

    def plural(self, singular: str, plural: str, /, n: int, **fields: object) -> str:
        """The form of ``singular``/``plural`` for the count ``n`` (also a placeholder: ``{n}``)."""
        english = singular if n == 1 else plural
        return _fill(self._t.ngettext(singular, plural, n), english, {"n": n, **fields})

    def has(self, message: str) -> bool:
        """Whether the language has its own text for ``message`` (English always has)."""
        if self.language == DEFAULT_LANGUAGE:
            return True
        catalog = getattr(self._t, "_catalog", {})
        return message in catalog


def _fill(text: str, english: str, fields: dict[str, object]) -> str:
    """Fill the placeholders; a translation whose placeholders do not fit falls back to English."""
    if not fields and "{" not in text:
        return text
    try:
        return text.format_map(fields)
    except (KeyError, IndexError, ValueError):
        return english.format_map(fields)


@cache
def _translations(language: str, domain: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    from babel.support import Translations

    loaded = Translations.load(str(LOCALE_DIR), [language], domain)
    if not isinstance(loaded, Translations):  # no .mo for this language and domain: English
        return gettext.NullTranslations()
    loaded.add_fallback(gettext.NullTranslations())  # a message the catalogue lacks: the English id
    return loaded


def texts(language: str | None = None, domain: str = DEFAULT_DOMAIN) -> Texts:
    """The texts of ``domain`` in ``language`` (resolved with :func:`resolve_language`)."""
    lang = resolve_language(language)
    return Texts(lang, _translations(lang, domain))


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "NN_",
    "N_",
    "LanguageError",
    "Texts",
    "placeholders",
    "resolve_language",
    "texts",
]
