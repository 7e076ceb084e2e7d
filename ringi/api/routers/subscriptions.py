"""Notification subscriptions: who is told of what happens to requests, and how
(a signed webhook or e-mail; ``ringi.domain.subscriptions``), the API's side of
``ringi subscribe`` / ``ringi subscriptions`` / ``ringi unsubscribe``.

A member subscribes, lists and ends the subscriptions of its token's company
only; the secretariat those of any company and its own ('secretariat');
auditors list them all. Who subscribed or ended one is the token's, recorded
with the event. A webhook's signing secret is made here and shown in the
answer that made the subscription (which a retry with the same
``Idempotency-Key`` repeats), never in any other: not in a listing, not when
it is ended.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from eventsourcing.application import AggregateNotFoundError
from fastapi import Path, Request, status

from ...domain.errors import NotAllowed, NotFound, Refused
from ...domain.notifications import SECRETARIAT
from ...domain.subscriptions import SUBSCRIPTIONS_ID, Channel, Subscription, Subscriptions
from ...domain.vocabulary import Role
from ...store import RingiStore
from ..context import (
    EVERYONE,
    ApiContext,
    Caller,
    Ctx,
    IdempotencyKey,
    Write,
    allowed,
    guarded_router,
)
from ..errors import ErrorBody, documented
from ..idempotency import IdempotencyRecord
from ..models import SubscribeBody, SubscriptionMade, SubscriptionOut
from ..tokens import Principal

MANAGE = allowed(Role.MEMBER, Role.SECRETARIAT)
READ = allowed(*EVERYONE)
router = guarded_router("subscriptions", 401, 403, 422, 429)
NO_SUCH: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no current subscription by that id"}
}
#: the bytes of a webhook's signing secret (as `ringi subscribe webhook` makes one)
SECRET_BYTES = 32
SubscriptionId = Annotated[
    str,
    Path(
        alias="id", min_length=1, max_length=100, description="the subscription's id: s1, s2, ..."
    ),
]


def _recorded(store: RingiStore, sid: str) -> tuple[Subscription, bool] | None:
    """Subscription ``sid``, current or ended, and whether it is current; None if
    there never was one. Blocking: reads the store."""
    try:
        found: object = store.repository.get(SUBSCRIPTIONS_ID)
    except AggregateNotFoundError:
        return None
    if not isinstance(found, Subscriptions) or sid not in found.items:
        return None
    return found.get(sid), found.is_current(sid)


async def _current(ctx: ApiContext, who: Principal, sid: str, verb: str) -> Subscription:
    """Current subscription ``sid``, if ``who`` may see to it: 404 if there is none
    (any more), 403 for a member and another company's (or the secretariat's)."""
    found = await ctx.in_thread(_recorded, ctx.ringi.store, sid)
    if found is None or not found[1]:
        raise NotFound(f"there is no current subscription {sid}")
    subscription = found[0]
    if who.role is Role.MEMBER and subscription.recipient != who.company:
        raise NotAllowed(
            f"subscription {sid} is not {who.company}'s: a member {verb} only its own "
            "company's subscriptions"
        )
    return subscription


def _sequence(sid: str) -> int:
    """The number in a subscription's id (s12 → 12): what an idempotency record keeps."""
    return int(sid.removeprefix("s"))


def _may_manage(who: Principal, recipient: str) -> bool:
    """A member, its own company's subscriptions; the secretariat, everyone's."""
    if who.role is Role.SECRETARIAT:
        return True
    return who.role is Role.MEMBER and recipient == who.company and recipient != SECRETARIAT


def _twin(
    store: RingiStore, who: Principal, body: SubscribeBody, recipient: str, key: IdempotencyRecord
) -> Subscription | None:
    """The subscription an earlier call with this key made, if it was made and its
    key not yet resolved (that call is still running, or stopped in between)."""
    for current in store.subscriptions():
        actor = current.actor or {}
        if (
            (current.recipient, current.channel, current.target)
            == (recipient, body.channel, body.target)
            and actor.get("user") == who.user
            and current.since >= key.first_used_at
        ):
            return current
    return None


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=MANAGE,
    responses={
        201: {"description": "subscribed; a webhook's signing secret is in this answer only"},
        **documented(409, 413),
    },
    summary="Subscribe a webhook or an e-mail address to a recipient's notifications",
    description="A member subscribes for its token's company only (`recipient` defaults to "
    "it; another company, or 'secretariat', is refused with 403); the secretariat for any "
    "company or for 'secretariat' (the default). For a webhook the server makes the signing "
    "secret and returns it in this answer, once: listings never show it (an "
    "Idempotency-Key retry of this very call answers as the first did, the secret "
    "included). 409: the recipient already has that webhook or address.",
)
async def subscribe(
    body: SubscribeBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    key: IdempotencyKey = None,
) -> SubscriptionMade:
    store = ctx.ringi.store
    mine = who.company if who.role is Role.MEMBER else SECRETARIAT
    recipient = body.recipient or mine
    assert recipient is not None
    if not _may_manage(who, recipient):
        raise NotAllowed(
            f"a member subscribes for its own company only: this token acts for "
            f"{who.company}, not for {recipient}; leave recipient out or give {who.company}"
        )
    write = Write(ctx, who, request, key, body)
    record = await write.claim()
    if record is not None and record.number is not None:  # a retry: the first answer again
        first = await ctx.in_thread(_recorded, store, f"s{record.number}")
        if first is not None:
            return SubscriptionMade.made(first[0], ctx.sealer)
    # recorded sealed (``ringi.sealing``): a recorded event is never deleted
    secret = secrets.token_urlsafe(SECRET_BYTES) if body.channel is Channel.WEBHOOK else ""
    try:
        made = await ctx.in_thread(
            store.subscribe,
            recipient,
            body.channel,
            body.target,
            datetime.now(tz=UTC),
            write.actor,
            ctx.sealer.seal(secret) if secret else "",
            tuple(body.kinds),
        )
    except Refused:
        twin = await ctx.in_thread(_twin, store, who, body, recipient, record) if record else None
        if twin is None:
            raise
        made = twin
    if key is not None:
        await ctx.in_thread(ctx.keys.resolve, who, key, _sequence(made.id))
    return SubscriptionMade.made(made, ctx.sealer)


