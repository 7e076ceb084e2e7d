"""What the notifications of a request say: enough for a member to act on without
asking the secretariat."""

from __future__ import annotations

from ringi.domain.commands import (
    AnswerClarification,
    AskClarification,
    Close,
    Hold,
    RaiseObjection,
    TimerFired,
    TimerKind,
    WithdrawEndorsement,
    WithdrawObjection,
)
from ringi.domain.notifications import NotificationKind
from ringi.domain.vocabulary import CloseReason

from .domain_builders import (
    PROPOSER,
    State,
    day,
    member,
    objection_window_ends,
    request_in,
    secretariat,
)


def test_a_stage_change_tells_the_members_why() -> None:
    """A member told only 'gathering_support → on_hold' must ask the secretariat why;
    the notification carries the hold's reason, the close's reason and note, and what
    kept an objection window from leading to implementation."""
    held = request_in(State.GATHERING_SUPPORT)
    held.handle(Hold(actor=secretariat(), reason="FIT法改正の動向待ち", meeting=33), day(5))
    (change,) = held.take_notifications()
    assert change.kind is NotificationKind.STAGE_CHANGED
    assert change.subject == "No.1: gathering_support → on_hold (第33回)"
    assert change.body == "FIT法改正の動向待ち"

    closed = request_in(State.GATHERING_SUPPORT)
    closed.handle(Close(actor=secretariat(), reason=CloseReason.DUPLICATE, duplicate_of=43), day(5))
    assert [d.body for d in closed.take_notifications()] == ["duplicate (No.43)"]

    window = request_in(State.OBJECTION_WINDOW)
    window.handle(RaiseObjection(actor=member("C社"), reason="費用負担が大きい"), day(8))
    window.handle(WithdrawEndorsement(actor=member("E社")), day(9))
    window.take_notifications()
    end = objection_window_ends()
    window.handle(TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)
    (change,) = window.take_notifications()
    assert change.body.splitlines() == [
        "C社: 費用負担が大きい",
        "No.1 has the support of 4 companies; implementing it needs 5",
    ]


def test_a_reply_to_a_clarification_and_a_withdrawn_objection_are_told() -> None:
    """The secretariat hears the proposer's reply when it comes (the thread is theirs
    alone: nobody else is told), not when the reminder falls due; the proposer
    hears that an objection it was told of is withdrawn."""
    asked = request_in(State.HEARING)
    asked.handle(AskClarification(actor=secretariat(), question="Web・APIいずれですか"), day(5))
    asked.take_notifications()
    asked.handle(AnswerClarification(actor=member(PROPOSER), text="APIです"), day(6))
    (reply,) = asked.take_notifications()
    assert (reply.kind, reply.recipients) == (
        NotificationKind.CLARIFICATION_ANSWERED,
        ("secretariat",),
    )
    assert reply.body == "APIです"

    window = request_in(State.OBJECTION_WINDOW)
    window.handle(RaiseObjection(actor=member("C社"), reason="費用負担が大きい"), day(8))
    window.take_notifications()
    window.handle(WithdrawObjection(actor=member("C社"), reason="社内で解決"), day(9))
    (withdrawn,) = window.take_notifications()
    assert withdrawn.kind is NotificationKind.OBJECTION_WITHDRAWN
    assert withdrawn.recipients == (PROPOSER, "secretariat") and withdrawn.body == "社内で解決"
