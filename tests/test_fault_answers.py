"""The exact answer to every call of a burst, with the API in its own process.

``ringi serve`` (uvicorn in a process of its own), a ``python -m ringi.worker``
process and the Temporal dev server on its file, on both event stores. A burst
of endorsements, each by another member and half of them with the caller's own
``Idempotency-Key``; mid-burst the worker is SIGKILLed (or the dev server, then
started again on the same file and port). Then, call by call:

- 200: that member's endorsement is in the store exactly once;
- 503: the body says ``outcome_unknown`` and names the key (the caller's, or
  the one the API gave), ``Retry-After`` is there, and the call sent again with
  that key answers 200, its endorsement in the store exactly once;
- nothing else: no 500, no other status, no dropped connection.

The API process logs no traceback: nothing of Temporal's reached uvicorn.
The command line, local and remote, answers an unknown outcome and an
unreachable Temporal in one line each, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ringi.api.tokens import TokenRegistry
from ringi.domain.vocabulary import Role
from tests.fault_harness import (
    PATIENCE,
    FaultSite,
    WorkerProcess,
    free_port,
    settled,
    site_fixture,  # noqa: F401  (the `site` fixture)
    until,
)
from tests.test_faults import file

pytestmark = pytest.mark.slow

MEMBERS = [f"社{i:02d}" for i in range(40)]
#: seconds the API process waits for a workflow: short, so the burst's unanswered calls answer soon
TIMEOUT = "3"
RINGI = str(Path(sys.executable).parent / "ringi")


def child_env(site: FaultSite, **extra: str) -> dict[str, str]:
    settings = site.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    return env | {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_TEMPORAL_ADDRESS": settings.temporal_address,
        "RINGI_TASK_QUEUE": settings.task_queue,
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        **extra,
    }


@dataclass
class ApiProcess:
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def api_process(site: FaultSite) -> AsyncIterator[ApiProcess]:
    """``ringi serve`` on a port of its own, logging to a file the test reads."""
    port = free_port()
    log = site.settings.data_dir / "api.log"
    env = child_env(site, RINGI_API_COMMAND_TIMEOUT=TIMEOUT, RINGI_API_RATE_PER_SECOND="0")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RINGI, "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    api = ApiProcess(process, log, f"http://127.0.0.1:{port}")

    def up() -> bool:
        if process.poll() is not None:
            pytest.fail(f"ringi serve exited with {process.returncode}:\n{api.text()}")
        return "ringi API is up" in api.text()

    try:
        await until(up, "ringi serve to start")
        yield api
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def assert_unknown(answer: httpx.Response, sent_key: str | None) -> str:
    """A 503 that says the outcome is unknown and names the key (the one sent, if
    one was); the key."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    body = answer.json()
    assert body["error"] == "outcome_unknown", body
    key = body["idempotency_key"]
    assert key and answer.headers["Idempotency-Key"] == key, (body, dict(answer.headers))
    if sent_key is not None:
        assert key == sent_key, body
    else:
        assert key.startswith("ringi-"), body
    assert answer.headers["Retry-After"].isdigit(), dict(answer.headers)
    assert body["message"].startswith("outcome unknown: ") and key in body["message"], body
    return str(key)


def endorsed_in(answer: httpx.Response, member: str) -> bool:
    """The request the answer shows has ``member``'s endorsement."""
    return member in [e["company"] for e in answer.json()["request"]["endorsements"]]


def endorsements(site: FaultSite, number: int, company: str) -> int:
    return sum(
        1
        for e in site.store.timeline(number)
        if e.event == "Endorsed" and (e.actor or {}).get("company") == company
    )


