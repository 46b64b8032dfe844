"""How the coach reaches a broker (URL, TLS, credentials), and Mosquitto configuration for a clinic.

Client side: :class:`BrokerSettings` from an ``mqtt://`` or ``mqtts://`` URL plus TLS file paths; the
username and password come only from the environment (``COACH_MQTT_USERNAME``,
``COACH_MQTT_PASSWORD`` or ``COACH_MQTT_PASSWORD_FILE`` naming a 0600 file), never from the command
line, a URL or a log line.

Broker side: :func:`render_acl` and :func:`render_mosquitto_conf` write a Mosquitto 2 configuration in
which a patient's credentials publish only under its own id and a therapist reads only its assigned
patients; :func:`write_broker_files` writes them with a hashed password file (``mosquitto_passwd``).
"""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import ssl
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from coach.errors import ConfigError
from coach.ids import check_id
from coach.mqtt.secrets import Secret, read_secret_file, secret_from, write_secret_file
from coach.mqtt.topics import PREFIX

USERNAME_ENV = "COACH_MQTT_USERNAME"
PASSWORD_ENV = "COACH_MQTT_PASSWORD"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``password`` is a :class:`Secret` (never printed)."""

    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        username_env: str = USERNAME_ENV,
        password_env: str = PASSWORD_ENV,
    ) -> BrokerSettings:
        """Parse ``mqtt://host[:port]`` or ``mqtts://host[:port]``; credentials come from the environment."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ConfigError(f"broker URL {redact_url(url)!r}: scheme must be mqtt:// or mqtts://")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                f"broker URL {redact_url(url)!r}: credentials do not belong in a URL (command lines and "
                f"logs show it); set ${username_env} and ${password_env} (or ${password_env}_FILE)"
            )
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} names no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"broker URL {url!r}: only scheme, host and port are allowed")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ConfigError(f"broker URL {url!r}: bad port") from None
        tls = parts.scheme == "mqtts"
        if not tls and (cert_file or ca_file):
            raise ConfigError(
                f"broker URL {url!r}: TLS files are given but the URL is mqtt:// (use mqtts://)"
            )
        if (cert_file is None) != (key_file is None):
            raise ConfigError("a client certificate needs both cert_file and key_file")
        for label, p in (("CA file", ca_file), ("client certificate", cert_file)):
            if p is not None and not Path(p).expanduser().is_file():
                raise ConfigError(f"{label} {p} does not exist")
        if key_file is not None:
            read_secret_file(key_file)  # exists and is private (0600)
        username = os.environ.get(username_env) or None
        password = secret_from(password_env)
        if password is not None and username is None:
            raise ConfigError(f"${password_env} is set but ${username_env} is not")
        return cls(
            parts.hostname,
            port,
            tls,
            None if ca_file is None else Path(ca_file).expanduser(),
            None if cert_file is None else Path(cert_file).expanduser(),
            None if key_file is None else Path(key_file).expanduser(),
            username,
            password,
        )

    @property
    def url(self) -> str:
        """The URL without credentials (safe to print)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS ≥ 1.2 with certificate and host name checks; the system CAs when no CA file is given."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=None if self.ca_file is None else str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`aiomqtt.Client` (host, port, credentials, TLS)."""
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        if self.username is not None:
            kwargs["username"] = self.username
        if self.password is not None:
            kwargs["password"] = self.password.reveal()
        ctx = self.ssl_context()
        if ctx is not None:
            kwargs["tls_context"] = ctx
        return kwargs


