"""The web pages end to end, in headless Chromium against `ringi up`.

- A member files a request on the page; four other companies, each signed in
  with its own token, endorse it; at 5 of 5 (the proposer counts) the hearing
  opens by itself. The secretariat records the hearing's findings and the cost
  evaluation on the request's page; the register shows the new stage.
- A member is not offered the secretariat's forms, and the server refuses one
  forced on it (a real post from the member's page, with the member's session
  and a valid form token): 403, and no event is written.
- The secretariat forcing a transition the lifecycle refuses gets the refusal
  on the page (409) and nothing is written either.
- The filing form can be found, filled and sent with the keyboard alone.
- Screenshots of the register, a request and the audit page (with its charts)
  at desktop and phone widths go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from ringi.domain.vocabulary import Stage

from .harness import (
    AUDITOR,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    SECRETARIAT,
    Stack,
    browser_page,
    person,
)

pytestmark = pytest.mark.slow

SUPPORTERS = ("B社", "C社", "D社", "E社")  # with the proposer A社: the threshold of 5
REQUEST_PAGE = re.compile(r"/web/requests/(\d+)$")


# --- steps -----------------------------------------------------------------------------------


async def file_on_page(page: Page, *, category: str, target: str, body: str) -> int:
    """File a request with the filing form; the number it got."""
    await page.goto("/web/file")
    form = page.locator('form[action="/web/file"]')
    await form.locator('select[name="category"]').select_option(category)
    await form.locator('[name="target"]').fill(target)
    await form.locator('[name="body"]').fill(body)
    await form.locator('button[type="submit"]').click()
    await page.wait_for_url(REQUEST_PAGE)
    return number_of(page)


def number_of(page: Page) -> int:
    found = REQUEST_PAGE.search(page.url.split("?", 1)[0])
    assert found, f"not a request's page: {page.url}"
    return int(found.group(1))


async def act(page: Page, number: int, action: str, **fields: str) -> None:
    """Fill the action's form on No.``number``'s page and send it; it is carried out."""
    await page.goto(f"/web/requests/{number}")
    form = page.locator(f'form[data-action="{action}"]')
    await expect(form).to_have_count(1)
    for name, value in fields.items():
        await form.locator(f'[name="{name}"]').fill(value)
    await form.locator('button[type="submit"]').click()
    await page.wait_for_url(f"**/web/requests/{number}?done={action}")


async def stage_shown(page: Page, stage: Stage) -> None:
    await expect(page.locator('[data-testid="stage"]')).to_have_attribute("data-stage", stage.value)


async def post_from_page(page: Page, path: str, fields: dict[str, str]) -> dict[str, Any]:
    """A form post the page itself sends (its cookie, its origin) with the page's
    own form token added: what a person could force with the browser's tools."""
    result: dict[str, Any] = await page.evaluate(
        """async ([path, fields]) => {
            const csrf = document.querySelector('input[name="csrf"]').value;
            const body = new URLSearchParams({...fields, csrf});
            const response = await fetch(path, {method: "POST", body});
            return {status: response.status, url: response.url, text: await response.text()};
        }""",
        [path, fields],
    )
    return result


async def request_via_api(stack: Stack, who: str, target: str) -> int:
    async with stack.api(who) as api:
        filed = await api.post("/v1/requests", json={"target": target, "body": f"{target}の改善"})
    assert filed.status_code == 201, filed.text
    number = filed.json()["request"]["number"]
    assert isinstance(number, int)
    return number


# --- the story of the issue --------------------------------------------------------------------


