"""Tamper evidence: every request's events form a hash chain, and ``verify`` names
the request and version of every event edited, deleted, reordered or inserted
directly in the database.

The store is a real SQLite file written through ``RingiStore``; the tampering
is done the way someone with access to the file would do it, with ``sqlite3``
on the ``stored_events`` table, while no store has it open.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ringi.audit.verify import Anchor, Finding, Report, verify
from ringi.domain.chain import GENESIS, content_hash
from ringi.domain.commands import RecordAnswer
from ringi.domain.meeting import meeting_id
from ringi.domain.request import Request, request_id
from ringi.domain.vocabulary import Category
from ringi.register.publish import publish
from ringi.store import RingiStore
from tests.audit_helpers import play, populate, populated_file, sqlite_env
from tests.domain_builders import Scenario, State, day, filing, run, scenario, secretariat

# No.1 (fully supported, in hearing) is stored as:
#   v1 Filed · v2 SupportGatheringOpened · v3 Endorsed B社 · v4 Endorsed C社 ·
#   v5 Endorsed D社 · v6 Endorsed E社 · v7 SupportThresholdMet · v8 HearingOpened
# No.2 is gathering support (v1-v3); No.3 was closed (v1-v4).
HEARING_EVENTS = 8
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An event store file with three requests and a meeting, closed."""
    return populated_file(tmp_path / "events.db")


def verified(db: Path, anchors: list[Anchor] | None = None) -> Report:
    """Verify the file as a fresh store sees it, reading in pages of 3 and of 500:
    the paging must not change a thing."""
    store = RingiStore(env=sqlite_env(db))
    try:
        report = verify(store, anchors or [])
        assert verify(store, anchors or [], page=3) == report
        return report
    finally:
        store.close()


def found(
    db: Path, anchors: list[Anchor] | None = None
) -> list[tuple[str, int | None, int | None]]:
    return [(f.kind, f.number, f.version) for f in verified(db, anchors).findings]


# --- tampering with the file ---------------------------------------------------------------


def tamper(db: Path, change: Callable[[sqlite3.Connection], object]) -> None:
    with closing(sqlite3.connect(db)) as connection, connection:
        change(connection)


def rid(number: int) -> str:
    return request_id(number).hex


def row(db: Path, number: int, version: int) -> tuple[int, str, bytes]:
    with closing(sqlite3.connect(db)) as connection:
        found = connection.execute(
            "SELECT rowid, topic, state FROM stored_events "
            "WHERE originator_id=? AND originator_version=?",
            (rid(number), version),
        ).fetchone()
    assert found is not None, f"No.{number} has no version {version}"
    return int(found[0]), str(found[1]), bytes(found[2])


def replace_state(db: Path, number: int, version: int, state: bytes) -> None:
    tamper(
        db,
        lambda c: c.execute(
            "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
            (state, rid(number), version),
        ),
    )


