"""``coach monitor`` admin commands of the clinic features (coach/monitor/clinic/):

    coach monitor export-fhir PATIENT [--out FILE]            FHIR R4 transaction Bundle (JSON)
    coach monitor export-patient PATIENT [--out FILE]         everything the monitor holds (JSON)
    coach monitor erase-patient PATIENT --confirm PATIENT [--broker URL]
    coach monitor rtm-start PATIENT YYYY-MM-DD                monitoring start date
    coach monitor rtm-log PATIENT --by USER --minutes N --note TEXT [--date D] [--interactive]
    coach monitor rtm-report [--month YYYY-MM] [--table periods|months]      CSV on stdout
    coach monitor audit verify | audit purge | audit retention DAYS
    coach monitor oidc-add NAME --issuer URL --client-id ID --redirect-uri URL [--client-secret-file F]
    coach monitor oidc-map NAME SUBJECT USERNAME | oidc-list

Files written here are created with mode 0600 (they hold health data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

COMMANDS = (
    "export-fhir",
    "export-patient",
    "erase-patient",
    "rtm-start",
    "rtm-log",
    "rtm-report",
    "oidc-add",
    "oidc-map",
    "oidc-list",
)


def add_subcommands(sub: Any) -> None:
    p = sub.add_parser("export-fhir", help="a patient's FHIR R4 Bundle (sessions, devices, questionnaires)")
    p.add_argument("patient_id")
    p.add_argument("--out", type=Path, help="write to this new file (0600) instead of stdout")
    p = sub.add_parser(
        "export-patient", help="everything the monitor holds on a patient (data access request)"
    )
    p.add_argument("patient_id")
    p.add_argument("--out", type=Path, help="write to this new file (0600) instead of stdout")
    p = sub.add_parser("erase-patient", help="erase a patient's data (the audit log keeps the erasure)")
    p.add_argument("patient_id")
    p.add_argument("--confirm", required=True, metavar="PATIENT_ID", help="the same id again")
    p.add_argument("--broker", metavar="URL", help="also clear the patient's retained MQTT messages there")
    p = sub.add_parser("rtm-start", help="set a patient's remote-monitoring start date")
    p.add_argument("patient_id")
    p.add_argument("start_date", help="YYYY-MM-DD")
    p = sub.add_parser("rtm-log", help="log therapist management time for a patient")
    p.add_argument("patient_id")
    p.add_argument("--by", required=True, metavar="USER", help="the therapist who spent the time")
    p.add_argument("--minutes", type=int, required=True)
    p.add_argument("--note", required=True)
    p.add_argument("--date", default=None, help="service date YYYY-MM-DD (default today)")
    p.add_argument("--interactive", action="store_true", help="included a live exchange with patient/helper")
    p = sub.add_parser("rtm-report", help="the clinic-wide remote-monitoring table as CSV")
    p.add_argument("--month", default=None, help="YYYY-MM (default this month)")
    p.add_argument("--table", choices=("periods", "months"), default="periods")
    p = sub.add_parser("oidc-add", help="register the clinic's OpenID Connect provider")
    p.add_argument("name")
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--redirect-uri", required=True, help="https://<monitor>/auth/oidc/<name>/callback")
    p.add_argument("--client-secret-file", type=Path, help="a 0600 file with the client secret")
    p.add_argument("--label", help='button text, e.g. "Sign in with Clinic ID"')
    p.add_argument("--scopes", default="openid email profile")
    p = sub.add_parser("oidc-map", help="let a clinic identity (its 'sub') sign in as a therapist")
    p.add_argument("name")
    p.add_argument("subject")
    p.add_argument("username")
    sub.add_parser("oidc-list", help="registered providers and mapped identities")


def add_audit_actions(parser: argparse.ArgumentParser) -> None:
    """``coach monitor audit [show|verify|purge|retention DAYS]`` (``show`` is the default)."""
    parser.add_argument("action", nargs="?", choices=("show", "verify", "purge", "retention"), default="show")
    parser.add_argument("days", nargs="?", type=int, help="with 'retention': days to keep entries")


def _write(out: Path | None, text: str) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from coach.errors import ConfigError

    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{out} exists; choose a new file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"written to {out} (mode 0600)", file=sys.stderr)


async def run_audit(args: argparse.Namespace, db: Any) -> int:
    from coach.monitor.clinic import audit_chain

    actor = f"cli:{os.environ.get('USER', 'admin')}"
    if args.action == "verify":
        v = await audit_chain.verify(db)
        if v.ok:
            print(f"audit chain intact: {v.entries} entries; head #{v.head_id} {v.head_sha256}")
            return 0
        print(
            f"audit chain BROKEN at entry #{v.bad_id}: {v.problem} ({v.entries} entries verified before it)"
        )
        return 1
    if args.action == "purge":
        n = await audit_chain.purge_expired(db, actor)
        print(f"{n} entries past the retention period removed", file=sys.stderr)
        return 0
    if args.days is None:
        print(f"audit entries are kept {await audit_chain.retention_days(db)} days")
        return 0
    await audit_chain.set_retention_days(db, args.days, actor)
    print(f"audit entries are now kept {args.days} days", file=sys.stderr)
    return 0


async def _clear_retained(broker_url: str, patient_id: str, sessions: list[str]) -> int:
    import aiomqtt

    from coach.mqtt.broker_config import BrokerSettings
    from coach.mqtt.topics import PatientTopics

    settings = BrokerSettings.from_url(broker_url)
    named = PatientTopics(patient_id)
    topics = [named.status, named.targets, named.stored]  # stored: the monitor's delivery receipt
    topics += [named.summary(s) for s in sessions]
    async with aiomqtt.Client(**settings.client_kwargs()) as client:
        for topic in topics:
            await client.publish(topic, b"", qos=1, retain=True)
    return len(topics)


async def run(args: argparse.Namespace, db: Any) -> int:
    from coach.errors import ValidationError
    from coach.monitor.clinic import oidc, rtm
    from coach.monitor.clinic.fhir_export import bundle_json, patient_bundle
    from coach.monitor.clinic.patient_data import erase_patient, export_patient, session_ids

    cmd = args.admin_command
    actor = f"cli:{os.environ.get('USER', 'admin')}"
    from coach.monitor import accounts

    if cmd == "export-fhir":
        if await db.fetchone("SELECT 1 AS ok FROM patients WHERE patient_id = ?", (args.patient_id,)) is None:
            raise ValidationError(f"no patient {args.patient_id!r}")
        _write(args.out, bundle_json(await patient_bundle(db, args.patient_id)))
        await accounts.audit(db, actor, "export_fhir", patient_id=args.patient_id)
    elif cmd == "export-patient":
        doc = await export_patient(db, args.patient_id)
        _write(args.out, json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False))
        await accounts.audit(db, actor, "export_patient_data", patient_id=args.patient_id)
    elif cmd == "erase-patient":
        if args.confirm != args.patient_id:
            raise ValidationError("--confirm must repeat the patient id")
        sessions = await session_ids(db, args.patient_id)
        counts = await erase_patient(db, args.patient_id, actor)
        print(f"erased {args.patient_id}: {json.dumps(counts, sort_keys=True)}", file=sys.stderr)
        if args.broker:
            n = await _clear_retained(args.broker, args.patient_id, sessions)
            print(f"cleared {n} retained MQTT messages at {args.broker}", file=sys.stderr)
        print(
            "the audit log keeps the erasure entry; erase the coach's copy with: coach patient-data erase",
            file=sys.stderr,
        )
    elif cmd == "rtm-start":
        start = rtm.parse_date(args.start_date, "start date")
        await rtm.set_monitoring_start(db, args.patient_id, start, actor)
        await accounts.audit(
            db, actor, "rtm_start_changed", patient_id=args.patient_id, detail=start.isoformat()
        )
    elif cmd == "rtm-log":
        if await db.fetchone("SELECT 1 AS ok FROM therapists WHERE username = ?", (args.by,)) is None:
            raise ValidationError(f"no therapist {args.by!r}")
        service = rtm.parse_date(args.date, "date") if args.date else date.today()
        entry = await rtm.log_time(
            db,
            args.patient_id,
            args.by,
            service_date=service,
            minutes=args.minutes,
            interactive=args.interactive,
            note=args.note,
        )
        await accounts.audit(db, actor, "rtm_time_entry", patient_id=args.patient_id, detail=f"entry {entry}")
    elif cmd == "rtm-report":
        month = args.month or date.today().strftime("%Y-%m")
        patients = await db.fetchall("SELECT patient_id FROM patients ORDER BY patient_id")
        tables = await rtm.clinic_rows(db, patients, month)
        columns = rtm.PERIOD_COLUMNS if args.table == "periods" else rtm.MONTH_COLUMNS
        sys.stdout.write(rtm.to_csv(tables[args.table], columns))
    elif cmd == "oidc-add":
        secret = None
        if args.client_secret_file:
            from coach.mqtt.secrets import read_secret_file

            secret = read_secret_file(args.client_secret_file).reveal()
        await oidc.add_provider(
            db,
            args.name,
            issuer=args.issuer,
            client_id=args.client_id,
            redirect_uri=args.redirect_uri,
            client_secret=secret,
            label=args.label,
            scopes=args.scopes,
        )
        await accounts.audit(db, actor, "oidc_provider_set", detail=args.name)
        print(f"identity provider {args.name} registered", file=sys.stderr)
    elif cmd == "oidc-map":
        await oidc.map_identity(db, args.name, args.subject, args.username)
        await accounts.audit(
            db, actor, "oidc_identity_mapped", detail=f"{args.name}:{args.subject} -> {args.username}"
        )
        print(f"{args.name} identity {args.subject} signs in as {args.username}", file=sys.stderr)
    elif cmd == "oidc-list":
        for conf in await oidc.providers(db):
            print(f"{conf.name:<16} {conf.issuer}  client {conf.client_id}  redirect {conf.redirect_uri}")
        for row in await db.fetchall(
            "SELECT i.issuer, i.subject, t.username FROM oidc_identities i"
            " JOIN therapists t ON t.id = i.therapist_id ORDER BY i.issuer, i.subject"
        ):
            print(f"  {row['issuer']} {row['subject']} -> {row['username']}")
    return 0
