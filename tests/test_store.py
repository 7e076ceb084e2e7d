"""The event store, against real databases: a SQLite file and PostgreSQL.

Every test runs on both. PostgreSQL is at 127.0.0.1:5432 (database ``test``,
user ``postgres``); each test gets a schema of its own that is dropped after.
If PostgreSQL cannot be reached the postgres tests fail: they never skip.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg import sql

from ringi.domain.commands import (
    AnswerClarification,
    AppendNote,
    Approve,
    AskClarification,
    ChangeReleaseDate,
    Close,
    Command,
    CorrectAnswer,
    Endorse,
    EvaluateCost,
    ExtendDeadline,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Resume,
    TimerFired,
    TimerKind,
    Withdraw,
    WithdrawEndorsement,
)
from ringi.domain.errors import Conflict, NotAllowed, Refused
from ringi.domain.lifecycle import JST, pending_timers
from ringi.domain.meeting import PLACEHOLDER_DATE
from ringi.domain.notifications import EVERY_MEMBER, SECRETARIAT, NotificationKind
from ringi.domain.subscriptions import Channel
from ringi.domain.vocabulary import Category, CloseReason, Role
from ringi.store import Outcome, RingiStore
from tests.domain_builders import (
    ENDORSER,
    OTHERS,
    OUTSIDER,
    PLANNED_RELEASE,
    PROPOSER,
    T0,
    Scenario,
    State,
    cost_effective_inputs,
    day,
    filing,
    fully_supported,
    member,
    no61_inputs,
    run,
    scenario,
    secretariat,
)

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The eventsourcing settings of one empty event store."""
    if request.param == "sqlite":
        yield {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "events.db"),
        }
        return
    schema = f"ringi_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(**POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        unreachable = str(error)
    else:
        unreachable = ""
    if unreachable:
        pytest.fail(
            f"PostgreSQL is unreachable at {POSTGRES['host']}:{POSTGRES['port']} "
            f"(database {POSTGRES['dbname']}, user {POSTGRES['user']}): {unreachable}",
            pytrace=False,
        )
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": POSTGRES["dbname"],
                "POSTGRES_HOST": POSTGRES["host"],
                "POSTGRES_PORT": str(POSTGRES["port"]),
                "POSTGRES_USER": POSTGRES["user"],
                "POSTGRES_PASSWORD": "",
                "POSTGRES_SCHEMA": schema,
                "CREATE_TABLE": "y",
            }
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def open_store(store_env: dict[str, str]) -> Iterator[Callable[[], RingiStore]]:
    """Opens another ``RingiStore`` on the same database: a second process, a
    restarted worker, an auditor replaying from scratch."""
    opened: list[RingiStore] = []

    def open_() -> RingiStore:
        store = RingiStore(env=store_env)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def ringi_store(open_store: Callable[[], RingiStore]) -> RingiStore:
    return open_store()


# --- helpers ------------------------------------------------------------------------------


def play(store: RingiStore, s: Scenario) -> tuple[int, list[Outcome]]:
    """Files the scenario's request and carries out its commands; returns the
    request's number and every outcome."""
    number = store.reserve_number(s.filing.command_id)
    outcomes = [store.file(number, s.filing, s.policy, T0)]
    for step in s.steps:
        outcomes.append(store.execute(number, step.command, step.at))
    return number, outcomes


def fingerprint(store: RingiStore, number: int) -> tuple[int, int, list[str]]:
    """What a write would change: the version, the timeline, the outbox."""
    return (
        store.view(number).version,
        len(store.timeline(number)),
        sorted(m.key for m in store.outbox()),
    )


