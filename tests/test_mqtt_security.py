"""Broker security with a real Mosquitto running the files `coach broker-config` writes: TLS,
password authentication (wrong credentials refused), client certificates, and the ACL (a patient
publishes only under its own id; a therapist reads only assigned patients)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from coach.cli import main as coach_main
from coach.errors import ConfigError
from coach.mqtt.broker_config import BrokerSettings, ListenerTls, Roster, render_acl, write_broker_files
from coach.mqtt.publisher import Publisher
from coach.mqtt.secrets import read_secret_file
from coach.mqtt.spool import Spool
from coach.mqtt.topics import PatientTopics
from tests.fixtures.mosquitto import MosquittoConfig, MosquittoFactory, TlsFiles, free_port, make_test_pki

pytestmark = pytest.mark.mqtt

ROSTER = Roster(("p-0001", "p-0002"), {"t-01": ("p-0001",), "t-02": ("p-0002",)}, ("monitor-1",))


def _tls_client(pki: TlsFiles, user: str, creds: Path, **over: Any) -> aiomqtt.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    kwargs: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "username": user,
        "password": read_secret_file(creds / f"{user}.password").reveal(),
        "tls_context": ctx,
        "identifier": f"test-{user}",
        "timeout": 5,
    }
    kwargs.update(over)
    return aiomqtt.Client(**kwargs)


@pytest.fixture
def clinic(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> tuple[Any, Path, TlsFiles]:
    pki = make_test_pki(tmp_path / "pki", clients=("p-0001",))
    port = free_port()
    files = write_broker_files(
        ROSTER,
        tmp_path / "broker",
        port=port,
        bind="127.0.0.1",
        persistence_dir=tmp_path / "persist",
        tls=ListenerTls(pki.ca_cert, pki.server_cert, pki.server_key),
        run_as_root=os.geteuid() == 0,
        log_dest=f"file {tmp_path / 'mosquitto.log'}",
    )
    (tmp_path / "persist").mkdir()
    broker = mosquitto_factory(MosquittoConfig(raw=files.conf.read_text()), port=port)
    return broker, files.credentials_dir, pki


def test_broker_config_writes_private_credentials_and_keeps_them(tmp_path: Path) -> None:
    roster_file = tmp_path / "roster.toml"
    roster_file.write_text('patients = ["p-0001"]\nmonitors = ["m-1"]\n[therapists]\nt-01 = ["p-0001"]\n')
    out = tmp_path / "out"
    assert coach_main(["broker-config", "--roster", str(roster_file), "-o", str(out), "--no-tls"]) == 0
    first = read_secret_file(out / "credentials" / "p-0001.password").reveal()
    for secret in [*out.glob("credentials/*"), *out.glob("enrolment/*"), out / "passwords"]:
        assert secret.stat().st_mode & 0o077 == 0, secret
    hashed = (out / "passwords").read_text()
    assert first not in hashed and hashed.startswith(("p-0001:$7$", "p-0001:$6$"))
    assert coach_main(["broker-config", "--roster", str(roster_file), "-o", str(out), "--no-tls"]) == 0
    assert read_secret_file(out / "credentials" / "p-0001.password").reveal() == first
    # A TLS listener needs its files, and a therapist may only be assigned known patients.
    assert coach_main(["broker-config", "--roster", str(roster_file), "-o", str(out)]) == 2
    with pytest.raises(ConfigError, match="unknown patient"):
        Roster(("p-1",), {"t-1": ("p-2",)})


def test_acl_text_grants_patients_only_their_own_topics() -> None:
    acl = render_acl(ROSTER)
    block = acl.split("user p-0001\n")[1].split("\n\n")[0]
    assert all("coach/v1/p-0001/" in line for line in block.splitlines())
    assert "topic read coach/v1/p-0001/#" in acl.split("user t-01\n")[1].split("\n\n")[0]
    assert "p-0002" not in acl.split("user t-01\n")[1].split("\n\n")[0]


# paho-mqtt 2.2 does not close the socket of a failed TLS handshake (the untrusted-CA case below);
# the garbage collector does, with a ResourceWarning that is paho's, not ours.
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
async def test_tls_password_auth_and_acl_on_mosquitto(
    clinic: tuple[Any, Path, TlsFiles], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, creds, pki = clinic
    p1, p2 = PatientTopics("p-0001"), PatientTopics("p-0002")
    received: dict[str, list[tuple[str, bytes]]] = {"t-01": [], "t-02": []}

    async def listen(user: str, topic_filter: str, ready: asyncio.Event) -> None:
        async with _tls_client(pki, user, creds, port=broker.port) as c:
            await c.subscribe(topic_filter, qos=1)
            ready.set()
            async for m in c.messages:
                received[user].append((str(m.topic), m.payload))

    ready = [asyncio.Event(), asyncio.Event()]
    listeners = [
        asyncio.create_task(listen("t-01", "coach/v1/#", ready[0])),  # asks for everything ...
        asyncio.create_task(listen("t-02", "coach/v1/p-0001/#", ready[1])),  # ... or for someone else's
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)

    # The coach publishes with credentials from the environment, over TLS with the clinic's CA.
    monkeypatch.setenv("COACH_MQTT_USERNAME", "p-0001")
    monkeypatch.setenv("COACH_MQTT_PASSWORD_FILE", str(creds / "p-0001.password"))
    settings = BrokerSettings.from_url(f"mqtts://127.0.0.1:{broker.port}", ca_file=pki.ca_cert)
    assert settings.password is not None
    assert settings.password.reveal() not in repr(settings) + str(settings.password)
    spool = Spool(tmp_path / "spool.sqlite3")
    publisher = Publisher(
        settings, spool, client_id="coach-p-0001", will=(p1.status, b'{"state": "offline"}')
    )
    publisher.start()
    publisher.enqueue(p1.events("s-1"), json.dumps({"type": "cue", "t": 1.0, "id": "cue-1"}).encode())
    assert await publisher.wait_drained(10)
    await publisher.stop()
    spool.close()

    # Patient 2's valid credentials cannot write under patient 1 (Mosquitto drops it silently) ...
    async with _tls_client(pki, "p-0002", creds, port=broker.port) as forger:
        await forger.publish(p1.events("s-1"), b'{"type": "cue", "t": 2.0, "id": "forged"}', qos=1)
        await forger.publish(p2.events("s-9"), b'{"type": "cue", "t": 2.0, "id": "own-1"}', qos=1)
        # ... nor read patient 1's topics.
        await forger.subscribe(p1.events("s-1"), qos=1)
    await asyncio.sleep(0.5)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)

    t01 = [(t, json.loads(p)["id"]) for t, p in received["t-01"]]
    assert t01 == [(p1.events("s-1"), "cue-1")]  # its patient's event; neither the forgery nor p-0002's
    assert received["t-02"] == []  # not assigned to p-0001: sees nothing of it

    # Wrong password, unknown user, no credentials, or a CA the client does not trust: refused.
    for bad in (
        {"password": "wrong"},
        {"username": "nobody"},
        {"username": None, "password": None},
    ):
        with pytest.raises(aiomqtt.MqttError):
            async with _tls_client(pki, "p-0001", creds, port=broker.port, **bad):
                pass
    with pytest.raises(aiomqtt.MqttError):
        async with _tls_client(
            pki, "p-0001", creds, port=broker.port, tls_context=ssl.create_default_context()
        ):
            pass


async def test_client_certificate_required(
    tmp_path: Path, mosquitto_factory: MosquittoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = make_test_pki(tmp_path / "pki", clients=("p-0001",))
    broker = mosquitto_factory(MosquittoConfig(tls=pki, require_certificate=True, allow_anonymous=True))
    cert, key = pki.client("p-0001")
    monkeypatch.delenv("COACH_MQTT_USERNAME", raising=False)
    monkeypatch.delenv("COACH_MQTT_PASSWORD", raising=False)
    with_cert = BrokerSettings.from_url(broker.url, ca_file=pki.ca_cert, cert_file=cert, key_file=key)
    async with aiomqtt.Client(**with_cert.client_kwargs(), identifier="with-cert", timeout=5) as c:
        await c.publish("coach/v1/p-0001/status", b"{}", qos=1)
    without = BrokerSettings.from_url(broker.url, ca_file=pki.ca_cert)
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(**without.client_kwargs(), identifier="no-cert", timeout=2):
            pass


def test_credentials_never_come_from_a_url_and_key_files_must_be_private(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="credentials do not belong in a URL") as info:
        BrokerSettings.from_url("mqtts://p-0001:hunter2@broker.example:8883")
    assert "hunter2" not in str(info.value)
    key = tmp_path / "client.key"
    key.write_text("x")
    key.chmod(0o644)
    (tmp_path / "client.crt").write_text("x")
    with pytest.raises(ConfigError, match="chmod 600"):
        BrokerSettings.from_url("mqtts://h", cert_file=tmp_path / "client.crt", key_file=key)


def test_shipped_templates_match_what_broker_config_writes() -> None:
    from coach.mqtt.broker_config import render_mosquitto_conf

    templates = Path(__file__).resolve().parents[1] / "coach" / "mqtt" / "templates"
    roster = Roster(("p-0001", "p-0002"), {"t-01": ("p-0001",), "t-02": ("p-0001", "p-0002")}, ("monitor-1",))
    acl = (templates / "acl.conf").read_text().split("\n", 1)[1]
    assert acl == render_acl(roster)
    etc = Path("/etc/mosquitto/retro-coach")
    conf = render_mosquitto_conf(
        port=8883,
        password_file=etc / "passwords",
        acl_file=etc / "acl",
        persistence_dir=Path("/var/lib/mosquitto"),
        tls=ListenerTls(etc / "ca.crt", etc / "server.crt", etc / "server.key"),
    )
    assert (templates / "mosquitto.conf").read_text().split("\n", 1)[1] == conf
