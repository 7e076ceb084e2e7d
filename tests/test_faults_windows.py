"""The secretariat's conclusion of an objection window and the window's timer
(issue 20), with the worker SIGKILLed between the two: real worker processes,
the real Temporal dev server (real time: the window ends a few seconds after it
opens), both event stores (``tests/fault_harness.py``).

Whichever comes first moves the request once; the second is refused in words
that say the window has ended, writes nothing, and the new worker and the store
agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ringi.domain.commands import (
    EndObjectionWindow,
    Endorse,
    EvaluateCost,
    FileRequest,
    OpenObjectionWindow,
    TimerFired,
    TimerKind,
)
from ringi.domain.errors import Refused
from ringi.domain.vocabulary import Actor, Category, Role, Stage
from ringi.service import Ringi
from tests.domain_builders import cost_effective_inputs
from tests.fault_harness import (
    FaultSite,
    settled,
    site_fixture,  # noqa: F401  (the `site` fixture)
    until,
)

pytestmark = pytest.mark.slow

SECRETARIAT = Actor.secretariat("事務局")


async def in_objection_window(ringi: Ringi, lasting: timedelta) -> tuple[int, datetime]:
    """A request in an objection window that ends ``lasting`` from now; its number
    and the window's end."""
    filed = await ringi.file(
        FileRequest(
            actor=Actor.member("A社"),
            category=Category.REQUEST,
            target="使用量情報照会のパスワード発行",
            body="複数供給地点を一括で申込めるようにしてほしい",
        )
    )
    n = filed.number
    await ringi.act(n, Endorse(actor=Actor.member("B社")))  # the threshold of 2: the hearing
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_effective_inputs()))
    ends_at = datetime.now(UTC) + lasting
    view = await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT, ends_at=ends_at))
    assert view.stage is Stage.OBJECTION_WINDOW
    return n, ends_at


def ended(site: FaultSite, number: int) -> list[str]:
    """Who ended the window, once for each time it was ended."""
    return [
        str((e.actor or {}).get("role"))
        for e in site.store.timeline(number)
        if e.event == "ObjectionWindowEnded"
    ]


async def assert_one_transition(site: FaultSite, number: int, by: Role) -> None:
    assert ended(site, number) == [by.value]
    site.assert_chain_whole(number)
    stage_changes = [m for m in site.store.outbox() if m.key.endswith(":stage_changed")]
    into = [m for m in stage_changes if "→ implementation" in m.subject]
    assert len(into) == 1
    assert site.ringi is not None
    live = await site.ringi.live_view(number)
    assert live == site.store.view(number)
    assert live is not None and live.stage is Stage.IMPLEMENTATION


async def test_the_secretariat_first_a_worker_killed_then_the_timer_is_moot(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    site.use_policy(support_threshold=2, deadline_reminder_days=0)
    first = await site.worker()
    n, ends_at = await in_objection_window(ringi, timedelta(seconds=8))

    view = await settled(ringi.act(n, EndObjectionWindow(actor=SECRETARIAT)), "the conclusion")
    assert view.stage is Stage.IMPLEMENTATION
    first.kill()
    # the window's end passes with no worker at all
    await until(lambda: datetime.now(UTC) > ends_at + timedelta(seconds=1), "the window's end")
    await site.worker()
    late = TimerFired.at(TimerKind.OBJECTION_WINDOW_END, ends_at)
    with pytest.raises(Refused, match="no longer applies"):
        await settled(ringi.act(n, late), "the late timer's answer")
    await assert_one_transition(site, n, Role.SECRETARIAT)


async def test_the_timer_first_a_worker_killed_then_the_secretariat_is_refused(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    site.use_policy(support_threshold=2, deadline_reminder_days=0)
    first = await site.worker()
    n, _ = await in_objection_window(ringi, timedelta(seconds=4))

    await until(lambda: ended(site, n), "the window's timer")
    first.kill()
    await site.worker()
    conclusion = EndObjectionWindow(actor=SECRETARIAT, meeting=None)
    with pytest.raises(Refused, match=r"the objection window of No\.1 has ended already"):
        await settled(ringi.act(n, conclusion), "the conclusion's answer")
    await assert_one_transition(site, n, Role.TIMER)
