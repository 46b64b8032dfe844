"""The monitor's web server (aiohttp): pages, the JSON API under ``/api/``, live streams, reports.

Access control is checked on the server for every request: a request without a valid login session gets
401 from the API and a redirect to ``/login`` for pages; a therapist asking for a patient not assigned
to them gets 403 (the same answer whether the patient exists or not). State-changing requests need the
session's CSRF token in ``X-CSRF-Token``; the session cookie is HttpOnly, SameSite=Strict and, with
HTTPS, Secure. Every view of a patient's data is written to the audit log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from coach.errors import CoachError, ValidationError
from coach.i18n import LanguageError
from coach.ids import ID_PATTERN, check_id
from coach.monitor import accounts
from coach.monitor.accounts import Therapist, WebSession
from coach.monitor.alerts import RUNNING_STATES, AlertConfig
from coach.monitor.db import Database
from coach.monitor.ingest import ChangeFeed, Ingest
from coach.monitor.report import STATIC_DIR, export_report, render_report, targets_in_force
from coach.monitor.report_view import ReportLocale, report_locale
from coach.monitor.security import SECURITY_HEADERS, LoginLimiter
from coach.monitor.therapist_commands import current_targets, recent_commands, send_command, set_targets
from coach.monitor.views import overview, patient_history, session_detail
from coach.mqtt.commands import NEXT_SESSION

log = logging.getLogger("coach.monitor.web")

COOKIE: Final = "coach_session"
#: Commands a therapist may send from the patient page besides targets (docs/design.md §7 ``cmd``).
PAGE_COMMANDS: Final = ("clear_screening", "pause", "resume", "stop")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class MonitorContext:
    db: Database
    ingest: Ingest | None = None
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    secure_cookies: bool = False
    stream_min_interval_s: float = 0.25
    stream_heartbeat_s: float = 15.0
    #: The clinic's language and locale for reports (``--language``; coach.monitor.report_view).
    language: str | None = None


CTX: Final = web.AppKey("monitor", MonitorContext)
SESSION: Final = web.RequestKey("session", WebSession)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, allow_nan=False))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _remote(request: web.Request) -> str:
    return request.remote or "unknown"


# --- middlewares --------------------------------------------------------------------------------


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if request.path.startswith(("/api/", "/report/")):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    from coach.monitor.clinic import routes as clinic_routes

    ctx = request.app[CTX]
    token = request.cookies.get(COOKIE)
    session = await accounts.resume_session(ctx.db, token) if token else None
    if session is not None:
        request[SESSION] = session
    path = request.path
    public = path in (
        "/login",
        "/api/login",
        "/healthz",
        "/favicon.ico",
        *clinic_routes.PUBLIC_PATHS,
    ) or path.startswith(("/static/", *clinic_routes.PUBLIC_PREFIXES))
    if session is None and not public:
        if path.startswith("/api/"):
            return _error(401, "log in first")
        raise web.HTTPFound(f"/login?next={quote(path, safe='/')}")
    changes_state = request.method not in ("GET", "HEAD", "OPTIONS") and path != "/api/login"
    if session is not None and changes_state and request.headers.get("X-CSRF-Token") != session.csrf_token:
        return _error(403, "missing or wrong CSRF token")
    return await handler(request)


def _session(request: web.Request) -> WebSession:
    return request[SESSION]


async def _patient_for(request: web.Request, action: str, detail: str | None = None) -> dict[str, Any]:
    """The assigned patient named in the URL, after the access check; the view is audited."""
    ctx = request.app[CTX]
    therapist = _session(request).therapist
    patient_id = request.match_info["patient"]
    allowed = False
    with contextlib.suppress(ValidationError):
        check_id(patient_id, "patient id")
        allowed = await accounts.is_assigned(ctx.db, therapist, patient_id)
    if not allowed:
        await accounts.audit(
            ctx.db,
            therapist.username,
            "denied",
            patient_id=patient_id[:64],
            detail=action,
            remote=_remote(request),
        )
        raise web.HTTPForbidden(
            text=json.dumps({"error": "this patient is not assigned to you"}), content_type="application/json"
        )
    row = await ctx.db.fetchone(
        "SELECT patient_id, display_name, sessions_per_day FROM patients WHERE patient_id = ?", (patient_id,)
    )
    assert row is not None
    await accounts.audit(
        ctx.db, therapist.username, action, patient_id=patient_id, detail=detail, remote=_remote(request)
    )
    return row


def _session_id(request: web.Request) -> str:
    session_id = request.match_info["session"]
    try:
        return check_id(session_id, "session id")
    except ValidationError:
        raise web.HTTPNotFound(text='{"error": "no such session"}', content_type="application/json") from None


# --- pages --------------------------------------------------------------------------------------


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        session = request.get(SESSION)
        if name == "login.html" and session is not None:
            raise web.HTTPFound("/")
        if "patient" in request.match_info and session is not None:
            allowed = False
            with contextlib.suppress(ValidationError):
                patient_id = check_id(request.match_info["patient"], "patient id")
                allowed = await accounts.is_assigned(request.app[CTX].db, session.therapist, patient_id)
            if not allowed:
                return web.FileResponse(STATIC_DIR / "forbidden.html", status=403)
        return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-store"})

    return handler


async def report_page(request: web.Request) -> web.StreamResponse:
    locale = _report_locale(request)
    data = await _report_data(request, "view_report")
    return web.Response(text=render_report(data, locale=locale), content_type="text/html")


async def report_export(request: web.Request) -> web.StreamResponse:
    fmt = request.match_info["fmt"]
    locale = _report_locale(request)
    data = await _report_data(request, f"export_report_{fmt}")
    try:
        body = await export_report(data, fmt, locale=locale)
    except CoachError as exc:
        return _error(503, str(exc))
    name = f"report-{data['patient_id']}-{data['session_id']}.{fmt}"
    return web.Response(
        body=body,
        content_type="application/pdf" if fmt == "pdf" else "image/png",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _report_locale(request: web.Request) -> ReportLocale:
    """The clinic's locale or the request's ``?lang=``, and ``?paper=`` (400: a language not shipped)."""
    try:
        return report_locale(
            request.app[CTX].language, override=request.query.get("lang"), paper=request.query.get("paper")
        )
    except LanguageError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"lang: {exc}"}), content_type="application/json"
        ) from None


async def _report_data(request: web.Request, action: str) -> dict[str, Any]:
    s = _session_id(request)
    patient = await _patient_for(request, action, detail=s)
    detail = await session_detail(request.app[CTX].db, patient["patient_id"], s)
    if detail is None:
        raise web.HTTPNotFound(text='{"error": "no such session"}', content_type="application/json")
    detail["display_name"] = patient["display_name"]
    detail["generated_unix_s"] = time.time()
    detail["therapist"] = _session(request).therapist.display_name
    detail["targets"] = await current_targets(request.app[CTX].db, patient["patient_id"])
    detail["paper"] = request.query.get("paper")  # a4 | letter; default: the clinic's locale
    return detail


# --- API: login ---------------------------------------------------------------------------------


async def api_login(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        return _error(403, "cross-site login refused")
    try:
        body = await request.json()
        username, password = str(body["username"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "send JSON with username and password")
    remote = _remote(request)
    attempt, wait_s = await ctx.limiter.begin(ctx.db, username, remote)
    if attempt is None:
        await accounts.audit(ctx.db, username[:64], "login_throttled", remote=remote)
        return web.json_response(
            {"error": f"too many failed logins; try again in {wait_s:.0f} s"},
            status=429,
            headers={"Retry-After": str(int(wait_s) + 1)},
        )
    therapist = None
    try:
        therapist = await accounts.verify_login(ctx.db, username, password)
    finally:
        await ctx.limiter.finish(ctx.db, attempt, ok=therapist is not None, username=username, remote=remote)
    if therapist is None:
        await accounts.audit(ctx.db, username[:64], "login_failed", remote=remote)
        return _error(401, "wrong user name or password")
    old = request.cookies.get(COOKIE)
    if old:
        await accounts.end_session(ctx.db, old)
    token, session = await accounts.start_session(ctx.db, therapist)
    await accounts.audit(ctx.db, therapist.username, "login", remote=remote)
    response = _json(_me(session, ctx))
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=ctx.secure_cookies, path="/")
    return response


def _me(session: WebSession, ctx: MonitorContext) -> dict[str, Any]:
    t = session.therapist
    return {
        "username": t.username,
        "display_name": t.display_name,
        "is_admin": t.is_admin,
        "csrf_token": session.csrf_token,
        "expires_unix_s": session.expires_unix_s,
        "monitor": link_info(ctx),
    }


def link_info(ctx: MonitorContext) -> dict[str, Any]:
    """This instance's link to the broker, for the banner on every page."""
    ingest = ctx.ingest
    if ingest is None:
        return {"ingest": False, "broker": None, "connected": None, "since_unix_s": None, "error": None}
    return {
        "ingest": True,
        "broker": ingest.broker.url,
        "connected": ingest.connected.is_set(),
        "since_unix_s": ingest.link_changed_unix_s,
        "error": None if ingest.connected.is_set() else ingest.stats.last_error,
    }


