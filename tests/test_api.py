"""The HTTP API end to end: create_app around a real Ringi (time-skipping
Temporal server, a worker, a SQLite event store), called through httpx.

Bulk calls, idempotency keys, the error shapes, pagination, rate limits, and
every action of every role carried through a whole lifecycle.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ringi.api import ApiSettings
from ringi.domain.commands import FileRequest
from ringi.domain.lifecycle import JST
from ringi.domain.vocabulary import Actor, Category, Stage
from ringi.service import Ringi
from tests.api_harness import Api, serving
from tests.helpers import event_names, events


@pytest.fixture
async def api(ringi: Ringi) -> Any:
    async with serving(ringi) as api:
        yield api


def log_position(api: Api) -> int:
    return api.store.recorder.max_notification_id() or 0


# --- bulk ---------------------------------------------------------------------------------


async def file_many(ringi: Ringi, count: int, proposer: str = "A社") -> list[int]:
    """File ``count`` requests through the service, many at a time."""
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> int:
        async with gate:
            view = await ringi.file(
                FileRequest(
                    actor=Actor.member(proposer),
                    category=Category.REQUEST,
                    target=f"画面 {i}",
                    body=f"要望 {i}",
                )
            )
            return view.number

    return sorted(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.mark.slow
async def test_bulk_endorse_of_a_thousand_requests_in_one_call(api: Api) -> None:
    numbers = await file_many(api.ringi, 1000)
    assert numbers == list(range(1, 1001))
    # B社 already endorses No.500: refused on its own, with the validator's reason
    assert (await api.call("B社", "POST", "/v1/requests/500/endorse")).status_code == 200
    unknown = 4242
    started = time.monotonic()
    response = await api.call(
        "B社", "POST", "/v1/bulk/endorse", {"numbers": [*numbers[:500], unknown, *numbers[500:]]}
    )
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["succeeded"], result["failed"]) == (999, 2)
    items = result["items"]
    assert [i["number"] for i in items] == [*numbers[:500], unknown, *numbers[500:]]
    refused = {i["number"]: i for i in items if not i["ok"]}
    assert refused[unknown]["status"] == 404
    assert refused[unknown]["error"]["message"] == f"there is no request No.{unknown}"
    assert refused[500]["status"] == 409
    assert (
        refused[500]["error"]["message"]
        == "B社 already endorses No.500; an endorsement counts once"
    )
    assert all(i["request"]["support"] == 2 for i in items if i["ok"])

    # every endorsement counted once, in the store, and read back in one call
    fetched = await api.call("auditor", "POST", "/v1/bulk/requests", {"numbers": numbers})
    assert fetched.status_code == 200
    assert fetched.json()["found"] == 1000
    for item in fetched.json()["items"]:
        assert item["request"]["support"] == 2
        assert item["request"]["request"]["endorsements"][0]["company"] == "B社"
    assert all(len(events(api.store, n, "Endorsed")) == 1 for n in numbers)
    print(f"bulk endorse of 1,001 numbers: {took:.1f} s")


async def test_a_bulk_call_reports_each_item_and_undoes_none(api: Api) -> None:
    mine, theirs, closed = await api.file("B社"), await api.file(), await api.file()
    await api.call(
        "secretariat", "POST", f"/v1/requests/{closed}/close", {"reason": "out_of_scope"}
    )
    response = await api.call(
        "B社", "POST", "/v1/bulk/endorse", {"numbers": [mine, theirs, closed, 77]}
    )
    assert response.status_code == 200
    items = {i["number"]: i for i in response.json()["items"]}
    assert items[theirs]["ok"] and items[theirs]["request"]["support"] == 2
    assert items[mine]["status"] == 409 and "proposed" in items[mine]["error"]["message"]
    assert items[closed]["status"] == 409 and "closed" in items[closed]["error"]["message"]
    assert items[77]["status"] == 404
    # the good one stays written; the refused ones wrote nothing
    assert event_names(api.store, theirs)[-1] == "Endorsed"
    assert "Endorsed" not in event_names(api.store, mine)
    # a bulk call refuses a number given twice, and more numbers than allowed
    twice = await api.call("C社", "POST", "/v1/bulk/endorse", {"numbers": [theirs, theirs]})
    assert twice.status_code == 422
    async with serving(api.ringi, ApiSettings(rate_per_second=0, bulk_max_items=2)) as small:
        too_many = await small.call("C社", "POST", "/v1/bulk/endorse", {"numbers": [1, 2, 3]})
        assert too_many.status_code == 422
        assert too_many.json()["details"][0]["field"] == "body.numbers"


# --- idempotency --------------------------------------------------------------------------


async def test_a_retried_write_with_the_same_key_writes_once(api: Api) -> None:
    n = await api.file()
    key = {"Idempotency-Key": "endorse-1-by-b"}
    first = await api.call("B社", "POST", f"/v1/requests/{n}/endorse", headers=key)
    assert first.status_code == 200
    written = log_position(api)
    # C社 endorses in between: the retry still answers with the first result
    assert (await api.call("C社", "POST", f"/v1/requests/{n}/endorse")).status_code == 200
    after_c = log_position(api)
    retry = await api.call("B社", "POST", f"/v1/requests/{n}/endorse", headers=key)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.json()["support"] == 2  # as it was then, not 3 as it is now
    assert log_position(api) == after_c > written
    assert [e.actor["company"] for e in events(api.store, n, "Endorsed") if e.actor] == [
        "B社",
        "C社",
    ]

    # a key is per token: C社's same key is another call
    other = await api.call("C社", "POST", f"/v1/requests/{n}/unendorse", headers=key)
    assert other.status_code == 200

    # the same key for another call is refused, and writes nothing
    before = log_position(api)
    reused = await api.call("B社", "POST", f"/v1/requests/{n}/unendorse", headers=key)
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    assert "endorse" in reused.json()["message"]
    assert log_position(api) == before


async def test_a_write_tagged_with_a_meeting_already_held_carries_a_note(api: Api) -> None:
    """Recorded after meeting 1's day, an answer tagged with it shows in the next
    meeting's register; the API says so in ``notes``, as the pages and the command
    line do. Untagged, or tagged with a meeting still to come: no note."""
    for number, day in ((1, "2020-01-10"), (2, "2199-01-10")):
        body = {"number": number, "held_at": f"{day}T00:00:00+09:00"}
        assert (await api.call("secretariat", "POST", "/v1/meetings", body)).status_code == 201
    filed = await api.call(
        "A社", "POST", "/v1/requests", {"target": "API", "body": "一括で", "meeting": 1}
    )
    assert filed.status_code == 201
    assert "meeting 1 (第1回) was held on 2020-01-10" in filed.json()["notes"][0]
    n = filed.json()["request"]["number"]
    for body, notes in (
        ({"text": "検討します", "meeting": 1}, 1),
        ({"text": "検討します。", "meeting": 2}, 0),
        ({"text": "検討します!"}, 0),
    ):
        answered = await api.call("secretariat", "POST", f"/v1/requests/{n}/answers", body)
        assert answered.status_code == 200, answered.text
        assert len(answered.json()["notes"]) == notes, body
    assert "next meeting's register" in filed.json()["notes"][0]


async def test_a_support_deadline_until_a_meeting_follows_it_later_and_stays_if_earlier(
    api: Api,
) -> None:
    """ "次回会議(第1回)までに": a deadline given as a meeting runs to the meeting's
    day wherever it moves later (an extension recorded on each request, through its
    workflow); moved earlier, the deadline members were told stays. A deadline
    given as a date does not move; a retried move answers as the first."""
    sec = "secretariat"
    for number, day in ((1, "2030-01-10"), (2, "2030-06-10")):
        body = {"number": number, "held_at": f"{day}T00:00:00+09:00"}
        assert (await api.call(sec, "POST", "/v1/meetings", body)).status_code == 201
    until_1, by_date, until_2 = [await api.file(category="意見") for _ in range(3)]
    for n, body in (
        (until_1, {"until_meeting": 1}),
        (by_date, {"deadline": "2030-01-10T00:00:00+09:00"}),
        (until_2, {"until_meeting": 2}),
    ):
        opened = await api.call(sec, "POST", f"/v1/requests/{n}/open-support", body)
        assert opened.status_code == 200, opened.text

    def deadline_of(n: int) -> datetime:
        view = api.store.view(n)
        assert view.support_deadline is not None
        return view.support_deadline.astimezone(JST)

    later = {"held_at": "2030-01-20T00:00:00+09:00", "reason": "延期"}
    key = {"Idempotency-Key": "move-meeting-1"}
    moved = await api.call(sec, "PATCH", "/v1/meetings/1", later, headers=key)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["deadlines_following"], moved.json()["deadlines_kept"]) == ([until_1], [])
    assert deadline_of(until_1) == datetime(2030, 1, 20, tzinfo=JST)
    assert deadline_of(by_date) == datetime(2030, 1, 10, tzinfo=JST)  # a date: unmoved
    assert deadline_of(until_2) == datetime(2030, 6, 10, tzinfo=JST)  # another meeting's
    (extension,) = events(api.store, until_1, "SupportDeadlineExtended")
    assert extension.actor is not None and extension.actor["role"] == "secretariat"
    again = await api.call(sec, "PATCH", "/v1/meetings/1", later, headers=key)
    assert again.json() == moved.json()
    assert len(events(api.store, until_1, "SupportDeadlineExtended")) == 1

    earlier = {"held_at": "2030-01-15T00:00:00+09:00"}
    kept = await api.call(sec, "PATCH", "/v1/meetings/1", earlier)
    assert (kept.json()["deadlines_following"], kept.json()["deadlines_kept"]) == ([], [until_1])
    assert deadline_of(until_1) == datetime(2030, 1, 20, tzinfo=JST)


async def test_a_retried_filing_with_the_same_key_files_once(api: Api) -> None:
    body = {"target": "API", "body": "再点検の結果を一括で"}
    key = {"Idempotency-Key": "file-2026-001"}
    first = await api.call("A社", "POST", "/v1/requests", body, headers=key)
    assert first.status_code == 201
    number = first.json()["request"]["number"]
    assert first.headers["Location"] == f"/v1/requests/{number}"
    written = log_position(api)
    for _ in range(3):
        again = await api.call("A社", "POST", "/v1/requests", body, headers=key)
        assert again.status_code == 201
        assert again.json() == first.json()
    assert log_position(api) == written
    assert api.store.numbers() == [number]
    changed = await api.call(
        "A社", "POST", "/v1/requests", {**body, "body": "別の要望"}, headers=key
    )
    assert changed.status_code == 422
    assert api.store.numbers() == [number]


async def test_concurrent_retries_and_a_bulk_retry_write_once(api: Api) -> None:
    numbers = [await api.file() for _ in range(5)]
    key = {"Idempotency-Key": "bulk-42"}
    body = {"numbers": numbers}
    answers = await asyncio.gather(
        *(api.call("B社", "POST", "/v1/bulk/endorse", body, headers=key) for _ in range(4))
    )
    assert all(a.status_code == 200 for a in answers)
    assert all(a.json()["succeeded"] == 5 for a in answers)
    assert all(len(events(api.store, n, "Endorsed")) == 1 for n in numbers)
    before = log_position(api)
    again = await api.call("B社", "POST", "/v1/bulk/endorse", body, headers=key)
    assert again.json()["succeeded"] == 5
    assert log_position(api) == before


async def test_meetings_open_once_per_key(api: Api) -> None:
    body = {"number": 27, "held_at": "2018-03-15T14:00:00+09:00", "title": "第27回"}
    key = {"Idempotency-Key": "meeting-27"}
    first = await api.call("secretariat", "POST", "/v1/meetings", body, headers=key)
    assert first.status_code == 201
    again = await api.call("secretariat", "POST", "/v1/meetings", body, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    unkeyed = await api.call("secretariat", "POST", "/v1/meetings", body)
    assert unkeyed.status_code == 409 and "already open" in unkeyed.json()["message"]
    listed = (await api.call("A社", "GET", "/v1/meetings")).json()
    assert [m["number"] for m in listed] == [27]
    assert datetime.fromisoformat(listed[0]["held_at"]) == datetime.fromisoformat(body["held_at"])


# --- errors ---------------------------------------------------------------------------------


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "error", "message", "details"}
    assert body["status"] == status and body["error"] == error and body["message"]
    return dict(body)


async def test_error_shapes(ringi: Ringi) -> None:
    async with serving(ringi, ApiSettings(rate_per_second=0, max_body_bytes=4096)) as api:
        n = await api.file()
        before = log_position(api)

        # 404: an unknown request, read or written; an unknown route
        assert_error(await api.call("A社", "GET", "/v1/requests/9999"), 404, "not_found")
        assert_error(await api.call("B社", "POST", "/v1/requests/9999/endorse"), 404, "not_found")
        assert_error(await api.call("A社", "GET", "/v1/nothing"), 404, "not_found")

        # 405 with Allow
        wrong = await api.call("A社", "DELETE", f"/v1/requests/{n}")
        assert_error(wrong, 405, "method_not_allowed")
        assert "GET" in wrong.headers["Allow"]

        # 409: the workflow validator's reason, word for word
        refused = await api.call("secretariat", "POST", f"/v1/requests/{n}/open-hearing")
        body = assert_error(refused, 409, "refused")
        assert body["message"] == f"No.{n} has the support of 1 companies; the hearing needs 5"

        # 413: too large, whether declared or streamed without a length
        big = {"target": "API", "body": "あ" * 3000}
        assert_error(await api.call("A社", "POST", "/v1/requests", big), 413, "too_large")

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000

        streamed = await api.client.post(
            "/v1/requests",
            content=chunks(),
            headers={**api.auth("A社"), "Content-Type": "application/json"},
        )
        assert_error(streamed, 413, "too_large")

        # 422: naming the fields
        cases: list[tuple[str, str, Any, set[str]]] = [
            ("POST", "/v1/requests", {"body": "x"}, {"body.target"}),
            (
                "POST",
                "/v1/requests",
                {"target": "", "body": "x", "category": "苦情"},
                {"body.target", "body.category"},
            ),
            ("POST", "/v1/requests", {"target": "x", "body": "x", "extra": 1}, {"body.extra"}),
            ("POST", f"/v1/requests/{n}/notes", {"text": 5}, {"body.text"}),
            ("POST", "/v1/requests/0/endorse", None, {"path.number"}),
            ("POST", "/v1/requests/abc/endorse", None, {"path.number"}),
            ("GET", "/v1/requests?stage=nowhere&limit=0", None, {"query.stage.0", "query.limit"}),
            (
                "GET",
                "/v1/requests?updated_since=2020-01-01T00:00:00",
                None,
                {"query.updated_since"},
            ),
            ("GET", "/v1/requests?cursor=!!!", None, {"query.cursor"}),
        ]
        for method, path, payload, fields in cases:
            who = "A社" if method == "POST" and "/requests/" not in path else "B社"
            response = await api.call(who, method, path, payload)
            body = assert_error(response, 422, "invalid")
            assert {d["field"] for d in body["details"]} == fields, (path, body)
        sec = "secretariat"
        for path, payload, field in [
            (
                f"/v1/requests/{n}/extend-deadline",
                {"deadline": "2150-01-01T00:00:00"},
                "body.deadline",
            ),
            (f"/v1/requests/{n}/extend-deadline", {"reason": "x"}, "body"),
            (
                f"/v1/requests/{n}/approve",
                {"planned_release": "9999-01-01"},
                "body.planned_release",
            ),
            (f"/v1/requests/{n}/close", {"reason": "bored"}, "body.reason"),
            (
                f"/v1/requests/{n}/cost-evaluation",
                {"cost_items": [{"bearer": "central", "amount_yen": 1}]},
                "body",
            ),
        ]:
            body = assert_error(await api.call(sec, "POST", path, payload), 422, "invalid")
            assert field in {d["field"] for d in body["details"]}, body
        # malformed JSON, and a text no UTF-8 can hold: 422, never 500
        raw = await api.client.post(
            f"/v1/requests/{n}/notes",
            content=b'{"text": ',
            headers={**api.auth("A社"), "Content-Type": "application/json"},
        )
        assert_error(raw, 422, "invalid")
        surrogate = await api.client.post(
            f"/v1/requests/{n}/notes",
            content=b'{"text": "\\ud800"}',
            headers={**api.auth("A社"), "Content-Type": "application/json"},
        )
        assert_error(surrogate, 422, "invalid")
        assert log_position(api) == before


async def test_absurd_cost_figures_are_refused_not_retried_for_ever(api: Api) -> None:
    """The cost rule's ratio would not fit decimal's precision: a refusal (409),
    where it used to fail the store activity over and over."""
    n = await api.file()
    for company in ("B社", "C社", "D社", "E社"):
        await api.call(company, "POST", f"/v1/requests/{n}/endorse")
    response = await api.call(
        "secretariat",
        "POST",
        f"/v1/requests/{n}/cost-evaluation",
        {
            "monthly_volume": 10**12,
            "benefit_per_unit_yen": "1000000000000000",
            "cost_items": [{"bearer": "central", "amount_yen": "0.0000000000000000000001"}],
        },
    )
    assert_error(response, 409, "refused")
    assert "too large" in response.json()["message"]


# --- listing ---------------------------------------------------------------------------------


async def walk(api: Api, query: str, limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        path = f"/v1/requests?limit={limit}" + (f"&{query}" if query else "")
        if cursor:
            path += f"&cursor={cursor}"
        page = await api.call("auditor", "GET", path)
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert len(items) <= limit
        seen += [i["number"] for i in items]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
        assert items, "a page with a cursor after it is never empty"
    raise AssertionError("the listing did not end")


async def test_pagination_walks_the_whole_list_exactly_once(api: Api) -> None:
    questions, requests = [], []
    for i in range(23):
        if i % 3 == 0:
            questions.append(await api.file("C社", category="質問", target=f"API {i}"))
        else:
            requests.append(await api.file(target=f"画面 {i}"))
    await api.call("B社", "POST", f"/v1/requests/{requests[0]}/endorse")
    everything = sorted(questions + requests)
    for limit in (1, 5, 7, 23, 100):
        assert await walk(api, "", limit) == everything
    assert await walk(api, "category=質問", 2) == questions
    assert await walk(api, "stage=gathering_support", 4) == requests
    assert await walk(api, "stage=filed&stage=gathering_support", 4) == everything
    assert await walk(api, "target=api", 3) == questions
    assert await walk(api, "company=B社", 3) == [requests[0]]
    assert await walk(api, "company=C社&category=要望", 3) == []
    later = (datetime.now(tz=UTC) + timedelta(days=1)).isoformat()
    assert await walk(api, f"updated_since={later.replace('+', '%2B')}", 3) == []

    # a cursor belongs to its filters
    first = await api.call("A社", "GET", "/v1/requests?limit=2&category=質問")
    cursor = first.json()["next_cursor"]
    moved = await api.call("A社", "GET", f"/v1/requests?limit=2&cursor={cursor}")
    assert moved.status_code == 422
    assert moved.json()["details"][0]["field"] == "query.cursor"


# --- rate limits -----------------------------------------------------------------------------


async def test_a_token_over_its_rate_gets_429_with_retry_after(ringi: Ringi) -> None:
    async with serving(ringi, ApiSettings(rate_per_second=2, rate_burst=3)) as api:
        statuses = [(await api.call("A社", "GET", "/v1/me")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await api.call("A社", "GET", "/v1/me")
        assert_error(limited, 429, "rate_limited")
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 1
        # another token is not held back by this one
        assert (await api.call("B社", "GET", "/v1/me")).status_code == 200
        # a limited write writes nothing
        before = log_position(api)
        refused = await api.call("A社", "POST", "/v1/requests", {"target": "x", "body": "y"})
        assert refused.status_code == 429
        assert log_position(api) == before
        await asyncio.sleep(wait)
        assert (await api.call("A社", "GET", "/v1/me")).status_code == 200


# --- every action of every role ----------------------------------------------------------------


async def test_every_action_through_the_api(
    api: Api, time_skipping_env: WorkflowEnvironment
) -> None:
    sec = "secretariat"

    async def ok(who: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        response = await api.call(who, "POST", path, body)
        assert response.status_code == status, f"{path}: {response.text}"
        return dict(response.json())

    await ok(sec, "/v1/meetings", {"number": 33, "held_at": "2030-06-21T14:00:00+09:00"}, 201)

    # a request through every stage, to release
    n = await api.file()
    r = f"/v1/requests/{n}"
    await ok("A社", f"{r}/notes", {"text": "追記: 複数地点", "meeting": 33})
    await ok(sec, f"{r}/ask-clarification", {"question": "Web・APIいずれの機能のご要望か"})
    await ok("A社", f"{r}/clarification-answer", {"text": "API です"})
    await ok("B社", f"{r}/endorse")
    await ok("B社", f"{r}/unendorse")
    await ok(sec, f"{r}/extend-deadline", {"until_meeting": 33, "reason": "次回会議まで"})
    for company in ("B社", "C社", "D社"):
        await ok(company, f"{r}/endorse")
    state = await ok("E社", f"{r}/endorse")
    assert state["request"]["stage"] == Stage.HEARING
    await ok(sec, f"{r}/findings", {"text": "事業者ヒアリング実施", "meeting": 33})
    await ok(
        sec,
        f"{r}/cost-evaluation",
        {
            "monthly_volume": 6000,
            "benefit_per_unit_yen": 300,
            "cost_items": [{"bearer": "central", "amount_yen": "40000000"}],
            "meeting": 33,
        },
    )
    answered = await ok(sec, f"{r}/answers", {"text": "実現性の検討を進めます", "meeting": 33})
    answer_id = answered["request"]["answers"][0]["answer_id"]
    await ok(
        sec,
        f"{r}/answer-corrections",
        {"answer_id": answer_id, "text": "検討を進めます", "reason": "誤記"},
    )
    state = await ok(sec, f"{r}/open-objection-window", {"meeting": 33})
    assert state["request"]["stage"] == Stage.OBJECTION_WINDOW
    await ok("B社", f"{r}/objections", {"reason": "確認したい"})
    # when the window ends, the objection sends it back to the evaluation; open it again
    await time_skipping_env.sleep(timedelta(days=15))
    detail = (await api.call("auditor", "GET", r)).json()
    assert detail["request"]["stage"] == Stage.COST_EVALUATION, detail["request"]["stage"]
    await ok(sec, f"{r}/open-objection-window")
    await time_skipping_env.sleep(timedelta(days=15))
    detail = (await api.call("auditor", "GET", r)).json()
    assert detail["request"]["stage"] == Stage.IMPLEMENTATION, detail["request"]["stage"]
    await ok(sec, f"{r}/approve", {"planned_release": "2031-02-01"})
    await ok(sec, f"{r}/change-release", {"planned_release": "2031-03-01", "reason": "調整"})
    state = await ok(sec, f"{r}/release", {"released_on": "2031-03-01"})
    assert state["request"]["stage"] == Stage.RELEASED

    # an opinion: support opened by the secretariat, held, resumed, closed
    o = await api.file(category="意見")
    await ok(sec, f"/v1/requests/{o}/open-support")
    await ok(sec, f"/v1/requests/{o}/hold", {"reason": "FIT法改正の動向を見極めるため"})
    await ok(sec, f"/v1/requests/{o}/resume")
    closed = await ok(sec, f"/v1/requests/{o}/close", {"reason": "duplicate", "duplicate_of": n})
    assert closed["request"]["closure"]["duplicate_of"] == n
    # another, whose support is gathered until meeting 33 ("第33回まで")
    o2 = await api.file(category="意見")
    both = {"until_meeting": 33, "deadline": "2030-06-01T00:00:00+09:00"}
    refused = await api.call(sec, "POST", f"/v1/requests/{o2}/open-support", both)
    assert refused.status_code == 422 and "not both" in refused.text
    state = await ok(sec, f"/v1/requests/{o2}/open-support", {"until_meeting": 33})
    assert state["request"]["support_deadline"] == "2030-06-21T14:00:00+09:00"

    # a member withdraws its own request
    w = await api.file("C社")
    state = await ok("C社", f"/v1/requests/{w}/withdraw", {"reason": "不要になった"})
    assert state["request"]["stage"] == Stage.CLOSED

    # the timeline says who did each thing, by token
    detail = (await api.call("A社", "GET", r)).json()
    users = {e["actor"]["user"].split("#")[0] for e in detail["timeline"] if e["actor"]}
    assert {"A社", "B社", "E社", "secretariat"} <= users


# --- what a reader may read ------------------------------------------------------------------


async def test_a_clarification_thread_is_read_by_the_proposer_the_secretariat_and_auditors_only(
    api: Api,
) -> None:
    n = await api.file()
    r = f"/v1/requests/{n}"
    question, reply = "Web・APIいずれの機能のご要望か", "API です（自社の基幹システム連携）"
    asked = await api.call("secretariat", "POST", f"{r}/ask-clarification", {"question": question})
    assert asked.status_code == 200, asked.text
    answered = await api.call("A社", "POST", f"{r}/clarification-answer", {"text": reply})
    assert answered.json()["request"]["clarifications"][0]["reply"] == reply

    def words(body: dict[str, Any]) -> list[str]:
        found = [c["question"] for c in body["request"]["clarifications"]]
        found += [c["reply"] for c in body["request"]["clarifications"] if c["reply"]]
        for entry in body.get("timeline", []):
            found += [v for v in entry["details"].values() if v in (question, reply)]
        return found

    for reader in ("A社", "secretariat", "auditor"):
        detail = await api.call(reader, "GET", r)
        assert {question, reply} <= set(words(detail.json())), reader

    other = await api.call("B社", "GET", r)
    assert other.status_code == 200
    assert words(other.json()) == []
    private = [e for e in other.json()["timeline"] if e["event"].startswith("Clarification")]
    # that the thread took place, when and by whom, is not private; its words are
    assert [(e["event"], e["details"]) for e in private] == [
        ("ClarificationAsked", {}),
        ("ClarificationAnswered", {}),
    ]
    assert all(e["actor"] for e in private)
    assert question not in other.text and reply not in other.text

    fetched = await api.call("B社", "POST", "/v1/bulk/requests", {"numbers": [n]})
    assert question not in fetched.text and reply not in fetched.text
    endorsed = await api.call("B社", "POST", f"{r}/endorse")
    assert endorsed.status_code == 200, endorsed.text
    assert endorsed.json()["request"]["clarifications"] == []
    assert question not in endorsed.text
    # the proposer's own reads are unchanged by what another member was shown
    assert set(words((await api.call("A社", "GET", r)).json())) == {question, reply}


# --- the secretariat's windows (issue 20) ----------------------------------------------------


async def test_the_windows_own_moves_through_the_api(api: Api) -> None:
    sec = "secretariat"
    for number, day in ((35, "2150-01-10"), (36, "2150-02-10")):
        body = {"number": number, "held_at": f"{day}T14:00:00+09:00"}
        assert (await api.call(sec, "POST", "/v1/meetings", body)).status_code == 201
    n = await api.file()
    r = f"/v1/requests/{n}"
    for company in ("B社", "C社", "D社", "E社"):
        assert (await api.call(company, "POST", f"{r}/endorse")).status_code == 200
    inputs = {
        "total_benefit_yen": "100000000",
        "cost_items": [{"bearer": "central", "amount_yen": 1}],
    }
    assert (await api.call(sec, "POST", f"{r}/cost-evaluation", inputs)).status_code == 200
    both = {"until_meeting": 36, "ends_at": "2150-02-01T00:00:00+09:00"}
    invalid = await api.call(sec, "POST", f"{r}/open-objection-window", both)
    assert invalid.status_code == 422 and "not both" in invalid.text
    body = {"until_meeting": 36, "meeting": 35}
    opened = await api.call(sec, "POST", f"{r}/open-objection-window", body)
    assert opened.status_code == 200, opened.text
    window = opened.json()["request"]["objection_windows"][-1]
    assert (window["ends_at"], window["until_meeting"]) == ("2150-02-10T14:00:00+09:00", 36)

    objection = {"reason": "運用への影響を確認したい"}
    assert (await api.call("B社", "POST", f"{r}/objections", objection)).status_code == 200
    before = log_position(api)
    standing = await api.call(sec, "POST", f"{r}/end-objection-window", {"meeting": 36})
    assert standing.status_code == 409
    assert "B社: 運用への影響を確認したい" in standing.json()["message"]
    assert log_position(api) == before  # refused: nothing written
    withdrawn = await api.call("B社", "POST", f"{r}/objection-withdrawal")
    assert withdrawn.status_code == 200
    done = await api.call(sec, "POST", f"{r}/end-objection-window", {"meeting": 36})
    assert done.status_code == 200 and done.json()["request"]["stage"] == Stage.IMPLEMENTATION
    again = await api.call(sec, "POST", f"{r}/end-objection-window")
    assert again.status_code == 409 and "has ended already" in again.json()["message"]
    member = await api.call("C社", "POST", f"{r}/end-objection-window")
    assert member.status_code == 403