def in_two_threads(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """Runs both at once, from a common start line; returns (or raises) both results."""
    start = threading.Barrier(2)

    def ready(work: Callable[[], T]) -> Callable[[], T]:
        def go() -> T:
            start.wait()
            return work()

        return go

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(ready(first)), pool.submit(ready(second))
        return a.result(), b.result()


# --- replay -------------------------------------------------------------------------------

MEETINGS = {27: day(7), 28: day(220)}


def open_meetings(store: RingiStore) -> None:
    for number, held_at in MEETINGS.items():
        store.open_meeting(number, held_at, secretariat(), title=f"第{number}回")


def to_release() -> Scenario:
    """Most of what can happen to a request, on its way to release."""
    new_release = date(2019, 3, 1)
    s = fully_supported()  # hearing from day 4
    s.then(day(5), AskClarification(actor=secretariat(), question="Web・APIいずれですか"))
    s.then(day(6), AnswerClarification(actor=member(PROPOSER), text="APIです"))
    s.then(day(7), RecordFindings(actor=secretariat(), text="5社とも必要", meeting=27))
    s.then(day(7), RecordAnswer(actor=secretariat(), text="ヒアリング実施", meeting=27))
    s.then(day(8), CorrectAnswer(actor=secretariat(), answer_id="a1", text="訂正", reason="誤記"))
    s.then(day(9), EvaluateCost(actor=secretariat(), inputs=no61_inputs()))
    s.then(day(10), Hold(actor=secretariat(), reason="法改正待ち"))
    s.then(day(190), TimerFired.at(TimerKind.HOLD_REVIEW, day(190)))
    s.then(day(200), Resume(actor=secretariat(), reason="法改正確定"))
    s.then(day(201), EvaluateCost(actor=secretariat(), inputs=cost_effective_inputs()))
    s.then(day(202), OpenObjectionWindow(actor=secretariat()))
    s.then(day(203), RaiseObjection(actor=member("C社"), reason="費用負担"))
    s.then(day(216), TimerFired.at(TimerKind.OBJECTION_WINDOW_END, day(216)))
    s.then(day(220), OpenObjectionWindow(actor=secretariat(), meeting=28))
    s.then(day(221), ExtendDeadline(actor=secretariat(), deadline=day(240), reason="延長"))
    s.then(day(240), TimerFired.at(TimerKind.OBJECTION_WINDOW_END, day(240)))
    s.then(day(241), AppendNote(actor=member(PROPOSER), text="追記: 早期実施を希望"))
    s.then(day(242), Approve(actor=secretariat(), planned_release=PLANNED_RELEASE))
    s.then(day(243), ChangeReleaseDate(actor=secretariat(), planned_release=new_release))
    due = datetime.combine(new_release, time(0), JST)
    s.then(due, TimerFired.at(TimerKind.PLANNED_RELEASE, due))
    return s.then(due + timedelta(hours=10), Release(actor=secretariat()))


def support_lapses() -> Scenario:
    s = scenario(State.GATHERING_SUPPORT)
    s.then(day(83), TimerFired.at(TimerKind.DEADLINE_APPROACHING, day(83)))
    return s.then(day(90), TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90)))


def final_call_then_withdrawn() -> Scenario:
    s = scenario(State.GATHERING_SUPPORT)
    s.then(day(10), ExtendDeadline(actor=secretariat(), deadline=day(400), reason="第30回まで"))
    s.then(day(365), TimerFired.at(TimerKind.FINAL_CALL, day(365)))
    s.then(day(366), WithdrawEndorsement(actor=member(ENDORSER)))
    return s.then(day(370), Withdraw(actor=member(PROPOSER), reason="運用で対応"))


def question_answered() -> Scenario:
    s = Scenario(filing(Category.QUESTION, meeting=27))
    s.then(day(7), RecordAnswer(actor=secretariat(), text="現行仕様どおり", meeting=27))
    return s.then(day(7), Close(actor=secretariat(), reason=CloseReason.ANSWERED, meeting=27))


HISTORIES = {
    "to release": to_release,
    "support lapses": support_lapses,
    "final call, then withdrawn": final_call_then_withdrawn,
    "a question answered": question_answered,
}


