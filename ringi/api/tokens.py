"""API tokens: who calls the API, in which role, for which company.

A token is ``ringi_<id>_<secret>``: the id names it (in ``ringi token list``,
in the events it is recorded with), the secret proves it. The secret is shown
once, when the token is issued; the store keeps only its SHA-256 (the secret
is 256 random bits, so a plain hash is enough: there is nothing to guess), and
a presented secret is compared with it in constant time.

Issuing and revoking are events of an ``ApiToken`` aggregate in the event
store, next to everything else, so who was given access, when and by whom is
part of the audit trail. ``TokenIndex`` lists the tokens ever issued.

No I/O here but through the ``RingiStore`` handed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel

from ..domain.errors import Conflict, NotFound, Refused
from ..domain.request import NAMESPACE
from ..domain.text import clean_name
from ..domain.vocabulary import UNKNOWN_PROPOSER, Actor, Role
from ..store import RingiStore

PREFIX = "ringi"
#: the roles a token may be issued for (timers are ringi's own)
TOKEN_ROLES = (Role.MEMBER, Role.SECRETARIAT, Role.AUDITOR)
_ID_BYTES = 8  # 16 hex digits: enough to name a token, not to guess one's secret
_SECRET_BYTES = 32


def token_aggregate_id(token_id: str) -> UUID:
    return uuid5(NAMESPACE, f"api-token/{token_id}")


TOKEN_INDEX_ID = uuid5(NAMESPACE, "api-token-index")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiToken(Aggregate):
    """One API token: issued once, revoked at most once. Never holds the secret."""

    @staticmethod
    def create_id(token_id: str) -> UUID:
        return token_aggregate_id(token_id)

    @event("Issued")
    def __init__(
        self,
        token_id: str,
        role: str,
        company: str | None,
        name: str,
        secret_sha256: str,
        at: datetime,
        issued_by: str | None,
    ) -> None:
        self.token_id = token_id
        self.role = Role(role)
        self.company = company
        self.name = name
        self.secret_sha256 = secret_sha256
        self.issued_at = at
        self.issued_by = issued_by
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None
        self.revoke_reason = ""

    def revoke(self, at: datetime, by: str | None, reason: str) -> None:
        if self.revoked_at is not None:
            raise Refused(f"token {self.token_id} was already revoked at {self.revoked_at}")
        self._revoked(at=at, revoked_by=by, reason=reason)

    @event("Revoked")
    def _revoked(self, at: datetime, revoked_by: str | None, reason: str) -> None:
        self.revoked_at, self.revoked_by, self.revoke_reason = at, revoked_by, reason

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(secret_hash(secret), self.secret_sha256)


class TokenIndex(Aggregate):
    """The ids of every token ever issued, in order (for ``ringi token list``)."""

    @staticmethod
    def create_id() -> UUID:
        return TOKEN_INDEX_ID

    @event("IndexStarted")
    def __init__(self) -> None:
        self.token_ids: list[str] = []

    def add(self, token_id: str) -> None:
        self._added(token_id=token_id)

    @event("TokenAdded")
    def _added(self, token_id: str) -> None:
        self.token_ids.append(token_id)


class Principal(BaseModel):
    """Who a call comes from: everything follows from its token, nothing from the body."""

    token_id: str
    role: Role
    company: str | None = None
    name: str

    @property
    def user(self) -> str:
        """How the token's user is recorded in the events it causes."""
        return f"{self.name}#{self.token_id}"

    def actor(self) -> Actor:
        return Actor(role=self.role, company=self.company, user=self.user)


class TokenInfo(BaseModel):
    """A token as ``ringi token list`` shows it: never its secret, nor the hash."""

    token_id: str
    role: Role
    company: str | None
    name: str
    issued_at: datetime
    issued_by: str | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str = ""

    @classmethod
    def of(cls, token: ApiToken) -> TokenInfo:
        return cls(
            token_id=token.token_id,
            role=token.role,
            company=token.company,
            name=token.name,
            issued_at=token.issued_at,
            issued_by=token.issued_by,
            revoked_at=token.revoked_at,
            revoked_by=token.revoked_by,
            revoke_reason=token.revoke_reason,
        )

    @property
    def principal(self) -> Principal:
        return Principal(
            token_id=self.token_id, role=self.role, company=self.company, name=self.name
        )