async def burst_and_break(site: FaultSite, breaking: str) -> None:
    """The burst, the fault mid-burst, recovery, and every call's answer checked."""
    ringi = await site.connect()
    worker: WorkerProcess = await site.worker()
    site.use_policy(support_threshold=1000)  # the window stays open for everyone
    number = await file(ringi)
    registry = TokenRegistry(site.store)
    tokens = {m: registry.issue(Role.MEMBER, company=m, name=m)[0] for m in MEMBERS}
    #: half the members send a key of their own; the others are given one
    own_keys = {m: f"burst-{i}" for i, m in enumerate(MEMBERS) if i % 2 == 0}

    async with (
        api_process(site) as api,
        httpx.AsyncClient(base_url=api.url, timeout=60) as http,
    ):

        async def endorse(member: str, key: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[member]}"}
            if key is not None:
                headers["Idempotency-Key"] = key
            return await http.post(f"/v1/requests/{number}/endorse", headers=headers)

        first = await endorse(MEMBERS[0], own_keys.get(MEMBERS[0]))
        assert first.status_code == 200, first.text

        rest = MEMBERS[1:]
        calls = [asyncio.create_task(endorse(m, own_keys.get(m))) for m in rest]
        await until(lambda: any(c.done() for c in calls), "a first answer in the burst")
        if breaking == "worker":
            worker.kill()
        else:
            site.server.stop(signal.SIGKILL)
        # every call answers (an exception here, a dropped connection, fails the test)
        answers = dict(
            zip(rest, await settled(asyncio.gather(*calls), "every call of the burst"), strict=True)
        )
        answers[MEMBERS[0]] = first

        statuses = {m: a.status_code for m, a in answers.items()}
        assert set(statuses.values()) <= {200, 503}, statuses
        unknown = {
            m: assert_unknown(a, own_keys.get(m))
            for m, a in answers.items()
            if a.status_code == 503
        }
        assert unknown, "the fault left no call unanswered: the test proved nothing"
        for member, answer in answers.items():
            if answer.status_code == 200:
                assert endorsed_in(answer, member), answer.text
                assert answer.headers["Idempotency-Key"] == own_keys.get(
                    member, answer.headers["Idempotency-Key"]
                )

        if breaking == "server":
            await site.server.start()  # the same temporal.db, the same port
        else:
            await site.worker()

        written_before: list[str] = []

        async def retried(member: str, key: str) -> httpx.Response:
            """Sent again with its key, as Retry-After says, until it answers."""
            if endorsements(site, number, member):
                written_before.append(member)  # answered "unknown", yet carried out
            while True:
                again = await endorse(member, key)
                if again.status_code != 503:
                    return again
                assert assert_unknown(again, key) == key  # the same key, however often
                await asyncio.sleep(float(again.headers["Retry-After"]) / 5)

        retries = {
            # the first waits out the recovery of every workflow the killed process held
            m: await settled(retried(m, k), f"{m}'s call sent again to answer", within=2 * PATIENCE)
            for m, k in unknown.items()
        }
        for member, again in retries.items():
            assert again.status_code == 200, (member, again.text)
            assert again.headers["Idempotency-Key"] == unknown[member]
            assert endorsed_in(again, member), again.text
        # the API is still whole: a read on the same connection pool answers
        me = await http.get("/v1/me", headers={"Authorization": f"Bearer {tokens[MEMBERS[0]]}"})
        assert me.status_code == 200, me.text
        log = api.text()

    # every call, answered 200 at first or after its retry, endorsed exactly once
    assert {m: endorsements(site, number, m) for m in MEMBERS} == dict.fromkeys(MEMBERS, 1)
    assert sorted(site.store.view(number).endorsers) == sorted(MEMBERS)
    site.assert_chain_whole(number)
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]
    print(
        f"{breaking} killed: {len(MEMBERS)} calls, {sum(1 for s in statuses.values() if s == 200)}"
        f" answered 200, {len(unknown)} answered 503 outcome_unknown ({len(written_before)} of them written before their retry), "
        "each retried to 200"
    )


async def test_the_worker_killed_mid_burst_every_call_answered_exactly(site: FaultSite) -> None:
    await burst_and_break(site, "worker")


async def test_the_temporal_server_killed_mid_burst_every_call_answered_exactly(
    site: FaultSite,
) -> None:
    await burst_and_break(site, "server")


# --- the command line, local and through the API --------------------------------------------


