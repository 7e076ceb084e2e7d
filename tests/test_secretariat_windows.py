"""The secretariat's windows (issue 20), as rules of the aggregate: a final call
moves the support deadline to a meeting, earlier or later; the secretariat ends
support gathering or concludes the objection window itself, recording what the
window's timer would; and whichever comes second of the two (the secretariat's
move, the timer) finds nothing left to do.

The same, live on Temporal with a worker stopped or killed between the two, is
in ``test_secretariat_windows_live.py`` and ``test_faults_windows.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ringi.domain import lifecycle
from ringi.domain.commands import (
    EndObjectionWindow,
    EndSupport,
    ExtendDeadline,
    FinalCall,
    OpenObjectionWindow,
    RaiseObjection,
    TimerFired,
    TimerKind,
    WithdrawEndorsement,
)
from ringi.domain.notifications import EVERY_MEMBER, SECRETARIAT, NotificationKind
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.vocabulary import CloseReason, Role, Stage
from tests.domain_builders import (
    ENDORSER,
    OTHERS,
    PROPOSER,
    State,
    day,
    member,
    objection_window_ends,
    request_in,
    run,
    scenario,
    secretariat,
)
from tests.test_lifecycle_rules import allows, refuses


def _pending(request: Request) -> set[tuple[TimerKind, object]]:
    return {(t.timer, t.due) for t in lifecycle.pending_timers(request.view())}


def _recorded(request: Request, since: int) -> list[str]:
    return [type(e).__name__ for e in request.pending_events[since:]]


# --- the final call -------------------------------------------------------------------


def test_a_final_call_moves_the_support_deadline_earlier_to_a_meeting() -> None:
    """No.39: 次回会議(第27回)までに多数の賛同がなければクローズいたします, when the
    deadline running is later than meeting 27: extending to it is refused, a final
    call takes it."""
    request = request_in(State.GATHERING_SUPPORT)
    deadline = request.view().support_deadline
    assert deadline is not None
    meeting_27 = day(20)
    assert meeting_27 < deadline
    too_early = ExtendDeadline(actor=secretariat(), deadline=meeting_27, until_meeting=27)
    assert "is not later than the current one" in str(refuses(request, too_early, day(10)))

    since = len(request.pending_events)
    call = FinalCall(actor=secretariat(), until_meeting=27, deadline=meeting_27, meeting=26)
    request.handle(call, day(10))
    view = request.view()
    assert (view.support_deadline, view.support_until_meeting) == (meeting_27, 27)
    assert view.final_call_at == day(10)
    assert _recorded(request, since) == ["FinalCallIssued"]
    fact = request.pending_events[-1]
    assert fact.actor["role"] == Role.SECRETARIAT.value  # type: ignore[attr-defined]
    assert (fact.meeting, fact.said_at) == (27, 26)  # type: ignore[attr-defined]
    # the support deadline's timer now runs until the meeting; the year's final call
    # has been made, so its timer no longer runs
    assert (TimerKind.SUPPORT_DEADLINE, meeting_27) in _pending(request)
    assert not any(kind is TimerKind.FINAL_CALL for kind, _ in _pending(request))
    assert lifecycle.follows_meeting(view, 27)

    (told,) = request.take_notifications()
    assert told.kind is NotificationKind.FINAL_CALL
    assert told.recipients == (PROPOSER, ENDORSER, EVERY_MEMBER, SECRETARIAT)
    assert told.subject == "No.1: final call, closed unless supported by meeting 27"
    assert told.body == "support 2 of 5"


def test_a_final_call_moves_the_support_deadline_later_too() -> None:
    request = request_in(State.GATHERING_SUPPORT)
    later = day(200)
    allows(request, FinalCall(actor=secretariat(), until_meeting=40, deadline=later), day(10))
    assert request.view().support_deadline == later


def test_a_final_call_is_refused_for_a_past_meeting_twice_over_and_outside_gathering() -> None:
    request = request_in(State.GATHERING_SUPPORT)
    past = FinalCall(actor=secretariat(), until_meeting=26, deadline=day(5))
    assert "not in the future" in str(refuses(request, past, day(10)))
    call = FinalCall(actor=secretariat(), until_meeting=27, deadline=day(20))
    allows(request, call, day(10))
    again = FinalCall(actor=secretariat(), until_meeting=27, deadline=day(20))
    assert "meeting 27 (第27回) already" in str(refuses(request, again, day(11)))

    hearing = request_in(State.HEARING)
    late = FinalCall(actor=secretariat(), until_meeting=27, deadline=day(200))
    assert "cannot issue a final call" in str(refuses(hearing, late, day(10)))


# --- ending support gathering ------------------------------------------------------------


def test_ending_support_short_of_the_threshold_closes_as_the_deadline_would() -> None:
    by_hand, by_timer = request_in(State.GATHERING_SUPPORT), request_in(State.GATHERING_SUPPORT)
    deadline = by_timer.view().support_deadline
    assert deadline is not None
    since = len(by_hand.pending_events)
    by_hand.handle(EndSupport(actor=secretariat(), meeting=27), day(10))
    by_timer.handle(TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline), deadline)

    assert _recorded(by_hand, since) == ["SupportWindowClosed", "Closed"]
    hand, timed = by_hand.view(), by_timer.view()
    assert hand.stage is timed.stage is Stage.CLOSED
    assert hand.closure is not None and timed.closure is not None
    assert hand.closure.reason is timed.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    assert hand.closure.note == timed.closure.note == "support 2 of 5 at the deadline"
    assert hand.closure.by.role is Role.SECRETARIAT
    # the same message: those concerned are told it closed, and why
    (hand_told,), (timer_told,) = by_hand.take_notifications(), by_timer.take_notifications()
    assert hand_told.kind is timer_told.kind is NotificationKind.AUTO_CLOSED
    assert (hand_told.recipients, hand_told.subject, hand_told.body) == (
        timer_told.recipients,
        timer_told.subject,
        timer_told.body,
    )
    # and the timer, come late, has nothing left to do: the request is closed
    late = TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline)
    assert "No.1 is closed" in str(refuses(by_hand, late, deadline))


def test_ending_support_with_the_threshold_met_keeps_the_request_as_the_deadline_would() -> None:
    request = request_in(State.THRESHOLD_MET)  # the policy leaves the hearing to a person
    since = len(request.pending_events)
    request.handle(EndSupport(actor=secretariat()), day(10))
    request.take_notifications()
    assert _recorded(request, since) == ["SupportWindowClosed"]
    view = request.view()
    assert view.stage is Stage.GATHERING_SUPPORT and view.support_window_closed
    assert not any(kind is TimerKind.SUPPORT_DEADLINE for kind, _ in _pending(request))
    refusal = refuses(request, EndSupport(actor=secretariat()), day(11))
    assert "has ended already" in str(refusal)


def test_ending_support_after_its_timer_fired_is_refused() -> None:
    request = request_in(State.THRESHOLD_MET)
    deadline = request.view().support_deadline
    assert deadline is not None
    request.handle(TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline), deadline)
    request.take_notifications()
    refusal = refuses(request, EndSupport(actor=secretariat()), deadline + timedelta(hours=1))
    assert "the support window of No.1 has ended already" in str(refusal)


# --- the objection window --------------------------------------------------------------------


def test_the_secretariat_concludes_the_objection_window_and_the_timer_then_does_nothing() -> None:
    """No.39: 会議後、…「問題あり」というご意見はなかったことから、システム改修を進めています."""
    request = request_in(State.OBJECTION_WINDOW)
    end = objection_window_ends()
    since = len(request.pending_events)
    request.handle(EndObjectionWindow(actor=secretariat(), meeting=36), end - timedelta(days=1))
    request.take_notifications()
    assert _recorded(request, since) == ["ObjectionWindowEnded"]
    view = request.view()
    assert view.stage is Stage.IMPLEMENTATION
    window = view.objection_window
    assert window is not None and window.cleared
    fact = request.pending_events[-1]
    assert fact.meeting == 36  # type: ignore[attr-defined]
    assert fact.actor["role"] == Role.SECRETARIAT.value  # type: ignore[attr-defined]
    assert not any(kind is TimerKind.OBJECTION_WINDOW_END for kind, _ in _pending(request))
    late = TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end)
    assert "no longer applies" in str(refuses(request, late, end))


def test_after_the_window_timer_the_secretariats_conclusion_is_refused_saying_so() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    end = objection_window_ends()
    request.handle(TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)
    request.take_notifications()
    assert request.view().stage is Stage.IMPLEMENTATION
    refusal = refuses(request, EndObjectionWindow(actor=secretariat()), end)
    assert "the objection window of No.1 has ended already" in str(refusal)
    assert "implementation" in str(refusal)


def test_a_standing_objection_keeps_the_window_from_being_concluded_and_is_named() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    at = day(8)
    allows(request, RaiseObjection(actor=member(OTHERS[0]), reason="運用への影響が大きい"), at)
    refusal = refuses(request, EndObjectionWindow(actor=secretariat()), at)
    assert "1 objection(s) to No.1 still stand: C社: 運用への影響が大きい" in str(refusal)


def test_support_fallen_short_keeps_the_window_from_being_concluded() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    allows(request, WithdrawEndorsement(actor=member(ENDORSER)), day(8))
    refusal = refuses(request, EndObjectionWindow(actor=secretariat()), day(8))
    assert str(refusal) == lifecycle.short_of_support(request.view())


def test_an_objection_window_until_a_meeting_ends_on_its_day_and_follows_it() -> None:
    s = scenario(State.COST_EVALUATION)
    request = run(s)
    meeting_36 = day(40)
    opened = OpenObjectionWindow(
        actor=secretariat(), meeting=35, ends_at=meeting_36, until_meeting=36
    )
    allows(request, opened, day(8))
    view = request.view()
    window = view.objection_window
    assert window is not None and (window.ends_at, window.until_meeting) == (meeting_36, 36)
    assert _pending(request) == {(TimerKind.OBJECTION_WINDOW_END, meeting_36)}
    assert lifecycle.follows_meeting(view, 36) and not lifecycle.follows_meeting(view, 35)
    assert lifecycle.meeting_deadline(view) == meeting_36
    # meeting 36 put back a week: the window follows it (as the service extends it)
    later = meeting_36 + timedelta(days=7)
    allows(request, ExtendDeadline(actor=secretariat(), deadline=later, until_meeting=36), day(9))
    window = request.view().objection_window
    assert window is not None and (window.ends_at, window.until_meeting) == (later, 36)
    # an extension to a date says nothing of a meeting: the window follows none
    allows(request, ExtendDeadline(actor=secretariat(), deadline=later + timedelta(days=1)), day(9))
    assert not lifecycle.follows_meeting(request.view(), 36)


def test_an_objection_window_given_an_end_in_the_past_is_refused() -> None:
    request = request_in(State.COST_EVALUATION)
    opened = OpenObjectionWindow(actor=secretariat(), ends_at=day(7))
    assert "must end in the future" in str(refuses(request, opened, day(8)))


@pytest.mark.parametrize("command", [EndSupport, EndObjectionWindow])
def test_only_the_secretariat_ends_a_window(command: type[EndSupport | EndObjectionWindow]) -> None:
    state = State.GATHERING_SUPPORT if command is EndSupport else State.OBJECTION_WINDOW
    request = request_in(state)
    refusal = refuses(request, command(actor=member(PROPOSER)), day(8))
    assert "only the secretariat may" in str(refusal)


def test_the_policy_window_is_the_default_end() -> None:
    request = request_in(State.COST_EVALUATION)
    allows(request, OpenObjectionWindow(actor=secretariat()), day(8))
    window = request.view().objection_window
    assert window is not None and window.ends_at == day(8) + Policy().objection_window
    assert window.until_meeting is None
