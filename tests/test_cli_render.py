"""How a request reads on a terminal (``ringi show``): everything the caller may
read of it, in words, not only in ``--json``."""

from __future__ import annotations

from ringi.cli.render import request_text, summary
from ringi.domain.commands import (
    AnswerClarification,
    AskClarification,
    RecordFindings,
    TimerFired,
    TimerKind,
    WithdrawEndorsement,
)
from ringi.domain.lifecycle import as_read_by
from ringi.domain.vocabulary import Role

from .domain_builders import (
    PROPOSER,
    State,
    day,
    member,
    objection_window_ends,
    request_in,
    secretariat,
    soon_after,
    view_in,
)


def test_show_prints_the_clarification_thread_and_the_hearing_findings() -> None:
    request = request_in(State.HEARING)
    question = "Web・APIいずれの機能のご要望か具体的にご教示願います"
    request.handle(AskClarification(actor=secretariat(), question=question), day(5))
    request.handle(AnswerClarification(actor=member(PROPOSER), text="API機能の要望です"), day(6))
    request.handle(AskClarification(actor=secretariat(), question="件数の見込みは"), day(7))
    request.handle(RecordFindings(actor=secretariat(), text="5社とも一括照会が必要"), day(8))
    view = request.view()

    text = request_text(view, [], soon_after(view))

    assert question in text and "reply 2017-06-07" in text and "API機能の要望です" in text
    assert "件数の見込みは" in text and "reply due 2017-07-08" in text
    assert "hearing 2017-06-09: 5社とも一括照会が必要" in text
    assert "timeline:" not in text  # no timeline given, no empty heading
    # what another member may not read is not in the view it is shown
    other = as_read_by(view, Role.MEMBER, "Z社")
    assert question not in request_text(other, [], soon_after(view))


def test_a_question_is_not_shown_with_a_support_count() -> None:
    assert "support" not in summary(view_in(State.ANSWERED))
    assert "support 5/5" in summary(view_in(State.HEARING))


def test_a_window_that_ended_short_of_support_says_so() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    request.handle(WithdrawEndorsement(actor=member("E社")), day(8))
    end = objection_window_ends()
    request.handle(TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)
    view = request.view()

    assert "ended with support below the threshold" in request_text(view, [], soon_after(view))