@pytest.mark.parametrize("history", HISTORIES.values(), ids=HISTORIES.keys())
def test_replaying_the_stored_events_folds_to_the_view_each_command_returned(
    open_store: Callable[[], RingiStore], history: Callable[[], Scenario]
) -> None:
    writer, replayer = open_store(), open_store()
    open_meetings(writer)
    s = history()

    number, outcomes = play(writer, s)

    assert all(o.written for o in outcomes)
    final = outcomes[-1].view
    assert final.version == len(writer.timeline(number))
    assert final.is_open is False
    assert replayer.view(number).model_dump() == final.model_dump()
    assert replayer.view(number).model_dump_json() == final.model_dump_json()  # to the byte
    assert open_store().view(number).model_dump() == final.model_dump()
    # the aggregate alone, with no database, folds the same commands to the same state
    assert run(s, number).view().model_dump() == final.model_dump()


def test_every_step_replays_to_the_view_it_returned(
    open_store: Callable[[], RingiStore],
) -> None:
    writer, replayer = open_store(), open_store()
    open_meetings(writer)
    s = to_release()
    number = writer.reserve_number(s.filing.command_id)
    writer.file(number, s.filing, s.policy, T0)

    for step in s.steps:
        returned = writer.execute(number, step.command, step.at).view

        replayed = replayer.view(number)
        assert replayed.model_dump() == returned.model_dump(), step.command.kind
        assert pending_timers(replayed) == pending_timers(returned)


# --- idempotency and optimistic concurrency -------------------------------------------------


def test_the_same_command_twice_writes_once(open_store: Callable[[], RingiStore]) -> None:
    store, restarted = open_store(), open_store()
    number, _ = play(store, scenario(State.HEARING))
    answer = RecordAnswer(actor=secretariat(), text="検討します")

    first = store.execute(number, answer, day(5))
    before = fingerprint(store, number)
    again = store.execute(number, answer, day(6))
    from_elsewhere = restarted.execute(number, answer, day(7))

    assert first.written is True
    assert (again.written, from_elsewhere.written) == (False, False)
    assert again.view.model_dump() == first.view.model_dump()
    assert from_elsewhere.view.model_dump() == first.view.model_dump()
    assert fingerprint(store, number) == before
    assert [a.text for a in store.view(number).answers] == ["検討します"]


def test_a_filing_retried_with_its_command_id_is_the_same_request(
    ringi_store: RingiStore,
) -> None:
    s = scenario(State.GATHERING_SUPPORT)
    number = ringi_store.reserve_number(s.filing.command_id)
    first = ringi_store.file(number, s.filing, s.policy, T0)

    again = ringi_store.file(number, s.filing, s.policy, T0 + timedelta(minutes=1))

    assert (first.written, again.written) == (True, False)
    assert again.view.model_dump() == first.view.model_dump()
    assert ringi_store.reserve_number(s.filing.command_id) == number
    with pytest.raises(Conflict, match="already filed"):
        ringi_store.file(number, filing(), s.policy, T0)  # another filing, same number


def test_a_retried_timer_writes_once(ringi_store: RingiStore) -> None:
    number, _ = play(ringi_store, scenario(State.GATHERING_SUPPORT))
    deadline = TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90))

    first = ringi_store.execute(number, deadline, day(90))
    before = fingerprint(ringi_store, number)
    retried = TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90))  # rebuilt, same id
    again = ringi_store.execute(number, retried, day(90) + timedelta(seconds=5))

    assert (first.written, again.written) == (True, False)
    assert fingerprint(ringi_store, number) == before