def redact_url(url: str) -> str:
    """``url`` with any user info replaced, for error messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


# -- broker side: roster, ACL, mosquitto.conf --------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    """Who may use the broker: patients, therapists with their assigned patients, monitor services."""

    patients: tuple[str, ...]
    therapists: dict[str, tuple[str, ...]]
    monitors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names: dict[str, str] = {}
        for kind, ids in (
            ("patient", self.patients),
            ("therapist", tuple(self.therapists)),
            ("monitor", self.monitors),
        ):
            for i in ids:
                check_id(i, f"{kind} id")
                if i in names:
                    raise ConfigError(
                        f"id {i!r} is used twice ({names[i]} and {kind}): usernames must be unique"
                    )
                names[i] = kind
        for t, assigned in self.therapists.items():
            for p in assigned:
                if p not in self.patients:
                    raise ConfigError(f"therapist {t!r} is assigned unknown patient {p!r}")

    @classmethod
    def load(cls, path: str | Path) -> Roster:
        """Read a roster TOML file::

        patients = ["p-0001", "p-0002"]
        monitors = ["monitor-1"]          # optional: services that read every patient
        [therapists]
        t-01 = ["p-0001"]
        """
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"roster {p}: {exc}") from None
        unknown = sorted(set(doc) - {"patients", "therapists", "monitors"})
        if unknown:
            raise ConfigError(f"roster {p}: unknown key(s) {', '.join(unknown)}")
        patients = doc.get("patients", [])
        therapists = doc.get("therapists", {})
        monitors = doc.get("monitors", [])
        if not isinstance(patients, list) or not all(isinstance(x, str) for x in patients):
            raise ConfigError(f"roster {p}: patients must be a list of ids")
        if not isinstance(monitors, list) or not all(isinstance(x, str) for x in monitors):
            raise ConfigError(f"roster {p}: monitors must be a list of ids")
        if not isinstance(therapists, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in therapists.values()
        ):
            raise ConfigError(f"roster {p}: [therapists] maps each therapist id to a list of patient ids")
        return cls(tuple(patients), {k: tuple(v) for k, v in therapists.items()}, tuple(monitors))


def render_acl(roster: Roster) -> str:
    """A Mosquitto ACL: patients write only under their own id, therapists read only assigned patients."""
    lines = [
        "# Mosquitto ACL for retro-coach (written by `coach broker-config`).",
        "# Patients publish only under their own id and read only their commands and targets;",
        "# therapists read only their assigned patients and send them commands and targets;",
        "# monitor services read every patient and write the receipts (stored) the coaches wait for.",
        "# Anything not granted here is denied.",
        "",
    ]
    for p in roster.patients:
        base = f"{PREFIX}/{p}"
        lines += [
            f"user {p}",
            f"topic write {base}/status",
            f"topic write {base}/cmd_result",
            f"topic write {base}/+/events",
            f"topic write {base}/+/summary",
            f"topic read {base}/cmd",
            f"topic read {base}/targets",
            f"topic read {base}/stored",
            "",
        ]
    for t, assigned in roster.therapists.items():
        lines.append(f"user {t}")
        for p in assigned:
            base = f"{PREFIX}/{p}"
            lines += [f"topic read {base}/#", f"topic write {base}/cmd", f"topic write {base}/targets"]
        lines.append("")
    for m in roster.monitors:
        lines += [
            f"user {m}",
            f"topic read {PREFIX}/#",
            f"topic write {PREFIX}/+/cmd",
            f"topic write {PREFIX}/+/targets",
            f"topic write {PREFIX}/+/stored",
            "",
        ]
    return "\n".join(lines)


@dataclass(frozen=True)
class ListenerTls:
    """Server-side TLS files for the Mosquitto listener."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_client_certificate: bool = False


