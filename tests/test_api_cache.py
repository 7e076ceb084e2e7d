"""The API's read model (``ringi/api/readmodel.py``): what a call reads is never
older than the call, whoever wrote (this API, another API process, a worker,
the command line), and a token revoked anywhere is refused on its next call.

Most tests run the API over a SQLite store alone (reads and authentication need
no Temporal) and write with a second ``RingiStore`` on the same file, as another
process would; the read-your-writes test writes through the API and its
workflow on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from temporalio.client import Client

from ringi.api import ApiSettings
from ringi.api.context import ApiContext
from ringi.api.models import RequestDetail
from ringi.api.readmodel import Freshness, Refreshes
from ringi.api.tokens import TokenRegistry
from ringi.config import Settings
from ringi.domain.commands import Endorse, FileRequest
from ringi.domain.policy import Policy
from ringi.domain.vocabulary import Actor, Category, Role
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    """The API over the store alone: reads and tokens, no Temporal."""
    async with serving(Ringi(settings, cast(Client, None), store)) as api:
        yield api


@pytest.fixture
def elsewhere(settings: Settings) -> Iterator[RingiStore]:
    """The same event store opened a second time, as another process opens it."""
    other = RingiStore(env=settings.eventsourcing_env())
    yield other
    other.close()


def file_in(store: RingiStore, proposer: str = "A社", target: str = "使用量情報照会") -> int:
    command = FileRequest(
        actor=Actor.member(proposer), category=Category.REQUEST, target=target, body="要望"
    )
    number = store.reserve_number(command.command_id)
    store.file(number, command, Policy(support_threshold=100), datetime.now(tz=UTC))
    return number


def endorse_in(store: RingiStore, number: int, company: str) -> None:
    store.execute(number, Endorse(actor=Actor.member(company)), datetime.now(tz=UTC))


def from_store(store: RingiStore, number: int) -> Any:
    """The answer to GET /v1/requests/{number}, folded from the store right now."""
    detail = RequestDetail.read(store.view(number), store.timeline(number))
    return json.loads(detail.model_dump_json())


async def detail(api: Api, number: int, who: str = "auditor") -> Any:
    response = await api.call(who, "GET", f"/v1/requests/{number}")
    assert response.status_code == 200, response.text
    return response.json()


async def listed(api: Api, **query: str) -> list[int]:
    response = await api.call("auditor", "GET", "/v1/requests", params=query)
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


async def fetched(api: Api, *numbers: int) -> list[Any]:
    response = await api.call("auditor", "POST", "/v1/bulk/requests", {"numbers": list(numbers)})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# --- writes from elsewhere ------------------------------------------------------------------


async def test_a_read_shows_what_another_process_wrote_since_the_last_read(
    api: Api, elsewhere: RingiStore
) -> None:
    number = file_in(elsewhere)
    first = await detail(api, number)
    assert first["support"] == 1
    assert await detail(api, number) == first  # answered again, unchanged
    for supporters, company in enumerate(["B社", "C社", "D社"], start=2):
        endorse_in(elsewhere, number, company)
        now = await detail(api, number)
        assert now["support"] == supporters
        assert now["request"]["endorsements"][-1]["company"] == company
        assert now["timeline"][-1]["event"] == "Endorsed"
        assert now == from_store(elsewhere, number)
        assert await listed(api, company=company) == [number]
        [item] = await fetched(api, number)
        assert item["request"]["support"] == supporters


async def test_the_cached_answer_is_the_one_folded_from_the_store(
    api: Api, elsewhere: RingiStore
) -> None:
    numbers = [file_in(elsewhere, target=f"画面 {i}") for i in range(3)]
    for number in numbers:
        endorse_in(elsewhere, number, "B社")
    for _ in range(2):  # folded, then served from memory
        for number in numbers:
            assert await detail(api, number) == from_store(api.store, number)
    # the write path's checks read the same state: another company may not withdraw A社's request
    response = await api.call("B社", "POST", f"/v1/requests/{numbers[0]}/withdraw")
    assert response.status_code == 403, response.text


async def test_a_request_filed_elsewhere_is_found_at_once(api: Api, elsewhere: RingiStore) -> None:
    assert (await api.call("auditor", "GET", "/v1/requests/1")).status_code == 404
    assert await listed(api) == []
    [missing] = await fetched(api, 1)
    assert missing["status"] == 404
    assert file_in(elsewhere) == 1
    assert (await detail(api, 1))["request"]["number"] == 1
    assert await listed(api) == [1]
    [found] = await fetched(api, 1)
    assert found["ok"]
    assert file_in(elsewhere, target="設備情報検索") == 2
    assert await listed(api) == [1, 2]
    assert await listed(api, target="設備") == [2]


async def test_a_small_cache_answers_the_same(settings: Settings, elsewhere: RingiStore) -> None:
    """Entries dropped from a full cache are folded again when asked for."""
    store = RingiStore(env=settings.eventsourcing_env())
    ringi = Ringi(settings, cast(Client, None), store)
    try:
        async with serving(ringi, ApiSettings(rate_per_second=0, read_cache_size=2)) as api:
            numbers = [file_in(elsewhere, target=f"画面 {i}") for i in range(5)]
            for round_ in range(2):
                for number in numbers:
                    endorse_in(elsewhere, number, f"X{round_}社")
                    assert await detail(api, number) == from_store(elsewhere, number)
                assert await listed(api, company=f"X{round_}社") == numbers
            assert len(api.app.state.ringi.reads.model) <= 2
    finally:
        store.close()


# --- tokens ---------------------------------------------------------------------------------


async def test_a_token_revoked_by_another_process_is_refused_on_its_next_call(
    api: Api, elsewhere: RingiStore
) -> None:
    token = api.issue("temp", Role.MEMBER, "D社")
    for _ in range(3):  # checked once, then known
        assert (await api.call("temp", "GET", "/v1/me")).status_code == 200
    registry = TokenRegistry(elsewhere)
    registry.revoke(registry.authenticate(token).token_id, by="admin", reason="leaked")
    response = await api.call("temp", "GET", "/v1/me")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]
    number = file_in(elsewhere)
    assert (await api.call("temp", "GET", f"/v1/requests/{number}")).status_code == 401


async def test_a_token_revoked_in_this_process_is_refused_on_its_next_call(api: Api) -> None:
    token = api.issue("temp", Role.AUDITOR)
    assert (await api.call("temp", "GET", "/v1/me")).status_code == 200
    registry = TokenRegistry(api.store)
    registry.revoke(registry.authenticate(token).token_id, reason="done")
    assert (await api.call("temp", "GET", "/v1/me")).status_code == 401


async def test_a_known_token_with_another_secret_is_refused(api: Api) -> None:
    token = api.issue("temp", Role.AUDITOR)
    assert (await api.call("temp", "GET", "/v1/me")).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = await api.call(None, "GET", "/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_a_token_issued_elsewhere_works_at_once(api: Api, elsewhere: RingiStore) -> None:
    assert (await api.call("auditor", "GET", "/v1/me")).status_code == 200
    token, _ = TokenRegistry(elsewhere).issue(Role.MEMBER, company="F社", name="new")
    response = await api.call(None, "GET", "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["company"] == "F社"


# --- through the API and the workflow -------------------------------------------------------


async def test_a_write_through_the_api_is_in_the_next_read(ringi: Ringi) -> None:
    async with serving(ringi) as api:
        number = await api.file("A社")
        before = await detail(api, number, "B社")
        for supporters, company in enumerate(["B社", "C社", "D社"], start=2):
            response = await api.call(company, "POST", f"/v1/requests/{number}/endorse")
            assert response.status_code == 200, response.text
            assert response.json()["support"] == supporters
            after = await detail(api, number, company)
            assert after["support"] == supporters
            assert company in [e["company"] for e in after["request"]["endorsements"]]
            assert len(after["timeline"]) > len(before["timeline"])
            assert after == from_store(ringi.store, number)
            [item] = await fetched(api, number)
            assert item["request"]["support"] == supporters
            assert await listed(api, company=company) == [number]
            before = after
        # a refusal reads the state the write left: C社 already endorses
        again = await api.call("C社", "POST", f"/v1/requests/{number}/endorse")
        assert again.status_code == 409, again.text


async def test_a_write_through_the_api_brings_its_request_up_to_date_before_anyone_reads_it(
    ringi: Ringi,
) -> None:
    async with serving(ringi) as api:
        reads = cast(ApiContext, api.app.state.ringi).reads
        number = await api.file("A社")
        await detail(api, number, "B社")  # in the read model, at the filing's version
        filed = reads.model.current(number)
        assert filed is not None
        response = await api.call("B社", "POST", f"/v1/requests/{number}/endorse")
        assert response.status_code == 200, response.text
        # nobody has read it since: the write's own follow-up brings it up to date
        await asyncio.gather(*reads._ahead)
        entry = reads.model.current(number)
        assert entry is not None and entry is not filed
        assert entry.version == ringi.store.request(number).version > filed.version
        assert entry.view is not None and entry.view.support == 2


# --- waiting for the log ----------------------------------------------------------------------


class GatedChanges:
    """Stands in for ``Changes``: each catch-up is numbered, and the first one
    holds until the test lets it go."""

    on_loop = False  # read in a thread, as on PostgreSQL: the test holds it there

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.first_started = threading.Event()
        self.release = threading.Event()

    async def read(self) -> None:
        await asyncio.to_thread(self.catch_up)

    def catch_up(self) -> None:
        self.started += 1
        if self.started == 1:
            self.first_started.set()
            assert self.release.wait(timeout=30)
        self.finished += 1


async def test_a_call_waits_for_a_read_of_the_log_that_began_after_it_arrived() -> None:
    changes = GatedChanges()
    fresh = Freshness(cast(Any, changes))
    early = asyncio.create_task(fresh.wait())
    assert await asyncio.to_thread(changes.first_started.wait, 30)
    # these arrive while the first read of the log runs: it began before them
    late = [asyncio.create_task(fresh.wait()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert not early.done() and not any(task.done() for task in late)
    changes.release.set()
    await early
    await asyncio.gather(*late)
    # the late ones shared one read, which began after they arrived
    assert (changes.started, changes.finished) == (2, 2)


async def test_a_failed_read_of_the_log_fails_its_calls_and_not_the_next() -> None:
    class Failing:
        on_loop = False
        calls = 0

        async def read(self) -> None:
            self.catch_up()

        def catch_up(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError(f"store unreachable {uuid.uuid4()}")

    fresh = Freshness(cast(Any, Failing()))
    with pytest.raises(RuntimeError, match="store unreachable"):
        await fresh.wait()
    await fresh.wait()


# --- bringing entries up to date --------------------------------------------------------------


class GatedModel:
    """Stands in for ``ReadModel``: records which numbers each round read; the
    first round holds until the test lets it go. No.13 cannot be read."""

    def __init__(self) -> None:
        self.changes = GatedChanges()  # on_loop False: rounds run in a thread
        self.rounds: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def entry(self, number: int) -> Any:
        self.rounds[-1].append(number)
        if len(self.rounds) == 1:
            self.first_started.set()
            assert self.release.wait(timeout=30)
        if number == 13:
            raise RuntimeError("No.13 is unreadable")
        return f"entry {number} of round {len(self.rounds)}"


class CountedRefreshes(Refreshes):
    """``Refreshes`` noting where each round begins in ``GatedModel.rounds``."""

    def _read(self, numbers: list[int]) -> Any:
        cast(GatedModel, self.model).rounds.append([])
        return super()._read(numbers)


async def test_entries_asked_for_while_a_round_runs_share_the_next_round() -> None:
    model = GatedModel()
    refreshes = CountedRefreshes(cast(Any, model))
    early = asyncio.create_task(refreshes.entries([1, 2]))
    assert await asyncio.to_thread(model.first_started.wait, 30)
    # these ask while the first round reads: it began before them, so they wait for the next
    late = [asyncio.create_task(refreshes.entries(numbers)) for numbers in ([2, 3], [3], [4, 2])]
    await asyncio.sleep(0.05)
    assert not early.done() and not any(task.done() for task in late)
    model.release.set()
    # the stand-in's entries are strings
    assert cast(Any, await early) == {1: "entry 1 of round 1", 2: "entry 2 of round 1"}
    assert cast(Any, await asyncio.gather(*late)) == [
        {2: "entry 2 of round 2", 3: "entry 3 of round 2"},
        {3: "entry 3 of round 2"},
        {4: "entry 4 of round 2", 2: "entry 2 of round 2"},
    ]
    # one read of each number per round, in the order asked for
    assert model.rounds == [[1, 2], [2, 3, 4]]


async def test_an_entry_that_cannot_be_read_fails_only_the_calls_that_asked_for_it() -> None:
    model = GatedModel()
    model.release.set()
    refreshes = CountedRefreshes(cast(Any, model))
    first = asyncio.create_task(refreshes.entries([1]))
    await asyncio.to_thread(model.first_started.wait, 30)
    unlucky = asyncio.create_task(refreshes.entries([12, 13]))
    lucky = asyncio.create_task(refreshes.entries([12, 14]))
    await first
    with pytest.raises(RuntimeError, match=r"No\.13 is unreadable"):
        await unlucky
    assert cast(Any, await lucky) == {12: "entry 12 of round 2", 14: "entry 14 of round 2"}