def test_a_stale_expected_version_conflicts_and_writes_nothing(ringi_store: RingiStore) -> None:
    number, outcomes = play(ringi_store, scenario(State.HEARING))
    decided_at = outcomes[-1].view.version
    note = AppendNote(actor=member(PROPOSER), text="追記1")
    ringi_store.execute(number, note, day(5), expected_version=decided_at)
    before = fingerprint(ringi_store, number)

    late = RecordFindings(actor=secretariat(), text="古い状態で判断した記録")
    with pytest.raises(Conflict, match=f"version {decided_at + 1} in the store"):
        ringi_store.execute(number, late, day(6), expected_version=decided_at)

    assert fingerprint(ringi_store, number) == before
    assert ringi_store.view(number).findings == []
    # a retry of the write that did go through still answers, whatever version it names
    assert ringi_store.execute(number, note, day(5), expected_version=decided_at).written is False
    # decided again on fresh state, it goes through
    fresh = ringi_store.execute(number, late, day(6), expected_version=decided_at + 1)
    assert fresh.written is True
    assert fresh.view.version == decided_at + 2


REFUSED: list[tuple[str, State, Callable[[], Command], type[Refused]]] = [
    ("stage", State.IMPLEMENTATION, lambda: Endorse(actor=member("F社")), Refused),
    ("role", State.HEARING, lambda: RecordFindings(actor=member(PROPOSER), text="x"), NotAllowed),
    ("company", State.HEARING, lambda: AppendNote(actor=member(ENDORSER), text="x"), NotAllowed),
    (
        "reason",
        State.HEARING,
        lambda: Close(actor=secretariat(), reason=CloseReason.ANSWERED),
        Refused,
    ),
    ("terminal", State.CLOSED, lambda: Hold(actor=secretariat(), reason="x"), Refused),
    (
        "meeting",
        State.HEARING,
        lambda: RecordAnswer(actor=secretariat(), text="x", meeting=40),
        Refused,
    ),
    (
        "link",
        State.HEARING,
        lambda: Close(actor=secretariat(), reason=CloseReason.DUPLICATE, duplicate_of=999),
        Refused,
    ),
    (
        "timer not due",
        State.GATHERING_SUPPORT,
        lambda: TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90)),
        Refused,
    ),
]


@pytest.mark.parametrize(
    ("state", "make", "error"), [pytest.param(*r[1:], id=r[0]) for r in REFUSED]
)
def test_a_refused_command_writes_nothing(
    open_store: Callable[[], RingiStore],
    state: State,
    make: Callable[[], Command],
    error: type[Refused],
) -> None:
    store = open_store()
    number, _ = play(store, scenario(state))
    before = fingerprint(store, number)
    view = store.view(number)
    command = make()

    with pytest.raises(error):
        store.execute(number, command, day(60))

    assert fingerprint(store, number) == before
    assert open_store().view(number).model_dump() == view.model_dump()
    assert not store.request(number).has_handled(command.command_id)


def test_a_link_names_a_request_that_was_filed(ringi_store: RingiStore) -> None:
    """A duplicate's original and a filing's related requests must exist: a mistyped
    No. would otherwise stand in the record for good."""
    s = scenario(State.HEARING)
    number, _ = play(ringi_store, s)
    with pytest.raises(Refused, match=r"there is no request No\.999 to link to"):
        ringi_store.execute(
            number,
            Close(actor=secretariat(), reason=CloseReason.DUPLICATE, duplicate_of=999),
            day(60),
        )
    related = filing().model_copy(update={"related": [number, 998, 999]})
    with pytest.raises(Refused, match=r"there is no request No\.998, No\.999 to link to"):
        ringi_store.file(number + 1, related, s.policy, day(61))
    assert ringi_store.numbers() == [number]
    ringi_store.file(number + 1, filing().model_copy(update={"related": [number]}), s.policy, T0)
    assert ringi_store.view(number + 1).related == [number]


