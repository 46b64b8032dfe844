"""The names callers of a live session use, from where they live now (``coach.session.live`` was one
module of 1,000 lines; see docs/architecture.md for the session package)."""

from coach.session.config import LiveConfig
from coach.session.flow import LiveSession, ScriptedSelfReport, SelfReport, SessionResult

__all__ = ["LiveConfig", "LiveSession", "ScriptedSelfReport", "SelfReport", "SessionResult"]