@router.get(
    "/subscriptions",
    openapi_extra=READ,
    summary="The current subscriptions (never their secrets)",
    description="The secretariat and auditors see every subscription; a member those "
    "whose recipient is its token's company.",
)
async def list_subscriptions(who: Caller, ctx: Ctx) -> list[SubscriptionOut]:
    found = await ctx.in_thread(ctx.ringi.store.subscriptions)
    if who.role is Role.MEMBER:
        found = [s for s in found if s.recipient == who.company]
    return [SubscriptionOut.of(s) for s in found]


@router.post(
    "/subscriptions/{id}/secret",
    openapi_extra=MANAGE,
    responses={
        200: {"description": "the webhook with its new signing secret, in this answer only"},
        **NO_SUCH,
        **documented(409),
    },
    summary="Give a webhook a new signing secret",
    description="The server makes a new secret, records it sealed and returns it once; "
    "what the webhook is sent from now on is signed with it. A member replaces its own "
    "company's webhooks' secrets only; the secretariat any. 409: an e-mail subscription "
    "has no secret. An Idempotency-Key retry answers with the webhook's secret as it is.",
)
async def rotate_secret(
    who: Caller,
    ctx: Ctx,
    request: Request,
    sid: SubscriptionId,
    key: IdempotencyKey = None,
) -> SubscriptionMade:
    store = ctx.ringi.store
    current = await _current(ctx, who, sid, "gives new secrets to")
    write = Write(ctx, who, request, key, None)
    record = await write.claim()
    if record is not None and record.number is not None:  # a retry: the secret as it is
        return SubscriptionMade.made(current, ctx.sealer)
    secret = ctx.sealer.seal(secrets.token_urlsafe(SECRET_BYTES))
    rotated = await ctx.in_thread(
        store.rotate_secret, sid, secret, datetime.now(tz=UTC), write.actor
    )
    if key is not None:
        await ctx.in_thread(ctx.keys.resolve, who, key, _sequence(sid))
    return SubscriptionMade.made(rotated, ctx.sealer)


@router.get(
    "/subscriptions/{id}",
    openapi_extra=READ,
    responses=NO_SUCH,
    summary="One current subscription (never its secret)",
    description="The secretariat and auditors read any; a member its own company's "
    "(another company's is refused with 403). 404: none by that id, or it was ended.",
)
async def get_subscription(who: Caller, ctx: Ctx, sid: SubscriptionId) -> SubscriptionOut:
    return SubscriptionOut.of(await _current(ctx, who, sid, "reads"))


@router.delete(
    "/subscriptions/{id}",
    openapi_extra=MANAGE,
    responses={**NO_SUCH, **documented(409)},
    summary="End a subscription: nothing more is sent to it",
    description="A member ends its own company's subscriptions only; the secretariat any. "
    "The answer is the subscription ended (without its secret).",
)
async def unsubscribe(
    who: Caller,
    ctx: Ctx,
    request: Request,
    sid: SubscriptionId,
    key: IdempotencyKey = None,
) -> SubscriptionOut:
    store = ctx.ringi.store
    found = await ctx.in_thread(_recorded, store, sid)
    if found is None:
        raise NotFound(f"there is no subscription {sid}")
    subscription, current = found
    if not _may_manage(who, subscription.recipient):
        raise NotAllowed(
            f"subscription {sid} is not {who.company}'s: a member ends only its own "
            "company's subscriptions"
        )
    write = Write(ctx, who, request, key, None)
    if not current:
        # a retry of the call that ended it answers as that call did; else there is none
        if key is not None and await ctx.in_thread(ctx.keys.get, who.token_id, key) is not None:
            await write.claim()  # KeyReused (422) if the key was first used for another call
            return SubscriptionOut.of(subscription)
        raise NotFound(f"there is no current subscription {sid}: it was ended")
    await write.claim()
    try:
        await ctx.in_thread(store.unsubscribe, sid, datetime.now(tz=UTC), write.actor)
    except Refused:
        raise NotFound(f"there is no current subscription {sid}: it was ended") from None
    return SubscriptionOut.of(subscription)