def test_a_meeting_is_rescheduled_between_its_neighbours(ringi_store: RingiStore) -> None:
    """Postponed, or an imported placeholder date corrected: the calendar and the
    meeting move together, in meeting order; a refusal moves nothing."""
    store = ringi_store
    days = {1: day(10), 2: day(40), 3: day(70)}
    for number, held_at in days.items():
        title = f"第{number}回" + (f" {PLACEHOLDER_DATE}" if number == 2 else "")
        store.open_meeting(number, held_at, secretariat(), title=title)
    assert store.meeting(2).date_is_placeholder

    store.reschedule_meeting(2, day(47), "会場の都合で延期", secretariat())
    assert store.meetings() == {1: day(10), 2: day(47), 3: day(70)}
    moved = store.meeting(2)
    assert moved.held_at == day(47) and not moved.date_is_placeholder
    assert store.next_meeting_after(day(41)) == (2, day(47))

    before = store.recorder.max_notification_id()
    for held_at, words in [(day(10), "not after"), (day(70), "not before"), (day(47), "already")]:
        with pytest.raises(Refused, match=words):
            store.reschedule_meeting(2, held_at, "", secretariat())
    with pytest.raises(NotAllowed):
        store.reschedule_meeting(2, day(50), "", member("B社"))
    with pytest.raises(Refused, match="has not been opened"):
        store.reschedule_meeting(9, day(50), "", secretariat())
    # opened out of order: refused too (meetings are numbered in the order they are held)
    with pytest.raises(Refused, match="not after the meeting before it"):
        store.open_meeting(4, day(60), secretariat(), title="第4回")
    assert store.recorder.max_notification_id() == before
    assert store.meetings()[2] == day(47)


def test_a_command_on_no_request_is_refused(ringi_store: RingiStore) -> None:
    with pytest.raises(Refused, match=r"there is no request No\.99"):
        ringi_store.execute(99, Endorse(actor=member("F社")), day(1))


# --- racing writers -------------------------------------------------------------------------

NOTES_EACH = 12


def test_two_stores_racing_on_one_request_each_write_once_and_lose_nothing(
    open_store: Callable[[], RingiStore],
) -> None:
    left, right = open_store(), open_store()
    number, outcomes = play(left, scenario(State.HEARING))
    start = outcomes[-1].view.version
    notes = [AppendNote(actor=member(PROPOSER), text=f"追記{i}") for i in range(NOTES_EACH)]
    answers = [RecordAnswer(actor=secretariat(), text=f"回答{i}") for i in range(NOTES_EACH)]

    def write(store: RingiStore, commands: Sequence[Command]) -> list[Outcome]:
        return [store.execute(number, c, day(5)) for c in commands]

    from_left, from_right = in_two_threads(
        lambda: write(left, notes), lambda: write(right, answers)
    )

    assert all(o.written for o in from_left + from_right)
    view = open_store().view(number)
    assert view.version == start + 2 * NOTES_EACH
    assert [n.text for n in view.notes] == [c.text for c in notes]
    assert [a.text for a in view.answers] == [c.text for c in answers]
    versions = sorted(o.view.version for o in from_left + from_right)
    assert versions == list(range(start + 1, start + 2 * NOTES_EACH + 1))


def test_the_same_command_raced_from_two_stores_is_written_once(
    open_store: Callable[[], RingiStore],
) -> None:
    left, right = open_store(), open_store()
    number, outcomes = play(left, scenario(State.HEARING))
    answer = RecordAnswer(actor=secretariat(), text="回答")

    a, b = in_two_threads(
        lambda: left.execute(number, answer, day(5)),
        lambda: right.execute(number, answer, day(5)),
    )

    assert sorted([a.written, b.written]) == [False, True]
    view = left.view(number)
    assert view.version == outcomes[-1].view.version + 1
    assert [x.text for x in view.answers] == ["回答"]
    answered = [m for m in left.outbox() if m.kind == NotificationKind.ANSWERED]
    assert len(answered) == 1


# --- request numbers ------------------------------------------------------------------------


def test_numbers_are_sequential_and_a_key_keeps_its_number(
    open_store: Callable[[], RingiStore],
) -> None:
    store = open_store()

    assert [store.reserve_number(k) for k in ["a", "b", "c"]] == [1, 2, 3]
    assert store.reserve_number("b") == 2
    restarted = open_store()
    assert restarted.reserve_number("a") == 1
    assert restarted.reserve_number("d") == 4  # never a number handed out before


