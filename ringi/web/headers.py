"""Defence in depth on the pages: what a browser is told it may do with them.

The pages are server-rendered with no JavaScript and fetch nothing from
elsewhere, and every style is in ``/web/static/ringi.css`` (the charts' too),
so the policy allows the page's own origin only, and no inline style or
script at all: markup that slipped past the escaping could run nothing and
restyle nothing. Nobody may frame the pages (clickjacking a secretariat's
form), a response is never sniffed into another type, and a link followed
off the site carries no referrer.

``Referrer-Policy`` is ``same-origin``, not ``no-referrer``: under
``no-referrer`` a browser sends ``Origin: null`` with a form post, which the
pages' CSRF check (``session.same_origin``) rightly refuses.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    )
)
#: on every page and the stylesheet
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
}
#: on every answer of the API too: a JSON or CSV answer is never sniffed into HTML
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff"}


class SecurityHeaders:
    """Adds ``PAGE_HEADERS`` to every answer under ``prefix``, ``EVERY_ANSWER``
    to the others (a header the route set itself is kept)."""

    def __init__(self, app: ASGIApp, prefix: str = "/web") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        page = path == self.prefix or path.startswith(self.prefix + "/")
        added = PAGE_HEADERS if page else EVERY_ANSWER

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
