"""The secretariat's windows (issue 20), live: ringi on the time-skipping
Temporal server with a real worker and the event store ``RINGI_TEST_STORE``
names, driven with today's dates.

No.39's documented story (its row in the shared register fixture) is told
meeting by meeting, nothing imported: after each meeting its stage, its timers
and its rendered 回答 cell are what the register says. Then the secretariat's
conclusion of an objection window and the window's timer, in both orders, with
the worker stopped between the two and a new one (no cache: it replays the
workflow's history) taking over: exactly one transition each time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from ringi.config import Settings
from ringi.domain.commands import (
    Approve,
    EndObjectionWindow,
    EvaluateCost,
    ExtendDeadline,
    FinalCall,
    OpenObjectionWindow,
    RecordAnswer,
    RecordFindings,
    TimerFired,
    TimerKind,
)
from ringi.domain.days import JST
from ringi.domain.errors import Refused
from ringi.domain.vocabulary import Role, Stage
from ringi.register.document import register_document
from ringi.register.importer import ParsedAnswer, parse_register
from ringi.register.render import cells
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.conftest import running_worker
from tests.helpers import (
    PROPOSER,
    SECRETARIAT,
    SUPPORTERS,
    assert_refused,
    assert_store_matches_workflow,
    cost_inputs_worthwhile,
    endorse_by,
    events,
    file_request,
    open_meeting,
    outbox,
    pending_timers,
    request_in_objection_window,
)

FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "switching-requests-register.tsv"
)


def no39_answers() -> list[ParsedAnswer]:
    """No.39's answers as the shared register gives them, each with its meeting."""
    parsed = parse_register(FIXTURE.read_bytes(), FIXTURE.name)
    (row,) = [r for r in parsed.rows if r.number == 39]
    assert row.support == 5  # the proposer and four others, as the story below gathers
    return list(row.answers)


def cell_of(answers: list[ParsedAnswer]) -> str:
    """The 回答 cell the register prints for these answers: each tagged with its
    meeting, joined by →."""
    return "\n→".join(a.text + (f"(第{a.meeting}回)" if a.meeting else "") for a in answers)


def printed(store: RingiStore, number: int, meeting: int) -> list[str]:
    doc = register_document(store, meeting=meeting)
    (row,) = [r for r in doc.rows if r.number == number]
    return cells(row, "ja")


def at_two(day: date) -> datetime:
    return datetime.combine(day, time(14), JST)


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    now = await env.get_current_time()
    assert moment > now, f"{moment} is not after {now}"
    await env.sleep(moment - now)


async def timers_of(ringi: Ringi, number: int) -> list[tuple[TimerKind, datetime]]:
    return [(TimerKind(t.timer), t.due) for t in await pending_timers(ringi, number)]