def render_mosquitto_conf(
    *,
    port: int,
    password_file: Path,
    acl_file: Path,
    persistence_dir: Path | None,
    bind: str | None = None,
    tls: ListenerTls | None = None,
    run_as_root: bool = False,
    log_dest: str = "stderr",
) -> str:
    """A Mosquitto 2 configuration: one listener, no anonymous access, password file and ACL,
    persistence so queued QoS 1 messages and persistent sessions usually survive a broker restart
    (a convenience: the coaches' receipts make the record complete without it, docs/mqtt.md)."""
    lines = [
        "# Mosquitto configuration for retro-coach (written by `coach broker-config`).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        # A buffer for a monitor that is away: the record's completeness does not rest on it (the
        # coaches send again what no receipt covers), only how much is sent twice.
        "max_queued_messages 100000",
        f"log_dest {log_dest}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    if run_as_root:
        lines.append("user root")
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir}/", "autosave_interval 30"]
    lines.append(f"listener {port}" + (f" {bind}" if bind else ""))
    if tls is not None:
        lines += [
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if tls.require_client_certificate else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def hash_password_file(plain_path: Path) -> None:
    """Hash a ``user:password`` file in place with ``mosquitto_passwd -U`` (no password on a command line)."""
    exe = shutil.which("mosquitto_passwd") or (
        "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
    )
    if exe is None:
        raise ConfigError("mosquitto_passwd not found (install the mosquitto package)")
    result = subprocess.run([exe, "-U", str(plain_path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd -U failed: {result.stderr.strip() or result.stdout.strip()}")


@dataclass(frozen=True)
class BrokerFiles:
    """What :func:`write_broker_files` wrote."""

    conf: Path
    acl: Path
    passwords: Path
    credentials_dir: Path
    enrolment_dir: Path
    new_users: tuple[str, ...]


def write_broker_files(
    roster: Roster,
    out_dir: Path,
    *,
    port: int = 8883,
    install_dir: Path | None = None,
    persistence_dir: Path | None = Path("/var/lib/mosquitto"),
    tls: ListenerTls | None = None,
    bind: str | None = None,
    run_as_root: bool = False,
    rotate: bool = False,
    log_dest: str = "stderr",
) -> BrokerFiles:
    """Write ``mosquitto.conf``, ``acl``, a hashed ``passwords`` file, per-user credentials and
    per-patient enrolment secrets (all secrets mode 0600) into ``out_dir``.

    Existing credentials and enrolment secrets are kept unless ``rotate``; new users get fresh
    random passwords (32 bytes of ``secrets.token_urlsafe``). ``install_dir`` is where the files
    will live on the broker host (the paths inside ``mosquitto.conf``); defaults to ``out_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    where = install_dir if install_dir is not None else out_dir.resolve()
    cred_dir = out_dir / "credentials"
    enrol_dir = out_dir / "enrolment"
    users = list(roster.patients) + list(roster.therapists) + list(roster.monitors)
    new_users: list[str] = []
    plain_lines = []
    for user in users:
        cred = cred_dir / f"{user}.password"
        if cred.exists() and not rotate:
            password = read_secret_file(cred).reveal()
        else:
            password = pysecrets.token_urlsafe(32)
            write_secret_file(cred, password)
            new_users.append(user)
        plain_lines.append(f"{user}:{password}")
    for p in roster.patients:
        secret_path = enrol_dir / f"{p}.secret"
        if rotate or not secret_path.exists():
            write_secret_file(secret_path, pysecrets.token_hex(32))
    passwords = out_dir / "passwords"
    tmp = out_dir / ".passwords.tmp"
    write_secret_file(tmp, "\n".join(plain_lines))
    try:
        hash_password_file(tmp)
        tmp.replace(passwords)
    finally:
        tmp.unlink(missing_ok=True)
    acl = out_dir / "acl"
    acl.write_text(render_acl(roster), encoding="utf-8")
    acl.chmod(0o640)
    conf = out_dir / "mosquitto.conf"
    conf.write_text(
        render_mosquitto_conf(
            port=port,
            password_file=where / "passwords",
            acl_file=where / "acl",
            persistence_dir=persistence_dir,
            bind=bind,
            tls=tls,
            run_as_root=run_as_root,
            log_dest=log_dest,
        ),
        encoding="utf-8",
    )
    return BrokerFiles(conf, acl, passwords, cred_dir, enrol_dir, tuple(new_users))
