"""The clinic features' web routes, registered into the monitor's aiohttp app by :func:`register`.

Access control is the monitor's own (``coach.monitor.web``): a login session for everything but the
public paths listed in :data:`PUBLIC_PATHS`/:data:`PUBLIC_PREFIXES`, the assignment check (403, audited)
for a patient's data, admins only for the clinic-wide audit review and a patient's full data export.

| route | what |
|---|---|
| ``GET /api/patients/<p>/rtm`` | monitoring start, 30-day periods, time per month, the time log |
| ``POST /api/patients/<p>/rtm/time`` | log management time ``{service_date, minutes, interactive, note}`` |
| ``POST /api/patients/<p>/rtm/start`` | set the monitoring start ``{start_date}`` |
| ``GET /api/clinic/rtm?month=YYYY-MM`` | the clinic-wide table (admins: every patient) |
| ``GET /api/clinic/rtm.csv?month=..&table=periods|months`` | the same as CSV |
| ``GET /api/patients/<p>/fhir`` | the patient's FHIR R4 transaction Bundle |
| ``GET /api/patients/<p>/export`` | everything the monitor holds on the patient (admins) |
| ``GET /api/clinic/audit``, ``GET /api/clinic/audit/verify`` | the audit chain (admins) |
| ``GET /api/clinic/first-run`` | public: whether a therapist account exists yet |
| ``GET /clinic/rtm``, ``GET /clinic/audit`` | the pages |
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Final

from aiohttp import web

from coach.errors import ValidationError
from coach.monitor import accounts
from coach.monitor.clinic import audit_chain, rtm
from coach.monitor.clinic.fhir_export import FHIR_JSON, bundle_json, patient_bundle
from coach.monitor.clinic.patient_data import export_patient
from coach.monitor.db import Database
from coach.monitor.report import STATIC_DIR
from coach.monitor.web import CTX, _error, _json, _json_body, _patient_for, _remote, _session

PUBLIC_PATHS: Final = ("/api/clinic/first-run", "/api/clinic/sign-in")
PUBLIC_PREFIXES: Final = ("/auth/oidc/",)
FIRST_RUN_COMMAND: Final = 'coach monitor add-therapist USER --name "Full Name" --admin'


def _month(request: web.Request) -> str:
    month = request.query.get("month") or date.today().strftime("%Y-%m")
    rtm.parse_date(f"{month}-01", "month")
    return month


async def _visible_patients(request: web.Request) -> list[dict[str, Any]]:
    ctx = request.app[CTX]
    therapist = _session(request).therapist
    if therapist.is_admin:
        return await ctx.db.fetchall(
            "SELECT patient_id, display_name, sessions_per_day FROM patients ORDER BY patient_id"
        )
    return await accounts.assigned_patients(ctx.db, therapist)


# --- remote-monitoring accounting ---------------------------------------------------------------


async def api_patient_rtm(request: web.Request) -> web.StreamResponse:
    patient = await _patient_for(request, "view_rtm")
    return _json(await rtm.patient_accounting(request.app[CTX].db, patient["patient_id"]))


async def api_log_time(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    patient = await _patient_for(request, "rtm_time_logged")
    body = await _json_body(request)
    try:
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes != int(minutes):
            raise ValidationError("minutes: a whole number")
        interactive = body.get("interactive")
        if not isinstance(interactive, bool):
            raise ValidationError("interactive: true or false")
        entry_id = await rtm.log_time(
            ctx.db,
            patient["patient_id"],
            _session(request).therapist.username,
            service_date=rtm.parse_date(body.get("service_date"), "service date"),
            minutes=int(minutes),
            interactive=interactive,
            note=str(body.get("note") or ""),
        )
    except ValidationError as exc:
        return _error(400, str(exc))
    await accounts.audit(
        ctx.db,
        _session(request).therapist.username,
        "rtm_time_entry",
        patient_id=patient["patient_id"],
        detail=f"entry {entry_id}: {int(minutes)} min, interactive={interactive}",
        remote=_remote(request),
    )
    return _json({"id": entry_id, **await rtm.patient_accounting(ctx.db, patient["patient_id"])})


async def api_set_start(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    patient = await _patient_for(request, "rtm_start_set")
    body = await _json_body(request)
    try:
        start = rtm.parse_date(body.get("start_date"), "start date")
        await rtm.set_monitoring_start(
            ctx.db, patient["patient_id"], start, _session(request).therapist.username
        )
    except ValidationError as exc:
        return _error(400, str(exc))
    await accounts.audit(
        ctx.db,
        _session(request).therapist.username,
        "rtm_start_changed",
        patient_id=patient["patient_id"],
        detail=start.isoformat(),
        remote=_remote(request),
    )
    return _json(await rtm.patient_accounting(ctx.db, patient["patient_id"]))


async def api_clinic_rtm(request: web.Request) -> web.StreamResponse:
    try:
        month = _month(request)
    except ValidationError as exc:
        return _error(400, str(exc))
    patients = await _visible_patients(request)
    tables = await rtm.clinic_rows(request.app[CTX].db, patients, month)
    await accounts.audit(
        request.app[CTX].db,
        _session(request).therapist.username,
        "view_rtm_table",
        detail=f"{month}: {len(patients)} patients",
        remote=_remote(request),
    )
    return _json({"month": month, **tables})


async def api_clinic_rtm_csv(request: web.Request) -> web.StreamResponse:
    try:
        month = _month(request)
    except ValidationError as exc:
        return _error(400, str(exc))
    table = request.query.get("table", "periods")
    if table not in ("periods", "months"):
        return _error(400, "table: periods or months")
    patients = await _visible_patients(request)
    tables = await rtm.clinic_rows(request.app[CTX].db, patients, month)
    columns = rtm.PERIOD_COLUMNS if table == "periods" else rtm.MONTH_COLUMNS
    await accounts.audit(
        request.app[CTX].db,
        _session(request).therapist.username,
        "export_rtm_csv",
        detail=f"{month} {table}: {len(patients)} patients",
        remote=_remote(request),
    )
    return web.Response(
        text=rtm.to_csv(tables[table], columns),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="rtm-{table}-{month}.csv"'},
    )


# --- FHIR, data export --------------------------------------------------------------------------


async def api_fhir(request: web.Request) -> web.StreamResponse:
    patient = await _patient_for(request, "export_fhir")
    bundle = await patient_bundle(request.app[CTX].db, patient["patient_id"])
    return web.Response(
        text=bundle_json(bundle),
        content_type=FHIR_JSON,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="fhir-{patient["patient_id"]}.json"'},
    )


async def api_patient_export(request: web.Request) -> web.StreamResponse:
    if not _session(request).therapist.is_admin:
        return _error(403, "a patient's full data export is for administrators")
    patient = await _patient_for(request, "export_patient_data")
    doc = await export_patient(request.app[CTX].db, patient["patient_id"])
    return web.Response(
        text=json.dumps(doc, ensure_ascii=False, allow_nan=False),
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="monitor-data-{patient["patient_id"]}.json"'},
    )


# --- audit review -------------------------------------------------------------------------------


async def api_audit(request: web.Request) -> web.StreamResponse:
    therapist = _session(request).therapist
    if not therapist.is_admin:
        return _error(403, "the audit log is for administrators")
    try:
        before = int(request.query["before"]) if "before" in request.query else None
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        return _error(400, "before and limit are whole numbers")
    patient = request.query.get("patient") or None
    db = request.app[CTX].db
    rows = await audit_chain.entries(db, patient_id=patient, before_id=before, limit=limit)
    return _json({"entries": rows, "retention_days": await audit_chain.retention_days(db)})


async def api_audit_verify(request: web.Request) -> web.StreamResponse:
    therapist = _session(request).therapist
    if not therapist.is_admin:
        return _error(403, "the audit log is for administrators")
    db = request.app[CTX].db
    result = await audit_chain.verify(db)
    await accounts.audit(
        db, therapist.username, "audit_verified", detail="ok" if result.ok else f"broken at {result.bad_id}"
    )
    return _json(result.__dict__)


# --- first run ----------------------------------------------------------------------------------


async def therapist_count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM therapists")
    return int(row["n"]) if row else 0


async def first_run_hint(db: Database) -> str | None:
    """The console's first-run hint when no therapist account exists, else ``None``."""
    if await therapist_count(db):
        return None
    return (
        "coach monitor: no therapist account yet; create the first (an administrator) with:\n"
        f"    {FIRST_RUN_COMMAND}"
    )


