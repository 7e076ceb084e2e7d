"""What every route shares: the service, the token registry, the limits; who
is calling (authenticated before anything else happens); and the one way a
command is carried out (idempotency key, role check, workflow update).

Order of checks on every call, each answering before the next is tried and
none writing anything: the body's size (413, ``limits.BodyLimit``), the token
(401), the token's rate (429), the route's roles (403), the input (422), the
request's existence (404), the request's proposer for proposer-only commands
(403), and last the workflow's validator (409).

Every write carries an idempotency key: the caller's ``Idempotency-Key``, or
one the API gives it (``Write``), answered as the ``Idempotency-Key`` header.
A write whose answer does not come in time answers 503 ``outcome_unknown``
with that key (``errors.outcome_unknown``): sent again with it, the call is
carried out at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute, APIRouter
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from ..domain import lifecycle
from ..domain.commands import Command, FileRequest
from ..domain.errors import NotAllowed, NotFound, Refused
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, Role
from ..sealing import Sealer
from ..service import OutcomeUnknown, Ringi, answered
from ..store import RingiStore
from .errors import ApiError, ErrorDetail, documented, outcome_unknown
from .files import Compressed
from .idempotency import HEADER, MAX_KEY_LENGTH, IdempotencyRecord, Keys, command_id, first_result
from .idempotency import fingerprint as fingerprint_of
from .limits import RateLimiter
from .models import Recorded
from .readmodel import Changes, Freshness, ReadModel, Reads, TokenCache, caught_up, read_store
from .settings import ApiSettings
from .tokens import Principal, TokenRegistry, Unauthenticated

T = TypeVar("T")

#: the roles that may call an operation, kept in its OpenAPI entry
ROLES = "x-ringi-roles"
EVERYONE = (Role.MEMBER, Role.SECRETARIAT, Role.AUDITOR)

bearer = HTTPBearer(
    auto_error=False,
    description="`ringi token issue --role member|secretariat|auditor [--company NAME]`",
)


class ApiContext:
    def __init__(self, ringi: Ringi, settings: ApiSettings) -> None:
        self.ringi = ringi
        self.settings = settings
        self.tokens = TokenRegistry(ringi.store)
        self.keys = Keys(ringi.store)
        self.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        # what the API reads, kept current from the store's notification log
        changes = Changes(ringi.store)
        self.fresh = Freshness(changes)
        self.reads = Reads(ReadModel(ringi.store, changes, settings.read_cache_size), self.fresh)
        self.known_tokens = TokenCache(self.tokens, changes, settings.read_cache_size)
        self.compressed = Compressed()

    @cached_property
    def sealer(self) -> Sealer:
        """Seals webhook secrets (made on first use: it may create the key file)."""
        return Sealer.of(self.ringi.settings)

    def close(self) -> None:
        """Let go of what the API holds open besides the store (the read model's own
        connection on PostgreSQL)."""
        self.reads.close()
        self.fresh.changes.close()

    async def in_thread(self, read: Callable[..., T], *args: Any) -> T:
        """A blocking store call, off the event loop."""
        return await asyncio.to_thread(read, *args)

    async def timed(self, work: Coroutine[Any, Any, T]) -> T:
        """A command sent to Temporal; ``OutcomeUnknown`` if its answer does not
        come within the command timeout."""
        return await answered(work, self.settings.command_timeout)


def require_meetings(store: RingiStore, *numbers: int) -> None:
    """Not found (404) unless every one of these meetings (第N回) is open. Blocking."""
    known = store.meetings()
    for n in numbers:
        if n not in known:
            raise NotFound(f"there is no meeting {n} (第{n}回)")


def guarded_router(tag: str, *codes: int) -> APIRouter:
    """A router of ``/v1`` operations behind the bearer token (``GuardedRoute``),
    with the error answers (``codes``) every one of its operations may give."""
    return APIRouter(
        prefix="/v1",
        tags=[tag],
        route_class=GuardedRoute,
        dependencies=[Depends(bearer)],
        responses=documented(*codes),
    )


def context(request: Request) -> ApiContext:
    ctx = request.app.state.ringi
    assert isinstance(ctx, ApiContext)
    return ctx


def allowed(*roles: Role) -> dict[str, Any]:
    """The ``openapi_extra`` that limits an operation to these roles."""
    return {ROLES: [r.value for r in roles]}


class GuardedRoute(APIRoute):
    """Authenticates, rate-limits and checks the role before FastAPI reads the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        roles = tuple(Role(r) for r in (self.openapi_extra or {}).get(ROLES, ()))
        known = {field.alias for field in self.dependant.query_params}  # declared on the endpoint

        async def guarded(request: Request) -> Response:
            ctx = context(request)
            who = await _authenticate(ctx, request)
            wait = ctx.limiter.take(who.token_id)
            if wait:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"token {who.token_id} made more than {ctx.settings.rate_per_second:g} "
                    f"calls a second; retry in {wait:.1f} s",
                    headers={"Retry-After": RateLimiter.retry_after(wait)},
                )
            if roles and who.role not in roles:
                names = " or ".join(r.value for r in roles)
                raise ApiError(
                    403,
                    "forbidden",
                    f"only {names} may {request.method} {request.url.path}; "
                    f"this token is {who.role.value}",
                )
            unknown = [name for name in request.query_params if name not in known]
            if unknown:  # like a body's unknown field: a typo is not silently ignored
                raise ApiError(
                    422,
                    "invalid",
                    "invalid input: unknown query parameter " + ", ".join(map(repr, unknown)),
                    details=[
                        ErrorDetail(
                            field=f"query.{name}", message="not a parameter", type="extra_forbidden"
                        )
                        for name in unknown
                    ],
                )
            request.state.principal = who
            with caught_up():  # what this call reads needs no second look at the log
                response = await handler(request)
            key = getattr(request.state, "idempotency_key", None)
            if key is not None:  # a write's key, the caller's or the one it was given
                response.headers.setdefault(HEADER, key)
            return response

        return guarded


