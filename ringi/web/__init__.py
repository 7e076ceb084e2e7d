"""The web pages: the register, each request with its actions, filing, and the
audit page, server-rendered (Jinja2) on the API's own app, behind the same
tokens and roles.

``install(app, ctx)`` mounts them (``create_app`` calls it): ``/web/signin``
(sign in with an API token; a signed session cookie), ``/web/register``,
``/web/requests/{n}`` (and its action posts, one per API action slug),
``/web/file``, ``/web/audit``, and the stylesheet under ``/web/static``.
Nothing is fetched from elsewhere at run time, and the answers say so to the
browser (``headers``: a Content-Security-Policy of the page's own origin only).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from ..api.context import ApiContext
from .headers import SecurityHeaders
from .routes import Answer, Web, build_router
from .session import Sessions
from .settings import WebSettings, session_secret

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, ctx: ApiContext, settings: WebSettings | None = None) -> None:
    settings = settings or WebSettings()
    secret = session_secret(settings, ctx.ringi.settings.data_dir)
    web = Web(ctx, Sessions(secret, settings.session_max_age))
    app.state.web = web
    # the stylesheet first: the pages end with a catch-all for unknown /web paths
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")
    app.include_router(build_router(web))
    app.add_middleware(SecurityHeaders, prefix="/web")  # CSP and the rest: ``headers``

    @app.exception_handler(Answer)
    async def answered(_: Request, exc: Answer) -> Response:
        return exc.response


__all__ = ["WebSettings", "install"]
