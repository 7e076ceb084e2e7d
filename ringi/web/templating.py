"""Rendering a page: the Jinja2 templates in ``templates/`` (autoescaped) with
what every page needs (the language, who is signed in, the form token, the
link to the other language)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader

from ..api.tokens import Principal
from ..register.render import answer_text, body_text, status_text
from .i18n import Lang, Translator
from .session import CSRF_FIELD

LANG_COOKIE = "ringi_lang"
_YEAR = 365 * 24 * 3600

_ENV = Environment(
    loader=PackageLoader("ringi.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _yen(amount: Decimal | int | None) -> str:
    if amount is None:
        return "—"
    return f"{Decimal(amount):,.0f}"


def _query_with(params: dict[str, str], **changes: object) -> str:
    """``?…`` of ``params`` with ``changes`` (a None drops the name)."""
    merged = {**params, **{k: str(v) for k, v in changes.items() if v is not None}}
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
    return "?" + urlencode(merged)


_ENV.filters["yen"] = _yen
_ENV.globals.update(
    body_text=body_text,
    answer_text=answer_text,
    status_text=status_text,
    query_with=_query_with,
    # a form's one-time key (routes.KEY_FIELD): the same form sent twice is done once
    new_key=lambda: secrets.token_urlsafe(18),
)


@dataclass
class PageState:
    """Who asks for a page, in which language, with which form token."""

    lang: Lang
    lang_from_query: bool
    principal: Principal | None
    csrf: str

    @property
    def t(self) -> Translator:
        return Translator(self.lang)


def render(
    request: Request,
    state: PageState,
    template: str,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    other = state.t.other
    switch = request.url.include_query_params(lang=other)
    page = _ENV.get_template(template).render(
        lang=state.lang,
        t=state.t,
        who=state.principal,
        csrf=state.csrf,
        csrf_field=CSRF_FIELD,
        switch_url=switch.path + "?" + switch.query,
        path=request.url.path,
        now=datetime.now(tz=UTC),
        **values,
    )
    response = HTMLResponse(page, status_code=status)
    remember_lang(response, state)
    response.headers["Cache-Control"] = "no-store"  # pages show what one token may see
    return response


def remember_lang(response: Any, state: PageState) -> None:
    if state.lang_from_query:
        response.set_cookie(LANG_COOKIE, state.lang, max_age=_YEAR, path="/", samesite="lax")