async def api_first_run(request: web.Request) -> web.StreamResponse:
    """Public: tells the login page that no account exists yet, and which command makes the first."""
    n = await therapist_count(request.app[CTX].db)
    return _json({"needs_first_therapist": n == 0, "command": FIRST_RUN_COMMAND if n == 0 else None})


def _static_page(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        del request
        return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-store"})

    return handler


def register(app: web.Application) -> None:
    """Add the clinic routes (and sign-in through the clinic's identity provider) to the monitor app."""
    from coach.monitor.clinic import oidc

    r = app.router
    r.add_get("/api/patients/{patient}/rtm", api_patient_rtm)
    r.add_post("/api/patients/{patient}/rtm/time", api_log_time)
    r.add_post("/api/patients/{patient}/rtm/start", api_set_start)
    r.add_get("/api/clinic/rtm", api_clinic_rtm)
    r.add_get("/api/clinic/rtm.csv", api_clinic_rtm_csv)
    r.add_get("/api/patients/{patient}/fhir", api_fhir)
    r.add_get("/api/patients/{patient}/export", api_patient_export)
    r.add_get("/api/clinic/audit", api_audit)
    r.add_get("/api/clinic/audit/verify", api_audit_verify)
    r.add_get("/api/clinic/first-run", api_first_run)
    r.add_get("/clinic/rtm", _static_page("clinic_rtm.html"))
    r.add_get("/clinic/audit", _static_page("clinic_audit.html"))
    oidc.register(app)
