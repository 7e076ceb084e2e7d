"""Who is told of what a command recorded, and in which words.

The aggregate records facts; this table of event name → handler drafts the
outbox messages they call for, each from the fact and the request's state after
the command, in the order the facts were recorded. A command that changes the
stage is told once more, last, unless an automatic close has said why already.
The store writes the drafts to the outbox in the same transaction as the events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .days import shown, shown_day
from .guards import short_of_support
from .notifications import EVERY_MEMBER, SECRETARIAT, NotificationDraft, NotificationKind
from .view import RequestView
from .vocabulary import CloseReason, Role, Stage


@dataclass(frozen=True)
class Fact:
    """One recorded event, as a handler reads it: its name and its attributes."""

    name: str
    data: Mapping[str, Any]

    @property
    def command_id(self) -> str:
        value: str = self.data["command_id"]
        return value


@dataclass(frozen=True)
class Notice:
    """What a handler wants said: the draft is made from it with its key."""

    kind: NotificationKind
    to: tuple[str, ...]
    subject: str
    body: str = ""


Handler = Callable[[Fact, RequestView], Notice | None]


def interested(view: RequestView) -> tuple[str, ...]:
    """The proposer, the endorsers and the secretariat."""
    return (view.proposer, *view.endorsers, SECRETARIAT)


#: every member and the secretariat: for what any member may act on
EVERYONE = (EVERY_MEMBER, SECRETARIAT)


def _filed(fact: Fact, view: RequestView) -> Notice:
    until = (
        f"; support it until {shown_day(view.support_deadline)}" if view.support_deadline else ""
    )
    return Notice(
        NotificationKind.FILED,
        EVERYONE,
        f"No.{view.number} filed by {view.proposer} ({view.category.value}): {view.target}{until}",
        view.body,
    )


def _clarification_asked(fact: Fact, view: RequestView) -> Notice:
    return Notice(
        NotificationKind.CLARIFICATION_ASKED,
        (view.proposer,),
        f"The secretariat asks about No.{view.number}",
        fact.data["question"],
    )


def _clarification_answered(fact: Fact, view: RequestView) -> Notice:
    return Notice(  # the thread is the proposer's and the secretariat's alone
        NotificationKind.CLARIFICATION_ANSWERED,
        (SECRETARIAT,),
        f"{view.proposer} answered the clarification question on No.{view.number}",
        fact.data["text"],
    )


def _objection_raised(fact: Fact, view: RequestView) -> Notice:
    return Notice(
        NotificationKind.OBJECTION_RAISED,
        (view.proposer, SECRETARIAT),
        f"{fact.data['company']} raised an objection to No.{view.number}",
        fact.data["reason"],
    )


def _objection_withdrawn(fact: Fact, view: RequestView) -> Notice:
    return Notice(  # those told of the objection hear it is gone
        NotificationKind.OBJECTION_WITHDRAWN,
        (view.proposer, SECRETARIAT),
        f"{fact.data['company']} withdrew its objection to No.{view.number}",
        fact.data["reason"],
    )


def _objection_dismissed(fact: Fact, view: RequestView) -> Notice:
    return Notice(
        NotificationKind.OBJECTION_DISMISSED,
        (fact.data["company"], SECRETARIAT),
        f"Your objection to No.{view.number} was ruled not blocking",
        fact.data["reason"],
    )


def _answer_recorded(fact: Fact, view: RequestView) -> Notice:
    meeting = fact.data["meeting"]
    return Notice(
        NotificationKind.ANSWERED,
        interested(view),
        f"No.{view.number} answered" + (f" (第{meeting}回)" if meeting else ""),
        fact.data["text"],
    )


def _closed(fact: Fact, view: RequestView) -> Notice | None:
    """A close at the end of support gathering says why itself: by the support
    deadline's timer, or by the secretariat ending it (``EndSupport``, which closes
    the window first, as the timer does)."""
    by_timer = fact.data["actor"].get("role") == Role.TIMER.value
    at_the_end = by_timer or view.support_window_closed
    if not at_the_end or fact.data["reason"] != CloseReason.INSUFFICIENT_SUPPORT.value:
        return None
    return Notice(
        NotificationKind.AUTO_CLOSED,
        interested(view),
        f"No.{view.number} closed: insufficient support",
        fact.data["note"],
    )


def _final_call_issued(fact: Fact, view: RequestView) -> Notice:
    meeting = fact.data["meeting"]
    until = f"meeting {meeting}" if meeting else shown_day(fact.data["deadline"])
    if fact.data["actor"].get("role") == Role.SECRETARIAT.value:
        # the secretariat's call (issue 20): told to those who back it by name, and
        # to every member, who may still support it
        return Notice(
            NotificationKind.FINAL_CALL,
            (view.proposer, *view.endorsers, *EVERYONE),
            f"No.{view.number}: final call, closed unless supported by {until}",
            f"support {view.support} of {view.policy.support_threshold}",
        )
    return Notice(
        NotificationKind.FINAL_CALL,
        EVERYONE,  # those who do not support it yet are asked
        f"No.{view.number} has been open over a year: closed unless supported by {until}",
    )


def _reminded(fact: Fact, view: RequestView) -> Notice | None:
    no, threshold = view.number, view.policy.support_threshold
    match fact.data["kind"]:
        case "deadline_approaching":
            assert view.support_deadline is not None  # the timer runs only with one
            return Notice(
                NotificationKind.DEADLINE_APPROACHING,
                interested(view),
                f"No.{no}: support deadline {shown_day(view.support_deadline)}, "
                f"support {view.support} of {threshold}",
            )
        case "clarification_reminder":
            return Notice(
                NotificationKind.CLARIFICATION_OVERDUE,
                (view.proposer, SECRETARIAT),
                f"No.{no}: the clarification question is still unanswered",
            )
        case "hold_review":
            assert view.held_at is not None  # the timer runs only on hold
            return Notice(
                NotificationKind.HOLD_REVIEW_DUE,
                (SECRETARIAT,),
                f"No.{no} has been on hold since {shown_day(view.held_at)}: review it",
                view.hold_reason or "",
            )
        case "planned_release":
            return Notice(
                NotificationKind.PLANNED_RELEASE_DUE,
                (SECRETARIAT,),
                f"No.{no} was planned for release on {view.planned_release}",
            )
    return None


EVENT_HANDLERS: Mapping[str, Handler] = {
    "Filed": _filed,
    "ClarificationAsked": _clarification_asked,
    "ClarificationAnswered": _clarification_answered,
    "ObjectionRaised": _objection_raised,
    "ObjectionWithdrawn": _objection_withdrawn,
    "ObjectionDismissed": _objection_dismissed,
    "AnswerRecorded": _answer_recorded,
    "Closed": _closed,
    "FinalCallIssued": _final_call_issued,
    "Reminded": _reminded,
}


def drafted(
    facts: Sequence[Fact], stage_before: Stage | None, view: RequestView, meeting: int | None
) -> list[NotificationDraft]:
    """The drafts for what one command recorded (``facts``), ``view`` being the
    request after it. ``stage_before`` is None for a filing, which is told as such."""
    notices: list[tuple[str, Notice]] = []
    for fact in facts:
        handler = EVENT_HANDLERS.get(fact.name)
        notice = handler(fact, view) if handler is not None else None
        if notice is not None:
            notices.append((fact.command_id, notice))
    auto_closed = any(n.kind is NotificationKind.AUTO_CLOSED for _, n in notices)
    if stage_before is not None and view.stage is not stage_before and not auto_closed and facts:
        tag = f" (第{meeting}回)" if meeting else ""
        notices.append(
            (
                facts[0].command_id,
                Notice(
                    NotificationKind.STAGE_CHANGED,
                    _told_of_stage(view),
                    f"No.{view.number}: {stage_before.value} → {view.stage.value}{tag}",
                    _why_the_stage_changed(view),
                ),
            )
        )
    return [
        NotificationDraft(
            key=f"{view.number}:{cid}:{n.kind.value}",
            kind=n.kind,
            request_number=view.number,
            recipients=n.to,
            subject=n.subject,
            body=n.body,
        )
        for cid, n in notices
    ]


def _told_of_stage(view: RequestView) -> tuple[str, ...]:
    """Who hears of the stage the request is in now: everyone when any member
    may act in it (support it, object), those concerned otherwise."""
    if view.stage in (Stage.GATHERING_SUPPORT, Stage.OBJECTION_WINDOW):
        return EVERYONE
    return interested(view)


def _why_the_stage_changed(view: RequestView) -> str:
    """What a member told of a new stage needs besides its name: until when any
    member may act in it, the reason for a hold or a close, what kept an objection
    window from leading to implementation."""
    window = view.objection_window
    match view.stage:
        case Stage.GATHERING_SUPPORT if view.support_deadline is not None:
            return f"any member may support it until {shown(view.support_deadline)}"
        case Stage.OBJECTION_WINDOW if window is not None:
            return f"any member may raise a problem until {shown(window.ends_at)}"
        case Stage.ON_HOLD:
            return view.hold_reason or ""
        case Stage.CLOSED if view.closure is not None:
            closure = view.closure
            same = f" (No.{closure.duplicate_of})" if closure.duplicate_of else ""
            return f"{closure.reason.value}{same}: {closure.note}".rstrip(": ")
        case Stage.COST_EVALUATION if window is not None and window.ended:
            reasons = [f"{o.company}: {o.reason}" for o in window.standing]
            if window.short_of_support:
                reasons.append(short_of_support(view))
            return "\n".join(reasons)
    return ""