def rehash(db: Path, number: int, version: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a stored event and recompute its own hash, as someone who knows the
    scheme would: the event is consistent again, whatever points at its old hash."""
    store = RingiStore(env=sqlite_env(db))
    try:
        stored = store.recorder.select_events(request_id(number), gt=version - 1, lte=version)[0]
        state = store.mapper.transcoder.decode(stored.state)
        change(state)
        state["event_hash"] = content_hash(stored.topic, request_id(number), version, state)
        forged = store.mapper.transcoder.encode(state)
    finally:
        store.close()
    replace_state(db, number, version, forged)


def delete(db: Path, number: int, version: int) -> None:
    tamper(
        db,
        lambda c: c.execute(
            "DELETE FROM stored_events WHERE originator_id=? AND originator_version=?",
            (rid(number), version),
        ),
    )


# --- an untouched store -------------------------------------------------------------------------


def test_an_untouched_store_verifies_clean(db: Path) -> None:
    report = verified(db)
    assert report.findings == []
    assert report.clean
    with closing(sqlite3.connect(db)) as connection:
        (rows,) = connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    assert report.events == rows
    assert report.chains == 4  # three requests and the meeting


def test_each_event_carries_the_hash_of_the_one_before() -> None:
    request = run(scenario(State.HEARING))
    events = request.collect_events()
    assert len(events) == HEARING_EVENTS
    previous = GENESIS
    for e in events:
        assert isinstance(e, Request.Event)
        assert e.previous_hash == previous
        assert len(e.event_hash) == 64 and e.event_hash != previous
        previous = e.event_hash
    assert request.chain_head == previous


def test_the_stored_hash_is_recomputed_from_the_stored_bytes(db: Path) -> None:
    """What is hashed is what is stored: topic, id, version and the decoded state."""
    store = RingiStore(env=sqlite_env(db))
    try:
        chained = 0
        for n in store.recorder.select_notifications(start=None, limit=1000):
            state = store.mapper.transcoder.decode(n.state)
            if "event_hash" in state:
                chained += 1
                assert (
                    content_hash(n.topic, n.originator_id, n.originator_version, state)
                    == (state["event_hash"])
                )
                moved = content_hash(n.topic, n.originator_id, n.originator_version + 1, state)
                assert moved != state["event_hash"]
        assert chained == HEARING_EVENTS + 3 + 4 + 1
        # a replayed request ends on the hash of its last stored event
        last = store.recorder.select_events(request_id(1), desc=True, limit=1)[0]
        assert store.request(1).chain_head == json.loads(last.state)["event_hash"]
    finally:
        store.close()


def test_idempotency_and_replay_work_as_before_on_a_chained_request(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = RingiStore(env=sqlite_env(path))
    try:
        s = scenario(State.HEARING)
        number = play(store, s)
        again = store.execute(number, s.steps[-1].command, s.steps[-1].at)
        assert not again.written
        assert store.view(number).version == HEARING_EVENTS
    finally:
        store.close()
    assert verified(path).clean


# --- edited ---------------------------------------------------------------------------------------


def test_an_edited_event_is_named(db: Path) -> None:
    _, _, state = row(db, 1, 3)
    assert "B社".encode() in state
    replace_state(db, 1, 3, state.replace("B社".encode(), "Z社".encode()))

    report = verified(db)

    assert [(f.kind, f.number, f.version) for f in report.findings] == [("edited", 1, 3)]
    assert report.findings[0].line().startswith("No.1 version 3: edited:")


def test_an_edited_event_of_another_request_names_that_request(db: Path) -> None:
    _, _, state = row(db, 3, 4)  # No.3's closure
    replace_state(db, 3, 4, state.replace(b"out_of_scope", b"withdrawn"))
    assert found(db) == [("edited", 3, 4)]


def test_an_edit_to_the_last_event_is_caught_by_its_own_hash(db: Path) -> None:
    _, _, state = row(db, 1, HEARING_EVENTS)
    edited = json.loads(state)
    edited["meeting"] = 27
    replace_state(db, 1, HEARING_EVENTS, json.dumps(edited, ensure_ascii=False).encode())
    assert found(db) == [("edited", 1, HEARING_EVENTS)]


def test_a_filing_edited_to_another_number_is_named_by_its_request(db: Path) -> None:
    _, _, state = row(db, 2, 1)
    assert b'"number":2,' in state
    replace_state(db, 2, 1, state.replace(b'"number":2,', b'"number":5,'))
    assert found(db) == [("edited", 2, 1)]


def test_an_event_that_can_no_longer_be_read_is_named(db: Path) -> None:
    replace_state(db, 2, 2, b"\xff\xfe not json")
    report = verified(db)
    assert [(f.kind, f.number, f.version) for f in report.findings] == [("edited", 2, 2)]
    assert "cannot be read" in report.findings[0].message


def test_an_edited_topic_is_an_edit(db: Path) -> None:
    tamper(
        db,
        lambda c: c.execute(
            "UPDATE stored_events SET topic=? WHERE originator_id=? AND originator_version=5",
            ("ringi.domain.request:Request.EndorsementWithdrawn", rid(1)),
        ),
    )
    assert found(db) == [("edited", 1, 5)]


def test_an_event_edited_and_re_hashed_is_given_away_by_the_next_one(db: Path) -> None:
    """Someone who knows the scheme edits version 4 and recomputes its hash:
    version 4 is consistent, but version 5 still points at the old hash."""
    rehash(db, 1, 4, lambda state: state.update(company="Z社"))

    report = verified(db)

    assert [(f.kind, f.number, f.version) for f in report.findings] == [("edited", 1, 4)]
    assert "re-hashed" in report.findings[0].message


def test_an_edited_meeting_is_named(db: Path) -> None:
    tamper(
        db,
        lambda c: c.execute(
            "UPDATE stored_events SET state=CAST(replace(state, '第27回', '第28回') AS BLOB) "
            "WHERE originator_id=?",
            (meeting_id(27).hex,),
        ),
    )
    report = verified(db)
    assert [(f.subject, f.kind, f.number, f.version) for f in report.findings] == [
        ("meeting", "edited", 27, 1)
    ]


def test_an_edited_meeting_calendar_is_named(db: Path) -> None:
    """The calendar is not chained, but it dates the meetings before a register's
    meeting and finds the next one: checked against the chained meeting."""
    held = day(7).isoformat()
    tamper(
        db,
        lambda c: c.execute(
            "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT), ?, ?) AS BLOB) "
            "WHERE topic LIKE '%MeetingCalendar.%'",
            (held, "2002-11-01T00:00:00+09:00"),
        ),
    )
    report = verified(db)
    assert [(f.subject, f.kind, f.number, f.version) for f in report.findings] == [
        ("meeting", "edited", 27, None)
    ]
    assert "calendar (not chained) says it is held 2002-11-01" in report.findings[0].message
    assert held in report.findings[0].message


def test_the_calendar_is_checked_by_the_meetings_it_holds(tmp_path: Path) -> None:
    """Meeting numbers may be sparse and large (the API takes up to 999,999,999): the
    check looks at the meetings there are, not at every number below the highest."""
    path = tmp_path / "sparse.db"
    store = RingiStore(env=sqlite_env(path))
    try:
        store.open_meeting(999_999_999, day(7), secretariat(), title="遠い会議")
    finally:
        store.close()
    assert verified(path).findings == []


# --- deleted ------------------------------------------------------------------------------------


def test_a_deleted_middle_event_is_named(db: Path) -> None:
    delete(db, 1, 4)
    assert found(db) == [("deleted", 1, 4)]


def test_a_deleted_first_event_is_named(db: Path) -> None:
    delete(db, 2, 1)
    assert found(db) == [("deleted", 2, 1)]


def test_a_deleted_last_event_is_named_against_an_anchor(db: Path) -> None:
    """Without an anchor the chain of No.1 still looks whole; SQLite's event log
    keeps a gap where the row was (other events were recorded after it), which is
    reported without a request. Against the version the workflow knows, the
    deleted event is named exactly."""
    notification, _, _ = row(db, 1, HEARING_EVENTS)
    delete(db, 1, HEARING_EVENTS)

    unanchored = verified(db).findings
    assert [(f.subject, f.kind, f.number, f.version) for f in unanchored] == [
        ("log", "deleted", None, None)
    ]
    assert f"notification {notification} is missing" in unanchored[0].message
    assert "No.1 version 7" in unanchored[0].message  # the row before the gap

    anchor = Anchor(number=1, version=HEARING_EVENTS, source="the workflow")
    assert found(db, [anchor]) == [("deleted", 1, HEARING_EVENTS)]


def test_deleting_the_last_row_of_the_log_is_seen_only_against_an_anchor(db: Path) -> None:
    """The limit of what a chain can prove on its own: the very last row of the
    log leaves no trace (SQLite gives its id to the next row)."""
    with closing(sqlite3.connect(db)) as connection:
        (last_rowid,) = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    tamper(db, lambda c: c.execute("DELETE FROM stored_events WHERE rowid=?", (last_rowid,)))
    # the last row is an outbox notification of No.3's closure; delete No.3's
    # closure too, which was recorded just before it
    with closing(sqlite3.connect(db)) as connection:
        (closing_rowid,) = connection.execute(
            "SELECT MAX(rowid) FROM stored_events WHERE originator_id=?", (rid(3),)
        ).fetchone()
        (now_last,) = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    assert closing_rowid == now_last
    delete(db, 3, 4)

    assert found(db) == []
    assert found(db, [Anchor(number=3, version=4, source="the workflow")]) == [("deleted", 3, 4)]


def test_a_request_deleted_entirely_is_named_against_its_anchor(db: Path) -> None:
    tamper(db, lambda c: c.execute("DELETE FROM stored_events WHERE originator_id=?", (rid(2),)))
    assert found(db, [Anchor(number=2, version=3, source="the workflow")]) == [
        ("deleted", 2, 1),
        ("deleted", 2, 2),
        ("deleted", 2, 3),
    ]


# --- reordered ---------------------------------------------------------------------------------


def test_two_swapped_events_are_named(db: Path) -> None:
    def swap(c: sqlite3.Connection) -> None:
        for old, new in ((4, -1), (5, 4), (-1, 5)):
            c.execute(
                "UPDATE stored_events SET originator_version=? "
                "WHERE originator_id=? AND originator_version=?",
                (new, rid(1), old),
            )

    tamper(db, swap)

    report = verified(db)
    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("reordered", 1, 4),
        ("reordered", 1, 5),
    ]
    assert "recorded as version 5" in report.findings[0].message
    assert "recorded as version 4" in report.findings[1].message


def test_events_moved_to_the_end_of_the_log_are_named_as_moved_not_deleted(db: Path) -> None:
    """Versions 5 and 6 of No.1 deleted and inserted again: their chain is whole,
    their place in the log is not, and the gap they left is theirs."""

    def move(c: sqlite3.Connection) -> None:
        rows = c.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "WHERE originator_id=? AND originator_version IN (5, 6) ORDER BY originator_version",
            (rid(1),),
        ).fetchall()
        c.execute(
            "DELETE FROM stored_events WHERE originator_id=? AND originator_version IN (5, 6)",
            (rid(1),),
        )
        c.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows)

    tamper(db, move)

    report = verified(db)
    assert [(f.subject, f.kind, f.number, f.version) for f in report.findings] == [
        ("request", "reordered", 1, 5),
        ("request", "reordered", 1, 6),
    ]
    assert "after version 8" in report.findings[0].message
    assert "its content is intact" in report.findings[0].message


# --- inserted --------------------------------------------------------------------------------------


def test_a_forged_event_is_named(db: Path) -> None:
    """An endorsement F社 never made, made from a copy of B社's."""
    _, topic, state = row(db, 1, 3)
    forged = state.replace("B社".encode(), "F社".encode())
    tamper(
        db,
        lambda c: c.execute(
            "INSERT INTO stored_events VALUES (?,?,?,?)",
            (rid(1), HEARING_EVENTS + 1, topic, forged),
        ),
    )
    report = verified(db)
    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("inserted", 1, HEARING_EVENTS + 1)
    ]
    # and the store would fold it: the forgery is in the state until verified
    store = RingiStore(env=sqlite_env(db))
    try:
        assert "F社" in store.view(1).endorsers
    finally:
        store.close()


