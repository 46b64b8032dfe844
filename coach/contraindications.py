"""The contraindication questions asked before every session (docs/design.md §1), one home.

Codes are stable (the audit log, the status, the monitor's FHIR QuestionnaireResponse); the texts are
English message ids, shown and spoken in the session's language (:mod:`coach.i18n`). The session asks
them (:mod:`coach.session.screening`); the monitor exports the answers by code.
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.i18n import N_


@dataclass(frozen=True)
class Question:
    code: str
    text: str


#: The questions of docs/design.md §1, in the order they are asked. Codes are stable (audit, status); the
#: texts are English message ids, shown and spoken in the session's language (coach.i18n).
QUESTIONS: tuple[Question, ...] = (
    Question(
        "swelling_or_dvt",
        N_(
            "Is there new swelling you cannot explain, or has anyone told you that you may have a blood "
            "clot (DVT) in this arm?"
        ),
    ),
    Question("heart_condition", N_("Do you have heart failure or another heart condition?")),
    Question(
        "lymphatic_disease", N_("Do you have a disease of the lymphatic system (for example lymphoedema)?")
    ),
    Question("infection_or_fever", N_("Do you have an infection, a red hot swollen area, or a fever?")),
    Question("kidney_or_liver_disease", N_("Do you have kidney or liver disease?")),
    Question("pain", N_("Do you have pain in this hand or arm right now?")),
)
