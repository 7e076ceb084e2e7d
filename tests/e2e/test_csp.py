"""The pages' Content-Security-Policy (``ringi.web.headers``) breaks none of them,
in headless Chromium: the sign-in page, the register, a request's page and the
audit page (its charts) load with no violation of the policy reported and with
ringi's stylesheet applied.

Violations are seen two ways: the ``securitypolicyviolation`` events of the
document (listened for by a script Playwright adds before the page's own, over
the DevTools protocol, so the policy does not stop it) and Chromium's console
messages ("Refused to ..."). A style added inline after loading shows that
both are seen: the test can fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from ringi.web.headers import CONTENT_SECURITY_POLICY

from .harness import AUDITOR, SECRETARIAT, Stack, browser_page, sign_in

pytestmark = pytest.mark.slow

LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""
#: ringi.css's own: the accent colour on :root, and no margin on the body
STYLED = """() => ({
  accent: getComputedStyle(document.documentElement).getPropertyValue("--accent").trim(),
  margin: getComputedStyle(document.body).margin,
  sheets: [...document.styleSheets].map((s) => new URL(s.href).pathname),
})"""


@dataclass
class Watched:
    page: Page
    console: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        events: list[str] = await self.page.evaluate("window.__violations")
        refused = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        return events + refused

    async def assert_whole(self, path: str) -> None:
        """``path`` answered with the policy, reported no violation, and is styled."""
        answer = await self.page.goto(path)
        assert answer is not None and answer.status == 200, (path, answer and answer.status)
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        await self.page.wait_for_load_state("load")
        assert await self.violations() == [], path
        styled = await self.page.evaluate(STYLED)
        assert styled == {
            "accent": "#0b57a4",
            "margin": "0px",
            "sheets": ["/web/static/ringi.css"],
        }, (path, styled)


@asynccontextmanager
async def watched(browser: Browser, stack: Stack) -> AsyncIterator[Watched]:
    async with browser_page(browser, stack) as page:
        await page.add_init_script(LISTEN)
        seen = Watched(page)

        def on_console(message: ConsoleMessage) -> None:
            seen.console.append(f"{message.type}: {message.text}")

        page.on("console", on_console)
        yield seen


async def file_request(stack: Stack) -> int:
    async with stack.api("A社") as api:
        filed = await api.post(
            "/v1/requests", json={"target": "CSP", "body": "ページの表示を確かめる"}
        )
    assert filed.status_code == 201, filed.text
    number = filed.json()["request"]["number"]
    assert isinstance(number, int)
    return number


async def test_the_pages_load_whole_under_their_content_security_policy(
    browser: Browser, stack: Stack
) -> None:
    number = await file_request(stack)
    async with watched(browser, stack) as seen:
        await seen.assert_whole("/web/signin")
        await sign_in(seen.page, stack.tokens[SECRETARIAT])
        await seen.assert_whole("/web/register")
        await seen.assert_whole(f"/web/requests/{number}")  # with the secretariat's forms
    async with watched(browser, stack) as seen:
        await sign_in(seen.page, stack.tokens["A社"])
        await seen.assert_whole("/web/file")
        await seen.assert_whole(f"/web/requests/{number}")  # the proposer's
    async with watched(browser, stack) as seen:
        await sign_in(seen.page, stack.tokens[AUDITOR])
        await seen.assert_whole("/web/audit")


async def test_a_violation_would_be_seen(browser: Browser, stack: Stack) -> None:
    """An inline style added to the page is refused by the policy, and reported."""
    async with watched(browser, stack) as seen:
        await seen.assert_whole("/web/signin")
        await seen.page.evaluate(
            """() => { const s = document.createElement("style");
                       s.textContent = "body { margin: 3px }";
                       document.head.append(s); }"""
        )
        await seen.page.wait_for_function("window.__violations.length > 0")
        violations = await seen.violations()
        assert any(v.startswith("style-src-elem inline") for v in violations), violations
        assert await seen.page.evaluate("getComputedStyle(document.body).margin") == "0px"