async def test_a_request_goes_from_filing_to_cost_evaluation_on_the_pages(
    browser: Browser, stack: Stack
) -> None:
    async with person(browser, stack, "A社") as page:
        number = await file_on_page(
            page,
            category="要望",
            target="使用量情報照会",
            body="パスワード発行を複数地点まとめて申し込みたい",
        )
        await stage_shown(page, Stage.GATHERING_SUPPORT)
        await expect(page.locator('[data-testid="proposer"]')).to_have_text("A社")
        await expect(page.locator('[data-testid="body"]')).to_have_text(
            "パスワード発行を複数地点まとめて申し込みたい"
        )
        # the proposer supports its own request already: no endorse form for it
        await expect(page.locator('form[data-action="endorse"]')).to_have_count(0)

    for i, company in enumerate(SUPPORTERS, start=2):
        async with person(browser, stack, company) as page:
            await act(page, number, "endorse")
            await expect(page.locator('[data-testid="done"]')).to_be_visible()
            await expect(
                page.locator(f'[data-testid="endorsers"] li[data-company="{company}"]')
            ).to_have_count(1)
            await expect(page.locator('[data-testid="support"]')).to_contain_text(f"{i}")
            # endorsed once: the form is gone, an endorsement counts once
            await expect(page.locator('form[data-action="endorse"]')).to_have_count(0)
            if i < 5:
                await stage_shown(page, Stage.GATHERING_SUPPORT)
                continue
            # the fifth company's endorsement met the threshold: the hearing opened by itself
            await stage_shown(page, Stage.HEARING)
            endorsers = page.locator('[data-testid="endorsers"] li[data-company]')
            companies = await endorsers.evaluate_all("els => els.map(e => e.dataset.company)")
            assert companies == list(SUPPORTERS)
            timeline = page.locator('[data-testid="timeline"]')
            await expect(timeline.locator('tr[data-event="HearingOpened"]')).to_have_count(1)

    # the proposer is not offered the secretariat's work in the hearing, and a
    # post forced from its page is refused by role, writing nothing
    async with person(browser, stack, "A社") as page:
        await page.goto(f"/web/requests/{number}")
        await stage_shown(page, Stage.HEARING)
        for action in ("findings", "cost-evaluation", "hold", "close"):
            await expect(page.locator(f'form[data-action="{action}"]')).to_have_count(0)
        before = await stack.timeline(number)
        forced = await post_from_page(
            page, f"/web/requests/{number}/findings", {"text": "会員が書いた所見"}
        )
        assert forced["status"] == 403, forced
        assert await stack.timeline(number) == before

    # the secretariat is offered it, and the same post goes through
    async with person(browser, stack, SECRETARIAT) as page:
        await act(page, number, "findings", text="事業者ヒアリング実施: 5社とも必要")
        await stage_shown(page, Stage.HEARING)
        await expect(page.get_by_text("事業者ヒアリング実施: 5社とも必要").first).to_be_visible()
        # 6,000 a month at 300 yen over 5 years (108M) against 60M of cost: worth it
        await act(
            page,
            number,
            "cost-evaluation",
            monthly_volume="6000",
            benefit_per_unit_yen="300",
            cost_central="40000000",
            cost_network_operators="20000000",
        )
        await stage_shown(page, Stage.COST_EVALUATION)
        cost = page.locator('[data-testid="cost"]')
        await expect(cost).to_be_visible()
        await expect(cost.locator('[data-testid="benefit"]')).to_contain_text("108,000,000")
        await expect(cost.locator('[data-testid="total-cost"]')).to_contain_text("60,000,000")
        await expect(page.locator('[data-testid="cost-verdict"]')).to_have_text(
            re.compile("費用対効果あり|見込め|cost-effective", re.IGNORECASE)
        )

        # the register shows the new stage
        await page.goto("/web/register")
        row = page.locator(f'[data-testid="register"] tr[data-number="{number}"]')
        await expect(row).to_have_count(1)
        await expect(row).to_have_attribute("data-stage", Stage.COST_EVALUATION.value)
        await expect(row.locator('[data-testid="stage-cell"]')).to_have_text(
            Stage.COST_EVALUATION.label_ja
        )
        await expect(row.locator('[data-testid="support"]')).to_have_text("5")
        # ... and so does the English page
        await page.goto("/web/register?lang=en")
        await expect(row.locator('[data-testid="stage-cell"]')).to_have_text("Cost evaluation")

    # the stored record agrees with what the pages said
    events = [e["event"] for e in await stack.timeline(number)]
    assert events.count("Endorsed") == 4
    for name in ("HearingOpened", "HearingFindingsRecorded", "CostEvaluated"):
        assert events.count(name) == 1, events
    async with stack.api(SECRETARIAT) as api:
        state = (await api.get(f"/v1/requests/{number}")).json()
    assert state["request"]["stage"] == Stage.COST_EVALUATION.value
    assert state["support"] == 5