async def _authenticate(ctx: ApiContext, request: Request) -> Principal:
    """Who is calling. Before anything else reads, the read model catches up
    with every write committed before this call arrived (``readmodel``): a
    revoked token is refused, and what the call reads is at least that recent."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "no bearer token: send 'Authorization: Bearer <token>'", presented=False
        )
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", presented=False)
    presented = presented.strip()
    await ctx.fresh.wait()
    known = ctx.known_tokens.current(presented)
    if known is not None:
        return known
    return await read_store(ctx.fresh.changes.on_loop, ctx.known_tokens.authenticate, presented)


def principal(request: Request) -> Principal:
    who = request.state.principal
    assert isinstance(who, Principal)
    return who


# the dependencies are coroutines: FastAPI runs a plain function in a worker thread,
# a thread hop per dependency per call for what is an attribute lookup
async def _caller(request: Request) -> Principal:
    return principal(request)


async def _context(request: Request) -> ApiContext:
    return context(request)


Caller = Annotated[Principal, Depends(_caller)]
Ctx = Annotated[ApiContext, Depends(_context)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="repeat a write with the same key (per token) and it is carried out "
        "once: the retry answers with the first result and writes nothing",
    ),
]


# --- carrying out a write ---------------------------------------------------------------


#: what a key the API gives a write sent without one starts with
GIVEN = "ringi-"


class Write:
    """One write as the API received it: who, with which key, for which call.

    A write sent without an ``Idempotency-Key`` is given one (``GIVEN``...),
    and its command's id derives from it as from a caller's key, so that the
    call sent again with it is the same command. The given key's first use is
    recorded only when the caller is told to retry with it (an unknown outcome,
    ``unknown``), not on every call: a write that answered has no need of it."""

    def __init__(
        self,
        ctx: ApiContext,
        who: Principal,
        request: Request,
        key: str | None,
        body: BaseModel | None,
    ) -> None:
        self.ctx, self.who, self.body = ctx, who, body
        self.given = key is None
        self.key = GIVEN + uuid.uuid4().hex if key is None else key
        self.method, self.path = request.method, request.url.path
        request.state.idempotency_key = self.key  # answered as a header (``GuardedRoute``)

    @property
    def actor(self) -> Actor:
        return self.who.actor()

    async def claim(self, *, given: bool = False) -> IdempotencyRecord | None:
        """Record the key's first use; the record if this call is a retry. A key
        the API gave is recorded only when asked (``given``)."""
        if self.given and not given:
            return None
        body = self.body.model_dump_json() if self.body is not None else ""
        print_ = fingerprint_of(self.method, self.path, body)
        return await self.ctx.in_thread(
            self.ctx.keys.claim,
            self.who,
            self.key,
            print_,
            self.method,
            self.path,
            datetime.now(tz=UTC),
        )

    def command_id(self, item: int | None = None) -> str:
        return command_id(self.who.token_id, self.key, item)

    async def unknown(self, unknown: OutcomeUnknown) -> ApiError:
        """The 503 for a write whose outcome is unknown, naming the key to retry
        with; a given key is recorded first, so that it cannot be taken for
        another call. Best effort: the store may be what failed, and a retry with
        the key is the same command all the same."""
        if self.given:
            with contextlib.suppress(Exception):
                await self.claim(given=True)
        return outcome_unknown(unknown, self.key)

    async def act(self, number: int, build: Callable[[dict[str, Any]], Command]) -> RequestView:
        """Build the command (422 if the domain finds it invalid), check the
        request and the actor (404, 403), record the key, carry it out."""
        command = build({"actor": self.actor, "command_id": self.command_id()})
        try:
            view = await carry_out(self.ctx, number, command, claim=self.claim)
        except OutcomeUnknown as unknown:
            raise await self.unknown(unknown) from None
        # the answer shows what its caller may read, like a read would
        return lifecycle.as_read_by(view, self.who.role, self.who.company)

    async def file(self, build: Callable[[dict[str, Any]], FileRequest]) -> RequestView:
        ctx = self.ctx
        command = build({"actor": self.actor, "command_id": self.command_id()})
        lifecycle.check_filing(command)
        record = await self.claim()
        if record is not None and record.number is not None:
            first = await ctx.in_thread(
                first_result, ctx.ringi.store, record.number, command.command_id
            )
            if first is not None:
                return first
        try:
            view = await ctx.timed(ctx.ringi.file(command))
        except OutcomeUnknown as unknown:
            raise await self.unknown(unknown) from None
        if not self.given:
            await ctx.in_thread(ctx.keys.resolve, self.who, self.key, view.number)
        return view


async def carry_out(
    ctx: ApiContext,
    number: int,
    command: Command,
    *,
    claim: Callable[[], Awaitable[IdempotencyRecord | None]] | None = None,
    retry: bool = False,
) -> RequestView:
    """The request must exist (404) and the actor may do this to it (403), both
    decided from the store before Temporal is asked and before an idempotency
    key is recorded (``claim``); a retried keyed command answers with the state
    it first left, from the store; anything else is the workflow's to decide
    (409 with its validator's reason)."""
    store = ctx.ringi.store
    view = await ctx.reads.view(number)
    check_actor(view, command)
    if claim is not None:
        retry = await claim() is not None
    if retry:
        first = await ctx.in_thread(first_result, store, number, command.command_id)
        if first is not None:
            return first
    view = await ctx.timed(ctx.ringi.act(number, command))
    ctx.reads.ahead(number)
    return view


async def recorded(ctx: ApiContext, view: RequestView, meeting: int | None) -> Recorded:
    """The answer to a write tagged with ``meeting``: the state it left, and a note
    if the meeting's day is over (what it recorded shows in the next register)."""
    meetings = await ctx.in_thread(ctx.ringi.store.meetings) if meeting is not None else {}
    return Recorded.of_write(view, meetings, meeting, datetime.now(tz=UTC))


def check_actor(view: RequestView, command: Command) -> None:
    """Refuse (NotAllowed) a command whose actor may not do it to this request: a
    member acting on another company's request where only the proposer may.
    ``lifecycle.check`` decides roles before anything else, so any NotAllowed
    it raises is about the actor; every other refusal is left to the workflow,
    which decides on its own clock and state."""
    try:
        lifecycle.check(view, command, datetime.now(tz=UTC))
    except NotAllowed:
        raise
    except Refused:
        pass
