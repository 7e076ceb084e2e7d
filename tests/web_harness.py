"""The web pages as a browser without JavaScript sees them: one httpx client
(its own cookie jar) per person, against the API's app (``tests.api_harness``),
and a small HTML reader to find elements by their attributes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from tests.api_harness import Api

BASE = "http://ringi.test"
_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants (and self) with this tag and these attributes (``data_x`` is
        ``data-x``, ``for_`` is ``for``; a value of ``...`` only asks that the attribute is there)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        found = []
        if (tag is None or self.tag == tag) and all(
            k in self.attrs and (v is ... or self.attrs[k] == v) for k, v in wanted.items()
        ):
            found.append(self)
        for child in self.children:
            found += child.find(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag or '*'} {attrs}> elements"
        return found[0]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data


def parse(html: str) -> Element:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.root


class Browser:
    """One person's browser: cookies kept, redirects not followed (tests look at them)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app), base_url=BASE, follow_redirects=False
        )
        self.csrf = ""

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        self._remember_csrf(response)
        return response

    async def page(self, path: str, status: int = 200) -> Element:
        response = await self.get(path)
        assert response.status_code == status, (response.status_code, response.text[:2000])
        return parse(response.text)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        csrf: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        if csrf == "":
            form.pop("csrf")
        response = await self.client.post(path, data=form, headers=headers)
        self._remember_csrf(response)
        return response

    async def sign_in(self, who: str) -> httpx.Response:
        await self.get("/web/signin")
        response = await self.post("/web/signin", {"token": self.api.tokens[who]})
        assert response.status_code == 303, response.text[:2000]
        await self.get("/web/register")  # the signed-in session's form token
        return response

    def _remember_csrf(self, response: httpx.Response) -> None:
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)

    async def close(self) -> None:
        await self.client.aclose()


@asynccontextmanager
async def browser(api: Api, who: str | None = None) -> AsyncIterator[Browser]:
    b = Browser(api)
    try:
        if who is not None:
            await b.sign_in(who)
        yield b
    finally:
        await b.close()


def actions(page: Element) -> set[str]:
    """The actions a request's page offers."""
    return {form.attrs["data-action"] for form in page.find("form", data_action=...)} - {"signout"}


def text(element: Element) -> str:
    return " ".join(element.text.split())