RESERVATIONS_EACH = 25


def test_numbers_reserved_at_once_from_two_stores_are_never_reused(
    open_store: Callable[[], RingiStore],
) -> None:
    left, right = open_store(), open_store()

    def reserve(store: RingiStore, side: str) -> dict[str, int]:
        return {f"{side}{i}": store.reserve_number(f"{side}{i}") for i in range(RESERVATIONS_EACH)}

    from_left, from_right = in_two_threads(lambda: reserve(left, "L"), lambda: reserve(right, "R"))

    given = {**from_left, **from_right}
    assert sorted(given.values()) == list(range(1, 2 * RESERVATIONS_EACH + 1))
    for numbers in (from_left, from_right):  # each store's own reservations go up
        assert list(numbers.values()) == sorted(numbers.values())
    checker = open_store()
    assert {k: checker.reserve_number(k) for k in given} == given  # retries: same numbers
    assert checker.reserve_number("next") == 2 * RESERVATIONS_EACH + 1


# --- what was recorded ------------------------------------------------------------------------


def test_the_timeline_says_who_did_what_when_and_at_which_meeting(
    ringi_store: RingiStore,
) -> None:
    open_meetings(ringi_store)
    s = scenario(State.GATHERING_SUPPORT)
    s.then(day(7), RecordAnswer(actor=secretariat(), text="賛同を募ります", meeting=27))
    s.then(day(8), Hold(actor=secretariat(), reason="法改正待ち"))

    number, _ = play(ringi_store, s)

    timeline = ringi_store.timeline(number)
    assert [(e.version, e.event, e.at, e.meeting) for e in timeline] == [
        (1, "Filed", T0, None),
        (2, "SupportGatheringOpened", T0, None),
        (3, "Endorsed", day(1), None),
        (4, "AnswerRecorded", day(7), 27),
        (5, "Held", day(8), None),
    ]
    actors = [(e.actor or {}).get("role") for e in timeline]
    assert actors == [Role.MEMBER, Role.MEMBER, Role.MEMBER, Role.SECRETARIAT, Role.SECRETARIAT]
    assert [(e.actor or {}).get("company") for e in timeline[:3]] == [PROPOSER, PROPOSER, ENDORSER]
    assert timeline[3].details["text"] == "賛同を募ります"
    assert timeline[4].details["reason"] == "法改正待ち"
    assert all(e.recorded_at is not None for e in timeline)


def test_timer_events_name_the_timer_as_their_actor(ringi_store: RingiStore) -> None:
    number, _ = play(ringi_store, support_lapses())

    tail = ringi_store.timeline(number)[-3:]

    assert [(e.event, e.at) for e in tail] == [
        ("Reminded", day(83)),
        ("SupportWindowClosed", day(90)),
        ("Closed", day(90)),
    ]
    assert {(e.actor or {}).get("role") for e in tail} == {Role.TIMER}
    assert tail[-1].details["reason"] == CloseReason.INSUFFICIENT_SUPPORT


Queued = tuple[NotificationKind, tuple[str, ...]]  # a notification's kind and recipients


def outbox_of(store: RingiStore, number: int) -> list[Queued]:
    return sorted(
        (NotificationKind(m.kind), tuple(m.recipients))
        for m in store.outbox()
        if m.request_number == number
    )


EVERYONE = (PROPOSER, ENDORSER, SECRETARIAT)