def test_an_event_copied_verbatim_is_named(db: Path) -> None:
    _, topic, state = row(db, 1, 3)
    tamper(
        db,
        lambda c: c.execute(
            "INSERT INTO stored_events VALUES (?,?,?,?)",
            (rid(1), HEARING_EVENTS + 1, topic, state),
        ),
    )
    report = verified(db)
    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("inserted", 1, HEARING_EVENTS + 1)
    ]
    assert "copy of version 3" in report.findings[0].message


def test_a_rewritten_tail_is_caught_only_by_an_anchored_hash(db: Path) -> None:
    """Edit the last event and recompute its hash: nothing after it gives it away,
    so the chain is consistent; the hash an anchor (a publication) recorded is not."""
    _, _, original = row(db, 1, HEARING_EVENTS)
    recorded_hash = json.loads(original)["event_hash"]
    rehash(db, 1, HEARING_EVENTS, lambda state: state.update(meeting=27))

    assert found(db) == []
    anchor = Anchor(
        number=1, version=HEARING_EVENTS, hash=recorded_hash, source="the register of 第27回"
    )
    assert found(db, [anchor]) == [("edited", 1, HEARING_EVENTS)]


# --- published registers ----------------------------------------------------------------------


def test_a_published_register_that_no_longer_replays_is_named(tmp_path: Path) -> None:
    """The register published at 第27回 pins the events it was folded from: an
    answer edited afterwards breaks both its chain and the publication's digest."""
    path = tmp_path / "events.db"
    store = RingiStore(env=sqlite_env(path))
    try:
        store.open_meeting(27, day(7), secretariat(), title="第27回")
        question = Scenario(filing(Category.QUESTION)).then(
            day(7), RecordAnswer(actor=secretariat(), text="現行仕様どおりです", meeting=27)
        )
        number = play(store, question)
        publish(store, 27, actor=secretariat())
        assert verify(store).clean
        play(store, scenario(State.GATHERING_SUPPORT))  # later events leave it as it was
        assert verify(store).clean
    finally:
        store.close()
    _, _, state = row(path, number, 2)
    replace_state(path, number, 2, state.replace("現行仕様".encode(), "仕様変更".encode()))

    report = verified(path)

    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("edited", number, 2),
        ("publication", 27, None),
    ]
    assert report.findings[1].line().startswith("publication: meeting 27 (第27回)")


