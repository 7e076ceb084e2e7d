"""The web pages in a real browser: headless Chromium (Debian's, at
/usr/bin/chromium; never downloaded) driven by Playwright against `ringi up`
started as a person starts it, on free ports with a data directory of its own.

One installation per test module (starting Temporal takes a while); tests share
it without stepping on each other because each works on requests it files
itself. Each person signs in with a token of their own, in a browser context
of their own (their own cookies), as they would on their own machines.

Playwright's async API: the suite's tests run on pytest-asyncio's session
event loop, inside which the sync API refuses to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, ViewportSize

from tests.cli_harness import Installation

CHROMIUM = Path("/usr/bin/chromium")
#: without the background-networking flags Chromium phones home at start-up,
#: which a closed network answers with refused connections
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
#: the repository's root: screenshots go to test-artifacts/screenshots/ there
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

MEMBERS = ("A社", "B社", "C社", "D社", "E社", "F社")
SECRETARIAT = "secretariat"
AUDITOR = "auditor"

#: how long a page may take to answer (a write goes through the request's workflow)
TIMEOUT_MS = 30_000


@dataclass
class Stack:
    """`ringi up` with a token for each person."""

    installation: Installation
    tokens: dict[str, str]  # a company, SECRETARIAT or AUDITOR -> its API token

    @property
    def url(self) -> str:
        return self.installation.api_url

    def api(self, who: str = AUDITOR) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )

    async def timeline(self, number: int) -> list[dict[str, Any]]:
        """No.``number``'s events as the API reads them from the event store."""
        async with self.api() as api:
            read = await api.get(f"/v1/requests/{number}")
        assert read.status_code == 200, read.text
        timeline: list[dict[str, Any]] = read.json()["timeline"]
        return timeline


def issue(inst: Installation, *args: str) -> str:
    """`ringi token issue ARGS`: the token it printed."""
    issued = inst.ringi("token", "issue", *args, "--json")
    assert issued.status == 0, f"ringi token issue {' '.join(args)}: {issued.err}"
    token = issued.json()["token"]
    assert isinstance(token, str)
    return token


@asynccontextmanager
async def person(
    browser: Browser, stack: Stack, who: str, *, viewport: ViewportSize = DESKTOP, zoom: float = 1
) -> AsyncIterator[Page]:
    """A browser of ``who``'s own, signed in with their token, on the register."""
    async with browser_page(browser, stack, viewport=viewport, zoom=zoom) as page:
        await sign_in(page, stack.tokens[who])
        yield page


@asynccontextmanager
async def browser_page(
    browser: Browser, stack: Stack, *, viewport: ViewportSize = DESKTOP, zoom: float = 1
) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) and a page in it. ``zoom`` as a
    reader's browser zoom: the same window, ``zoom`` times fewer CSS pixels."""
    context = await browser.new_context(
        base_url=stack.url,
        viewport=ViewportSize(
            width=round(viewport["width"] / zoom), height=round(viewport["height"] / zoom)
        ),
        device_scale_factor=zoom,
        locale="ja-JP",
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def sign_in(page: Page, token: str) -> None:
    await page.goto("/web/signin")
    await page.locator('input[name="token"]').fill(token)
    await page.locator('[data-testid="signin"]').click()
    await page.wait_for_url("**/web/register**")