#: (what, the state, the command, when, the notifications it queues)
NOTIFICATIONS: list[tuple[str, State, Callable[[], Command], datetime, list[Queued]]] = [
    (
        "answered",
        State.GATHERING_SUPPORT,
        lambda: RecordAnswer(actor=secretariat(), text="検討中"),
        day(5),
        [(NotificationKind.ANSWERED, EVERYONE)],
    ),
    (
        "auto-closed",
        State.GATHERING_SUPPORT,
        lambda: TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90)),
        day(90),
        [(NotificationKind.AUTO_CLOSED, EVERYONE)],  # its own kind says why: not twice
    ),
    (
        "stage changed",
        State.GATHERING_SUPPORT,
        lambda: Hold(actor=secretariat(), reason="保留"),
        day(5),
        [(NotificationKind.STAGE_CHANGED, EVERYONE)],
    ),
    (
        "an endorsement below the threshold tells no one",
        State.GATHERING_SUPPORT,
        lambda: Endorse(actor=member("C社")),
        day(5),
        [],
    ),
]


@pytest.mark.parametrize(
    ("state", "make", "at", "expected"), [pytest.param(*n[1:], id=n[0]) for n in NOTIFICATIONS]
)
def test_notifications_land_in_the_outbox_once(
    open_store: Callable[[], RingiStore],
    state: State,
    make: Callable[[], Command],
    at: datetime,
    expected: list[Queued],
) -> None:
    store = open_store()
    number, _ = play(store, scenario(state))
    queued_before = outbox_of(store, number)
    command = make()

    store.execute(number, command, at)
    store.execute(number, command, at + timedelta(minutes=1))  # retried
    open_store().execute(number, command, at + timedelta(minutes=2))  # from elsewhere

    new = list(outbox_of(open_store(), number))
    for item in queued_before:
        new.remove(item)
    assert new == sorted(expected)
    keys = [m.key for m in store.outbox()]
    assert len(keys) == len(set(keys))


def test_the_fifth_endorsement_tells_everyone_the_hearing_opened(ringi_store: RingiStore) -> None:
    number, _ = play(ringi_store, scenario(State.HEARING))

    filed, message = ringi_store.outbox()

    # the filing went to every member (any may support it), with its deadline
    assert (filed.kind, filed.recipients) == (NotificationKind.FILED, [EVERY_MEMBER, SECRETARIAT])
    assert "support it until 2017-08-30" in filed.subject
    assert (message.kind, message.request_number) == (NotificationKind.STAGE_CHANGED, number)
    assert message.recipients == [PROPOSER, ENDORSER, *OTHERS, SECRETARIAT]
    assert "gathering_support → hearing" in message.subject


def test_what_any_member_may_act_on_reaches_every_members_subscription(
    ringi_store: RingiStore,
) -> None:
    """DESIGN: any member may support a request and object in an objection window.
    F社, which has nothing to do with the request, hears of its filing and of its
    objection window, and not of what only concerns those involved (an answer);
    the secretariat hears of all of it, once each."""
    store = ringi_store
    T = datetime(2017, 1, 1, tzinfo=JST)
    subs = {
        who: store.subscribe(who, Channel.EMAIL, f"{i}@example.jp", T, secretariat())
        for i, who in enumerate((OUTSIDER, PROPOSER, SECRETARIAT))
    }
    number, _ = play(store, scenario(State.OBJECTION_WINDOW))
    store.execute(number, RecordAnswer(actor=secretariat(), text="検討中"), day(8))

    batch = store.deliveries_since(0)
    sent: dict[str, list[str]] = {}
    for d in batch.deliveries:
        sent.setdefault(d.subscriber, []).append(store.outbox_message(d.key).kind)
    assert sent[subs[OUTSIDER].id] == ["filed", "stage_changed"]  # ... → objection_window
    assert "answered" in sent[subs[PROPOSER].id]
    secretariat_heard = sent[subs[SECRETARIAT].id]
    assert (
        len(secretariat_heard) == len(store.outbox()) == len(set(d.key for d in batch.deliveries))
    )
    window = store.outbox()[-2]
    assert "objection_window" in window.subject and "raise a problem until" in window.body


# --- meetings ---------------------------------------------------------------------------------


