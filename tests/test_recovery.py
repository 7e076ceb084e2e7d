"""A request whose workflow is gone is taken up again from the store."""

from __future__ import annotations

from typing import Any

from temporalio.testing import WorkflowEnvironment

from ringi.audit.reconcile import reconcile
from ringi.config import Settings
from ringi.domain.commands import Endorse
from ringi.domain.vocabulary import Stage
from ringi.service import Ringi
from ringi.store import RingiStore, postgres_events_table
from ringi.workflows.messages import workflow_id
from tests.conftest import running_worker
from tests.helpers import assert_store_matches_workflow, file_request, member


async def test_a_command_on_a_request_whose_workflow_was_terminated_takes_it_up_again(
    ringi: Ringi,
) -> None:
    n = (await file_request(ringi)).number
    await ringi.act(n, Endorse(actor=member("B社")))
    await ringi.client.get_workflow_handle(workflow_id(n)).terminate(reason="operator error")

    view = await ringi.act(n, Endorse(actor=member("C社")))

    assert view.stage is Stage.GATHERING_SUPPORT
    assert view.endorsers == ["B社", "C社"]
    await assert_store_matches_workflow(ringi, n)


async def test_resume_workflows_starts_one_for_every_open_request_without_one(ringi: Ringi) -> None:
    first = (await file_request(ringi)).number
    second = (await file_request(ringi)).number
    await ringi.client.get_workflow_handle(workflow_id(second)).terminate(reason="lost")

    assert (await ringi.resume_workflows()).started == [second]
    again = await ringi.resume_workflows()  # idempotent
    assert again.started == [] and again.running == [first, second] and again.complete
    for n in (first, second):
        await assert_store_matches_workflow(ringi, n)


def _restore(store: RingiStore, position: int) -> None:
    """What restoring a backup taken at ``position`` of the log leaves: every
    event recorded after it gone (Temporal, kept apart, still has its workflows)."""
    recorder: Any = store.recorder
    if type(recorder).__module__ == "eventsourcing.sqlite":
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {recorder.events_table_name} WHERE rowid > ?", (position,))
        return
    from psycopg.sql import SQL

    with recorder.datastore.get_connection() as conn:
        statement = SQL("DELETE FROM {} WHERE notification_id > %s")
        conn.execute(statement.format(postgres_events_table(recorder)), (position,))
        conn.commit()


async def test_a_filing_after_a_restore_takes_its_number_from_the_workflow_left_running(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The store restored from a backup hands No.2 out again while No.2's workflow,
    filed after the backup, still runs: reconcile names it, and the next filing
    ends it and is filed under the number (it was answered with the old request
    before, and lost)."""
    client = time_skipping_env.client
    before = RingiStore(env=settings.eventsourcing_env())
    async with running_worker(client, settings, before, sticky=False):
        ringi = Ringi(settings, client, before)
        assert (await file_request(ringi)).number == 1
        backup = before.recorder.max_notification_id() or 0
        assert (await file_request(ringi, body="バックアップの後の要望")).number == 2
    _restore(before, backup)
    before.close()

    store = RingiStore(env=settings.eventsourcing_env())
    try:
        async with running_worker(client, settings, store, sticky=False):
            ringi = Ringi(settings, client, store)
            (left,) = await reconcile(ringi)
            assert left.number == 2 and "restored from an earlier backup" in left.message

            filed = await file_request(ringi, proposer="C社", body="復元の後の要望")

            assert (filed.number, filed.proposer, filed.body) == (2, "C社", "復元の後の要望")
            assert store.view(2).body == "復元の後の要望"
            await assert_store_matches_workflow(ringi, 2)
            assert await reconcile(ringi) == []
            assert (await file_request(ringi)).number == 3
    finally:
        store.close()
