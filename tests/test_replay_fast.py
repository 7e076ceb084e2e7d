"""The fast replay (``ringi.register.fold``) and the reference fold agree.

The fast fold calls the ``Request`` aggregate's own event-apply functions on a
light shell, straight from the stored bytes; the reference fold goes through
the mapper and ``event.mutate``, as the repository does. Here both fold the
same logs: random lifecycles (random commands through the real aggregate,
whatever the rules let through) covering every kind of request event, an
imported register, and the other aggregates' events around them, at many
cutoffs. Their views, counts and positions must be equal, and so must the
register documents' bytes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bench.corpus import no61, opened_store, outbox, worthwhile
from ringi.domain.commands import (
    AnswerClarification,
    AppendNote,
    Approve,
    AskClarification,
    CarryForward,
    ChangeReleaseDate,
    Close,
    Command,
    CorrectAnswer,
    DismissObjection,
    EndObjectionWindow,
    Endorse,
    EndSupport,
    EvaluateCost,
    EvaluateWithoutHearing,
    ExtendDeadline,
    FileRequest,
    FinalCall,
    HearBelowThreshold,
    Hold,
    IdentifyProposer,
    OpenHearing,
    OpenObjectionWindow,
    OpenSupport,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Reopen,
    Resume,
    Withdraw,
    WithdrawClarification,
    WithdrawEndorsement,
    WithdrawObjection,
)
from ringi.domain.errors import Refused
from ringi.domain.lifecycle import JST, pending_timers
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.vocabulary import Actor, Category, CloseReason, Stage
from ringi.register import fold
from ringi.register.document import document_of
from ringi.register.fold import APPLIERS, REQUEST_TOPICS, Unfoldable
from ringi.register.importer import parse_register, plan_import
from ringi.register.replay import (
    Cutoff,
    ReplayError,
    meeting_cutoff,
    replay,
    replay_many,
)
from ringi.store import RingiStore
from tests.test_import import FIXTURE

SECRETARIAT = Actor.secretariat("事務局")
COMPANIES = tuple(f"{c}社" for c in "ABCDEFGHIJ")
T0 = datetime(2017, 4, 1, 9, 0, tzinfo=JST)
LATER = Cutoff(at=datetime(2100, 1, 1, tzinfo=JST))

Move = Callable[[random.Random, Request, datetime], Command]


def _answered(rng: random.Random, request: Request) -> str:
    answers = [a.answer_id for a in request.state.answers] or ["a1"]
    return rng.choice(answers)


def _objector(rng: random.Random, request: Request) -> str:
    window = request.state.objection_window
    standing = [o.company for o in window.standing] if window is not None else []
    return rng.choice(standing or list(COMPANIES))


def _moves() -> list[tuple[Move, int]]:
    """Every command anyone can give, with random arguments and a weight."""

    def company(rng: random.Random) -> Actor:
        return Actor.member(rng.choice(COMPANIES))

    def proposer(request: Request) -> Actor:
        return Actor.member(request.state.proposer, user="担当")

    def meeting(rng: random.Random) -> int | None:
        return rng.choice([None, rng.randint(20, 60)])

    s = SECRETARIAT
    return [
        (lambda r, q, at: Endorse(actor=company(r)), 40),
        (lambda r, q, at: WithdrawEndorsement(actor=company(r)), 4),
        (lambda r, q, at: AppendNote(actor=proposer(q), text="追記: 急ぎ", meeting=meeting(r)), 2),
        (lambda r, q, at: AskClarification(actor=s, question="WebかAPIか？"), 2),
        (lambda r, q, at: AnswerClarification(actor=proposer(q), text="API"), 3),
        (lambda r, q, at: WithdrawClarification(actor=s, reason="会議で確認済み"), 3),
        (lambda r, q, at: RaiseObjection(actor=company(r), reason="影響が大きい"), 8),
        (
            lambda r, q, at: WithdrawObjection(actor=Actor.member(_objector(r, q)), reason="解決"),
            3,
        ),
        (
            lambda r, q, at: DismissObjection(
                actor=s, company=_objector(r, q), reason="移行期間を設ける"
            ),
            3,
        ),
        (lambda r, q, at: Withdraw(actor=proposer(q), reason="取り下げ"), 1),
        (lambda r, q, at: OpenSupport(actor=s), 2),
        (
            lambda r, q, at: ExtendDeadline(
                actor=s, deadline=at + timedelta(days=r.randint(10, 400)), reason="延長"
            ),
            2,
        ),
        (lambda r, q, at: OpenHearing(actor=s, meeting=meeting(r)), 2),
        (lambda r, q, at: RecordFindings(actor=s, text="ヒアリング実施", meeting=meeting(r)), 4),
        (
            lambda r, q, at: EvaluateCost(
                actor=s, inputs=r.choice([worthwhile(), worthwhile(), no61()]), meeting=meeting(r)
            ),
            10,
        ),
        (lambda r, q, at: OpenObjectionWindow(actor=s, meeting=meeting(r)), 20),
        (
            lambda r, q, at: Approve(
                actor=s, planned_release=(at + timedelta(days=r.randint(30, 300))).date()
            ),
            12,
        ),
        (
            lambda r, q, at: ChangeReleaseDate(
                actor=s, planned_release=date(2021, r.randint(1, 12), 1), reason="遅延"
            ),
            6,
        ),
        (lambda r, q, at: Release(actor=s), 6),
        (lambda r, q, at: Hold(actor=s, reason="法改正待ち", meeting=meeting(r)), 2),
        (lambda r, q, at: Resume(actor=s, reason="再開"), 3),
        (
            lambda r, q, at: Close(
                actor=s,
                reason=r.choice([c for c in CloseReason if c is not CloseReason.IMPORTED]),
                duplicate_of=r.choice([None, 7]),
                note="クローズ",
                meeting=meeting(r),
            ),
            1,
        ),
        (
            lambda r, q, at: RecordAnswer(
                actor=s, text="検討します", continued=r.random() < 0.5, meeting=meeting(r)
            ),
            6,
        ),
        (
            lambda r, q, at: CorrectAnswer(
                actor=s, answer_id=_answered(r, q), text="訂正", reason="誤記", meeting=meeting(r)
            ),
            2,
        ),
        # the secretariat's discretion and after the end (issue 20)
        (
            lambda r, q, at: HearBelowThreshold(
                actor=s, reason="起案者及び賛同者へのヒアリングを行いたい", meeting=meeting(r)
            ),
            2,
        ),
        (
            lambda r, q, at: EvaluateWithoutHearing(
                actor=s, inputs=r.choice([worthwhile(), no61()]), reason="賛同数の条件を満たした"
            ),
            3,
        ),
        (lambda r, q, at: Reopen(actor=s, reason="再検討", meeting=meeting(r)), 2),
        (
            lambda r, q, at: Close(
                actor=s,
                reason=CloseReason.DUPLICATE,
                duplicate_of=r.randint(1, 50),
                duplicates=tuple(r.sample(range(1, 60), r.randint(1, 3))),
                meeting=meeting(r),
            ),
            1,
        ),
        (
            lambda r, q, at: RecordAnswer(
                actor=s, text="No43に同じ", together_with=(q.state.number + 1,), meeting=meeting(r)
            ),
            2,
        ),
    ]


MOVES = _moves()


# the secretariat's windows (issue 20): kept apart from ``MOVES``, whose seeded
# lives other tests rely on, and added to them where they are tested
def _window_moves() -> list[tuple[Move, int]]:
    def meeting(rng: random.Random) -> int | None:
        return rng.choice([None, rng.randint(20, 60)])

    s = SECRETARIAT
    return [
        (
            lambda r, q, at: FinalCall(
                actor=s,
                until_meeting=r.randint(20, 60),
                deadline=at + timedelta(days=r.randint(-5, 60)),
                meeting=meeting(r),
            ),
            2,
        ),
        (lambda r, q, at: EndSupport(actor=s, meeting=meeting(r)), 2),
        (lambda r, q, at: EndObjectionWindow(actor=s, meeting=meeting(r)), 6),
        (
            lambda r, q, at: OpenObjectionWindow(
                actor=s,
                ends_at=at + timedelta(days=r.randint(-1, 40)),
                until_meeting=r.choice([None, r.randint(20, 60)]),
                meeting=meeting(r),
            ),
            4,
        ),
    ]


WINDOW_MOVES = _window_moves()


def random_life(
    number: int, rng: random.Random, steps: int, moves: list[tuple[Move, int]] = MOVES
) -> Request:
    """A request filed and then put through ``steps`` random commands (and due
    timers), whatever the rules let through."""
    at = T0 + timedelta(hours=number * 7)
    filing = FileRequest(
        actor=Actor.member(rng.choice(COMPANIES), user="担当"),
        category=rng.choice(
            [Category.REQUEST, Category.REQUEST, Category.OPINION, Category.QUESTION]
        ),
        target="供給地点特定番号検索",
        body=f"No.{number}: APIでも検索できるようにしてほしい",
    )
    # some under a policy whose threshold does not open the hearing by itself
    request = Request.file(number, filing, Policy(auto_open_hearing=number % 3 != 0), at)
    if filing.category is Category.REQUEST and rng.random() < 0.4:
        # some go straight to an objection window first, to reach the later stages often
        others = rng.sample([c for c in COMPANIES if c != request.state.proposer], 4)
        prefix: list[Command] = [Endorse(actor=Actor.member(c)) for c in others]
        if not request.state.policy.auto_open_hearing:
            prefix.append(OpenHearing(actor=SECRETARIAT))
        prefix += [
            RecordFindings(actor=SECRETARIAT, text="各社とも必要"),
            EvaluateCost(actor=SECRETARIAT, inputs=worthwhile()),
            OpenObjectionWindow(actor=SECRETARIAT, meeting=30),
        ]
        if rng.random() < 0.5:  # two objections: one withdrawn, one ruled not blocking
            a, b = (Actor.member(c) for c in others[:2])
            prefix += [
                RaiseObjection(actor=a, reason="影響が大きい"),
                RaiseObjection(actor=b, reason="費用負担"),
                WithdrawObjection(actor=a),
                DismissObjection(actor=SECRETARIAT, company=others[1], reason="移行期間"),
            ]
        for command in prefix:
            at += timedelta(days=1)
            request.handle(command, at)
    commands, weights = zip(*moves, strict=True)
    pace = rng.choice([6, 6, 40])  # days between commands: most lives brisk, some slow
    for _ in range(steps):
        timers = pending_timers(request.view())
        if timers and rng.random() < 0.08:
            timer = rng.choice(timers)
            at = max(at, timer.due)
            command: Command = timer
        else:
            at += timedelta(days=rng.uniform(0.1, pace))
            command = rng.choices(commands, weights)[0](rng, request, at)
        try:
            request.handle(command, at)
        except Refused:
            continue
    return request


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RingiStore]:
    """A store holding an imported register, then random lifecycles with their
    outbox messages, saved a few requests to a transaction."""
    path = Path(tmp_path_factory.mktemp("replay-fast")) / "events.db"
    store = RingiStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    parsed = parse_register(FIXTURE.read_bytes(), str(FIXTURE))
    made = plan_import(parsed, known=store.meetings())
    store.import_register(made.meetings, made.requests, Policy(), SECRETARIAT)
    later = datetime(2019, 1, 10, tzinfo=JST)  # after the register's last meeting
    store.execute(74, IdentifyProposer(actor=SECRETARIAT, company="B社"), later)
    carry = CarryForward(actor=SECRETARIAT, stage=Stage.IMPLEMENTATION, reason="第35回で問題なし")
    store.execute(39, carry, later)
    rng = random.Random(20172)  # its lives reach every kind of event (the test below checks)
    batch: list[object] = []
    for number in range(1000, 1240):
        request = random_life(number, rng, steps=rng.randint(0, 60))
        batch += [request, *outbox(request)]
        if len(batch) > 30:
            store.save(*batch)  # type: ignore[arg-type]
            batch = []
    store.save(*batch)  # type: ignore[arg-type]
    yield store
    store.close()


def stored_topics(store: RingiStore) -> set[str]:
    return {n.topic for n in store.recorder.select_notifications(start=None, limit=10**9)}


def cutoffs(store: RingiStore, rng: random.Random) -> list[Cutoff]:
    top = store.recorder.max_notification_id() or 0
    span = (datetime(2022, 1, 1, tzinfo=JST) - T0).total_seconds()
    moments = [T0 + timedelta(seconds=rng.uniform(0, span)) for _ in range(6)]
    return [
        LATER,
        *(Cutoff(at=m, since=m - timedelta(days=60)) for m in moments),
        *(Cutoff(at=LATER.at, position=rng.randint(1, top)) for _ in range(4)),
        *(Cutoff(at=m, position=rng.randint(1, top)) for m in moments[:3]),
        *(meeting_cutoff(store, n) for n in list(store.meetings())[::5]),
    ]


# --- the table is the aggregate's ------------------------------------------------------------


def test_every_request_event_has_the_aggregates_own_apply_function() -> None:
    events = {
        f"{REQUEST_TOPICS}{name}"
        for name, cls in vars(Request).items()
        if isinstance(cls, type) and issubclass(cls, Request.Event) and name[0].isupper()
    } - {f"{REQUEST_TOPICS}Event"}  # the base class: no event of its own
    assert set(APPLIERS) == events
    # the created events (``Filed``, and eventsourcing's default ``Created``) run __init__
    assert APPLIERS[f"{REQUEST_TOPICS}Filed"].func is Request.__init__
    assert APPLIERS[f"{REQUEST_TOPICS}Created"].func is Request.__init__
    assert APPLIERS[f"{REQUEST_TOPICS}Endorsed"].func.__qualname__ == "Request._endorsed"
    assert APPLIERS[f"{REQUEST_TOPICS}Endorsed"].params == ("company", "at", "actor", "command_id")


def test_the_corpus_holds_every_kind_of_request_event_and_other_aggregates(
    logged: RingiStore,
) -> None:
    topics = stored_topics(logged)
    assert set(APPLIERS) - {f"{REQUEST_TOPICS}Created"} <= topics
    assert any(not t.startswith(REQUEST_TOPICS) for t in topics)


# --- the two folds agree -----------------------------------------------------------------------


def test_fast_and_reference_replays_agree_at_every_cutoff(logged: RingiStore) -> None:
    for cutoff in cutoffs(logged, random.Random(5)):
        fast = replay(logged, cutoff)
        reference = replay(logged, cutoff, reference=True)
        assert fast.views == reference.views, cutoff
        assert (fast.events, fast.position) == (reference.events, reference.position)
        assert document_of(fast).canonical() == document_of(reference).canonical()


def test_the_fast_replay_of_everything_is_each_aggregates_own_state(logged: RingiStore) -> None:
    folded = replay(logged, LATER)
    assert folded.views
    for number, view in folded.views.items():
        assert view == logged.view(number)  # the repository's fold of the aggregate


def test_fast_and_reference_replay_many_agree(logged: RingiStore) -> None:
    nested = sorted(
        (meeting_cutoff(logged, n) for n in logged.meetings()), key=lambda c: (c.position, c.at)
    )
    nested += [LATER]
    fast = replay_many(logged, nested)
    reference = replay_many(logged, nested, reference=True)
    for a, b in zip(fast, reference, strict=True):
        assert a.views == b.views and (a.events, a.position) == (b.events, b.position)
    # and the single pass gives what each replay gives alone
    for together, cutoff in zip(fast, nested, strict=True):
        assert together.views == replay(logged, cutoff).views


def test_random_lifecycles_of_several_seeds_fold_alike(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        store = RingiStore(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp_path / f"{seed}.db"),
            }
        )
        try:
            rng = random.Random(seed)
            lives = [random_life(n, rng, steps=rng.randint(0, 30)) for n in range(1, 41)]
            store.save(*lives)
            for cutoff in cutoffs(store, rng)[:8]:
                fast, reference = replay(store, cutoff), replay(store, cutoff, reference=True)
                assert fast.views == reference.views and fast.events == reference.events
        finally:
            store.close()


# the secretariat's windows (issue 20)
def test_random_lifecycles_with_the_secretariats_windows_fold_alike(tmp_path: Path) -> None:
    """Final calls, ended windows and windows until a meeting fold as the
    aggregate records them."""
    store = RingiStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "w.db")}
    )
    try:
        rng = random.Random(20)
        moves = MOVES + WINDOW_MOVES
        lives = [random_life(n, rng, steps=rng.randint(10, 40), moves=moves) for n in range(1, 41)]
        recorded = {type(e).__name__ for life in lives for e in life.pending_events}
        secretariats = {
            e.command_id.split(":")[0]
            for life in lives
            for e in life.pending_events
            if type(e).__name__ == "ObjectionWindowEnded"
        }
        assert {"FinalCallIssued", "ObjectionWindowEnded", "SupportWindowClosed"} <= recorded
        assert "timer" in secretariats and len(secretariats) > 1  # ended both ways
        store.save(*lives)
        for cutoff in cutoffs(store, rng)[:8]:
            fast, reference = replay(store, cutoff), replay(store, cutoff, reference=True)
            assert fast.views == reference.views and fast.events == reference.events
    finally:
        store.close()


def test_on_postgresql_the_folds_agree_too(tmp_path: Path) -> None:
    """The fast fold reads PostgreSQL with its own SELECT (``topic LIKE``)."""
    with opened_store("postgres", tmp_path) as store:
        rng = random.Random(4)
        lives = [random_life(n, rng, steps=rng.randint(0, 40)) for n in range(1, 31)]
        store.save(*[item for life in lives for item in (life, *outbox(life))])
        for cutoff in cutoffs(store, rng)[:8]:
            fast, reference = replay(store, cutoff), replay(store, cutoff, reference=True)
            assert fast.views == reference.views
            assert (fast.events, fast.position) == (reference.events, reference.position)


# --- what the fast fold does not fold, the reference fold names ------------------------------


def _tamper(store: RingiStore, statement: str, *params: object) -> None:
    with store.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(statement, params)


@pytest.mark.parametrize(
    ("statement", "params", "message"),
    [
        ("UPDATE stored_events SET state=? WHERE rowid=?", (b"\xff not json",), "cannot be read"),
        (
            "UPDATE stored_events SET topic=? WHERE rowid=?",
            (REQUEST_TOPICS + "NoSuchEvent",),
            "cannot be read",
        ),
        (
            "UPDATE stored_events SET topic=? WHERE rowid=?",
            (REQUEST_TOPICS + "HearingOpened",),
            "does not fold",
        ),
        ("DELETE FROM stored_events WHERE rowid=?", (), "does not fold"),
    ],
)
def test_a_broken_log_is_refused_as_the_reference_fold_refuses_it(
    tmp_path: Path, statement: str, params: tuple[object, ...], message: str
) -> None:
    store = RingiStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "t.db")}
    )
    try:
        rng = random.Random(9)
        lives = [random_life(n, rng, steps=12) for n in range(1, 4)]
        store.save(*lives)
        # the third event of a request (not its first): an endorsement or an answer,
        # never its filing
        victim = next(life for life in lives[1:] if life.version >= 3)
        (target,) = [
            n.id
            for n in store.recorder.select_notifications(start=None, limit=10**6)
            if n.originator_id == victim.id and n.originator_version == 3
        ]
        _tamper(store, statement, *params, target)
        with pytest.raises(Unfoldable):
            list(_fold_fast(store))
        with pytest.raises(ReplayError, match=message):
            replay(store, LATER)
        with pytest.raises(ReplayError, match=message):
            replay(store, LATER, reference=True)
    finally:
        store.close()


def _fold_fast(store: RingiStore) -> Iterator[None]:
    folder = fold.Folder(store)
    top = store.recorder.max_notification_id() or 0
    for rows in fold.request_rows(store, top, 100):
        for row in rows:
            applier, kwargs, _ = folder.decode(row)
            folder.apply(row, applier, kwargs)
            yield None


# --- decoding like the transcoder --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1.5, "b": [1, {"x": null}], "c": "日本語\\u3042"}',
        '{"n": NaN, "big": 123456789012345678901234567890}',
        '{"s": "\\ud800 lone surrogate"}',
    ],
)
def test_loads_reads_what_json_reads(text: str) -> None:
    expected, got = json.loads(text), fold.loads(text.encode())
    assert repr(got) == repr(expected) or (
        math.isnan(got["n"]) and got["big"] == expected["big"]  # NaN != NaN
    )


def test_revive_decodes_as_the_transcoders_object_hook(logged: RingiStore) -> None:
    revive = fold.decoder(logged)
    transcoder = logged.mapper.transcoder
    for n in logged.recorder.select_notifications(start=None, limit=400):
        assert revive(json.loads(n.state)) == transcoder.decode(n.state)
