"""A request whose workflow is gone is taken up again from the store."""

from __future__ import annotations

from ringi.domain.commands import Endorse
from ringi.domain.vocabulary import Stage
from ringi.service import Ringi
from ringi.workflows.messages import workflow_id
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

    assert await ringi.resume_workflows() == [second]
    assert await ringi.resume_workflows() == []  # idempotent
    for n in (first, second):
        await assert_store_matches_workflow(ringi, n)
