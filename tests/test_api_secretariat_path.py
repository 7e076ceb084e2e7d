"""Issue 20's moves through the HTTP API: the new actions, a close as a
duplicate of several, one answer to several requests (``POST /v1/bulk/answer``),
answers after the end and a reopening; each with the secretariat's authorization."""

from __future__ import annotations

from typing import Any

import pytest

from ringi.service import Ringi
from tests.api_harness import serving
from tests.helpers import event_names

COST = {"total_benefit_yen": "1000", "cost_items": [{"bearer": "central", "amount_yen": "1000000"}]}


@pytest.fixture
async def api(ringi: Ringi) -> Any:
    async with serving(ringi) as api:
        yield api


async def supported(api: Any) -> int:
    n = await api.file()
    for company in ("B社", "C社", "D社", "E社"):
        assert (await api.call(company, "POST", f"/v1/requests/{n}/endorse")).status_code == 200
    return n


async def test_the_secretariats_path_through_the_api(api: Any) -> None:
    n = await api.file()
    below = {"reason": "起案者及び賛同者へのヒアリングを行いたい", "meeting": None}
    member = await api.call("B社", "POST", f"/v1/requests/{n}/hear-below-threshold", below)
    assert member.status_code == 403
    empty = await api.call("secretariat", "POST", f"/v1/requests/{n}/hear-below-threshold", {})
    assert empty.status_code == 422
    heard = await api.call("secretariat", "POST", f"/v1/requests/{n}/hear-below-threshold", below)
    assert heard.status_code == 200, heard.text
    assert heard.json()["request"]["stage"] == "hearing"

    m = await supported(api)
    skip = {**COST, "reason": "賛同数の条件を満たした"}
    done = await api.call(
        "secretariat", "POST", f"/v1/requests/{m}/cost-evaluation-without-hearing", skip
    )
    assert done.status_code == 200, done.text
    assert done.json()["request"]["stage"] == "cost_evaluation"
    assert event_names(api.store, m)[-2:] == ["HearingSkipped", "CostEvaluated"]


async def test_one_answer_to_several_and_a_reopening(api: Any) -> None:
    a, b, c = await api.file(), await api.file(), await api.file()
    close = {"reason": "duplicate", "duplicate_of": a, "duplicates": [b]}
    closed = await api.call("secretariat", "POST", f"/v1/requests/{c}/close", close)
    assert closed.status_code == 200, closed.text
    assert closed.json()["request"]["closure"]["duplicates"] == [a, b]
    # the single field alone works as it did
    single = await api.call(
        "secretariat", "POST", f"/v1/requests/{b}/close", {"reason": "duplicate", "duplicate_of": a}
    )
    assert single.json()["request"]["closure"]["duplicates"] == [a]

    body = {"numbers": [a, b, c, 4242], "text": "No43に同じ。"}
    key = {"Idempotency-Key": "bulk-answer-1"}
    answered = await api.call("secretariat", "POST", "/v1/bulk/answer", body, headers=key)
    assert answered.status_code == 200, answered.text
    items = {i["number"]: i for i in answered.json()["items"]}
    assert (answered.json()["succeeded"], items[4242]["status"]) == (3, 404)
    for n in (a, b, c):  # after the close too, each naming the others
        view = await api.call("auditor", "GET", f"/v1/requests/{n}")
        answers = view.json()["request"]["answers"]
        assert [x["together_with"] for x in answers] == [[o for o in (a, b, c) if o != n]]
    again = await api.call("secretariat", "POST", "/v1/bulk/answer", body, headers=key)
    assert again.json()["succeeded"] == 3
    assert event_names(api.store, a).count("AnswerRecorded") == 1
    twice = await api.call(
        "secretariat", "POST", "/v1/bulk/answer", {"numbers": [a, a], "text": "x"}
    )
    assert twice.status_code == 422
    by_member = await api.call("B社", "POST", "/v1/bulk/answer", body)
    assert by_member.status_code == 403

    reopened = await api.call(
        "secretariat", "POST", f"/v1/requests/{c}/reopen", {"reason": "重複ではなかった"}
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["request"]["stage"] == "gathering_support"
    assert reopened.json()["request"]["closure"] is None
    refused = await api.call("secretariat", "POST", f"/v1/requests/{c}/reopen", {"reason": "r"})
    assert refused.status_code == 409 and "cannot reopen" in refused.json()["message"]


async def test_the_request_page_links_what_is_linked_and_offers_the_new_forms(api: Any) -> None:
    from tests.web_harness import actions, browser, text

    a, b = await api.file(), await api.file()
    n = await api.file()
    await api.call("secretariat", "POST", "/v1/bulk/answer", {"numbers": [n, a], "text": "同上"})
    close = {"reason": "duplicate", "duplicate_of": a, "duplicates": [b]}
    await api.call("secretariat", "POST", f"/v1/requests/{n}/close", close)
    async with browser(api, "secretariat") as page_of:
        page = await page_of.page(f"/web/requests/{n}")
        links = {x.attrs["href"] for x in page.find("a", data_testid="duplicate-of")}
        assert links == {f"/web/requests/{a}", f"/web/requests/{b}"}
        together = page.find("a", data_testid="answered-together")
        assert [x.attrs["href"] for x in together] == [f"/web/requests/{a}"]
        assert "reopen" in actions(page) and "answers" in actions(page)
        done = await page_of.post(f"/web/requests/{n}/reopen", {"reason": "重複ではなかった"})
        assert done.status_code == 303, done.text
        page = await page_of.page(f"/web/requests/{n}")
        assert "重複ではなかった" in text(page.find(data_testid="discretion")[0])
        assert "hear-below-threshold" in actions(page)  # gathering support, short of it