async def test_no39_told_meeting_by_meeting(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    env = time_skipping_env
    answers = no39_answers()
    by_meeting = {m: [a for a in answers if a.meeting == m] for m in (27, 33, 35, 36, 37)}
    before_27 = [a for a in answers if a.meeting is None]
    assert len(before_27) == 3 and all(by_meeting.values())

    today = (await env.get_current_time()).astimezone(JST).date()
    held = {n: at_two(today + timedelta(days=d)) for n, d in ((26, 20), (27, 50), (33, 80))}
    held |= {n: at_two(today + timedelta(days=d)) for n, d in ((35, 110), (36, 140), (37, 170))}
    for number, when in held.items():
        open_meeting(ringi, number, when)

    filed = await file_request(ringi, target="使用量情報照会のパスワード発行")
    n = filed.number
    assert filed.support_deadline is not None and filed.support_deadline > held[27]
    await endorse_by(ringi, n, SUPPORTERS[:1])

    async def answer(given: list[ParsedAnswer]) -> None:
        for a in given:
            await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=a.text, meeting=a.meeting))

    # --- 第26回: the final call, to the next meeting: earlier than the deadline running
    await skip_to(env, held[26] - timedelta(hours=2))
    await answer(before_27[:2])
    too_early = ExtendDeadline(actor=SECRETARIAT, deadline=held[27], until_meeting=27)
    await assert_refused(ringi, n, too_early, "is not later than the current one")
    call = FinalCall(actor=SECRETARIAT, until_meeting=27, deadline=held[27], meeting=26)
    view = await ringi.act(n, call)
    await answer(before_27[2:])
    assert view.stage is Stage.GATHERING_SUPPORT
    assert (view.support_deadline, view.support_until_meeting) == (held[27], 27)
    assert await timers_of(ringi, n) == [
        (TimerKind.DEADLINE_APPROACHING, held[27] - timedelta(days=7)),
        (TimerKind.SUPPORT_DEADLINE, held[27]),
    ]
    (called,) = events(store, n, "FinalCallIssued")
    assert called.actor is not None and called.actor["role"] == Role.SECRETARIAT
    (told,) = outbox(store, n, "final_call")
    assert told.recipients[:2] == [PROPOSER, SUPPORTERS[0]] and "*members" in told.recipients
    assert "closed unless supported by meeting 27" in told.subject
    await skip_to(env, held[26] + timedelta(hours=12))
    assert printed(store, n, 26)[4] == cell_of(before_27)

    # --- 第27回: enough support came before the meeting: the hearing is open
    await skip_to(env, held[27] - timedelta(days=3))
    view = await endorse_by(ringi, n, SUPPORTERS[1:])
    assert view.stage is Stage.HEARING and view.support == 5
    await skip_to(env, held[27] - timedelta(hours=2))
    await answer(by_meeting[27])
    await skip_to(env, held[27] + timedelta(hours=12))
    assert store.view(n).stage is Stage.HEARING
    assert await timers_of(ringi, n) == []
    assert "SupportWindowClosed" not in [e.event for e in events(store, n)]
    assert printed(store, n, 27)[4] == cell_of(before_27 + by_meeting[27])

    # --- 第33回: the hearing's findings, cost-effective
    await skip_to(env, held[33] - timedelta(hours=2))
    text = "事業者ヒアリングの結果、一括申請機能の追加を要望"
    await ringi.act(n, RecordFindings(actor=SECRETARIAT, text=text, meeting=33))
    inputs = cost_inputs_worthwhile()
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=inputs, meeting=33))
    await answer(by_meeting[33])
    await skip_to(env, held[33] + timedelta(hours=12))
    assert store.view(n).stage is Stage.COST_EVALUATION
    assert await timers_of(ringi, n) == []
    told_33 = before_27 + by_meeting[27] + by_meeting[33]
    assert printed(store, n, 33)[4] == cell_of(told_33)

    # --- 第35回: 第35回資料2別紙1, objections until the next meeting
    await skip_to(env, held[35] - timedelta(hours=2))
    window = OpenObjectionWindow(actor=SECRETARIAT, meeting=35, ends_at=held[36], until_meeting=36)
    view = await ringi.act(n, window)
    await answer(by_meeting[35])
    opened = view.objection_window
    assert opened is not None and (opened.ends_at, opened.until_meeting) == (held[36], 36)
    assert await timers_of(ringi, n) == [(TimerKind.OBJECTION_WINDOW_END, held[36])]
    await skip_to(env, held[35] + timedelta(hours=12))
    assert store.view(n).stage is Stage.OBJECTION_WINDOW
    assert printed(store, n, 35)[4] == cell_of(told_33 + by_meeting[35])

    # meeting 36 is put back a week: the window follows it
    moved = held[36] + timedelta(days=7)
    followed = await ringi.reschedule_meeting(36, moved, "会場の都合により延期", SECRETARIAT)
    assert followed.following == [n]
    held[36] = moved
    window_now = store.view(n).objection_window
    assert window_now is not None and (window_now.ends_at, window_now.until_meeting) == (moved, 36)
    assert await timers_of(ringi, n) == [(TimerKind.OBJECTION_WINDOW_END, moved)]

    # --- 第36回: no 「問題あり」: the secretariat concludes the window, before its timer
    await skip_to(env, held[36] - timedelta(hours=2))
    view = await ringi.act(n, EndObjectionWindow(actor=SECRETARIAT, meeting=36))
    assert view.stage is Stage.IMPLEMENTATION
    release = (held[36] + timedelta(days=90)).astimezone(JST).date()  # 2019年2月リリース予定
    await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=release, meeting=36))
    await answer(by_meeting[36])
    assert await timers_of(ringi, n) == [
        (TimerKind.PLANNED_RELEASE, datetime.combine(release, time(0), JST))
    ]
    await skip_to(env, held[36] + timedelta(hours=12))  # past the window's old end
    (ended,) = events(store, n, "ObjectionWindowEnded")  # once: the timer did nothing more
    assert ended.actor is not None and ended.actor["role"] == Role.SECRETARIAT
    assert ended.meeting == 36
    told_36 = told_33 + by_meeting[35] + by_meeting[36]
    assert printed(store, n, 36)[4] == cell_of(told_36)

    # --- 第37回: what the network operators said
    await skip_to(env, held[37] - timedelta(hours=2))
    await answer(by_meeting[37])
    await skip_to(env, held[37] + timedelta(hours=12))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION and stored.planned_release == release
    row = printed(store, n, 37)
    assert row[4] == cell_of(answers)
    assert row[5] == "5"  # the register's last column for No.39


