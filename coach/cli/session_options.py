"""Command-line options shared by ``coach run`` and ``coach demo``: language, voice, helper mode and
the session page."""

from __future__ import annotations

import argparse
from typing import Any

from coach.i18n import LANGUAGE_NAMES


def add_person_options(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(f"{code} ({name})" for code, name in LANGUAGE_NAMES.items())
    parser.add_argument("--language", help=f"language of everything the person reads and hears: {names}")
    parser.add_argument("--mute", action="store_true", help="do not speak the cues (voice is on by default)")
    parser.add_argument("--audio", action="store_true", help=argparse.SUPPRESS)  # the voice is on anyway
    parser.add_argument(
        "--helper", action="store_true", help="a family member does the massage: stroke cues speak to them"
    )
    parser.add_argument("--no-page", action="store_true", help="do not serve the session page")
    parser.add_argument(
        "--page-network",
        action="store_true",
        help="serve the session page to a tablet or phone on the home network (HTTPS, pairing code)",
    )
    parser.add_argument("--page-port", type=int, default=None, help="the session page's port (default 8760)")
    parser.add_argument(
        "--open", action="store_true", help="open the session page in this computer's browser"
    )


def person_settings(args: argparse.Namespace, page: dict[str, Any]) -> dict[str, Any]:
    """``SessionRun`` fields from the options (``page``: the config's ``[page]`` table)."""
    from coach.errors import ConfigError
    from coach.i18n import LanguageError, resolve_language
    from coach.patient_page import PageOptions

    language = None
    if args.language is not None:
        try:
            language = resolve_language(args.language)
        except LanguageError as exc:
            raise ConfigError(f"--language: {exc}") from None
    options = PageOptions(**{k: v for k, v in page.items() if k in ("enabled", "network", "host", "port")})
    if args.no_page:
        options.enabled = False
    if args.page_network:
        options.network = True
    if args.page_port is not None:
        if not 0 <= args.page_port <= 65535:
            raise ConfigError("--page-port must be within 0–65535")
        options.port = args.page_port
    return {
        "language": language,
        "voice": False if args.mute else None,
        "helper": True if args.helper else None,
        "page": options,
        "open_page": bool(args.open),
    }
