"""Defence in depth on the pages (issue 19, item 6; ``ringi.web.headers``): every
page, the stylesheet, an error page and a download carry a Content-Security-Policy
of the page's own origin only (no inline style or script, no framing), nosniff,
a Referrer-Policy that keeps form posts' Origin, and the pages hold nothing the
policy would block: no inline style, no <style>, no script."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from temporalio.client import Client

from ringi.config import Settings
from ringi.domain.vocabulary import Category
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving
from tests.test_register import SECRETARIAT, Lifecycle, jst
from tests.web_harness import browser

POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    life = Lifecycle(store)
    store.open_meeting(1, jst("2026-06-20", 0), SECRETARIAT, title="第1回")
    life.file(jst("2026-06-01"), "A社", Category.REQUEST, "使用量情報照会", "一括で")
    life.file(jst("2026-06-02"), "B社", Category.QUESTION, "API", "上限は？")
    async with serving(Ringi(settings, cast(Client, None), store)) as served:
        yield served


def assert_page_headers(answer: httpx.Response) -> None:
    headers = answer.headers
    assert headers["content-security-policy"] == POLICY, answer.request.url
    policy = dict(d.strip().split(" ", 1) for d in POLICY.split(";"))
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in POLICY and "style-src" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"  # not no-referrer: Origin: null
    assert headers["x-frame-options"] == "DENY"


def assert_nothing_inline(html: str) -> None:
    """What ``default-src 'self'`` would block: an inline style or script."""
    assert not re.search(r"<\s*(style|script)\b", html, re.I), "a <style> or <script>"
    assert not re.search(r"\sstyle\s*=", html, re.I), "an inline style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "an inline event handler"
    assert not re.search(r"(href|src|action)\s*=\s*\"(https?:)?//", html), "another origin"


async def test_every_page_carries_the_policy_and_needs_nothing_it_blocks(api: Api) -> None:
    async with browser(api) as anonymous:
        signin = await anonymous.get("/web/signin")
        assert signin.status_code == 200
        assert_page_headers(signin)
        assert_nothing_inline(signin.text)
        assert_page_headers(await anonymous.get("/web/static/ringi.css"))
        away = await anonymous.get("/web/register")
        assert away.status_code in (302, 303)
        assert_page_headers(away)

    async with browser(api, "secretariat") as desk:
        for path in ("/web/register", "/web/requests/1", "/web/requests/2", "/web/audit"):
            page = await desk.get(path)
            assert page.status_code == 200, (path, page.text[:300])
            assert_page_headers(page)
            assert_nothing_inline(page.text)
        charts = (await desk.get("/web/audit")).text
        assert 'class="ringi-chart"' in charts and "<svg" in charts  # styled from ringi.css
        css = (await desk.get("/web/static/ringi.css")).text
        assert "figure.ringi-chart > svg" in css and "max-width: 100%" in css
        missing = await desk.get("/web/requests/99")
        assert missing.status_code == 404
        assert_page_headers(missing)
        assert_nothing_inline(missing.text)
        download = await desk.get("/web/register/download?format=csv&meeting=1")
        assert download.status_code == 200
        assert_page_headers(download)

    async with browser(api, "C社") as member:
        page = await member.get("/web/file")
        assert_page_headers(page)
        assert_nothing_inline(page.text)
        refused = await member.post("/web/file", {"category": "要望", "target": "", "body": "x"})
        assert refused.status_code == 422
        assert_page_headers(refused)
        assert_nothing_inline(refused.text)


async def test_the_api_is_never_sniffed_and_keeps_its_own_headers(api: Api) -> None:
    answer = await api.call("A社", "GET", "/v1/requests/1")
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in answer.headers
    register = await api.call("A社", "GET", "/v1/register?format=html&meeting=1")
    assert register.status_code == 200
    assert register.headers["x-content-type-options"] == "nosniff"