async def test_a_member_is_not_offered_the_secretariats_actions_nor_can_force_them(
    browser: Browser, stack: Stack
) -> None:
    number = await request_via_api(stack, "A社", "マイページ")
    async with person(browser, stack, "A社") as page:
        await page.goto(f"/web/requests/{number}")
        await stage_shown(page, Stage.GATHERING_SUPPORT)
        forms = page.locator("form[data-action]")
        offered = set(await forms.evaluate_all("fs => fs.map(f => f.dataset.action)"))
        # the proposer's own actions, and none of the secretariat's
        assert {"notes", "withdraw"} <= offered, offered
        secretariats = {
            "open-hearing",
            "findings",
            "cost-evaluation",
            "open-objection-window",
            "extend-deadline",
            "answers",
            "hold",
            "close",
        }
        assert not offered & secretariats, offered

        # a post the member may make goes through this way: the session, the form
        # token and the origin are right...
        allowed = await post_from_page(
            page, f"/web/requests/{number}/notes", {"text": "低圧も含めて"}
        )
        assert allowed["status"] == 200 and allowed["url"].endswith("?done=notes"), allowed
        before = await stack.timeline(number)
        assert before[-1]["event"] == "NoteAppended"

        # ... and the secretariat's is refused, by role, with nothing written
        forced = await post_from_page(
            page, f"/web/requests/{number}/findings", {"text": "会員が書いた所見"}
        )
        assert forced["status"] == 403, forced
        assert 'data-testid="error"' in forced["text"]
        forced = await post_from_page(page, f"/web/requests/{number}/open-hearing", {})
        assert forced["status"] == 403, forced
        assert await stack.timeline(number) == before

        # without the form token the member's own action is refused as well
        no_token = await page.evaluate(
            """async (path) => (await fetch(path, {method: "POST",
                body: new URLSearchParams({text: "x"})})).status""",
            f"/web/requests/{number}/notes",
        )
        assert no_token == 403
        assert await stack.timeline(number) == before


async def test_a_refused_transition_is_shown_on_the_page_and_writes_nothing(
    browser: Browser, stack: Stack
) -> None:
    number = await request_via_api(stack, "B社", "設備情報検索")
    before = await stack.timeline(number)
    async with person(browser, stack, SECRETARIAT) as page:
        await page.goto(f"/web/requests/{number}")
        # what the lifecycle refuses whatever is typed is not offered: support is 1 of 5
        await expect(page.locator('form[data-action="open-hearing"]')).to_have_count(0)
        # what depends on what is typed is refused when sent: a deadline not later
        form = page.locator('form[data-action="extend-deadline"]')
        await form.locator('[name="deadline"]').fill("2001-01-01")
        async with page.expect_response(f"**/web/requests/{number}/extend-deadline") as sent:
            await form.locator('button[type="submit"]').click()
        assert (await sent.value).status == 409
        refusal = page.locator('[data-testid="refusal"]')
        await expect(refusal).to_be_visible()
        await expect(refusal).to_contain_text("is not later than the current one")
        await stage_shown(page, Stage.GATHERING_SUPPORT)

        # forced, the hearing is refused by the lifecycle with its reason
        refused = await post_from_page(page, f"/web/requests/{number}/open-hearing", {})
        assert refused["status"] == 409, refused
        assert "the hearing needs 5" in refused["text"]
        assert 'data-testid="refusal"' in refused["text"]
    assert await stack.timeline(number) == before


async def test_the_filing_form_works_from_the_keyboard_alone(
    browser: Browser, stack: Stack
) -> None:
    async with browser_page(browser, stack) as page:
        await page.goto("/web/signin")
        await tab_to(page, 'input[name="token"]')
        await page.keyboard.type(stack.tokens["F社"])
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/web/register**")

        await tab_to(page, 'a[href="/web/file"]')
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/web/file")

        form = 'form[action="/web/file"]'
        trail = await tab_to(page, f'{form} [name="category"]')
        category = page.locator(f'{form} [name="category"]')
        first = await category.input_value()
        await page.keyboard.press("ArrowDown")  # the next category
        chosen = await category.input_value()
        assert chosen != first, "the arrow key did not change the category"

        # then the target, the body and the button, in that order
        await page.keyboard.press("Tab")
        assert await focused_matches(page, f'{form} [name="target"]'), await describe_focus(page)
        await page.keyboard.type("託送API")
        await page.keyboard.press("Tab")
        assert await focused_matches(page, f'{form} [name="body"]'), await describe_focus(page)
        await page.keyboard.type("キーボードだけで登録できること")
        trail += await tab_to(page, f'{form} button[type="submit"]', limit=5)
        await page.keyboard.press("Enter")

        await page.wait_for_url(REQUEST_PAGE)
        number = number_of(page)
        await expect(page.locator('[data-testid="body"]')).to_have_text(
            "キーボードだけで登録できること"
        )
        await expect(page.locator("h1")).to_contain_text("託送API")
        await expect(page.locator('[data-testid="proposer"]')).to_have_text("F社")
    async with stack.api() as api:
        stored = (await api.get(f"/v1/requests/{number}")).json()
    filed = stored["request"]
    assert (filed["category"], filed["target"], filed["proposer"]) == (chosen, "託送API", "F社")