def ringi_cli(
    site: FaultSite, *args: str, api: ApiProcess | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``ringi ARGS`` in a process of its own: on the installation, or (``api``)
    through the API with ``token`` and no way to the store or Temporal."""
    env = child_env(site, RINGI_COMMAND_TIMEOUT=TIMEOUT)
    flags: list[str] = []
    if api is not None:
        assert token is not None
        env["RINGI_DATA_DIR"] = str(site.tmp / "nowhere")
        env["RINGI_TEMPORAL_ADDRESS"] = "127.0.0.1:9"  # nothing listens there
        flags = ["--url", api.url, "--token", token]
    return subprocess.run(
        [RINGI, *flags, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str], status: int, starts: str) -> str:
    """The command exited ``status`` with one line on stderr beginning ``starts``."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(starts), line
    return line


def key_in(line: str) -> str:
    key = line.rsplit("retry with --key ", 1)[1]
    assert key and " " not in key, line
    return key


async def test_the_cli_local_and_remote_answer_no_worker_and_no_temporal_in_one_line(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    worker = await site.worker()
    number = await file(ringi)
    token = TokenRegistry(site.store).issue(Role.MEMBER, company="R社", name="R社")[0]

    async def cli(*args: str, via: ApiProcess | None = None) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(ringi_cli, site, *args, api=via, token=token)

    async with api_process(site) as api:
        worker.stop()
        # no worker: the command was sent and its answer did not come
        local = one_line(
            await cli("endorse", str(number), "--as", "L社"), 4, "ringi: outcome unknown: "
        )
        remote = one_line(
            await cli("endorse", str(number), via=api),
            4,
            f"ringi: outcome unknown: the ringi API answered HTTP 503: no answer within {TIMEOUT} s",
        )
        local_key, remote_key = key_in(local), key_in(remote)

        await site.worker()
        again = await cli("endorse", str(number), "--as", "L社", "--key", local_key)
        assert again.returncode == 0, again
        again = await cli("endorse", str(number), "--key", remote_key, via=api)
        assert again.returncode == 0, again
        for company in ("L社", "R社"):
            assert endorsements(site, number, company) == 1, site.event_names(number)

        # no Temporal at all: nothing listens on its port
        site.server.stop(signal.SIGKILL)
        one_line(
            await cli("endorse", str(number), "--as", "M社"), 3, "ringi: cannot reach Temporal"
        )
        one_line(
            await cli("unendorse", str(number), via=api),
            4,
            "ringi: outcome unknown: the ringi API answered HTTP 503: ",
        )
        # a read through the API needs no Temporal
        shown = await cli("show", str(number), "--json", via=api)
        assert shown.returncode == 0, shown
        log = api.text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]


# --- a bulk call ---------------------------------------------------------------------------


@pytest.mark.parametrize("own_key", [None, "bulk-1"], ids=["given", "own"])
async def test_each_item_of_a_bulk_call_whose_outcome_is_unknown_names_the_key_to_retry_with(
    site: FaultSite, own_key: str | None
) -> None:
    ringi = await site.connect()
    worker = await site.worker()
    filed = [await file(ringi) for _ in range(2)]
    numbers = [max(filed) + 1, *filed]  # no such request: 404, decided without Temporal
    token = TokenRegistry(site.store).issue(Role.MEMBER, company="B社", name="B社")[0]
    headers = {"Authorization": f"Bearer {token}"} | (
        {"Idempotency-Key": own_key} if own_key else {}
    )

    async with api_process(site) as api, httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        worker.stop()
        answer = await http.post("/v1/bulk/endorse", json={"numbers": numbers}, headers=headers)
        assert answer.status_code == 200, answer.text
        key = answer.headers["Idempotency-Key"]
        assert key == own_key if own_key else key.startswith("ringi-"), key
        refused, *unknown = answer.json()["items"]
        assert (refused["number"], refused["status"]) == (numbers[0], 404), refused
        assert refused["error"]["error"] == "not_found"
        assert refused["error"]["idempotency_key"] is None, refused
        for item, number in zip(unknown, numbers[1:], strict=True):
            assert (item["number"], item["ok"], item["status"]) == (number, False, 503), item
            error = item["error"]
            assert error["error"] == "outcome_unknown" and error["idempotency_key"] == key, item
            assert error["message"].startswith("outcome unknown: ") and key in error["message"]
        assert (answer.json()["succeeded"], answer.json()["failed"]) == (0, 3)

        await site.worker()
        # the same call sent again with the key: each number carried out once
        while True:
            again = await http.post(
                "/v1/bulk/endorse",
                json={"numbers": numbers},
                headers=headers | {"Idempotency-Key": key},
            )
            assert again.status_code == 200, again.text
            statuses = [item["status"] for item in again.json()["items"]]
            if 503 not in statuses:
                break
        assert statuses == [404, 200, 200], again.text
        # with the key, a different call is refused: the given key was recorded for this one
        other = await http.post(
            "/v1/bulk/endorse",
            json={"numbers": numbers[1:]},
            headers=headers | {"Idempotency-Key": key},
        )
        assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    for number in filed:
        assert endorsements(site, number, "B社") == 1, site.event_names(number)
