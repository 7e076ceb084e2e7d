"""A large, realistic event store for the benchmarks, and how to open one.

Every event is produced the only way ringi produces events: real commands run
through the real ``Request`` aggregate (rules checked, facts folded, notifications
drafted), then saved with ``RingiStore.save`` together with the outbox messages
the commands drafted, many requests to a transaction. Around them, what a real
store also holds: the request numbering and the meetings (第N回) the answers and
objection windows refer to.

The requests follow seven lifecycles in proportions like the register's:
released after an unopposed objection window (No.39), not cost-effective (No.61),
closed by the support deadline (No.102), on hold (保留), objected to and
re-evaluated, a question answered, and long-open requests carried from meeting to
meeting with answers tagged (継続). Texts are Japanese and of register length.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from ringi.domain import lifecycle
from ringi.domain.commands import (
    AppendNote,
    Approve,
    Close,
    Command,
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
    TimerFired,
    TimerKind,
)
from ringi.domain.cost import CostBearer, CostInputs, CostItem
from ringi.domain.lifecycle import JST
from ringi.domain.meeting import Meeting, MeetingCalendar, Numbering
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.vocabulary import Actor, Category, CloseReason
from ringi.store import OutboxMessage, RingiStore

StoreKind = Literal["sqlite", "postgres"]
POSTGRES = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "test"}

T0 = datetime(2016, 4, 1, 10, 0, tzinfo=JST)
MEETING_EVERY = timedelta(days=30)
COMPANIES = tuple(f"{name}電力" for name in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
SECRETARIAT = Actor.secretariat("事務局")
POLICY = Policy()

TARGETS = (
    "供給地点特定番号検索",
    "スイッチング支援システム API",
    "再点検の申込",
    "廃止取次",
    "マイページ（WEB）",
    "需要者情報の照会",
)
BODY = (
    "供給地点特定番号検索機能は現状WEB画面のみでの提供だが、APIでも供給地点特定番号検索の機能を"
    "提供いただきたい。併せて、検索結果の一括ダウンロードにも対応いただけると、月末の申込集中時の"
    "事務負担が大きく軽減される。"
)
ANSWER = (
    "改修の必要性について検討が必要と考えます。事務局内で検討を行ったが、どのような形での実装を"
    "目指すか、起案者及び賛同者へのヒアリングを行いたい。"
)


def worthwhile() -> CostInputs:
    return CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        benefit_per_unit_yen=Decimal(100),
        cost_items=(
            CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(20_000_000)),
            CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal(10_000_000)),
        ),
    )


def no61() -> CostInputs:
    return CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        total_benefit_yen=Decimal(50_000_000),
        cost_items=(CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal(1_000_000_000)),),
    )


# --- one request's life ------------------------------------------------------------------


class Life:
    """Drives one request through commands at dated moments, as the store would."""

    def __init__(self, number: int, filed_at: datetime, rng: random.Random) -> None:
        self.rng = rng
        self.proposer, *self.others = rng.sample(COMPANIES, 8)
        self.at = filed_at
        self.filed_at = filed_at
        category = Category.QUESTION if number % 7 == 0 else Category.REQUEST
        filing = FileRequest(
            actor=Actor.member(self.proposer, user=f"{self.proposer}担当"),
            category=category,
            target=rng.choice(TARGETS),
            body=f"No.{number}: {BODY}",
        )
        self.request = Request.file(number, filing, POLICY, filed_at)

    def later(self, days: float) -> datetime:
        self.at += timedelta(days=days)
        return self.at

    def do(self, cmd: Command, days: float = 1.0) -> None:
        self.request.handle(cmd, self.later(days))

    def meeting(self) -> int:
        """The number of the next meeting (one every 30 days from ``T0``, 第1回)."""
        return (self.at - T0) // MEETING_EVERY + 2

    def endorse(self, count: int) -> None:
        for company in self.others[:count]:
            self.do(Endorse(actor=Actor.member(company)), days=self.rng.uniform(0.5, 10))

    def answer(self, continued: bool = True) -> None:
        self.later(self.rng.uniform(10, 40))
        self.do(
            RecordAnswer(
                actor=SECRETARIAT, text=ANSWER, continued=continued, meeting=self.meeting()
            ),
            days=0,
        )

    def fire(self, kind: TimerKind) -> None:
        """The pending timer of this kind falls due and fires."""
        view = self.request.view()
        (timer,) = [t for t in lifecycle.pending_timers(view) if t.timer is kind]
        self.at = max(self.at, timer.due)
        self.request.handle(TimerFired.at(kind, timer.due), self.at)

    def to_objection_window(self) -> None:
        self.endorse(4)
        self.answer()
        self.do(RecordFindings(actor=SECRETARIAT, text="事業者ヒアリング: 各社とも必要"), days=20)
        self.do(EvaluateCost(actor=SECRETARIAT, inputs=worthwhile()), days=15)
        self.do(OpenObjectionWindow(actor=SECRETARIAT, meeting=self.meeting()), days=5)


def released(life: Life) -> None:
    """No.39: supported, heard, cost-effective, unopposed, implemented, released."""
    life.to_objection_window()
    life.fire(TimerKind.OBJECTION_WINDOW_END)
    planned = (life.at + timedelta(days=120)).date()
    life.do(Approve(actor=SECRETARIAT, planned_release=planned, meeting=life.meeting()), days=10)
    life.fire(TimerKind.PLANNED_RELEASE)
    life.do(Release(actor=SECRETARIAT, released_on=planned), days=0.1)


def not_cost_effective(life: Life) -> None:
    """No.61: heard, evaluated, closed with the figures kept."""
    life.endorse(4)
    life.answer()
    life.do(EvaluateCost(actor=SECRETARIAT, inputs=no61()), days=30)
    life.answer(continued=False)
    life.do(
        Close(actor=SECRETARIAT, reason=CloseReason.NOT_COST_EFFECTIVE, note="費用対効果なし"),
        days=1,
    )


def auto_closed(life: Life) -> None:
    """No.102: too little support by the deadline; reminded, then closed by the timer."""
    life.endorse(life.rng.randint(0, 3))
    life.fire(TimerKind.DEADLINE_APPROACHING)
    life.fire(TimerKind.SUPPORT_DEADLINE)


def on_hold(life: Life) -> None:
    """保留: supported in part, answered, held before the deadline, the half-yearly
    review reminder, answered again while held."""
    life.endorse(3)
    life.answer()
    life.do(Hold(actor=SECRETARIAT, reason="関連法令の改正を待つため保留"), days=3)
    life.fire(TimerKind.HOLD_REVIEW)
    life.answer()


def objected(life: Life) -> None:
    """An objection sends it back to the evaluation; a second window passes; released."""
    life.to_objection_window()
    life.do(
        RaiseObjection(actor=Actor.member(life.others[5]), reason="当社システムへの影響が大きい"),
        days=3,
    )
    life.fire(TimerKind.OBJECTION_WINDOW_END)
    life.do(EvaluateCost(actor=SECRETARIAT, inputs=worthwhile()), days=30)
    life.do(OpenObjectionWindow(actor=SECRETARIAT, meeting=life.meeting()), days=5)
    life.fire(TimerKind.OBJECTION_WINDOW_END)
    planned = (life.at + timedelta(days=90)).date()
    life.do(Approve(actor=SECRETARIAT, planned_release=planned), days=10)


def question(life: Life) -> None:
    """A question (質問), answered at a meeting and closed as answered."""
    life.answer(continued=False)
    life.do(Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED, meeting=life.meeting()), days=1)


def long_open(life: Life) -> None:
    """Like No.13: open for years, waiting for support, answered at meeting after meeting."""
    life.endorse(life.rng.randint(1, 3))
    deadline = life.filed_at + timedelta(days=900)
    life.do(
        ExtendDeadline(actor=SECRETARIAT, deadline=deadline, reason="多数の賛同があるまで待ちます")
    )
    for _ in range(life.rng.randint(2, 5)):
        life.answer()
    life.do(AppendNote(actor=Actor.member(life.proposer), text="追記: APIでの提供を強く希望します"))


#: (lifecycle, weight): most requests stay open or close for want of support
REQUEST_LIVES: tuple[tuple[Callable[[Life], None], int], ...] = (
    (released, 15),
    (not_cost_effective, 10),
    (auto_closed, 25),
    (on_hold, 10),
    (objected, 5),
    (long_open, 35),
)


def life_of(number: int, rng: random.Random) -> Life:
    filed_at = T0 + timedelta(minutes=50 * number)  # 100,000 requests in about ten years
    life = Life(number, filed_at, rng)
    if life.request.state.category is Category.QUESTION:
        question(life)
    else:
        lives, weights = zip(*REQUEST_LIVES, strict=True)
        rng.choices(lives, weights)[0](life)
    return life


def outbox(request: Request) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            key=draft.key,
            kind=draft.kind.value,
            request_number=draft.request_number,
            recipients=list(draft.recipients),
            subject=draft.subject,
            body=draft.body,
        )
        for draft in request.take_notifications()
    ]


# --- the store -----------------------------------------------------------------------------


@dataclass
class Generated:
    events: int
    requests: int
    meetings: int
    seconds: float


def generate(
    store: RingiStore,
    events: int | None = None,
    *,
    requests: int | None = None,
    batch: int = 200,
    seed: int = 39,
) -> Generated:
    """Fill an empty ``store`` with at least ``events`` events (whole requests), or
    with exactly ``requests`` requests."""
    assert (events is None) != (requests is None), "events or requests"
    started = time.perf_counter()
    rng = random.Random(seed)
    numbering = Numbering()
    calendar = MeetingCalendar()
    written = number = 0
    highest_meeting = 0
    while written < (events or 0) or number < (requests or 0):
        aggregates: list[Request | OutboxMessage | Numbering | MeetingCalendar | Meeting] = []
        for _ in range(batch if requests is None else min(batch, requests - number)):
            number += 1
            numbering.reserve(uuid.UUID(int=rng.getrandbits(128)).hex)
            life = life_of(number, rng)
            aggregates += [life.request, *outbox(life.request)]
            # the meetings the request's answers and windows name, opened as they come
            while highest_meeting < life.meeting():
                highest_meeting += 1
                held_at = T0 + MEETING_EVERY * (highest_meeting - 1)
                calendar.add(highest_meeting, held_at)
                aggregates.append(
                    Meeting(
                        number=highest_meeting,
                        held_at=held_at,
                        at=held_at - timedelta(days=14),
                        actor=SECRETARIAT.model_dump(mode="json"),
                        title=f"第{highest_meeting}回 スイッチング支援システム実務者会議",
                    )
                )
        aggregates += [numbering, calendar]
        recordings = store.save(*aggregates)
        written += len(recordings)
    return Generated(written, number, highest_meeting, time.perf_counter() - started)


@contextmanager
def opened_store(kind: StoreKind, directory: Path, keep: str | None = None) -> Iterator[RingiStore]:
    """A store for the benchmark: by default a fresh, empty one (a new SQLite file in
    ``directory``, or a new schema in the PostgreSQL at 127.0.0.1:5432, dropped
    afterwards). With ``keep`` (an SQLite file, or a schema name), that one, created
    if need be and left in place, so that one generated corpus serves many runs."""
    if kind == "sqlite":
        path = Path(keep) if keep else directory / "events.db"
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        store = RingiStore(env=env)
        try:
            yield store
        finally:
            store.close()
        return

    import psycopg
    from psycopg import sql

    schema = keep or f"bench_{uuid.uuid4().hex[:12]}"
    dsn = " ".join(f"{k}={v}" for k, v in POSTGRES.items())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": POSTGRES["dbname"],
        "POSTGRES_HOST": POSTGRES["host"],
        "POSTGRES_PORT": POSTGRES["port"],
        "POSTGRES_USER": POSTGRES["user"],
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "y",
    }
    store = RingiStore(env=env)
    try:
        yield store
    finally:
        store.close()
        if not keep:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def stored_events(store: RingiStore) -> int:
    return store.recorder.max_notification_id() or 0


def fill(
    store: RingiStore, events: int | None = None, batch: int = 200, requests: int | None = None
) -> None:
    """Generate ``events`` events (or ``requests`` requests) into ``store`` unless it
    already holds some, and say which."""
    held = stored_events(store)
    if held:
        print(f"reusing the {held:,} events already in the store (no generation)", flush=True)
        return
    wanted = f"{events:,} events" if events is not None else f"{requests:,} requests"
    print(f"generating {wanted} ...", flush=True)
    made = generate(store, events, requests=requests, batch=batch)
    print(
        f"generated {made.events:,} events ({made.requests:,} requests, "
        f"{made.meetings} meetings) in {made.seconds:.1f} s, "
        f"{made.events / made.seconds:,.0f} events/s",
        flush=True,
    )


def add_store_arguments(parser: argparse.ArgumentParser, events: int | None) -> None:
    if events is not None:
        parser.add_argument("--events", type=int, default=events, help="default: %(default)s")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--keep",
        metavar="FILE_OR_SCHEMA",
        help="generate into (or reuse) this SQLite file / PostgreSQL schema and keep it",
    )
    parser.add_argument("--batch", type=int, default=200, help="requests per save")


def database_bytes(store: RingiStore) -> int | None:
    """The size of an SQLite store's file (None for PostgreSQL)."""
    name = store.env.get("SQLITE_DBNAME")
    if not name:
        return None
    return sum(p.stat().st_size for p in Path(name).parent.glob(Path(name).name + "*"))


def main(argv: list[str] | None = None) -> int:
    """Generate a corpus once, for later runs of the benchmarks with ``--keep``."""
    parser = argparse.ArgumentParser(description="Generate a benchmark corpus and keep it.")
    add_store_arguments(parser, events=1_000_000)
    args = parser.parse_args(argv)
    if not args.keep:
        parser.error("--keep FILE_OR_SCHEMA: where to keep the corpus")
    with opened_store(args.store, Path(args.keep).parent, args.keep) as store:
        fill(store, args.events, args.batch)
        size = database_bytes(store)
        if size:
            print(f"database: {size / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
