"""The state of a request as its events say it is.

``RequestView`` is what the aggregate folds its events into, what the workflow
holds (and carries across continue-as-new), what queries return and what the
rules in ``lifecycle`` read. One shape everywhere, so the workflow's state and
the state folded from the store cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from .cost import CostEvaluation
from .policy import Policy
from .vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Stage


class Endorsement(BaseModel):
    company: str
    at: datetime


class Note(BaseModel):
    """追記: text the proposer appended, dated."""

    text: str
    at: datetime
    meeting: int | None = None
    #: the date as an imported register wrote it ("2018年10月"), when ringi does
    #: not know the day: ``at`` is then only a bound (see ``ImportRecord``)
    dated: str | None = None


class Answer(BaseModel):
    """回答: the secretariat's answer, usually at a meeting. Never edited: a
    correction is a new answer that names the one it corrects."""

    answer_id: str
    text: str
    at: datetime
    meeting: int | None = None
    continued: bool = False
    corrects: str | None = None
    superseded_by: str | None = None
    #: the other requests given the same answer at once ("No43に同じ")
    together_with: list[int] = Field(default_factory=list)


class Clarification(BaseModel):
    clarification_id: str
    question: str
    asked_at: datetime
    reply_due: datetime
    reply: str | None = None
    replied_at: datetime | None = None
    #: taken back by the secretariat, unanswered (``WithdrawClarification``)
    withdrawn_at: datetime | None = None
    withdrawal_reason: str | None = None


class Finding(BaseModel):
    text: str
    at: datetime
    meeting: int | None = None


class Objection(BaseModel):
    company: str
    reason: str
    at: datetime
    #: taken back by the member that raised it
    withdrawn_at: datetime | None = None
    #: ruled not blocking by the secretariat, and why
    dismissed_at: datetime | None = None
    dismissal_reason: str | None = None

    @property
    def standing(self) -> bool:
        """Still blocking: neither withdrawn nor dismissed."""
        return self.withdrawn_at is None and self.dismissed_at is None


class ObjectionWindow(BaseModel):
    opened_at: datetime
    ends_at: datetime
    meeting: int | None = None
    objections: list[Objection] = Field(default_factory=list)
    ended: bool = False
    #: the window ended with the support below the threshold (so not in implementation)
    short_of_support: bool = False
    #: the window runs "until meeting N": it follows that meeting's date (issue 20)
    until_meeting: int | None = None

    @property
    def standing(self) -> list[Objection]:
        """The objections that block implementation when the window ends."""
        return [o for o in self.objections if o.standing]

    @property
    def cleared(self) -> bool:
        """Ended with no objection standing and enough support: on to implementation."""
        return self.ended and not self.standing and not self.short_of_support

    def standing_by(self, company: str) -> Objection | None:
        return next((o for o in self.standing if o.company == company), None)


class Closure(BaseModel):
    reason: CloseReason
    at: datetime
    by: Actor
    duplicate_of: int | None = None
    note: str = ""
    #: every request it duplicates (``duplicate_of`` is the first)
    duplicates: list[int] = Field(default_factory=list)
    #: the stage it was closed from, where reopening returns it (None: imported closed)
    closed_from: Stage | None = None


class Discretion(BaseModel):
    """A step off the usual path the secretariat took, and why: a hearing below
    the threshold, a cost evaluation without a hearing, a reopening."""

    kind: str  # the command's kind
    reason: str
    at: datetime
    meeting: int | None = None


class ImportRecord(BaseModel):
    """Where an imported request came from and what the register said of it.

    The register names no proposer and no endorsers, only a count: ``support``
    is that count (proposer included), or None where the register showed 保留 or
    クローズ instead. Endorsements after the import add to it; since the register
    does not say who the supporters were, one of them endorsing again is counted
    again (a held request resumed counts from the proposer alone). The times of
    imported facts are bounds (no later than the
    meeting they are tagged with, or the register's meeting); see
    ``ringi.register.importer``."""

    meeting: int  # the meeting whose register it was
    support: int | None
    mark: str  # the last column as written: a count, 保留 or クローズ
    file: str
    sha256: str  # of the imported file
    line: int


class RequestView(BaseModel):
    number: int
    category: Category
    target: str
    body: str
    proposer: str
    filed_at: datetime
    policy: Policy
    related: list[int] = Field(default_factory=list)

    stage: Stage = Stage.FILED
    version: int = 0
    updated_at: datetime

    endorsements: list[Endorsement] = Field(default_factory=list)
    support_deadline: datetime | None = None
    #: the support deadline is "until meeting N": it follows that meeting's date
    support_until_meeting: int | None = None
    support_window_closed: bool = False
    threshold_met_at: datetime | None = None
    final_call_at: datetime | None = None

    notes: list[Note] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    clarifications: list[Clarification] = Field(default_factory=list)

    hearing_opened_at: datetime | None = None
    findings: list[Finding] = Field(default_factory=list)
    evaluations: list[CostEvaluation] = Field(default_factory=list)
    objection_windows: list[ObjectionWindow] = Field(default_factory=list)

    approved_at: datetime | None = None
    planned_release: date | None = None
    released_on: date | None = None
    #: when the release was recorded: where a released request's time in the
    #: register ends (a correction of an answer may still come later)
    released_at: datetime | None = None

    held_from: Stage | None = None
    held_at: datetime | None = None
    hold_reason: str | None = None
    last_hold_review: datetime | None = None

    closure: Closure | None = None
    reminders_sent: list[str] = Field(default_factory=list)
    imported: ImportRecord | None = None
    #: the secretariat's steps off the usual path, with their reasons (issue 20)
    discretions: list[Discretion] = Field(default_factory=list)

    # --- what follows from the facts --------------------------------------

    @property
    def support(self) -> int:
        """Companies supporting the request, the proposer included (for an
        imported request: the register's count, plus endorsements since)."""
        imported = self.imported.support if self.imported is not None else None
        return (imported if imported is not None else 1) + len(self.endorsements)

    @property
    def support_known(self) -> bool:
        """False while an imported request's history is replayed up to the point
        where the register gave its count: until then nobody knows it."""
        return self.imported is not None or self.proposer != UNKNOWN_PROPOSER

    @property
    def endorsers(self) -> list[str]:
        return [e.company for e in self.endorsements]

    @property
    def threshold_met(self) -> bool:
        return self.support >= self.policy.support_threshold

    @property
    def is_open(self) -> bool:
        return not self.stage.is_terminal

    @property
    def latest_evaluation(self) -> CostEvaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    @property
    def objection_window(self) -> ObjectionWindow | None:
        return self.objection_windows[-1] if self.objection_windows else None

    @property
    def pending_clarification(self) -> Clarification | None:
        for c in self.clarifications:
            if c.reply is None and c.withdrawn_at is None:
                return c
        return None

    def answer(self, answer_id: str) -> Answer | None:
        return next((a for a in self.answers if a.answer_id == answer_id), None)

    @property
    def current_deadline(self) -> datetime | None:
        """The deadline a person watching this request cares about now."""
        if self.stage is Stage.GATHERING_SUPPORT and not self.support_window_closed:
            return self.support_deadline
        window = self.objection_window
        if self.stage is Stage.OBJECTION_WINDOW and window and not window.ended:
            return window.ends_at
        return None


class Outcome(BaseModel):
    """What a command left behind: the request's state, and whether it wrote."""

    view: RequestView
    written: bool
