"""The audit trail as stored: a request's history with its hashes, and the export
of every event of every aggregate, streamed page by page, as JSON Lines or CSV."""

from __future__ import annotations

import csv
import inspect
import io
import itertools
import json
import sqlite3
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from uuid import UUID

import pytest

from ringi.audit.trail import export, history, jsonable, write_csv, write_jsonl
from ringi.domain.chain import GENESIS
from ringi.domain.commands import Endorse, RecordAnswer
from ringi.domain.errors import Refused
from ringi.domain.vocabulary import Category
from ringi.store import RingiStore
from tests.audit_helpers import play, populate, sqlite_env
from tests.domain_builders import (
    Scenario,
    State,
    day,
    filing,
    member,
    scenario,
    secretariat,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RingiStore]:
    store = RingiStore(env=sqlite_env(tmp_path / "events.db"))
    yield store
    store.close()


def many(store: RingiStore, requests: int) -> None:
    """``requests`` requests on their way through the lifecycle (about 11 events
    each, with their notifications)."""
    if 27 not in store.meetings():
        store.open_meeting(27, day(7), secretariat(), title="第27回")
    states = (State.APPROVED, State.GATHERING_SUPPORT, State.CLOSED, State.ANSWERED)
    for i in range(requests):
        play(store, scenario(states[i % len(states)]))


def stored_rows(store: RingiStore) -> list[tuple[int, str, int, str]]:
    path = store.env.get("SQLITE_DBNAME")
    assert path
    with closing(sqlite3.connect(path)) as connection:
        return [
            (int(r[0]), UUID(r[1]).hex, int(r[2]), str(r[3]))
            for r in connection.execute(
                "SELECT rowid, originator_id, originator_version, topic FROM stored_events ORDER BY rowid"
            )
        ]


# --- history -------------------------------------------------------------------------------------


def test_history_is_the_timeline_with_its_hashes(store: RingiStore) -> None:
    store.open_meeting(27, day(7), secretariat(), title="第27回")
    number = play(store, scenario(State.APPROVED))

    entries = list(history(store, number))

    timeline = store.timeline(number)
    assert [(e.version, e.event) for e in entries] == [(t.version, t.event) for t in timeline]
    assert [e.hash for e in entries] == [t.hash for t in timeline]
    assert entries[0].previous_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.previous_hash == before.hash
    assert entries[0].event == "Filed"
    assert entries[0].actor == "A社 (A社担当)"
    assert entries[0].at == timeline[0].at
    endorsed = [e for e in entries if e.event == "Endorsed"]
    assert endorsed[0].actor == "B社 (B社担当)"
    assert entries[-1].event == "ImplementationApproved"
    assert entries[-1].actor is not None and entries[-1].actor.startswith("secretariat")


def test_history_names_the_meeting_an_answer_was_given_at(store: RingiStore) -> None:
    store.open_meeting(27, day(7), secretariat(), title="第27回")
    s = Scenario(filing(Category.QUESTION)).then(
        day(8), RecordAnswer(actor=secretariat(), text="現行仕様どおりです", meeting=27)
    )
    number = play(store, s)
    answered = [e for e in history(store, number) if e.event == "AnswerRecorded"]
    assert [e.meeting for e in answered] == [27]


def test_the_history_of_no_request_is_refused(store: RingiStore) -> None:
    with pytest.raises(Refused, match=r"no request No\.4"):
        list(history(store, 4))


# --- export --------------------------------------------------------------------------------------------


def test_the_export_matches_the_store(store: RingiStore) -> None:
    many(store, 40)
    rows = stored_rows(store)
    assert len(rows) > 300

    records = list(export(store, page=64))

    assert [
        (r["notification_id"], UUID(r["originator_id"]).hex, r["version"], r["topic"])
        for r in records
    ] == rows
    # each record is the event the store folds, attribute for attribute
    for r in records:
        (event,) = store.events.get(UUID(r["originator_id"]), gt=r["version"] - 1, lte=r["version"])
        attributes = {
            k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")
        }
        assert r["state"] == jsonable(attributes)
        assert r["timestamp"] == event.timestamp.isoformat()
    requests = {r["number"] for r in records if r["aggregate"] == "Request"}
    assert requests == set(range(1, 41))
    assert {r["number"] for r in records if r["aggregate"] == "Meeting"} == {27}


def test_the_export_is_a_stream_read_page_by_page(store: RingiStore) -> None:
    """A generator that reads as it goes: events recorded after the export began,
    while it was part way through, are in it; a list made up front could not
    have them."""
    many(store, 4)
    before = len(stored_rows(store))

    records = export(store, page=5)

    assert inspect.isgenerator(records)
    first = next(records)
    assert first["notification_id"] == 1
    number = play(store, scenario(State.GATHERING_SUPPORT))
    store.execute(number, Endorse(actor=member("F社")), day(3))
    rest = list(records)
    assert 1 + len(rest) == len(stored_rows(store)) > before
    assert rest[-1]["event"] == "Endorsed" and rest[-1]["state"]["company"] == "F社"


def test_exporting_holds_a_page_not_the_whole_log(store: RingiStore) -> None:
    """The memory an export needs does not grow with the log: twice the events,
    about the same peak; a list of the records grows with them."""

    def peak(work: Callable[[], object]) -> int:
        tracemalloc.start()
        try:
            work()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def streamed() -> int:
        return peak(lambda: sum(1 for _ in export(store, page=20)))

    def held() -> int:
        return peak(lambda: list(export(store, page=20)))

    many(store, 40)
    list(export(store, page=20))  # warm the caches (topics, the transcoder)
    streamed_once, held_once = streamed(), held()
    many(store, 40)
    streamed_twice, held_twice = streamed(), held()

    assert streamed_once * 4 < held_once
    assert streamed_twice < streamed_once * 1.5, (streamed_once, streamed_twice)
    assert held_twice > held_once * 1.7, (held_once, held_twice)


def test_csv_and_json_lines_agree(store: RingiStore) -> None:
    populate(store)
    jsonl, table = io.StringIO(), io.StringIO()

    count = write_jsonl(export(store, page=7), jsonl)
    assert write_csv(export(store, page=7), table) == count

    lines = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    rows = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert len(lines) == len(rows) == count == len(stored_rows(store))
    for line, row in zip(lines, rows, strict=True):
        assert json.loads(row.pop("state")) == line.pop("state")
        assert row == {k: "" if v is None else str(v) for k, v in line.items()}
