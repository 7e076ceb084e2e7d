"""Who is signed in to the web pages, and the checks every form post passes.

The session is a cookie signed with the web secret (itsdangerous), HttpOnly,
SameSite=Lax, Secure when the page is served over https, scoped to ``/web``.
It holds:

- ``tid``: the API token's id (never the token: the raw secret is seen once,
  at sign-in, and kept nowhere);
- ``bind``: an HMAC (keyed with the web secret) of the token's stored secret
  hash, so a session can only be made by someone who held the token, even by
  someone who learned a token id from a timeline and the web secret;
- ``csrf``: the session's form token, checked on every post.

On every page the token is looked up again by its id in the event store: a
token revoked (``ringi token revoke``) stops working on the next page load,
not when the cookie expires. Before sign-in the cookie holds only ``csrf``, so
the sign-in form is protected as well (login CSRF).

Signing out deletes the cookie in the browser. The cookie is not kept on the
server, so a copy taken before signing out stays usable until it expires
(``RINGI_WEB_SESSION_MAX_AGE``) or the token is revoked; revoking the token is
the way to cut a leaked session off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.application import AggregateNotFoundError
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..api.tokens import ApiToken, Principal, TokenInfo, token_aggregate_id
from ..store import RingiStore

COOKIE = "ringi_session"
COOKIE_PATH = "/web"
CSRF_FIELD = "csrf"
_SALT = "ringi.web.session"


@dataclass(frozen=True)
class Session:
    """What the cookie says: a form token and, once signed in, the token's id."""

    csrf: str
    token_id: str | None = None
    bind: str | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32))


class Sessions:
    """Reads, writes and checks session cookies with one secret."""

    def __init__(self, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._bind_key = hashlib.sha256(f"{_SALT}/bind\n{secret}".encode()).digest()
        self.max_age = max_age

    # --- the cookie ------------------------------------------------------------------

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # tampered, from another secret, or expired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        tid, bind = data.get("tid"), data.get("bind")
        if not (isinstance(tid, str) and isinstance(bind, str)):
            tid = bind = None
        return Session(csrf=data["csrf"], token_id=tid, bind=bind)

    def write(self, response: Response, request: Request, session: Session) -> None:
        data: dict[str, str] = {"csrf": session.csrf}
        if session.token_id is not None and session.bind is not None:
            data |= {"tid": session.token_id, "bind": session.bind}
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(data),
            max_age=self.max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")

    # --- signing in and staying signed in -------------------------------------------

    def signed_in(self, token: ApiToken) -> Session:
        """A fresh session for ``token`` (a new form token too: nothing carries over
        from before sign-in)."""
        return Session(
            csrf=secrets.token_urlsafe(32), token_id=token.token_id, bind=self._bind(token)
        )

    def principal(self, store: RingiStore, session: Session | None) -> Principal | None:
        """Who the session stands for now; None if it is anonymous or its token is
        unknown, revoked, or not the one the session was made with."""
        if session is None or session.token_id is None or session.bind is None:
            return None
        token = find_token(store, session.token_id)
        if token is None or token.revoked_at is not None:
            return None
        if not hmac.compare_digest(session.bind, self._bind(token)):
            return None
        return TokenInfo.of(token).principal

    def _bind(self, token: ApiToken) -> str:
        return hmac.new(self._bind_key, token.secret_sha256.encode(), hashlib.sha256).hexdigest()


def find_token(store: RingiStore, token_id: str) -> ApiToken | None:
    try:
        found: object = store.repository.get(token_aggregate_id(token_id))
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, ApiToken) else None


# --- the checks of a form post --------------------------------------------------------


def csrf_ok(session: Session | None, presented: object) -> bool:
    return (
        session is not None
        and isinstance(presented, str)
        and bool(presented)
        and hmac.compare_digest(session.csrf.encode(), presented.encode())
    )


def same_origin(request: Request) -> bool:
    """False if the browser says the post comes from another origin. Browsers send
    ``Origin`` on form posts; ``Referer`` is the fallback; with neither (some
    privacy settings) the CSRF token alone decides."""
    expected = _origin(str(request.base_url))
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and _origin(origin) == expected
    referer = request.headers.get("referer")
    if referer:
        return _origin(referer) == expected
    return True


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