# --- the finding --------------------------------------------------------------------------------


def test_a_finding_reads_as_one_line() -> None:
    finding = Finding(kind="deleted", number=12, version=3, message="the event is missing")
    assert finding.line() == "No.12 version 3: deleted: the event is missing"
    assert "\n" not in finding.line()


# --- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def postgres_env() -> Iterator[tuple[dict[str, str], str]]:
    schema = f"ringi_audit_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(**POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable: {error}", pytrace=False)
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield (
                {
                    "PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_DBNAME": POSTGRES["dbname"],
                    "POSTGRES_HOST": POSTGRES["host"],
                    "POSTGRES_PORT": str(POSTGRES["port"]),
                    "POSTGRES_USER": POSTGRES["user"],
                    "POSTGRES_PASSWORD": "",
                    "POSTGRES_SCHEMA": schema,
                    "CREATE_TABLE": "y",
                },
                schema,
            )
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_chains_verify_on_postgresql_too(postgres_env: tuple[dict[str, str], str]) -> None:
    env, schema = postgres_env
    store = RingiStore(env=env)
    try:
        populate(store)
        assert verify(store).clean
        with psycopg.connect(**POSTGRES, autocommit=True) as connection:
            connection.execute(
                sql.SQL(
                    "DELETE FROM {}.ringi_events WHERE originator_id=%s AND originator_version=2"
                ).format(sql.Identifier(schema)),
                (request_id(1),),
            )
        assert [(f.kind, f.number, f.version) for f in verify(store, page=2).findings] == [
            ("deleted", 1, 2)
        ]
    finally:
        store.close()