async def api_logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    token = request.cookies.get(COOKIE)
    if token:
        await accounts.end_session(ctx.db, token)
    await accounts.audit(ctx.db, _session(request).therapist.username, "logout", remote=_remote(request))
    response = _json({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def api_me(request: web.Request) -> web.StreamResponse:
    return _json(_me(_session(request), request.app[CTX]))


# --- API: data ----------------------------------------------------------------------------------


async def _overview_for(ctx: MonitorContext, therapist: Therapist) -> list[dict[str, Any]]:
    patients = await accounts.assigned_patients(ctx.db, therapist)
    return await overview(ctx.db, patients, ctx.alerts)


async def api_patients(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    therapist = _session(request).therapist
    cards = await _overview_for(ctx, therapist)
    await accounts.audit(
        ctx.db, therapist.username, "view_overview", detail=f"{len(cards)} patients", remote=_remote(request)
    )
    return _json({"patients": cards, "server_unix_s": time.time(), "monitor": link_info(ctx)})


async def api_patient(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    patient = await _patient_for(request, "view_patient")
    history = await patient_history(ctx.db, patient, ctx.alerts)
    cards = await overview(ctx.db, [patient], ctx.alerts)
    history["live"] = cards[0]
    history["targets"] = await current_targets(ctx.db, patient["patient_id"])
    history["targets_in_force"] = targets_in_force(history["targets"])
    history["commands"] = await recent_commands(ctx.db, patient["patient_id"])
    return _json(history)


async def api_session(request: web.Request) -> web.StreamResponse:
    s = _session_id(request)
    patient = await _patient_for(request, "view_session", detail=s)
    detail = await session_detail(request.app[CTX].db, patient["patient_id"], s)
    if detail is None:
        return _error(404, "no such session")
    detail["display_name"] = patient["display_name"]
    return _json(detail)


async def api_commands(request: web.Request) -> web.StreamResponse:
    patient = await _patient_for(request, "view_commands")
    return _json({"commands": await recent_commands(request.app[CTX].db, patient["patient_id"])})


def _publisher(ctx: MonitorContext) -> Callable[[str, bytes, int, bool], Awaitable[None]]:
    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if ctx.ingest is None:
            raise ConnectionError("this monitor has no broker connection")
        await ctx.ingest.publish(topic, payload, qos=qos, retain=retain)

    return publish


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "send a JSON object"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "send a JSON object"}', content_type="application/json")
    return body


def _opt_number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{key} must be a number")
    return float(value)


async def api_set_targets(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    patient = await _patient_for(request, "set_targets")
    body = await _json_body(request)
    try:
        cadence_lo, cadence_hi = _opt_number(body, "min_spm"), _opt_number(body, "max_spm")
        if (cadence_lo is None) != (cadence_hi is None):
            raise ValidationError("give both min_spm and max_spm, or neither")
        thresholds = {
            k: v
            for k in ("elevation_margin_m", "wrist_flexion_deg", "wrist_deviation_deg")
            if (v := _opt_number(body, k)) is not None
        }
        per_day = _opt_number(body, "sessions_per_day")
        result = await set_targets(
            ctx.db,
            _publisher(ctx),
            _session(request).therapist,
            patient["patient_id"],
            target_duration_s=_opt_number(body, "target_duration_s"),
            cadence_spm=None if cadence_lo is None or cadence_hi is None else (cadence_lo, cadence_hi),
            thresholds=thresholds or None,
            sessions_per_day=None if per_day is None else int(per_day),
        )
    except ValidationError as exc:
        return _error(400, str(exc))
    except (ConnectionError, OSError) as exc:
        return _error(503, f"broker unavailable: {exc}")
    await accounts.audit(
        ctx.db,
        _session(request).therapist.username,
        "targets_sent",
        patient_id=patient["patient_id"],
        detail=json.dumps(result["targets"]),
        remote=_remote(request),
    )
    return _json(result)


async def api_send_command(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    patient = await _patient_for(request, "send_command")
    body = await _json_body(request)
    cmd = body.get("cmd")
    args = body.get("args") or {}
    if cmd not in PAGE_COMMANDS or not isinstance(args, dict):
        return _error(400, f"cmd must be one of {', '.join(PAGE_COMMANDS)} with an args object")
    bound = await _command_session(ctx, patient, cmd, body.get("session"))
    if bound is None:
        return _error(409, f"no session is running to {cmd}")
    try:
        sent = await send_command(
            ctx.db,
            _publisher(ctx),
            _session(request).therapist,
            patient["patient_id"],
            cmd,
            args,
            session=bound,
        )
    except ValidationError as exc:
        return _error(400, str(exc))
    except (ConnectionError, OSError) as exc:
        return _error(503, f"broker unavailable: {exc}")
    await accounts.audit(
        ctx.db,
        _session(request).therapist.username,
        f"cmd_{cmd}",
        patient_id=patient["patient_id"],
        detail=sent["cmd_id"],
        remote=_remote(request),
    )
    return _json(sent)


async def _command_session(ctx: MonitorContext, patient: dict[str, Any], cmd: str, asked: Any) -> str | None:
    """The session a command is bound to: the one asked for (an id or "next"), else the patient's
    running session; ``pause``, ``resume`` and ``stop`` need a running one, ``clear_screening`` goes to
    the next session when none runs."""
    if isinstance(asked, str) and (asked == NEXT_SESSION or ID_PATTERN.match(asked)):
        return asked
    cards = await overview(ctx.db, [patient], ctx.alerts)
    live = cards[0]["session"]
    if live is not None and live["phase"] in RUNNING_STATES:
        return str(live["session_id"])
    return NEXT_SESSION if cmd == "clear_screening" else None


async def api_audit(request: web.Request) -> web.StreamResponse:
    therapist = _session(request).therapist
    if not therapist.is_admin:
        return _error(403, "the audit log is for administrators")
    patient_id = request.query.get("patient")
    return _json({"entries": await accounts.audit_entries(request.app[CTX].db, patient_id=patient_id)})


async def healthz(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    ingest = ctx.ingest
    body: dict[str, Any] = {"ok": True, "ingest": None}
    if ingest is not None:
        st = ingest.stats
        body["ingest"] = {
            "connected": ingest.connected.is_set(),
            "received": st.received,
            "stored_new": st.stored_new,
            "duplicates": st.duplicates,
            "malformed": st.malformed,
            "pending": ingest.pending,
            "mqtt_backlog": ingest.mqtt_backlog,
            "acked": st.acked,
            "unacked": ingest.unacked,
            "inflight_window": ingest.inflight_window,
            "db_errors": st.db_errors,
            "batches": st.batches,
            "write_s_total": round(st.write_s_total, 4),
            "write_s_max": round(st.write_s_max, 4),
            "loop_lag_s_max": round(st.loop_lag_s_max, 4),
            "loop_stalls_100ms": st.loop_stalls_100ms,
        }
    return _json(body)


# --- the application ----------------------------------------------------------------------------


def build_app(ctx: MonitorContext) -> web.Application:
    from coach.monitor import web_streams
    from coach.monitor.clinic import routes as clinic_routes

    app = web.Application(middlewares=[security_headers, authenticate], client_max_size=64 * 1024)
    app[CTX] = ctx
    r = app.router
    r.add_get("/", _page("overview.html"))
    r.add_get("/login", _page("login.html"))
    r.add_get("/patient/{patient}", _page("patient.html"))
    r.add_get("/patient/{patient}/session/{session}", _page("session.html"))
    r.add_get("/report/{patient}/{session}", report_page)
    r.add_get("/report/{patient}/{session}/export.{fmt:pdf|png}", report_export)
    r.add_static("/static/", STATIC_DIR, show_index=False)
    r.add_get("/healthz", healthz)
    r.add_post("/api/login", api_login)
    r.add_post("/api/logout", api_logout)
    r.add_get("/api/me", api_me)
    r.add_get("/api/patients", api_patients)
    r.add_get("/api/patients/{patient}", api_patient)
    r.add_get("/api/patients/{patient}/sessions/{session}", api_session)
    r.add_get("/api/patients/{patient}/commands", api_commands)
    r.add_post("/api/patients/{patient}/targets", api_set_targets)
    r.add_post("/api/patients/{patient}/commands", api_send_command)
    r.add_get("/api/audit", api_audit)
    web_streams.register(app)  # the live overview and session streams
    clinic_routes.register(app)  # accounting, FHIR, data export, audit review, clinic sign-in
    return app
