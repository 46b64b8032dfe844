"""``coach broker-config``: write a Mosquitto configuration, ACL and password file for a clinic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write a Mosquitto config, ACL and hashed password file for a roster of patients and therapists"

EPILOG = """\
The roster is a TOML file of pseudonymous ids:

    patients = ["p-0001", "p-0002"]
    monitors = ["monitor-1"]      # services that read every patient (coach monitor)
    [therapists]
    t-01 = ["p-0001"]
    t-02 = ["p-0001", "p-0002"]

Written to OUT_DIR: mosquitto.conf, acl, passwords (hashed by mosquitto_passwd), credentials/<user>.password
and enrolment/<patient>.secret (mode 0600: hand each to its user, never by e-mail in clear). Existing
credentials are kept unless --rotate. Passwords are never printed. See docs/security.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--roster", required=True, type=Path, help="roster TOML (patients, therapists, monitors)"
    )
    parser.add_argument("-o", "--out-dir", required=True, type=Path, help="folder to write the files into")
    parser.add_argument("--port", type=int, default=8883, help="listener port (default 8883, MQTT over TLS)")
    parser.add_argument("--bind", default=None, help="listen address (default: all interfaces)")
    parser.add_argument(
        "--install-dir",
        type=Path,
        default=None,
        help="where the files will live on the broker host (paths inside mosquitto.conf; default OUT_DIR)",
    )
    parser.add_argument(
        "--persistence-dir",
        type=Path,
        default=Path("/var/lib/mosquitto"),
        help="Mosquitto persistence folder (default /var/lib/mosquitto)",
    )
    parser.add_argument("--ca-file", type=Path, help="CA certificate for the TLS listener")
    parser.add_argument("--cert-file", type=Path, help="server certificate for the TLS listener")
    parser.add_argument("--key-file", type=Path, help="server private key for the TLS listener")
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        help="clients must also present a certificate from the CA",
    )
    parser.add_argument(
        "--no-tls", action="store_true", help="plain MQTT listener (only behind a VPN or on loopback)"
    )
    parser.add_argument(
        "--rotate", action="store_true", help="new passwords and enrolment secrets for everyone"
    )


def run(args: argparse.Namespace) -> int:
    from coach.errors import ConfigError
    from coach.mqtt.broker_config import ListenerTls, Roster, write_broker_files

    roster = Roster.load(args.roster)
    tls_files = (args.ca_file, args.cert_file, args.key_file)
    if args.no_tls:
        if any(tls_files):
            raise ConfigError("--no-tls contradicts the TLS files given")
        tls = None
    else:
        if not all(tls_files):
            raise ConfigError("a TLS listener needs --ca-file, --cert-file and --key-file (or say --no-tls)")
        tls = ListenerTls(
            args.ca_file.resolve(),
            args.cert_file.resolve(),
            args.key_file.resolve(),
            args.require_client_cert,
        )
    files = write_broker_files(
        roster,
        args.out_dir,
        port=args.port,
        install_dir=args.install_dir,
        persistence_dir=args.persistence_dir,
        tls=tls,
        bind=args.bind,
        rotate=args.rotate,
    )
    print(f"wrote {files.conf}, {files.acl}, {files.passwords}", file=sys.stderr)
    print(
        f"credentials in {files.credentials_dir}/, enrolment secrets in {files.enrolment_dir}/",
        file=sys.stderr,
    )
    if files.new_users:
        print(f"new passwords for: {', '.join(files.new_users)}", file=sys.stderr)
    print(f"start with: mosquitto -c {files.conf}", file=sys.stderr)
    return 0
