"""The request aggregate: every fact about a request is one of its events.

Each public method checks the rules (``lifecycle.check``) and then records what
happened; the ``@event`` methods below only fold a fact into the state, so
replaying the stored events rebuilds exactly the state that was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from . import commands as c
from . import lifecycle, notices
from .chain import ChainedAggregate
from .cost import CostEvaluation
from .imported import ImportedAnswer, ImportedNote, ImportedRequest
from .notifications import NotificationDraft
from .policy import Policy
from .timers import reminder_key
from .view import (
    Answer,
    Clarification,
    Closure,
    Discretion,
    Endorsement,
    Finding,
    ImportRecord,
    Note,
    Objection,
    ObjectionWindow,
    RequestView,
)
from .vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Stage

NAMESPACE = UUID("6d1f0f4e-33a4-4b8e-9f55-2a3c8b0d7e11")


def request_id(number: int) -> UUID:
    return uuid5(NAMESPACE, f"request/{number}")


class Request(ChainedAggregate):
    """An improvement request (No.N) and everything that happened to it."""

    @staticmethod
    def create_id(number: int) -> UUID:
        return request_id(number)

    @event("Filed")
    def __init__(
        self,
        number: int,
        category: str,
        target: str,
        body: str,
        related: list[int],
        policy: dict[str, Any],
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        proposer = Actor.model_validate(actor).company
        assert proposer is not None
        self.state = RequestView(
            number=number,
            category=Category(category),
            target=target,
            body=body,
            proposer=proposer,
            filed_at=at,
            policy=Policy.model_validate(policy),
            related=list(related),
            updated_at=at,
        )
        self.commands: set[str] = {command_id}
        self.drafts: list[NotificationDraft] = []

    # --- reading -----------------------------------------------------------

    def view(self) -> RequestView:
        view = self.state.model_copy(deep=True)
        view.version = self.version
        return view

    def has_handled(self, command_id: str) -> bool:
        return command_id in self.commands

    def take_notifications(self) -> list[NotificationDraft]:
        """Drafts raised by the commands handled since the last take."""
        drafts, self.drafts = self.drafts, []
        return drafts

    # --- filing --------------------------------------------------------------

    @classmethod
    def file(cls, number: int, cmd: c.FileRequest, policy: Policy, at: datetime) -> Request:
        lifecycle.check_filing(cmd)
        request = cls(
            number=number,
            category=cmd.category.value,
            target=cmd.target,
            body=cmd.body,
            related=list(cmd.related),
            policy=policy.model_dump(mode="json"),
            **_said(cmd, at),
        )
        if cmd.category is Category.REQUEST:
            # a request (要望) gathers support from the moment it is filed; an opinion
            # waits for the secretariat to open support or answer it, a question is answered
            deadline = lifecycle.support_deadline(request.state, cmd, at)
            request._support_gathering_opened(deadline=deadline, **_by(cmd, at))
            request._after_support_changed(cmd, at)
        request._tell(cmd, None, 0)
        return request

    # --- importing a register --------------------------------------------------

    @classmethod
    def imported(cls, item: ImportedRequest, policy: Policy, actor: Actor) -> Request:
        """A request as an imported register shows it, written as its history:
        filed by the unknown proposer, its notes and answers in the order they
        were given (each with its meeting), then what the last column said.
        Nothing is notified: it all happened before ringi."""
        lifecycle.check_import(item, actor)
        cid, recorder = item.command_id, _actor(actor)
        request = cls(
            number=item.number,
            category=item.category.value,
            target=item.target,
            body=item.body,
            related=list(item.related),
            policy=policy.model_dump(mode="json"),
            at=item.filed_at,
            actor=_actor(Actor.member(UNKNOWN_PROPOSER)),
            command_id=cid,
            meeting=None,
        )
        # answers and notes each in their own order; between them, by their time
        # bounds (an answer first when both are bounded by the same meeting)
        facts: list[tuple[datetime, int, int, ImportedAnswer | ImportedNote]] = [
            (a.at, 0, i, a) for i, a in enumerate(item.answers, start=1)
        ] + [(n.at, 1, i, n) for i, n in enumerate(item.notes, start=1)]
        for at, _, i, fact in sorted(facts, key=lambda f: f[:3]):
            if isinstance(fact, ImportedAnswer):
                request._answer_recorded(
                    answer_id=f"a{len(request.state.answers) + 1}",
                    text=fact.text,
                    continued=fact.continued,
                    at=at,
                    actor=recorder,
                    command_id=f"{cid}:answer:{i}",
                    meeting=fact.meeting,
                )
            else:
                request._note_imported(
                    text=fact.text,
                    dated=fact.dated,
                    at=at,
                    actor=recorder,
                    command_id=f"{cid}:note:{i}",
                    meeting=fact.meeting,
                )
        stage, held_from = lifecycle.imported_stage(item.category, item.mark, item.support, policy)
        request._imported_from_register(
            support=item.support,
            mark=item.mark.value if item.mark is not None else str(item.support),
            stage=stage.value,
            held_from=held_from.value if held_from is not None else None,
            source=item.source.model_dump(mode="json"),
            at=item.settled_at,
            actor=recorder,
            command_id=f"{cid}:register",
            meeting=item.source.register_meeting,
        )
        return request

    # --- commands ------------------------------------------------------------
    # One method per command, named by its kind: each checks its row of the
    # lifecycle table (``lifecycle.check``), then records what happened.

    def handle(
        self, cmd: c.Command, at: datetime, next_meeting: tuple[int, datetime] | None = None
    ) -> None:
        """Carry out ``cmd`` at ``at`` or raise ``Refused`` having recorded nothing,
        and draft the notifications what it recorded calls for.

        ``next_meeting`` (number, date) is the next scheduled meeting, which a final
        call uses as its deadline when there is one.
        """
        stage_before, recorded_before = self.state.stage, len(self.pending_events)
        if isinstance(cmd, c.TimerFired):
            self.timer_fired(cmd, at, next_meeting)
        else:
            carry_out: Callable[[c.Command, datetime], None] = getattr(self, cmd.kind)
            carry_out(cmd, at)
        self._tell(cmd, stage_before, recorded_before)

    def _check(self, cmd: c.Command, at: datetime) -> None:
        # the rules only read the state: no copy of it (``view()``) is needed to ask them
        lifecycle.check(self.state, cmd, at)

    def endorse(self, cmd: c.Endorse, at: datetime) -> None:
        self._check(cmd, at)
        self._endorsed(company=lifecycle.company_of(cmd.actor), **_by(cmd, at))
        self._after_support_changed(cmd, at)

    def withdraw_endorsement(self, cmd: c.WithdrawEndorsement, at: datetime) -> None:
        self._check(cmd, at)
        self._endorsement_withdrawn(company=lifecycle.company_of(cmd.actor), **_by(cmd, at))

    def append_note(self, cmd: c.AppendNote, at: datetime) -> None:
        self._check(cmd, at)
        self._note_appended(text=cmd.text, **_said(cmd, at))

    def answer_clarification(self, cmd: c.AnswerClarification, at: datetime) -> None:
        self._check(cmd, at)
        pending = self.state.pending_clarification
        assert pending is not None
        self._clarification_answered(
            clarification_id=pending.clarification_id, text=cmd.text, **_by(cmd, at)
        )

    def raise_objection(self, cmd: c.RaiseObjection, at: datetime) -> None:
        self._check(cmd, at)
        company = lifecycle.company_of(cmd.actor)
        self._objection_raised(company=company, reason=cmd.reason, **_by(cmd, at))

    def withdraw_objection(self, cmd: c.WithdrawObjection, at: datetime) -> None:
        self._check(cmd, at)
        company = lifecycle.company_of(cmd.actor)
        self._objection_withdrawn(company=company, reason=cmd.reason, **_by(cmd, at))

    def withdraw(self, cmd: c.Withdraw, at: datetime) -> None:
        self._check(cmd, at)
        self._closed(
            reason=CloseReason.WITHDRAWN.value, duplicate_of=None, note=cmd.reason, **_said(cmd, at)
        )

    def open_support(self, cmd: c.OpenSupport, at: datetime) -> None:
        self._check(cmd, at)
        self._support_gathering_opened(
            deadline=lifecycle.support_deadline(self.state, cmd, at),
            until_meeting=cmd.until_meeting,
            **_by(cmd, at),
        )
        self._after_support_changed(cmd, at)

    def ask_clarification(self, cmd: c.AskClarification, at: datetime) -> None:
        self._check(cmd, at)
        self._clarification_asked(
            clarification_id=f"q{len(self.state.clarifications) + 1}",
            question=cmd.question,
            reply_due=at + self.state.policy.clarification_reply,
            **_said(cmd, at),
        )

    def withdraw_clarification(self, cmd: c.WithdrawClarification, at: datetime) -> None:
        self._check(cmd, at)
        pending = self.state.pending_clarification
        assert pending is not None
        self._clarification_withdrawn(
            clarification_id=pending.clarification_id, reason=cmd.reason, **_said(cmd, at)
        )

    def dismiss_objection(self, cmd: c.DismissObjection, at: datetime) -> None:
        self._check(cmd, at)
        self._objection_dismissed(company=cmd.company, reason=cmd.reason, **_said(cmd, at))

    def carry_forward(self, cmd: c.CarryForward, at: datetime) -> None:
        self._check(cmd, at)
        self._carried_forward(stage=cmd.stage.value, reason=cmd.reason, **_said(cmd, at))

    def identify_proposer(self, cmd: c.IdentifyProposer, at: datetime) -> None:
        self._check(cmd, at)
        self._proposer_identified(company=cmd.company.strip(), **_said(cmd, at))

    def extend_deadline(self, cmd: c.ExtendDeadline, at: datetime) -> None:
        self._check(cmd, at)
        # the objection window's, or the support deadline (``extensible_deadline``)
        if self.state.stage is Stage.OBJECTION_WINDOW:
            self._objection_window_extended(
                ends_at=cmd.deadline,
                reason=cmd.reason,
                until_meeting=cmd.until_meeting,
                **_said(cmd, at),
            )
        else:
            self._support_deadline_extended(
                deadline=cmd.deadline,
                reason=cmd.reason,
                until_meeting=cmd.until_meeting,
                **_said(cmd, at),
            )

    def open_hearing(self, cmd: c.OpenHearing, at: datetime) -> None:
        self._check(cmd, at)
        self._hearing_opened(**_said(cmd, at))

    def record_findings(self, cmd: c.RecordFindings, at: datetime) -> None:
        self._check(cmd, at)
        self._findings_recorded(text=cmd.text, **_said(cmd, at))

    def evaluate_cost(self, cmd: c.EvaluateCost, at: datetime) -> None:
        self._check(cmd, at)
        evaluation = CostEvaluation.of(cmd.inputs)
        self._cost_evaluated(evaluation=evaluation.model_dump(mode="json"), **_said(cmd, at))

    def open_objection_window(self, cmd: c.OpenObjectionWindow, at: datetime) -> None:
        self._check(cmd, at)
        ends_at = lifecycle.objection_window_ends(self.state, cmd, at)
        self._objection_window_opened(
            ends_at=ends_at, until_meeting=cmd.until_meeting, **_said(cmd, at)
        )

    def approve(self, cmd: c.Approve, at: datetime) -> None:
        self._check(cmd, at)
        planned = cmd.planned_release.isoformat()
        self._implementation_approved(planned_release=planned, **_said(cmd, at))

    def change_release_date(self, cmd: c.ChangeReleaseDate, at: datetime) -> None:
        self._check(cmd, at)
        self._release_date_changed(
            planned_release=cmd.planned_release.isoformat(), reason=cmd.reason, **_said(cmd, at)
        )

    def release(self, cmd: c.Release, at: datetime) -> None:
        self._check(cmd, at)
        released_on = cmd.released_on or at.astimezone(lifecycle.JST).date()
        self._released(released_on=released_on.isoformat(), **_said(cmd, at))

    def hold(self, cmd: c.Hold, at: datetime) -> None:
        self._check(cmd, at)
        self._held(reason=cmd.reason, **_said(cmd, at))

    def resume(self, cmd: c.Resume, at: datetime) -> None:
        self._check(cmd, at)
        assert self.state.held_at is not None
        held_for = (at - self.state.held_at).total_seconds()
        self._resumed(held_for_seconds=held_for, reason=cmd.reason, **_said(cmd, at))

    def close(self, cmd: c.Close, at: datetime) -> None:
        self._check(cmd, at)
        # recorded only when given: a close as before stores the event as before
        more: dict[str, Any] = {"duplicates": list(cmd.duplicated[1:])} if cmd.duplicates else {}
        self._closed(
            reason=cmd.reason.value,
            duplicate_of=cmd.duplicate_of,
            note=cmd.note,
            **_said(cmd, at),
            **more,
        )

    def record_answer(self, cmd: c.RecordAnswer, at: datetime) -> None:
        self._check(cmd, at)
        others = [n for n in dict.fromkeys(cmd.together_with) if n != self.state.number]
        together: dict[str, Any] = {"together_with": others} if others else {}
        self._answer_recorded(
            answer_id=f"a{len(self.state.answers) + 1}",
            text=cmd.text,
            continued=cmd.continued,
            **_said(cmd, at),
            **together,
        )

    def correct_answer(self, cmd: c.CorrectAnswer, at: datetime) -> None:
        self._check(cmd, at)
        self._answer_corrected(
            answer_id=f"a{len(self.state.answers) + 1}",
            corrects=cmd.answer_id,
            text=cmd.text,
            reason=cmd.reason,
            **_said(cmd, at),
        )

    # --- the secretariat's discretion and after the end (issue 20) --------------------

    def hear_below_threshold(self, cmd: c.HearBelowThreshold, at: datetime) -> None:
        self._check(cmd, at)
        self._hearing_opened_below_threshold(
            support=self.state.support, reason=cmd.reason, **_said(cmd, at)
        )

    def evaluate_without_hearing(self, cmd: c.EvaluateWithoutHearing, at: datetime) -> None:
        self._check(cmd, at)
        evaluation = CostEvaluation.of(cmd.inputs)
        self._hearing_skipped(reason=cmd.reason, **_said(cmd, at))
        self._cost_evaluated(evaluation=evaluation.model_dump(mode="json"), **_said(cmd, at))

    def reopen(self, cmd: c.Reopen, at: datetime) -> None:
        self._check(cmd, at)
        closure = self.state.closure
        assert closure is not None
        deadline = lifecycle.reopened_support_deadline(self.state, cmd, at)
        self._reopened(
            stage=lifecycle.reopened_stage(self.state).value,
            reason=cmd.reason,
            closed_for_seconds=(at - closure.at).total_seconds(),
            support_deadline=deadline,
            until_meeting=cmd.until_meeting if deadline is not None else None,
            **_said(cmd, at),
        )

    # --- what timers do ---------------------------------------------------------

    def timer_fired(
        self, cmd: c.TimerFired, at: datetime, next_meeting: tuple[int, datetime] | None = None
    ) -> None:
        self._check(cmd, at)
        state, by = self.state, _by(cmd, at)
        match cmd.timer:
            case c.TimerKind.SUPPORT_DEADLINE:
                self._end_support_window(by, meeting=None)
            case c.TimerKind.FINAL_CALL:
                deadline, meeting = lifecycle.final_call_deadline(state, at, next_meeting)
                self._final_call_issued(deadline=deadline, meeting=meeting, **by)
            case c.TimerKind.OBJECTION_WINDOW_END:
                window = state.objection_window
                assert window is not None
                # only the objections still standing block implementation, and the
                # support may have fallen below the threshold while the window ran
                self._objection_window_ended(
                    objections=len(window.standing),
                    short_of_support=not state.threshold_met,
                    **by,
                )
            case _:  # the reminders: what they say is the notices'
                self._reminded(kind=cmd.timer.value, due=cmd.due, **by)

    def _end_support_window(self, by: dict[str, Any], meeting: int | None) -> None:
        """What the support deadline's end records, by its timer or by the
        secretariat (``end_support``): the window closed, and the request closed
        when short of the threshold."""
        state = self.state
        self._support_window_closed(support=state.support, **by)
        if lifecycle.closes_at_support_deadline(state):
            note = f"support {state.support} of {state.policy.support_threshold} at the deadline"
            self._closed(
                reason=CloseReason.INSUFFICIENT_SUPPORT.value,
                duplicate_of=None,
                note=note,
                meeting=meeting,
                **by,
            )

    # --- the secretariat's windows (issue 20) -------------------------------------

    def final_call(self, cmd: c.FinalCall, at: datetime) -> None:
        self._check(cmd, at)
        # the fact the year's final-call timer records, with the secretariat as its
        # actor: ``meeting`` is the meeting it runs until, ``said_at`` where it was said
        self._final_call_issued(
            deadline=cmd.deadline, meeting=cmd.until_meeting, said_at=cmd.meeting, **_by(cmd, at)
        )

    def end_support(self, cmd: c.EndSupport, at: datetime) -> None:
        self._check(cmd, at)
        self._end_support_window(_by(cmd, at), meeting=cmd.meeting)

    def end_objection_window(self, cmd: c.EndObjectionWindow, at: datetime) -> None:
        self._check(cmd, at)
        # the guard refused any standing objection and any shortfall of support
        self._objection_window_ended(
            objections=0, short_of_support=False, meeting=cmd.meeting, **_by(cmd, at)
        )

    def _after_support_changed(self, cmd: c.Command | c.FileRequest, at: datetime) -> None:
        """The threshold met for the first time is recorded, by ringi, and may open
        the hearing by itself."""
        if not lifecycle.threshold_newly_met(self.state):
            return
        by_ringi: dict[str, Any] = {
            "at": at,
            "actor": _actor(Actor.timer()),
            "command_id": cmd.command_id,
        }
        self._threshold_met(support=self.state.support, **by_ringi)
        if lifecycle.hearing_opens_by_itself(self.state):
            self._hearing_opened(meeting=None, **by_ringi)

    def _tell(self, cmd: c.Command | c.FileRequest, stage_before: Stage | None, since: int) -> None:
        """Draft the notifications for the events recorded since the ``since``-th
        pending one (``notices``); a filing has no stage before it."""
        facts = [notices.Fact(type(e).__name__, vars(e)) for e in self.pending_events[since:]]
        self.drafts.extend(notices.drafted(facts, stage_before, self.state, cmd.meeting))

    # --- the facts ----------------------------------------------------------------
    # Every event carries when it happened (``at``, domain time), who did it, the
    # command that caused it (for idempotency) and, where one was given, the meeting.

    def _touch(self, at: datetime, command_id: str) -> None:
        self.state.updated_at = at
        self.commands.add(command_id)

    @event("SupportGatheringOpened")
    def _support_gathering_opened(
        self,
        deadline: datetime,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        until_meeting: int | None = None,  # not recorded before deadlines followed meetings
    ) -> None:
        self.state.stage = Stage.GATHERING_SUPPORT
        self.state.support_deadline = deadline
        self.state.support_until_meeting = until_meeting
        self._touch(at, command_id)

    @event("Endorsed")
    def _endorsed(self, company: str, at: datetime, actor: dict[str, Any], command_id: str) -> None:
        self.state.endorsements.append(Endorsement(company=company, at=at))
        self._touch(at, command_id)

    @event("EndorsementWithdrawn")
    def _endorsement_withdrawn(
        self, company: str, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        self.state.endorsements = [e for e in self.state.endorsements if e.company != company]
        self._touch(at, command_id)

    @event("SupportThresholdMet")
    def _threshold_met(
        self, support: int, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        self.state.threshold_met_at = at
        self._touch(at, command_id)

    @event("SupportDeadlineExtended")
    def _support_deadline_extended(
        self,
        deadline: datetime,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        until_meeting: int | None = None,  # not recorded before deadlines followed meetings
    ) -> None:
        self.state.support_deadline = deadline
        self.state.support_until_meeting = until_meeting
        self._touch(at, command_id)

    @event("FinalCallIssued")
    def _final_call_issued(
        self,
        deadline: datetime,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        said_at: int | None = None,  # the secretariat's call's meeting; a timer's has none
    ) -> None:
        self.state.final_call_at = at
        self.state.support_deadline = deadline
        # "closed unless supported by the next meeting (第27回)": the deadline is that
        # meeting's, and follows it
        self.state.support_until_meeting = meeting
        self._touch(at, command_id)

    @event("SupportWindowClosed")
    def _support_window_closed(
        self, support: int, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        self.state.support_window_closed = True
        self._touch(at, command_id)

    @event("NoteAppended")
    def _note_appended(
        self, text: str, at: datetime, actor: dict[str, Any], command_id: str, meeting: int | None
    ) -> None:
        self.state.notes.append(Note(text=text, at=at, meeting=meeting))
        self._touch(at, command_id)

    @event("NoteImported")
    def _note_imported(
        self,
        text: str,
        dated: str | None,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.notes.append(Note(text=text, at=at, meeting=meeting, dated=dated))
        self._touch(at, command_id)

    @event("ImportedFromRegister")
    def _imported_from_register(
        self,
        support: int | None,
        mark: str,
        stage: str,
        held_from: str | None,
        source: dict[str, Any],
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int,
    ) -> None:
        state = self.state
        state.imported = ImportRecord(
            meeting=meeting,
            support=support,
            mark=mark,
            file=source["file"],
            sha256=source["sha256"],
            line=source["line"],
        )
        state.stage = Stage(stage)
        where = f"{mark} in the register of 第{meeting}回 (imported)"
        if state.stage is Stage.ON_HOLD:
            state.held_from = Stage(held_from or Stage.FILED)
            state.held_at, state.hold_reason = at, where
        elif state.stage is Stage.CLOSED:
            state.closure = Closure(
                reason=CloseReason.IMPORTED, at=at, by=Actor.model_validate(actor), note=where
            )
        elif state.stage is Stage.HEARING:
            state.threshold_met_at = state.hearing_opened_at = at
        self._touch(at, command_id)

    @event("ClarificationAsked")
    def _clarification_asked(
        self,
        clarification_id: str,
        question: str,
        reply_due: datetime,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.clarifications.append(
            Clarification(
                clarification_id=clarification_id,
                question=question,
                asked_at=at,
                reply_due=reply_due,
            )
        )
        self._touch(at, command_id)

    @event("ClarificationAnswered")
    def _clarification_answered(
        self, clarification_id: str, text: str, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        for q in self.state.clarifications:
            if q.clarification_id == clarification_id:
                q.reply, q.replied_at = text, at
        self._touch(at, command_id)

    @event("CarriedForward")
    def _carried_forward(
        self,
        stage: str,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.stage = Stage(stage)
        self._touch(at, command_id)

    @event("ProposerIdentified")
    def _proposer_identified(
        self,
        company: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        state = self.state
        state.proposer = company
        # the register's count includes its proposer: an endorsement it gave since the
        # import counted it twice
        state.endorsements = [e for e in state.endorsements if e.company != company]
        self._touch(at, command_id)

    @event("ClarificationWithdrawn")
    def _clarification_withdrawn(
        self,
        clarification_id: str,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        for q in self.state.clarifications:
            if q.clarification_id == clarification_id:
                q.withdrawn_at, q.withdrawal_reason = at, reason
        self._touch(at, command_id)

    @event("HearingOpened")
    def _hearing_opened(
        self, at: datetime, actor: dict[str, Any], command_id: str, meeting: int | None
    ) -> None:
        self.state.stage = Stage.HEARING
        self.state.hearing_opened_at = at
        self._touch(at, command_id)

    @event("HearingFindingsRecorded")
    def _findings_recorded(
        self, text: str, at: datetime, actor: dict[str, Any], command_id: str, meeting: int | None
    ) -> None:
        self.state.findings.append(Finding(text=text, at=at, meeting=meeting))
        self._touch(at, command_id)

    @event("CostEvaluated")
    def _cost_evaluated(
        self,
        evaluation: dict[str, Any],
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.evaluations.append(CostEvaluation.model_validate(evaluation))
        self.state.stage = Stage.COST_EVALUATION
        self._touch(at, command_id)

    @event("ObjectionWindowOpened")
    def _objection_window_opened(
        self,
        ends_at: datetime,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        until_meeting: int | None = None,  # not recorded before windows followed meetings
    ) -> None:
        self.state.objection_windows.append(
            ObjectionWindow(
                opened_at=at, ends_at=ends_at, meeting=meeting, until_meeting=until_meeting
            )
        )
        self.state.stage = Stage.OBJECTION_WINDOW
        self._touch(at, command_id)

    @event("ObjectionWindowExtended")
    def _objection_window_extended(
        self,
        ends_at: datetime,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        until_meeting: int | None = None,  # not recorded before windows followed meetings
    ) -> None:
        window = self.state.objection_window
        assert window is not None
        window.ends_at = ends_at
        window.until_meeting = until_meeting
        self._touch(at, command_id)

    @event("ObjectionRaised")
    def _objection_raised(
        self, company: str, reason: str, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        window = self.state.objection_window
        assert window is not None
        window.objections.append(Objection(company=company, reason=reason, at=at))
        self._touch(at, command_id)

    @event("ObjectionWithdrawn")
    def _objection_withdrawn(
        self, company: str, reason: str, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        window = self.state.objection_window
        assert window is not None
        objection = window.standing_by(company)
        assert objection is not None
        objection.withdrawn_at = at
        self._touch(at, command_id)

    @event("ObjectionDismissed")
    def _objection_dismissed(
        self,
        company: str,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        window = self.state.objection_window
        assert window is not None
        objection = window.standing_by(company)
        assert objection is not None
        objection.dismissed_at, objection.dismissal_reason = at, reason
        self._touch(at, command_id)

    @event("ObjectionWindowEnded")
    def _objection_window_ended(
        self,
        objections: int,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        short_of_support: bool = False,  # not recorded before support could fall
        meeting: int | None = None,  # the secretariat's conclusion's; a timer's has none
    ) -> None:
        window = self.state.objection_window
        assert window is not None
        window.ended = True
        window.short_of_support = short_of_support
        self.state.stage = lifecycle.stage_after_objection_window(objections, short_of_support)
        self._touch(at, command_id)

    @event("ImplementationApproved")
    def _implementation_approved(
        self,
        planned_release: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.approved_at = at
        self.state.planned_release = date.fromisoformat(planned_release)
        self._touch(at, command_id)

    @event("ReleaseDateChanged")
    def _release_date_changed(
        self,
        planned_release: str,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.planned_release = date.fromisoformat(planned_release)
        self._touch(at, command_id)

    @event("Released")
    def _released(
        self,
        released_on: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        self.state.released_on = date.fromisoformat(released_on)
        self.state.released_at = at
        self.state.stage = Stage.RELEASED
        self._touch(at, command_id)

    @event("Held")
    def _held(
        self, reason: str, at: datetime, actor: dict[str, Any], command_id: str, meeting: int | None
    ) -> None:
        self.state.held_from = self.state.stage
        self.state.held_at = at
        self.state.hold_reason = reason
        self.state.last_hold_review = None
        self.state.stage = Stage.ON_HOLD
        self._touch(at, command_id)

    @event("Resumed")
    def _resumed(
        self,
        held_for_seconds: float,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        # the clock stops while a request is on hold: its deadlines move by the time held
        held_for = timedelta(seconds=held_for_seconds)
        state = self.state
        assert state.held_from is not None
        if state.support_deadline is not None and not state.support_window_closed:
            state.support_deadline += held_for
            state.support_until_meeting = None  # moved by the time held: no meeting's day now
        window = state.objection_window
        if window is not None and not window.ended:
            window.ends_at += held_for
            window.until_meeting = None  # moved by the time held: no meeting's day now
        pending = state.pending_clarification
        if pending is not None:
            pending.reply_due += held_for
        state.stage, state.held_from, state.held_at, state.hold_reason = (
            state.held_from,
            None,
            None,
            None,
        )
        self._touch(at, command_id)

    @event("Closed")
    def _closed(
        self,
        reason: str,
        duplicate_of: int | None,
        note: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        duplicates: list[int] | None = None,  # not recorded before several could be named
    ) -> None:
        first = [] if duplicate_of is None else [duplicate_of]
        self.state.closure = Closure(
            reason=CloseReason(reason),
            at=at,
            by=Actor.model_validate(actor),
            duplicate_of=duplicate_of,
            note=note,
            duplicates=first + list(duplicates or ()),
            closed_from=self.state.stage,  # derived, so old events have it too
        )
        self.state.stage = Stage.CLOSED
        self._touch(at, command_id)

    @event("AnswerRecorded")
    def _answer_recorded(
        self,
        answer_id: str,
        text: str,
        continued: bool,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
        together_with: list[int] | None = None,  # not recorded before one answer could be shared
    ) -> None:
        self.state.answers.append(
            Answer(
                answer_id=answer_id,
                text=text,
                at=at,
                meeting=meeting,
                continued=continued,
                together_with=list(together_with or ()),
            )
        )
        self._touch(at, command_id)

    @event("AnswerCorrected")
    def _answer_corrected(
        self,
        answer_id: str,
        corrects: str,
        text: str,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        corrected = self.state.answer(corrects)
        assert corrected is not None
        corrected.superseded_by = answer_id
        self.state.answers.append(
            Answer(
                answer_id=answer_id,
                text=text,
                at=at,
                meeting=meeting,
                continued=corrected.continued,
                corrects=corrects,
            )
        )
        self._touch(at, command_id)

    # the secretariat's discretion and after the end (issue 20)

    @event("HearingOpenedBelowThreshold")
    def _hearing_opened_below_threshold(
        self,
        support: int,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        state = self.state
        state.stage = Stage.HEARING
        state.hearing_opened_at = at
        state.discretions.append(
            Discretion(kind="hear_below_threshold", reason=reason, at=at, meeting=meeting)
        )
        self._touch(at, command_id)

    @event("HearingSkipped")
    def _hearing_skipped(
        self, reason: str, at: datetime, actor: dict[str, Any], command_id: str, meeting: int | None
    ) -> None:
        self.state.discretions.append(
            Discretion(kind="evaluate_without_hearing", reason=reason, at=at, meeting=meeting)
        )
        self._touch(at, command_id)

    @event("Reopened")
    def _reopened(
        self,
        stage: str,
        reason: str,
        closed_for_seconds: float,
        support_deadline: datetime | None,
        until_meeting: int | None,
        at: datetime,
        actor: dict[str, Any],
        command_id: str,
        meeting: int | None,
    ) -> None:
        state = self.state
        state.stage = Stage(stage)
        state.closure = None
        if support_deadline is not None:  # closed short of support: it gathers again
            state.support_deadline = support_deadline
            state.support_until_meeting = until_meeting
            state.support_window_closed = False
        # the clock stopped while it was closed, as on hold: a running window keeps
        # the time it had left
        closed_for = timedelta(seconds=closed_for_seconds)
        window = state.objection_window
        if state.stage is Stage.OBJECTION_WINDOW and window is not None and not window.ended:
            window.ends_at += closed_for
        pending = state.pending_clarification
        if pending is not None:
            pending.reply_due += closed_for
        state.discretions.append(Discretion(kind="reopen", reason=reason, at=at, meeting=meeting))
        self._touch(at, command_id)

    @event("Reminded")
    def _reminded(
        self, kind: str, due: datetime, at: datetime, actor: dict[str, Any], command_id: str
    ) -> None:
        self.state.reminders_sent.append(reminder_key(c.TimerKind(kind), due))
        if kind == c.TimerKind.HOLD_REVIEW.value:
            # the reviews keep their cadence from the hold, but one sent late (an
            # imported register's old dates, a worker down for months) stands for
            # those that fell due meanwhile: no burst of them follows it
            period = self.state.policy.hold_review
            self.state.last_hold_review = due + period * ((at - due) // period)
        self._touch(at, command_id)


def _actor(actor: Actor) -> dict[str, Any]:
    return actor.model_dump(mode="json")


def _by(cmd: c.Command | c.FileRequest, at: datetime) -> dict[str, Any]:
    """What every event records of the command that caused it: when, who, its id."""
    return {"at": at, "actor": _actor(cmd.actor), "command_id": cmd.command_id}


def _said(cmd: c.Command | c.FileRequest, at: datetime) -> dict[str, Any]:
    """``_by``, and the meeting it was said at, for the events that record one."""
    return {**_by(cmd, at), "meeting": cmd.meeting}
