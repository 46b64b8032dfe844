"""A patient's monitor data as a FHIR R4 transaction Bundle, built with ``fhir.resources``.

Models: ``fhir.resources.R4B`` (FHIR 4.3.0). fhir.resources 7+ ships R5 by default plus R4B and STU3,
no 4.0.1 package; R4B changed only the medication-definition, evidence and subscription resources,
so Patient, Device, Observation, Questionnaire(Response), CodeSystem and Bundle are R4's. The tests
also validate the output against the official R4 (4.0.1) JSON schema.

Contents (docs/monitor.md, *FHIR export*): one ``Patient`` (the pseudonymous id as an identifier, no
name or other identifying data), one ``Device`` per sensor role, one ``Observation`` per session with
a summary (components: strokes by direction, mean cadence, hand-raised and wrist-neutral shares;
value: the duration), a ``QuestionnaireResponse`` per session for the screening answers and one for
the pain and swelling ratings, the two ``Questionnaire`` resources they answer, and the product's
``CodeSystem``. Resource ids are name-based UUIDs (uuid5) of the patient and session ids, and every
entry is a ``PUT``, so loading the same export twice into a FHIR server updates rather than
duplicates.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.codesystem import CodeSystem, CodeSystemConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.device import Device, DeviceDeviceName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.questionnaire import Questionnaire, QuestionnaireItem, QuestionnaireItemAnswerOption
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from coach.contraindications import QUESTIONS
from coach.monitor.clinic import fhir_codes as fc
from coach.monitor.db import Database
from coach.monitor.views import self_reports

_NAMESPACE: Final = uuid.UUID("3f6c1a52-8d0e-5b7e-9a41-7e2f0c6d9b13")
FHIR_JSON: Final = "application/fhir+json"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(str(round(value, places)))


def _local(code: str) -> Coding:
    display = fc.LOCAL_CONCEPTS[code][0]
    return Coding(system=fc.LOCAL_SYSTEM, version=fc.LOCAL_SYSTEM_VERSION, code=code, display=display)


def _concept(coding: Coding, text: str | None = None) -> CodeableConcept:
    return CodeableConcept(coding=[coding], text=text or coding.display)


def _utc(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC).replace(microsecond=0)


def code_system() -> CodeSystem:
    return CodeSystem(
        id=_uuid("codesystem", fc.LOCAL_SYSTEM),
        url=fc.LOCAL_SYSTEM,
        version=fc.LOCAL_SYSTEM_VERSION,
        name="RetroCoachCodes",
        title="Retro Coach session measures and answers",
        status="active",
        content="complete",
        caseSensitive=True,
        concept=[
            CodeSystemConcept(code=code, display=display, definition=definition)
            for code, (display, definition) in fc.LOCAL_CONCEPTS.items()
        ],
    )


def screening_questionnaire() -> Questionnaire:
    no = Coding(system=fc.LOINC, code=fc.LOINC_NO[0], display=fc.LOINC_NO[1])
    return Questionnaire(
        id=_uuid("questionnaire", fc.SCREENING_QUESTIONNAIRE),
        url=fc.SCREENING_QUESTIONNAIRE,
        name="RetroCoachScreening",
        title="Contraindication screening before retrograde massage",
        status="active",
        item=[
            QuestionnaireItem(
                linkId=q.code,
                text=q.text,
                type="choice",
                required=True,
                answerOption=[
                    QuestionnaireItemAnswerOption(valueCoding=no),
                    QuestionnaireItemAnswerOption(valueCoding=_local("yes-or-unanswered")),
                ],
            )
            for q in QUESTIONS
        ],
    )


def self_report_questionnaire() -> Questionnaire:
    pain = Coding(system=fc.LOINC, code=fc.LOINC_PAIN_0_10[0], display=fc.LOINC_PAIN_0_10[1])
    return Questionnaire(
        id=_uuid("questionnaire", fc.SELF_REPORT_QUESTIONNAIRE),
        url=fc.SELF_REPORT_QUESTIONNAIRE,
        name="RetroCoachSelfReport",
        title="Pain and swelling after the session",
        status="active",
        item=[
            QuestionnaireItem(linkId="pain", code=[pain], text="Pain (0-10)", type="integer"),
            QuestionnaireItem(
                linkId="swelling", code=[_local("swelling-0-10")], text="Swelling (0-10)", type="integer"
            ),
        ],
    )


def _observation(
    patient_ref: str, device_ref: str | None, p: str, s: str, start: float, summary: dict[str, Any]
) -> Observation:
    duration: Any = summary.get("duration_s")
    components = [
        ObservationComponent(
            code=_concept(_local(code)),
            valueQuantity=Quantity(
                value=_decimal(float(summary[key]) * scale, 3), unit=unit, system=fc.UCUM, code=ucum
            ),
        )
        for key, code, ucum, unit, scale in fc.SESSION_COMPONENTS
        if isinstance(summary.get(key), int | float) and not isinstance(summary.get(key), bool)
    ]
    has_duration = isinstance(duration, int | float) and not isinstance(duration, bool)
    if has_duration:
        loinc = Coding(
            system=fc.LOINC, code=fc.LOINC_EXERCISE_DURATION[0], display=fc.LOINC_EXERCISE_DURATION[1]
        )
        seconds = Quantity(value=_decimal(float(duration), 1), unit="s", system=fc.UCUM, code="s")
        components.insert(0, ObservationComponent(code=_concept(loinc), valueQuantity=seconds))
    begin = _utc(start)
    return Observation(
        id=_uuid("observation", p, s),
        identifier=[Identifier(system=fc.SESSION_ID_SYSTEM, value=f"{p}/{s}")],
        status="final",
        category=[_concept(Coding(system=fc.OBSERVATION_CATEGORY, code="therapy", display="Therapy"))],
        code=_concept(_local("massage-session")),
        subject=Reference(reference=patient_ref),
        effectivePeriod=Period(
            start=begin, end=begin + timedelta(seconds=float(duration)) if has_duration else None
        ),
        device=Reference(reference=device_ref) if device_ref else None,
        component=components or None,
    )


def _screening_response(patient_ref: str, p: str, s: str, start: float, screening: dict[str, Any]) -> Any:
    blocked = {str(c) for c in screening.get("blocked_by") or []}
    no = Coding(system=fc.LOINC, code=fc.LOINC_NO[0], display=fc.LOINC_NO[1])
    return QuestionnaireResponse(
        id=_uuid("screening", p, s),
        identifier=Identifier(system=fc.SESSION_ID_SYSTEM, value=f"{p}/{s}/screening"),
        questionnaire=fc.SCREENING_QUESTIONNAIRE,
        status="completed",
        subject=Reference(reference=patient_ref),
        authored=_utc(start),
        item=[
            QuestionnaireResponseItem(
                linkId=q.code,
                text=q.text,
                answer=[
                    QuestionnaireResponseItemAnswer(
                        valueCoding=_local("yes-or-unanswered") if q.code in blocked else no
                    )
                ],
            )
            for q in QUESTIONS
        ],
    )


def _rating_response(patient_ref: str, p: str, report: dict[str, Any]) -> QuestionnaireResponse:
    items = [
        QuestionnaireResponseItem(
            linkId=key, answer=[QuestionnaireResponseItemAnswer(valueInteger=int(report[key]))]
        )
        for key in ("pain", "swelling")
        if isinstance(report.get(key), int | float)
    ]
    s = str(report["session_id"])
    return QuestionnaireResponse(
        id=_uuid("self-report", p, s),
        identifier=Identifier(system=fc.SESSION_ID_SYSTEM, value=f"{p}/{s}/self-report"),
        questionnaire=fc.SELF_REPORT_QUESTIONNAIRE,
        status="completed",
        subject=Reference(reference=patient_ref),
        authored=_utc(float(report["unix_s"])),
        item=items,
    )


async def _sensor_roles(db: Database, p: str) -> dict[str, str | None]:
    """Sensor roles seen for the patient, with the device profile where the coach reported one."""
    roles: dict[str, str | None] = {"treated": None}
    status = await db.fetchone("SELECT payload FROM statuses WHERE patient_id = ?", (p,))
    if status is not None:
        for role, info in (json.loads(status["payload"]).get("sensors") or {}).items():
            if isinstance(info, dict):
                device = info.get("device") or info.get("profile")
                roles[str(role)] = str(device) if device else roles.get(str(role))
    rows = await db.fetchall(
        "SELECT DISTINCT payload FROM events WHERE patient_id = ? AND type = 'stroke' LIMIT 2000", (p,)
    )
    for r in rows:
        role = json.loads(r["payload"]).get("sensor")
        if isinstance(role, str) and role not in roles:
            roles[role] = None
    return {r: roles[r] for r in sorted(roles, key=lambda r: (r != "treated", r))}


def _device(patient_ref: str, p: str, role: str, profile: str | None) -> Device:
    code = f"sensor-{role}"
    kind = _concept(_local(code)) if code in fc.LOCAL_CONCEPTS else CodeableConcept(text=f"IMU ({role})")
    return Device(
        id=_uuid("device", p, role),
        identifier=[Identifier(system=fc.SENSOR_ID_SYSTEM, value=f"{p}/{role}")],
        status="active",
        deviceName=[DeviceDeviceName(name=profile or "IMU (model not reported)", type="model-name")],
        type=kind,
        patient=Reference(reference=patient_ref),
    )


def _entry(resource: Resource, full_id: str) -> BundleEntry:
    kind = resource.get_resource_type()
    return BundleEntry(
        fullUrl=f"urn:uuid:{full_id}",
        resource=resource,
        request=BundleEntryRequest(method="PUT", url=f"{kind}/{full_id}"),
    )


async def patient_bundle(db: Database, patient_id: str) -> Bundle:
    """The transaction Bundle of everything the monitor holds for ``patient_id`` (sessions with a summary)."""
    p = patient_id
    patient = Patient(
        id=_uuid("patient", p),
        identifier=[Identifier(system=fc.PATIENT_ID_SYSTEM, value=p)],
        active=True,
    )
    patient_ref = f"urn:uuid:{patient.id}"
    resources: list[Resource] = [
        patient,
        code_system(),
        screening_questionnaire(),
        self_report_questionnaire(),
    ]
    roles = await _sensor_roles(db, p)
    devices = [_device(patient_ref, p, role, profile) for role, profile in roles.items()]
    resources += devices
    treated_ref = f"urn:uuid:{devices[0].id}"
    rows = await db.fetchall(
        "SELECT session_id, start_unix_s, first_received_unix_s, summary FROM coach_sessions"
        " WHERE patient_id = ? AND summary IS NOT NULL"
        " ORDER BY COALESCE(start_unix_s, first_received_unix_s)",
        (p,),
    )
    for r in rows:
        summary = json.loads(r["summary"])
        start = float(r["start_unix_s"] or r["first_received_unix_s"])
        s = str(r["session_id"])
        resources.append(_observation(patient_ref, treated_ref, p, s, start, summary))
        if isinstance(summary.get("screening"), dict):
            resources.append(_screening_response(patient_ref, p, s, start, summary["screening"]))
    for report in await self_reports(db, p, 0.0):
        resources.append(_rating_response(patient_ref, p, report))
    return Bundle(
        id=_uuid("bundle", p, datetime.now(UTC).isoformat()),
        type="transaction",
        timestamp=datetime.now(UTC).replace(microsecond=0),
        entry=[_entry(res, str(res.id)) for res in resources],
    )


def bundle_json(bundle: Bundle) -> str:
    """The Bundle as FHIR JSON (no empty elements)."""
    return str(bundle.model_dump_json(exclude_none=True, by_alias=True))
