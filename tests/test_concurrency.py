"""Many members acting on one request at the same moment, on a real dev server
(whose default allows only 10 updates in flight per workflow)."""

from __future__ import annotations

import asyncio

from ringi.config import Settings
from ringi.domain.commands import Endorse
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.helpers import assert_store_matches_workflow, file_request, member, use_policy


async def test_a_hundred_companies_endorsing_at_once_are_each_counted_once(
    ringi_dev: Ringi, settings: Settings, store: RingiStore
) -> None:
    use_policy(settings, support_threshold=1000)  # keep the window open for everyone
    n = (await file_request(ringi_dev)).number
    companies = [f"会社{i:03d}" for i in range(100)]

    views = await asyncio.gather(
        *(ringi_dev.act(n, Endorse(actor=member(company))) for company in companies)
    )

    final = store.view(n)
    assert sorted(final.endorsers) == companies
    assert final.support == 101
    assert max(v.support for v in views) == 101
    assert len([e for e in store.timeline(n) if e.event == "Endorsed"]) == 100
    await assert_store_matches_workflow(ringi_dev, n)