class Unauthenticated(Exception):
    """The presented token is missing, malformed, unknown or revoked."""

    def __init__(self, message: str, *, presented: bool = True) -> None:
        super().__init__(message)
        self.presented = presented


class TokenRegistry:
    """Issues, revokes, lists and checks tokens, in the event store."""

    def __init__(self, store: RingiStore) -> None:
        self.store = store

    def issue(
        self,
        role: Role,
        *,
        company: str | None = None,
        name: str | None = None,
        issued_by: str | None = None,
        at: datetime | None = None,
    ) -> tuple[str, TokenInfo]:
        """A new token: the token itself (shown once, stored nowhere) and its record."""
        if role not in TOKEN_ROLES:
            raise Refused(f"a token is for a member, the secretariat or an auditor, not {role}")
        # the policy before the white space is cut: strip() would take a trailing NEL away
        company = _named("company", company).strip() if company and company.strip() else None
        if role is Role.MEMBER:
            if not company:
                raise Refused("a member's token acts for a company: give --company NAME")
            if company == UNKNOWN_PROPOSER:
                raise Refused(f"{UNKNOWN_PROPOSER} is not a company one can act for")
        elif company:
            raise Refused(f"a {role.value} token acts for no company; leave --company out")
        label = _named("name", name).strip() if name and name.strip() else None
        label = label or (company if role is Role.MEMBER else role.value)
        assert label is not None
        if len(label) > 100:
            raise Refused("a token's name is at most 100 characters")
        token_id = secrets.token_hex(_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        token = ApiToken(
            token_id=token_id,
            role=role.value,
            company=company,
            name=label,
            secret_sha256=secret_hash(secret),
            at=at or datetime.now(tz=UTC),
            issued_by=issued_by,
        )
        for _ in range(50):
            index = self._get(TOKEN_INDEX_ID) or TokenIndex()
            assert isinstance(index, TokenIndex)
            index.add(token_id)
            try:
                self.store.save(token, index)
            except IntegrityError:
                continue  # another token was issued at the same moment: add ours after it
            return f"{PREFIX}_{token_id}_{secret}", TokenInfo.of(token)
        raise Conflict("could not record the token: too many issued at once; try again")

    def revoke(
        self, token_id: str, *, by: str | None = None, reason: str = "", at: datetime | None = None
    ) -> TokenInfo:
        for _ in range(50):
            token = self._token(token_id)
            if token is None:
                raise NotFound(f"there is no token {token_id}")
            token.revoke(at or datetime.now(tz=UTC), by, reason)
            try:
                self.store.save(token)
            except IntegrityError:
                continue
            return TokenInfo.of(token)
        raise Conflict(f"could not revoke token {token_id}; try again")

    def list(self) -> list[TokenInfo]:
        index = self._get(TOKEN_INDEX_ID)
        if not isinstance(index, TokenIndex):
            return []
        tokens = (self._token(token_id) for token_id in index.token_ids)
        return [TokenInfo.of(t) for t in tokens if t is not None]

    def authenticate(self, presented: str) -> Principal:
        """The principal a presented token stands for; ``Unauthenticated`` otherwise."""
        return self.check(presented)[0]

    def check(self, presented: str) -> tuple[Principal, int]:
        """``authenticate``, and the version of the token's record it was decided on."""
        prefix, _, rest = presented.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not token_id or not secret or not _is_hex(token_id):
            raise Unauthenticated("the bearer token is not a ringi token")
        token = self._token(token_id)
        if token is None or not token.matches(secret):
            raise Unauthenticated("the bearer token is not valid")
        if token.revoked_at is not None:
            raise Unauthenticated(f"the bearer token was revoked at {token.revoked_at.isoformat()}")
        return TokenInfo.of(token).principal, token.version

    def _token(self, token_id: str) -> ApiToken | None:
        found = self._get(token_aggregate_id(token_id))
        return found if isinstance(found, ApiToken) else None

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            found: Aggregate = self.store.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found


def _is_hex(text: str) -> bool:
    return len(text) == 2 * _ID_BYTES and all(c in "0123456789abcdef" for c in text)


def _named(what: str, value: str) -> str:
    """A token's company or name by the input policy: they become the actor of
    every event the token causes."""
    try:
        return clean_name(value)
    except ValueError as error:
        raise Refused(f"a token's {what} {error}") from None
