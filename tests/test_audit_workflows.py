"""Audits against the workflows, on Temporal's time-skipping server with a real
worker and a real store (SQLite, or PostgreSQL under RINGI_TEST_STORE=postgres): ``reconcile`` compares every workflow's state
with the store's, and a workflow's known version anchors its request's chain."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import psycopg
from psycopg import sql

from ringi.audit.reconcile import reconcile, workflow_anchors, workflow_states
from ringi.audit.verify import verify
from ringi.domain.commands import Close, Endorse, FileRequest, Withdraw
from ringi.domain.policy import Policy
from ringi.domain.request import request_id
from ringi.domain.vocabulary import Category, CloseReason, Stage
from ringi.service import Ringi
from ringi.store import RingiStore

from .helpers import (
    DAY,
    PROPOSER,
    SECRETARIAT,
    endorse_by,
    file_request,
    member,
    request_in_hearing,
)


async def three_requests(ringi: Ringi) -> tuple[int, int, int]:
    """No.1 in hearing (8 events), No.2 gathering support, No.3 withdrawn."""
    hearing = await request_in_hearing(ringi)
    gathering = await file_request(ringi, proposer="B社")
    await endorse_by(ringi, gathering.number, ["C社"])
    withdrawn = await file_request(ringi, proposer="C社")
    view = await ringi.act(withdrawn.number, Withdraw(actor=member("C社"), reason="運用で対応"))
    assert view.stage is Stage.CLOSED
    return hearing.number, gathering.number, withdrawn.number


def delete_last(ringi: Ringi, number: int) -> int:
    """Delete No.``number``'s last event from the database itself (the SQLite
    file, or the PostgreSQL schema under ``RINGI_TEST_STORE=postgres``); returns
    its version."""
    settings = ringi.settings
    if settings.store == "postgres":
        table = sql.SQL("{}.ringi_events").format(sql.Identifier(settings.postgres_schema))
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as pg:
            row = pg.execute(
                sql.SQL("SELECT MAX(originator_version) FROM {} WHERE originator_id=%s").format(
                    table
                ),
                (request_id(number),),
            ).fetchone()
            assert row is not None
            pg.execute(
                sql.SQL("DELETE FROM {} WHERE originator_id=%s AND originator_version=%s").format(
                    table
                ),
                (request_id(number), row[0]),
            )
        return int(row[0])
    with closing(sqlite3.connect(settings.event_store_path)) as connection, connection:
        (version,) = connection.execute(
            "SELECT MAX(originator_version) FROM stored_events WHERE originator_id=?",
            (request_id(number).hex,),
        ).fetchone()
        connection.execute(
            "DELETE FROM stored_events WHERE originator_id=? AND originator_version=?",
            (request_id(number).hex, version),
        )
    return int(version)


async def test_every_workflow_holds_what_the_store_folds(ringi: Ringi) -> None:
    numbers = await three_requests(ringi)

    assert await reconcile(ringi, settle=0.1) == []

    states = {s.number: s for s in await workflow_states(ringi)}
    assert {n: states[n].status for n in numbers} == {
        numbers[0]: "running",
        numbers[1]: "running",
        numbers[2]: "completed",
    }
    anchors = await workflow_anchors(ringi)
    assert {a.number: a.version for a in anchors} == {
        n: ringi.store.view(n).version for n in numbers
    }
    assert verify(ringi.store, anchors).clean


async def test_an_event_appended_behind_the_workflows_back_is_a_difference(ringi: Ringi) -> None:
    hearing, gathering, _ = await three_requests(ringi)
    before = ringi.store.view(gathering)

    other = RingiStore(env=ringi.settings.eventsourcing_env())
    try:
        other.execute(gathering, Endorse(actor=member("F社")), before.updated_at + DAY)
    finally:
        other.close()

    differences = await reconcile(ringi, settle=0.1)

    assert [d.number for d in differences] == [gathering]
    (difference,) = differences
    assert (difference.workflow_version, difference.store_version) == (
        before.version,
        before.version + 1,
    )
    assert difference.fields == ["endorsements", "updated_at", "version"]
    assert difference.line().startswith(f"No.{gathering}: the running workflow holds version")
    # written by a store, the event is properly chained: only reconcile sees it
    assert verify(ringi.store).clean
    assert (await ringi.live_view(hearing)) == ringi.store.view(hearing)


async def test_a_deleted_last_event_is_named_against_the_workflows_version(ringi: Ringi) -> None:
    hearing, _, _ = await three_requests(ringi)
    deleted = delete_last(ringi, hearing)
    assert deleted == 8

    anchors = await workflow_anchors(ringi)
    report = verify(ringi.store, anchors)

    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("deleted", hearing, deleted)
    ]
    assert "the running workflow knows version 8" in report.findings[0].message
    (difference,) = await reconcile(ringi, settle=0.1)
    assert difference.number == hearing
    assert (difference.workflow_version, difference.store_version) == (8, 7)
    assert "stage" in difference.fields


async def test_a_finished_workflow_anchors_its_closed_request(ringi: Ringi) -> None:
    """The workflow of a closed request is gone from the worker, but its result
    (the final state) stays with Temporal: the chain must reach its version."""
    _, gathering, _ = await three_requests(ringi)
    closed = await ringi.act(gathering, Close(actor=SECRETARIAT, reason=CloseReason.OUT_OF_SCOPE))
    deleted = delete_last(ringi, gathering)
    assert deleted == closed.version

    report = verify(ringi.store, await workflow_anchors(ringi))

    assert [(f.kind, f.number, f.version) for f in report.findings] == [
        ("deleted", gathering, closed.version)
    ]
    (difference,) = await reconcile(ringi, settle=0.1)
    assert difference.number == gathering and difference.status == "completed"
    assert ringi.store.view(gathering).stage is Stage.GATHERING_SUPPORT  # the closure is gone


async def test_an_open_request_without_a_workflow_is_a_difference(ringi: Ringi) -> None:
    """A request appended to the store by another writer, with no workflow."""
    await file_request(ringi, proposer=PROPOSER)
    other = RingiStore(env=ringi.settings.eventsourcing_env())
    try:
        filing = FileRequest(
            actor=member("D社"), category=Category.REQUEST, target="API", body="一括照会"
        )
        number = other.reserve_number(filing.command_id)
        other.file(number, filing, Policy(), ringi.store.view(1).updated_at)
    finally:
        other.close()

    (difference,) = await reconcile(ringi, settle=0.1)

    assert difference.number == number and difference.status == "none"
    assert "has no workflow" in difference.message
