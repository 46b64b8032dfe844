"""Developers' catalogue tools (users never run them: the compiled ``.mo`` files are committed).

    python -m coach.i18n.tools update    # extract the marked texts into <domain>.pot, merge into each .po
    python -m coach.i18n.tools compile   # .po -> .mo for every language and domain
    python -m coach.i18n.tools check     # what the tests check: complete, consistent, compiled

Texts are found by Babel's Python extractor in the files each domain lists in :data:`DOMAINS`, marked
with ``N_("...")`` or ``NN_("singular", "plural")``; a comment starting ``TRANSLATORS:`` just above
a text goes to the translators. The ``.pot`` template has no source locations, so moving code does
not churn it. A new domain (say ``monitor`` for the therapist's pages) is one more entry here plus
``python -m coach.i18n.tools update --domain monitor``.
"""

from __future__ import annotations

import argparse
import gettext
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from coach.i18n import DEFAULT_LANGUAGE, LANGUAGES, LOCALE_DIR, placeholders

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # coach/

#: Catalogue domains → the files and folders (relative to ``coach/``) whose marked texts they hold.
DOMAINS: dict[str, tuple[str, ...]] = {
    "patient": ("cue_texts.py", "contraindications.py", "feedback", "patient_page", "session/screening.py"),
    "monitor": ("monitor/report_text.py",),  # the therapist's session report
}
KEYWORDS: dict[str, tuple[int, ...] | None] = {"N_": None, "NN_": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
PROJECT = "retro-coach"


def template_path(domain: str) -> Path:
    return LOCALE_DIR / f"{domain}.pot"


def po_path(language: str, domain: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def mo_path(language: str, domain: str) -> Path:
    return po_path(language, domain).with_suffix(".mo")


def translated_languages() -> tuple[str, ...]:
    """The shipped languages that have catalogues (English is the message ids themselves)."""
    return tuple(lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE)


def _source_files(domain: str) -> Iterator[Path]:
    for entry in DOMAINS[domain]:
        path = PACKAGE_DIR / entry
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            yield path


def extract(domain: str) -> Catalog:
    """The domain's marked texts, as a template catalogue (no source locations)."""
    catalog = Catalog(project=PROJECT, domain=domain, charset="utf-8")
    for path in _source_files(domain):
        for _line, message, comments, context in extract_from_file(
            "python", path, keywords=KEYWORDS, comment_tags=COMMENT_TAGS, strip_comment_tags=True
        ):
            catalog.add(message, None, auto_comments=comments, context=context, flags=_flags(message))
    return catalog


def _flags(message: str | tuple[str, ...]) -> tuple[str, ...]:
    texts = message if isinstance(message, tuple) else (message,)
    return ("python-brace-format",) if any(placeholders(t) for t in texts) else ()


def _write_po(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, no_location=True, sort_output=True, omit_header=False)
    path.write_bytes(buf.getvalue())


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f, locale=language)


def update(domain: str) -> None:
    """Write ``<domain>.pot`` from the sources and merge it into every language's ``.po``."""
    template = extract(domain)
    _write_po(template_path(domain), template)
    for lang in translated_languages():
        path = po_path(lang, domain)
        if path.exists():
            catalog = read_catalog(path, lang)
        else:
            catalog = Catalog(locale=lang, project=PROJECT, domain=domain, charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()  # texts no longer in the sources go; version control keeps history
        _write_po(path, catalog)


def compiled(language: str, domain: str) -> bytes:
    """The ``.mo`` bytes of a language's ``.po`` (fuzzy and untranslated messages left out)."""
    catalog = read_catalog(po_path(language, domain), language)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_all(domains: Iterable[str] = DOMAINS) -> list[Path]:
    written = []
    for domain in domains:
        for lang in translated_languages():
            path = mo_path(lang, domain)
            path.write_bytes(compiled(lang, domain))
            written.append(path)
    return written


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _ids(message: Message) -> tuple[str, ...]:
    mid = message.id
    return tuple(str(x) for x in mid) if isinstance(mid, tuple | list) else (str(mid),)


def _strings(message: Message) -> tuple[str, ...]:
    s = message.string
    if isinstance(s, tuple | list):
        return tuple(str(x) for x in s)
    return (str(s or ""),)


def check(domain: str) -> list[Problem]:
    """Everything that makes a catalogue incomplete or inconsistent (empty: all is well)."""
    problems: list[Problem] = []
    wanted = {(m.context, m.id) for m in extract(domain) if m.id}
    pot = template_path(domain)
    if not pot.exists():
        return [Problem(str(pot), "missing: run python -m coach.i18n.tools update")]
    in_pot = {(m.context, m.id) for m in read_catalog(pot) if m.id}
    for key in sorted(wanted - in_pot, key=str):
        problems.append(Problem(pot.name, f"not in the template (run update): {key[1]!r}"))
    for key in sorted(in_pot - wanted, key=str):
        problems.append(Problem(pot.name, f"no longer in the sources (run update): {key[1]!r}"))
    for lang in translated_languages():
        path = po_path(lang, domain)
        where = f"{lang}/{path.name}"
        if not path.exists():
            problems.append(Problem(where, "missing"))
            continue
        catalog = read_catalog(path, lang)
        have = {(m.context, m.id): m for m in catalog if m.id}
        for key in sorted(wanted, key=str):
            message = have.get(key)
            if message is None:
                problems.append(Problem(where, f"no entry for {key[1]!r}"))
                continue
            strings = _strings(message)
            if message.fuzzy or not all(s.strip() for s in strings):
                problems.append(Problem(where, f"not translated: {key[1]!r}"))
                continue
            expected = set().union(*(placeholders(i) for i in _ids(message)))
            for s in strings:
                if placeholders(s) != expected:
                    problems.append(
                        Problem(
                            where, f"placeholders {sorted(placeholders(s))} ≠ {sorted(expected)} in {s!r}"
                        )
                    )
        mo = mo_path(lang, domain)
        if not mo.exists() or mo.read_bytes() != compiled(lang, domain):
            problems.append(
                Problem(f"{lang}/{mo.name}", "out of date: run python -m coach.i18n.tools compile")
            )
    return problems


def load_mo(data: bytes) -> gettext.GNUTranslations:
    return gettext.GNUTranslations(io.BytesIO(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coach.i18n.tools", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("update", "compile", "check"))
    parser.add_argument("--domain", choices=sorted(DOMAINS), action="append")
    args = parser.parse_args(argv)
    domains = args.domain or sorted(DOMAINS)
    if args.action == "update":
        for domain in domains:
            update(domain)
        return 0
    if args.action == "compile":
        for path in compile_all(domains):
            print(path.relative_to(PACKAGE_DIR))
        return 0
    problems = [p for domain in domains for p in check(domain)]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
