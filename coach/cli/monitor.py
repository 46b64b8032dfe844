"""``coach monitor``: the therapist monitor (MQTT ingest, storage, web dashboard), and its admin commands.

    coach monitor [--broker URL] [--db URL] [--listen HOST:PORT] [--tls-cert F --tls-key F] [--shared-group G]
                  [--language LOCALE]
    coach monitor add-therapist USERNAME --name "Full Name" [--admin] [--password-stdin]
    coach monitor add-patient PATIENT_ID --name "Display Name" [--sessions-per-day N] [--secret-file PATH]
    coach monitor new-secret PATIENT_ID [--secret-file PATH] | import-secret PATIENT_ID --secret-file PATH
    coach monitor assign USERNAME PATIENT_ID | unassign USERNAME PATIENT_ID | list | audit [--patient P]
    coach monitor quarantine [--limit N] [--payload]

Passwords are typed at a prompt (or read from stdin with ``--password-stdin``), never given as
arguments. An enrolment secret is shown once on stdout, or written to a 0600 file with ``--secret-file``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "therapist monitor: store what coaches publish and serve the web dashboard (and its admin commands)"

ADMIN_COMMANDS = (
    "add-therapist",
    "set-password",
    "add-patient",
    "new-secret",
    "import-secret",
    "assign",
    "unassign",
    "list",
    "audit",
    "quarantine",
)


def default_db_url() -> str:
    from coach.paths import data_dir

    return f"sqlite:///{data_dir() / 'monitor.sqlite3'}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="mqtt:// or mqtts:// broker (default: the embedded "
        "broker a coach on this machine started, else mqtt://127.0.0.1:1883)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///PATH or postgresql://... (default: monitor.sqlite3 in the coach's data folder)",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:8080",
        help="where the dashboard listens (default 127.0.0.1:8080)",
    )
    parser.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate chain"
    )
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--shared-group",
        metavar="NAME",
        help="join an MQTT 5 shared subscription ($share/NAME/coach/v1/#) so several "
        "monitor instances split the load (needs e.g. Mosquitto 2, not the embedded broker)",
    )
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="MQTT client id of this instance's persistent session (default: coach-monitor-<host>-<port>)",
    )
    parser.add_argument(
        "--mqtt-inflight",
        type=int,
        metavar="N",
        help="unacknowledged QoS 1 messages the broker sends this monitor at once: with --shared-group "
        "(MQTT 5) the monitor asks for N (default 1000); with MQTT 3.1.1 give the broker's own "
        "setting, e.g. Mosquitto's max_inflight_messages (default 20). Messages are acknowledged "
        "only once stored; a batch closes at N/2",
    )
    parser.add_argument(
        "--receipt-interval-s",
        type=float,
        default=5.0,
        metavar="S",
        help="publish each patient's delivery receipt (coach/v1/<p>/stored) at most this often "
        "(default 5 s; at once when a session's summary is stored)",
    )
    parser.add_argument(
        "--no-ingest",
        action="store_true",
        help="serve the dashboard only (another instance ingests into the same database)",
    )
    parser.add_argument(
        "--hand-low-alert-s",
        type=float,
        default=30.0,
        metavar="S",
        help="alert when the hand stays low longer than this (default 30 s)",
    )
    parser.add_argument(
        "--language",
        metavar="LOCALE",
        help="the clinic's language for session reports, with its territory for dates, numbers and "
        "paper: en, de, es, or e.g. de_AT, en_GB, es_MX (default en; paper: A4, US Letter in the "
        "Americas' Letter countries)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log ingest details")
    sub = parser.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=False)
    p = sub.add_parser("add-therapist", help="create a therapist login")
    p.add_argument("username")
    p.add_argument("--name", required=True, help="display name")
    p.add_argument("--admin", action="store_true", help="may read the audit log")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = sub.add_parser("set-password", help="change a therapist's password (ends their sessions)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p = sub.add_parser(
        "add-patient", help="register a pseudonymous patient id and create its enrolment secret"
    )
    p.add_argument("patient_id")
    p.add_argument("--name", required=True, help="display name (kept only in the monitor database)")
    p.add_argument("--sessions-per-day", type=int, default=1, help="prescribed dose (default 1)")
    p.add_argument(
        "--secret-file", type=Path, help="write the secret to this new 0600 file instead of stdout"
    )
    p = sub.add_parser(
        "new-secret", help="replace a patient's enrolment secret (the coach needs the new one)"
    )
    p.add_argument("patient_id")
    p.add_argument("--secret-file", type=Path)
    p = sub.add_parser(
        "import-secret", help="use an existing enrolment secret file (e.g. from broker-config)"
    )
    p.add_argument("patient_id")
    p.add_argument("--secret-file", type=Path, required=True)
    for name in ("assign", "unassign"):
        p = sub.add_parser(name, help=f"{name} a patient to a therapist")
        p.add_argument("username")
        p.add_argument("patient_id")
    sub.add_parser("list", help="therapists, patients and assignments")
    p = sub.add_parser("audit", help="the latest audit log entries; 'audit verify' checks the hash chain")
    p.add_argument("--patient", help="only this patient")
    p.add_argument("--limit", type=int, default=50)
    from coach.cli import monitor_clinic

    monitor_clinic.add_audit_actions(p)
    p = sub.add_parser(
        "quarantine", help="messages ingest could not store (kept, never delivered again), newest first"
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--payload", action="store_true", help="also print each payload (escaped, first 2 KiB)")
    monitor_clinic.add_subcommands(sub)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        from coach.errors import ValidationError

        raise ValidationError("the passwords differ")
    return first


def _show_secret(patient_id: str, secret: str, path: Path | None) -> None:
    if path is not None:
        from coach.mqtt.secrets import write_secret_file

        if path.exists():
            from coach.errors import ConfigError

            raise ConfigError(f"{path} exists; choose a new file")
        write_secret_file(path, secret)
        print(f"enrolment secret for {patient_id} written to {path} (mode 0600)", file=sys.stderr)
        return
    print(
        f"enrolment secret for {patient_id} (shown once; give it to this patient's coach):", file=sys.stderr
    )
    print(secret, flush=True)


async def _admin(args: argparse.Namespace, db_url: str) -> int:
    from coach.monitor import accounts
    from coach.monitor.db import open_database

    db = await open_database(db_url)
    try:
        cmd = args.admin_command
        from coach.cli import monitor_clinic

        if cmd in monitor_clinic.COMMANDS:
            return await monitor_clinic.run(args, db)
        if cmd == "audit" and args.action != "show":
            return await monitor_clinic.run_audit(args, db)
        if cmd == "add-therapist":
            t = await accounts.create_therapist(
                db, args.username, args.name, _read_password(args), is_admin=args.admin
            )
            print(f"therapist {t.username} created", file=sys.stderr)
        elif cmd == "set-password":
            await accounts.set_password(db, args.username, _read_password(args))
            print(f"password of {args.username} changed; their sessions ended", file=sys.stderr)
        elif cmd == "add-patient":
            secret = await accounts.create_patient(
                db, args.patient_id, args.name, sessions_per_day=args.sessions_per_day
            )
            _show_secret(args.patient_id, secret, args.secret_file)
        elif cmd == "new-secret":
            _show_secret(
                args.patient_id, await accounts.rotate_enrolment_secret(db, args.patient_id), args.secret_file
            )
        elif cmd == "import-secret":
            from coach.mqtt.secrets import read_secret_file

            await accounts.set_enrolment_secret(
                db, args.patient_id, read_secret_file(args.secret_file).reveal()
            )
            print(f"enrolment secret for {args.patient_id} imported", file=sys.stderr)
        elif cmd in ("assign", "unassign"):
            await accounts.assign(db, args.username, args.patient_id, remove=cmd == "unassign")
            print(
                f"{cmd}ed {args.patient_id} {'to' if cmd == 'assign' else 'from'} {args.username}",
                file=sys.stderr,
            )
        elif cmd == "list":
            _print_accounts(await accounts.list_accounts(db))
        elif cmd == "quarantine":
            await _print_quarantine(db, args.limit, args.payload)
        elif cmd == "audit":
            from datetime import datetime

            for e in reversed(await accounts.audit_entries(db, patient_id=args.patient, limit=args.limit)):
                when = datetime.fromtimestamp(e["at_unix_s"]).astimezone().isoformat(timespec="seconds")
                patient = e["patient_id"] or "-"
                print(f"{when}  {e['actor']:<16} {e['action']:<18} {patient:<12} {e['detail'] or ''}")
        return 0
    finally:
        await db.close()


async def _print_quarantine(db: Any, limit: int, with_payload: bool) -> None:
    from datetime import datetime

    from coach.monitor.quarantine import entries, printable

    rows = await entries(db, limit)
    if not rows:
        print("the quarantine is empty", file=sys.stderr)
    for e in reversed(rows):
        when = datetime.fromtimestamp(e["received_unix_s"]).astimezone().isoformat(timespec="seconds")
        print(f"{e['id']:>6}  {when}  {e['topic']}  ({e['payload_bytes']} bytes)\n        {e['reason']}")
        if with_payload:
            text = e["payload"][:2048].decode("utf-8", "backslashreplace")
            print(f"        payload: {printable(text, 2048)}")


def _print_accounts(data: dict[str, list[dict[str, Any]]]) -> None:
    print("therapists:")
    for t in data["therapists"]:
        print(f"  {t['username']:<20} {t['display_name']}{'  (admin)' if t['is_admin'] else ''}")
    print("patients:")
    for p in data["patients"]:
        print(f"  {p['patient_id']:<20} {p['display_name']}  ({p['sessions_per_day']}/day)")
    print("assignments:")
    for a in data["assignments"]:
        print(f"  {a['username']:<20} -> {a['patient_id']}")


def run(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: `coach --help` loads this module
    import logging

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    db_url = args.db or default_db_url()
    if args.admin_command:
        return asyncio.run(_admin(args, db_url))
    from coach.monitor.alerts import AlertConfig
    from coach.monitor.server import MonitorConfig, check_language, parse_listen, serve

    host, port = parse_listen(args.listen)
    check_language(args.language)
    cfg = MonitorConfig(
        broker_url=args.broker,
        db_url=db_url,
        host=host,
        port=port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        shared_group=args.shared_group,
        client_id=args.client_id,
        mqtt_inflight=args.mqtt_inflight,
        receipt_interval_s=args.receipt_interval_s,
        ingest=not args.no_ingest,
        alerts=AlertConfig(hand_low_s=args.hand_low_alert_s),
        language=args.language,
    )
    asyncio.run(serve(cfg))
    return 0
