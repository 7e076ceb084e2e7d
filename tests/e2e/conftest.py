"""The fixtures of the web tests: `ringi up` with a token per person (one per
module), and Debian's Chromium under Playwright (see ``harness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.cli_harness import Installation, free_port

from .harness import AUDITOR, CHROMIUM, CHROMIUM_ARGS, MEMBERS, SECRETARIAT, Stack, issue


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    inst = Installation(tmp_path_factory.mktemp("web") / "data", free_port(), free_port())
    tokens = {c: issue(inst, "--role", "member", "--company", c) for c in MEMBERS}
    tokens[SECRETARIAT] = issue(inst, "--role", "secretariat", "--name", "事務局")
    tokens[AUDITOR] = issue(inst, "--role", "auditor", "--name", "監査")
    try:
        inst.up()
    except BaseException:
        if inst.process is not None and inst.process.poll() is None:
            inst.down()  # Ctrl-C: it stops its Temporal server too
        raise
    try:
        yield Stack(inst, tokens)
    finally:
        assert inst.down() == 0, "`ringi up` did not stop cleanly"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web tests drive Debian's Chromium; "
            "install it with `apt-get install -y chromium` (Playwright never downloads one)",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()