# --- the secretariat and the timer, in both orders -------------------------------------


async def test_secretariat_first_then_the_timer_with_a_new_worker_one_transition(
    time_skipping_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> None:
    env, client = time_skipping_env, time_skipping_env.client
    ringi = Ringi(settings, client, store)
    async with running_worker(client, settings, store, sticky=False):
        view = await request_in_objection_window(ringi)
        n, window = view.number, view.objection_window
        assert window is not None
        view = await ringi.act(n, EndObjectionWindow(actor=SECRETARIAT, meeting=35))
        assert view.stage is Stage.IMPLEMENTATION
    # the worker is gone; the window's end passes with none running
    await skip_to(env, window.ends_at + timedelta(hours=1))
    async with running_worker(client, settings, store, sticky=False):
        await skip_to(env, window.ends_at + timedelta(days=1))
        assert await timers_of(ringi, n) == []
        # the timer, were it to fire now, is told it no longer applies
        late = TimerFired.at(TimerKind.OBJECTION_WINDOW_END, window.ends_at)
        with pytest.raises(Refused, match="no longer applies"):
            await ringi.act(n, late)
        stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    (ended,) = events(store, n, "ObjectionWindowEnded")
    assert ended.actor is not None and ended.actor["role"] == Role.SECRETARIAT
    assert len(outbox(store, n, "stage_changed")) == 4  # filed → … → implementation, once


async def test_the_timer_first_then_the_secretariat_with_a_new_worker_one_transition(
    time_skipping_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> None:
    env, client = time_skipping_env, time_skipping_env.client
    ringi = Ringi(settings, client, store)
    async with running_worker(client, settings, store, sticky=False):
        view = await request_in_objection_window(ringi)
        n, window = view.number, view.objection_window
        assert window is not None
        await skip_to(env, window.ends_at + timedelta(hours=1))
        (ended,) = events(store, n, "ObjectionWindowEnded")
        assert ended.actor is not None and ended.actor["role"] == Role.TIMER
    # a new worker, and the secretariat, not knowing, concludes the window at the meeting
    async with running_worker(client, settings, store, sticky=False):
        await assert_refused(
            ringi,
            n,
            EndObjectionWindow(actor=SECRETARIAT, meeting=35),
            "the objection window of No.1 has ended already .* implementation",
        )
        stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    assert len(events(store, n, "ObjectionWindowEnded")) == 1
    assert len(outbox(store, n, "stage_changed")) == 4


async def test_both_at_the_same_moment_one_transition(
    time_skipping_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> None:
    """The window's end comes with no worker; the secretariat's conclusion is sent
    and a new worker starts: the timer and the conclusion reach the workflow
    together, and one of them moves the request, the other finds it moved."""
    import asyncio

    env, client = time_skipping_env, time_skipping_env.client
    ringi = Ringi(settings, client, store)
    async with running_worker(client, settings, store, sticky=False):
        view = await request_in_objection_window(ringi)
        n, window = view.number, view.objection_window
        assert window is not None
    # to the very moment the window ends: its timer falls due with no worker to run it
    await skip_to(env, window.ends_at)
    sent = asyncio.ensure_future(ringi.act(n, EndObjectionWindow(actor=SECRETARIAT, meeting=35)))
    await asyncio.sleep(0.5)  # the update is with the server, waiting for a worker
    async with running_worker(client, settings, store, sticky=False):
        winner = Role.SECRETARIAT
        try:
            answered = await sent
            assert answered.stage is Stage.IMPLEMENTATION
        except Refused as refusal:
            assert "has ended already" in str(refusal)
            winner = Role.TIMER
        stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    (ended,) = events(store, n, "ObjectionWindowEnded")
    assert ended.actor is not None and ended.actor["role"] == winner
    assert len(outbox(store, n, "stage_changed")) == 4
