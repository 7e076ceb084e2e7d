"""An answer that does not come is not a failure: the worker killed during a
burst of writes, through the real API on a real socket (uvicorn, keep-alive),
on both event stores; and the command line with no worker running.

Every write answers 201/200, or 503 ``outcome_unknown`` with ``Retry-After``
and the key to retry with (the API gives one to a call sent without); no 500,
no dropped connection. Sent again with that key once a worker is back, every
one answers 200/201, and nothing is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from ringi.api import ApiSettings, create_app
from ringi.api.server import ApiServer, bind
from ringi.api.tokens import TokenRegistry
from ringi.domain.vocabulary import Role
from tests.fault_harness import (
    FaultSite,
    settled,
    site_fixture,  # noqa: F401  (the `site` fixture)
    until,
)
from tests.test_faults import file

pytestmark = pytest.mark.slow

COMPANIES = [f"会社{i:02d}" for i in range(24)]
FILINGS = 6
#: seconds the API waits for a workflow: short, so that the burst's unanswered calls answer soon
TIMEOUT = 3.0


@contextlib.asynccontextmanager
async def api_on_a_socket(site: FaultSite) -> AsyncIterator[str]:
    assert site.ringi is not None
    app = create_app(site.ringi, ApiSettings(rate_per_second=0, command_timeout=TIMEOUT))
    server = ApiServer(app, bind("127.0.0.1", 0))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def assert_unknown(answer: httpx.Response) -> str:
    """A 503 that says the outcome is unknown and names the key; the key."""
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error"] == "outcome_unknown", body
    key = body["idempotency_key"]
    assert key and answer.headers["Idempotency-Key"] == key, (body, answer.headers)
    assert answer.headers["Retry-After"].isdigit()
    assert "outcome unknown" in body["message"] and key in body["message"], body
    assert set(body) == {"status", "error", "message", "details", "idempotency_key"}
    return str(key)


async def test_the_worker_killed_mid_burst_answers_unknown_with_a_key_and_the_retry_writes_once(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    worker = await site.worker()
    site.use_policy(support_threshold=1000)  # the window stays open for everyone
    number = await file(ringi)
    registry = TokenRegistry(site.store)
    tokens = {c: registry.issue(Role.MEMBER, company=c, name=c)[0] for c in COMPANIES}

    async with (
        api_on_a_socket(site) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):

        async def endorse(company: str, key: str | None = None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[company]}"}
            if key is not None:
                headers["Idempotency-Key"] = key
            return await http.post(f"/v1/requests/{number}/endorse", headers=headers)

        async def filing(i: int, key: str | None = None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[COMPANIES[i]]}"}
            if key is not None:
                headers["Idempotency-Key"] = key
            body = {"target": f"対象{i}", "body": f"バースト中の提出{i}"}
            return await http.post("/v1/requests", json=body, headers=headers)

        # a first answer before the burst: the API gives a call without a key one
        first = await endorse(COMPANIES[0])
        assert first.status_code == 200, first.text
        assert first.headers["Idempotency-Key"].startswith("ringi-")

        calls = [asyncio.create_task(endorse(c)) for c in COMPANIES[1:]]
        calls += [asyncio.create_task(filing(i)) for i in range(FILINGS)]
        await until(lambda: any(c.done() for c in calls), "a first answer in the burst")
        worker.kill()  # mid-burst: some answered, the rest in flight or not yet sent
        answers = await settled(asyncio.gather(*calls), "every call of the burst to answer")

        # every call answered, in one of two ways, and the connection pool survived it
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {200, 201, 503}, statuses
        unknown = {i: assert_unknown(a) for i, a in enumerate(answers) if a.status_code == 503}
        assert unknown, "the kill left no call unanswered: the test proved nothing"
        assert (
            await http.get("/v1/me", headers={"Authorization": f"Bearer {tokens[COMPANIES[0]]}"})
        ).status_code == 200

        await site.worker()  # the worker is back: what was admitted before is carried out
        endorsers = len(COMPANIES) - 1

        def written(i: int) -> bool:
            if i < endorsers:
                return COMPANIES[i + 1] in site.store.view(number).endorsers
            return any(v.target == f"対象{i - endorsers}" for v in site.store.views())

        # some of the calls answered "unknown" were in fact written (that is why it is
        # not a failure); the retry must not write them again
        await until(lambda: any(written(i) for i in unknown), "an unknown call to be written")

        async def retried(i: int, key: str) -> httpx.Response:
            """Sent again with its key, as Retry-After says, until it answers."""
            while True:
                if i < endorsers:
                    again = await endorse(COMPANIES[i + 1], key)
                else:
                    again = await filing(i - endorsers, key)
                if again.status_code != 503:
                    return again
                assert assert_unknown(again) == key  # the same key, however often
                await asyncio.sleep(float(again.headers["Retry-After"]) / 5)

        for i, key in unknown.items():
            again = await settled(retried(i, key), f"call {i} sent again to answer")
            assert again.status_code == (200 if i < endorsers else 201), again.text
            assert again.headers["Idempotency-Key"] == key

    final = site.store.view(number)
    assert sorted(final.endorsers) == sorted(COMPANIES)
    assert site.event_names(number).count("Endorsed") == len(COMPANIES)
    filed = [v for v in site.store.views() if v.target.startswith("対象")]
    assert sorted(v.target for v in filed) == sorted(f"対象{i}" for i in range(FILINGS))
    for number_ in (v.number for v in filed):
        site.assert_chain_whole(number_)
    site.assert_chain_whole(number)


# --- the command line -----------------------------------------------------------------------


def ringi_cli(site: FaultSite, *args: str) -> subprocess.CompletedProcess[str]:
    settings = site.settings
    env_args = [
        "--data-dir",
        str(settings.data_dir),
        "--temporal",
        settings.temporal_address,
        "--task-queue",
        settings.task_queue,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env |= {
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        "RINGI_COMMAND_TIMEOUT": "3",
    }
    return subprocess.run(
        [sys.executable, "-m", "ringi.cli", *env_args, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_the_cli_with_no_worker_says_outcome_unknown_and_the_retry_with_its_key_endorses_once(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    worker = await site.worker()
    number = await file(ringi)
    worker.stop()

    unknown = await asyncio.to_thread(ringi_cli, site, "endorse", str(number), "--as", "D社")
    assert unknown.returncode == 4, unknown
    (line,) = unknown.stderr.splitlines()  # one line, no traceback
    assert line.startswith("ringi: outcome unknown: "), line
    key = line.rsplit("retry with --key ", 1)[1]
    assert key and " " not in key, line
    # a different command with that key is refused: the key was recorded for the endorsement
    other = await asyncio.to_thread(
        ringi_cli, site, "unendorse", str(number), "--as", "D社", "--key", key
    )
    assert other.returncode == 1 and "--key" in other.stderr, other

    await site.worker()
    again = await asyncio.to_thread(
        ringi_cli, site, "endorse", str(number), "--as", "D社", "--key", key, "--json"
    )
    assert again.returncode == 0, again
    assert site.store.view(number).endorsers.count("D社") == 1
    assert site.event_names(number).count("Endorsed") == 1