def test_a_meeting_is_opened_once(open_store: Callable[[], RingiStore]) -> None:
    store = open_store()
    store.open_meeting(27, day(7), secretariat(), title="第27回")

    with pytest.raises(Refused, match="already open"):
        store.open_meeting(27, day(8), secretariat())
    with pytest.raises(Refused, match="already open"):
        open_store().open_meeting(27, day(9), secretariat())

    assert open_store().meetings() == {27: day(7)}
    assert store.next_meeting_after(day(1)) == (27, day(7))
    assert store.next_meeting_after(day(7)) is None


def test_a_command_tagged_with_an_unopened_meeting_is_refused(ringi_store: RingiStore) -> None:
    number, _ = play(ringi_store, scenario(State.HEARING))
    before = fingerprint(ringi_store, number)
    answer = RecordAnswer(actor=secretariat(), text="第28回で回答", meeting=28)

    with pytest.raises(Refused, match="meeting 28"):
        ringi_store.execute(number, answer, day(10))
    assert fingerprint(ringi_store, number) == before

    ringi_store.open_meeting(28, day(10), secretariat())
    assert ringi_store.execute(number, answer, day(10)).view.answers[-1].meeting == 28


def test_a_filing_tagged_with_an_unopened_meeting_is_refused(ringi_store: RingiStore) -> None:
    s = Scenario(filing(meeting=30))
    number = ringi_store.reserve_number(s.filing.command_id)

    with pytest.raises(Refused, match="meeting 30"):
        ringi_store.file(number, s.filing, s.policy, T0)
    assert ringi_store.numbers() == []

    ringi_store.open_meeting(30, T0, secretariat())
    assert ringi_store.file(number, s.filing, s.policy, T0).view.number == number
    assert ringi_store.numbers() == [number]


def test_a_final_call_runs_until_the_next_meeting_on_the_calendar(
    ringi_store: RingiStore,
) -> None:
    ringi_store.open_meeting(30, day(380), secretariat())
    s = scenario(State.GATHERING_SUPPORT)
    s.then(day(10), ExtendDeadline(actor=secretariat(), deadline=day(400)))
    s.then(day(365), TimerFired.at(TimerKind.FINAL_CALL, day(365)))

    number, outcomes = play(ringi_store, s)

    assert outcomes[-1].view.support_deadline == day(380)
    last = ringi_store.timeline(number)[-1]
    assert (last.event, last.meeting, last.details["deadline"]) == ("FinalCallIssued", 30, day(380))
    [final_call] = [m for m in ringi_store.outbox() if m.kind == NotificationKind.FINAL_CALL]
    assert "meeting 30" in final_call.subject


def test_a_filing_by_the_secretariat_writes_nothing(ringi_store: RingiStore) -> None:
    cmd = FileRequest(actor=secretariat(), category=Category.REQUEST, target="API", body="代理")
    number = ringi_store.reserve_number(cmd.command_id)

    with pytest.raises(NotAllowed):
        ringi_store.file(number, cmd, scenario(State.FILED).policy, T0)

    assert ringi_store.numbers() == []
    with pytest.raises(Refused, match="there is no request"):
        ringi_store.timeline(number)


def test_the_log_versions_are_the_notification_logs_rows_without_their_states(
    ringi_store: RingiStore,
) -> None:
    """``log_versions`` (the API's read model follows the log with it) gives, in
    log order, what ``select_notifications`` gives, ids as hex, no states."""
    play(ringi_store, scenario(State.HEARING))
    play(ringi_store, scenario(State.GATHERING_SUPPORT))
    expected = [
        (n.id, uuid.UUID(str(n.originator_id)).hex, n.originator_version, n.topic)
        for n in ringi_store.recorder.select_notifications(start=None, limit=10_000)
    ]
    assert len(expected) > 10
    assert ringi_store.log_versions(0, 10_000) == expected
    # after a position, at most a limit: the way the read model pages through it
    middle = expected[4][0]
    assert ringi_store.log_versions(middle, 3) == expected[5:8]
    assert ringi_store.log_versions(expected[-1][0], 10) == []
