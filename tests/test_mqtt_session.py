"""A live session over a real broker (a private Mosquitto and the embedded amqtt broker): retained
targets read at the start, signed commands through the broker with their cmd_result, every event at
the therapist's side in order, retained summary and status, and the coach process killed mid-session
and restarted with its spool delivered."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from coach.clock import format_utc, utc_now
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.commands import command_envelope, sign_command
from coach.mqtt.topics import PatientTopics
from tests.fixtures.embedded import EmbeddedBrokerProcess
from tests.fixtures.live import SECRET, contract_problems, make_session, read_events, simulated_blocks
from tests.fixtures.mosquitto import MosquittoFactory
from tests.fixtures.mqtt_sink import GapProxy, Sink

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

TOPICS = PatientTopics("p-0001")


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, mosquitto_factory: MosquittoFactory) -> Iterator[Any]:
    if request.param == "mosquitto":
        yield mosquitto_factory()
    else:
        embedded = EmbeddedBrokerProcess().start()
        yield embedded
        embedded.stop()


@pytest.fixture
async def sink(broker: Any) -> AsyncIterator[Sink]:
    s = await Sink(
        broker.host, broker.port, f"coach/v1/{TOPICS.patient}/#", client_id="therapist-sink"
    ).start()
    yield s
    await s.stop()


def _signed(doc: dict[str, Any]) -> bytes:
    return json.dumps(sign_command(doc, SECRET)).encode()


def _cmd(cmd: str, cmd_id: str, args: dict[str, Any] | None = None) -> bytes:
    return _signed(command_envelope(cmd_id, cmd, args or {}, by="t-01", session="next"))


async def test_live_session_over_a_broker(broker: Any, sink: Sink, tmp_path: Path) -> None:
    # The therapist set a 60 s target before the session (retained, signed).
    targets = {"target_duration_s": 60, "issued_at": format_utc(utc_now()), "by": "t-01"}
    async with aiomqtt.Client(broker.host, broker.port, identifier="therapist", username="t-01") as therapist:
        await therapist.publish(TOPICS.targets, _signed(targets), qos=1, retain=True)
    session = make_session(
        tmp_path,
        simulated_blocks(duration_s=120.0),
        broker=BrokerSettings.from_url(broker.url),
        target_duration_s=90.0,
        # Slow enough that the therapist's commands reach the coach while it is active, even on a busy
        # machine (at 40x the active minute lasts 1.5 s: less than a loaded broker's round trip).
        speed=10.0,
    )
    events_topic = TOPICS.events(session.session_id)

    async def therapist_commands() -> None:
        # Connected before the session starts: a new connection on a busy machine can take seconds.
        async with aiomqtt.Client(broker.host, broker.port, identifier="therapist", username="t-01") as c:
            for _ in range(6000):
                if session.phase == "active" and session.clock.now_s() > 18.0:
                    break
                await asyncio.sleep(0.01)
            await c.publish(TOPICS.cmd, b'{"id": "c-junk", "cmd": "pause"}', qos=1)
            await c.publish(TOPICS.cmd, _cmd("pause", "c-pause"), qos=1)
            await asyncio.sleep(0.1)
            await c.publish(TOPICS.cmd, _cmd("resume", "c-resume"), qos=1)

    helper = asyncio.create_task(therapist_commands())
    result = await session.run()
    await helper
    assert result.spool_empty
    assert 60.0 <= result.summary["active_s"] <= 66.0  # the retained target, not the configured 90 s
    sent = read_events(result.events_path)
    assert contract_problems(result.events_path) == []
    assert await sink.wait_for(lambda s: len(s.events(events_topic)) >= len(sent), 10)
    delivered = sink.events(events_topic)
    # every event, in order, none twice, each with its delivery number (on MQTT only)
    assert [e.pop("seq") for e in delivered] == list(range(1, len(sent) + 1))
    assert delivered == sent
    results = {r["cmd_id"]: r for r in (json.loads(a.payload) for a in sink.raw(TOPICS.cmd_result))}
    assert results["c-junk"]["ok"] is False and results["c-junk"]["reason"].startswith("malformed")
    assert results["c-pause"] == {"cmd_id": "c-pause", "ok": True, "reason": "paused"}
    assert results["c-resume"]["ok"] is True
    reasons = [e["reason"] for e in sent if e["type"] == "state"]
    assert "paused by command" in reasons and "resumed by command" in reasons
    # Said on the way out (graceful disconnect), right after the summary.
    assert await sink.wait_for(
        lambda s: json.loads(s.raw(TOPICS.status)[-1].payload)["state"] == "offline", 5
    )
    statuses = [json.loads(a.payload) for a in sink.raw(TOPICS.status)]
    assert {"screening", "calibrating", "active", "finished"} <= {s["state"] for s in statuses}
    assert set(statuses[-2]["sensors"]) == {"treated"}
    # Each sensor's device profile is in the status (the monitor's FHIR Device names it), also in the
    # coach's own offline status at the end, where every link is down.
    assert statuses[-2]["sensors"]["treated"]["device"] == "simulated"
    assert statuses[-1]["sensors"]["treated"]["link"] == "down"
    assert statuses[-1]["sensors"]["treated"]["device"] == "simulated"
    # The retained summary waits for a therapist who connects later.
    async with aiomqtt.Client(broker.host, broker.port, identifier="late", username="late") as late:
        await late.subscribe(TOPICS.summary(session.session_id), qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(late.messages))
    assert json.loads(message.payload)["id"] == result.summary["id"]
    assert message.retain


def _config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "session.toml"
    cfg.write_text(
        'patient = "p-0001"\narm = "right"\ntarget_duration_min = 1\n'
        '[[devices]]\nrole = "treated"\nprofile = "metamotion"\naddress = "sim"\n'
        f'[broker]\nurl = "{url}"\n[simulation]\nseed = 3\n'
    )
    return cfg


def _coach_run(cfg: Path, env: dict[str, str], speed: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "coach", "run", "--config", str(cfg), "--simulated", "--speed", str(speed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


async def test_killed_coach_process_delivers_its_spool_when_restarted(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    sink = await Sink(
        broker.host, broker.port, f"coach/v1/{TOPICS.patient}/#", client_id="therapist-sink"
    ).start()
    proxy = await GapProxy(broker.host, broker.port).start()
    await proxy.cut()  # the coach is offline from the start: everything goes to its spool
    env = {**os.environ, "COACH_DATA_DIR": str(tmp_path / "data"), "COACH_ENROLMENT_SECRET": SECRET}
    env.pop("COACH_MQTT_USERNAME", None)
    cfg = _config(tmp_path, f"mqtt://127.0.0.1:{proxy.port}")
    answers = b"n\n" * 6 + b"\n\n"  # screening "no", then no pain/swelling scores
    first = _coach_run(cfg, env, speed=10)
    assert first.stdin is not None
    first.stdin.write(answers)
    first.stdin.flush()
    sessions = tmp_path / "data" / "patients" / "p-0001" / "sessions"
    killed: list[dict[str, Any]] = []
    files: list[Path] = []
    # Waits for progress, it does not time it: at load 30 a new coach process took over 35 s to write
    # its first 25 events (start-up, screening and calibration at 10x), so the bound is generous.
    deadline = asyncio.get_running_loop().time() + 180.0
    while asyncio.get_running_loop().time() < deadline:
        files = list(sessions.glob("*.events.jsonl")) if sessions.exists() else []
        if files and len(killed := read_events(files[0])) > 25:
            break
        await asyncio.sleep(0.05)
    assert files, "the coach wrote no events file within 180 s"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    for stream in (first.stdin, first.stderr):
        if stream is not None:
            stream.close()
    killed = read_events(files[0])  # everything listed here was in the spool before it was written
    killed_session = files[0].name.split(".")[0]
    assert len(killed) > 25 and killed[-1]["type"] != "summary", "the session must die mid-way"
    assert sink.events(TOPICS.events(killed_session)) == []
    await proxy.restore()
    second = _coach_run(cfg, env, speed=4)  # its own session is not the point: only what it sends first
    assert second.stdin is not None
    second.stdin.write(answers)
    second.stdin.flush()
    topic = TOPICS.events(killed_session)
    arrived = await sink.wait_for(lambda s: len(s.events(topic)) >= len(killed), 60)
    second.send_signal(signal.SIGINT)
    _, err = await asyncio.get_running_loop().run_in_executor(None, second.communicate)
    assert arrived, err.decode()[-2000:]
    delivered = sink.events(topic)
    # the dead session's spooled events, in order, once, each with its delivery number (MQTT only)
    assert [e.pop("seq") for e in delivered[: len(killed)]] == list(range(1, len(killed) + 1))
    assert delivered[: len(killed)] == killed
    await sink.stop()
    await proxy.close()