async def tab_to(page: Page, selector: str, *, limit: int = 60) -> list[str]:
    """Press Tab until ``selector`` has the focus; the elements passed on the way."""
    trail: list[str] = []
    for _ in range(limit):
        if await focused_matches(page, selector):  # there already (autofocus)
            return trail
        await page.keyboard.press("Tab")
        if await focused_matches(page, selector):
            return trail
        trail.append(await describe_focus(page))
    raise AssertionError(f"{selector} never got the focus by Tab; it went through {trail}")


async def focused_matches(page: Page, selector: str) -> bool:
    matches: bool = await page.evaluate(
        "(s) => !!document.activeElement && document.activeElement.matches(s)", selector
    )
    return matches


async def describe_focus(page: Page) -> str:
    described: str = await page.evaluate(
        """() => { const e = document.activeElement;
            return e ? `${e.tagName.toLowerCase()}[name=${e.getAttribute("name")}]`
                     + `[href=${e.getAttribute("href")}]` : "nothing"; }"""
    )
    return described


# --- how the pages look -------------------------------------------------------------------------


async def test_every_page_reads_and_works_at_200_percent_zoom(
    browser: Browser, stack: Stack
) -> None:
    """A desktop window at 200% zoom: no page scrolls sideways (the register's
    table scrolls inside its own box), and every field and button of a form
    is within the window, where a reader can reach it."""
    number = await request_via_api(stack, "D社", "200%表示の確認")

    async def fits(page: Page, path: str) -> None:
        await page.goto(path)
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 200%"
        width = await page.evaluate("() => document.documentElement.clientWidth")
        controls = page.locator(
            "main input:not([type=hidden]), main select, main textarea, main button"
        )
        assert await controls.count() > 0, path
        for box in [await c.bounding_box() for c in await controls.all()]:
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (
                path,
                box,
            )

    async with person(browser, stack, "A社", zoom=2) as page:
        assert page.viewport_size == {"width": 640, "height": 400}
        for path in ("/web/register", f"/web/requests/{number}", "/web/file"):
            await fits(page, path)
    async with person(browser, stack, SECRETARIAT, zoom=2) as page:
        await fits(page, f"/web/requests/{number}")
    async with person(browser, stack, AUDITOR, zoom=2) as page:
        await fits(page, "/web/register")


async def test_screenshots_of_the_register_a_request_and_the_audit_page(
    browser: Browser, stack: Stack
) -> None:
    number = await request_via_api(stack, "C社", "スイッチング支援システム画面")
    for company in ("A社", "B社"):
        async with stack.api(company) as api:
            endorsed = await api.post(f"/v1/requests/{number}/endorse")
            assert endorsed.status_code == 200, endorsed.text
    async with stack.api(SECRETARIAT) as api:
        opened = await api.post(
            "/v1/meetings",
            json={"number": 40, "held_at": datetime.now(tz=UTC).isoformat(), "title": "第40回"},
        )
        assert opened.status_code in (201, 409), opened.text
        answered = await api.post(
            f"/v1/requests/{number}/answers",
            json={"text": "多数の賛同があるまで待ちます。", "meeting": 40},
        )
        assert answered.status_code == 200, answered.text

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = []
    for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        async with person(browser, stack, SECRETARIAT, viewport=viewport) as page:
            await page.goto("/web/register")
            await expect(page.locator(f'tr[data-number="{number}"]')).to_have_count(1)
            shots.append(await shoot(page, f"register-{width_name}"))
            await page.goto(f"/web/requests/{number}")
            await stage_shown(page, Stage.GATHERING_SUPPORT)
            shots.append(await shoot(page, f"request-{width_name}"))
        async with person(browser, stack, AUDITOR, viewport=viewport) as page:
            await page.goto("/web/audit")
            charts = page.locator('[data-testid="charts"]')
            # the chart of meetings has meeting 40's bar, with this request in it
            bar = charts.locator('svg[role="img"] g.bar[data-meeting="40"]')
            await expect(bar).to_have_count(1)
            segment = bar.locator(f'rect[data-stage="{Stage.GATHERING_SUPPORT.value}"]')
            assert int(await segment.get_attribute("data-count") or 0) >= 1
            await expect(charts.locator("svg title").first).not_to_be_empty()
            await expect(charts.locator("table")).to_have_count(2)
            shots.append(await shoot(page, f"audit-{width_name}"))

    for path, viewport in shots:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", path
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert width == viewport["width"], (path, width)
        assert height >= viewport["height"] * 0.5, (path, height)
        assert len(data) > 20_000, (path, len(data))  # a page, not a blank


async def shoot(page: Page, name: str) -> tuple[Path, ViewportSize]:
    path = SCREENSHOTS / f"{name}.png"
    path.unlink(missing_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    assert page.viewport_size is not None
    return path, page.viewport_size
