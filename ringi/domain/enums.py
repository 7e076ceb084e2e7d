"""The domain's enumerations, in a module that imports nothing heavy: the
command line declares its options with them before it knows which command runs.
They are re-exported from where they are used (``vocabulary``, ``notifications``)."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    FILED = "filed"
    GATHERING_SUPPORT = "gathering_support"
    HEARING = "hearing"
    COST_EVALUATION = "cost_evaluation"
    OBJECTION_WINDOW = "objection_window"
    IMPLEMENTATION = "implementation"
    ON_HOLD = "on_hold"
    RELEASED = "released"
    CLOSED = "closed"

    @property
    def is_terminal(self) -> bool:
        return self in (Stage.RELEASED, Stage.CLOSED)

    @property
    def label_ja(self) -> str:
        return _STAGE_JA[self]


_STAGE_JA = {
    Stage.FILED: "受付",
    Stage.GATHERING_SUPPORT: "賛同募集中",
    Stage.HEARING: "事業者ヒアリング",
    Stage.COST_EVALUATION: "費用対効果評価",
    Stage.OBJECTION_WINDOW: "意見照会中",
    Stage.IMPLEMENTATION: "改修実施",
    Stage.ON_HOLD: "保留",
    Stage.RELEASED: "リリース済",
    Stage.CLOSED: "クローズ",
}


class Category(StrEnum):
    """区分: what kind of item a member filed."""

    REQUEST = "要望"
    OPINION = "意見"
    QUESTION = "質問"

    @classmethod
    def parse(cls, text: str) -> Category:
        aliases = {"request": cls.REQUEST, "opinion": cls.OPINION, "question": cls.QUESTION}
        key = text.strip()
        if key.lower() in aliases:
            return aliases[key.lower()]
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(f"{a} ({c.value})" for a, c in aliases.items())
            raise ValueError(f"unknown category {text!r}; use one of: {names}") from None


class CloseReason(StrEnum):
    INSUFFICIENT_SUPPORT = "insufficient_support"
    NOT_COST_EFFECTIVE = "not_cost_effective"
    OUT_OF_SCOPE = "out_of_scope"
    RESOLVED_WITHOUT_CHANGE = "resolved_without_change"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"
    ANSWERED = "answered"
    #: closed before ringi: an imported register says クローズ and gives no reason
    #: but its answers; only ``ringi import`` records it
    IMPORTED = "imported"


class Role(StrEnum):
    MEMBER = "member"
    SECRETARIAT = "secretariat"
    AUDITOR = "auditor"
    TIMER = "timer"


class NotificationKind(StrEnum):
    FILED = "filed"
    ANSWERED = "answered"
    STAGE_CHANGED = "stage_changed"
    AUTO_CLOSED = "auto_closed"
    DEADLINE_APPROACHING = "deadline_approaching"
    FINAL_CALL = "final_call"
    CLARIFICATION_ASKED = "clarification_asked"
    CLARIFICATION_ANSWERED = "clarification_answered"
    CLARIFICATION_OVERDUE = "clarification_overdue"
    HOLD_REVIEW_DUE = "hold_review_due"
    PLANNED_RELEASE_DUE = "planned_release_due"
    OBJECTION_RAISED = "objection_raised"
    OBJECTION_WITHDRAWN = "objection_withdrawn"
    OBJECTION_DISMISSED = "objection_dismissed"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
