"""What the secretariat (事務局) does: every stage transition, answers,
deadlines, hold/resume/close, hearing findings, cost evaluations, meetings.

The actions on one request are declared in ``ringi.api.actions`` and made into
endpoints by ``request_actions``; opening a meeting is written here."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request, status

from ...domain.errors import Refused
from ...domain.vocabulary import Role
from ..context import (
    Caller,
    Ctx,
    IdempotencyKey,
    Write,
    allowed,
    guarded_router,
)
from ..errors import documented
from ..models import MeetingOut, OpenMeetingBody
from . import request_actions

SECRETARIAT = allowed(Role.SECRETARIAT)
router = guarded_router("secretariat", 401, 403, 413, 422, 429)


# before the meetings: the OpenAPI document keeps this order
request_actions.add(router, Role.SECRETARIAT)


@router.post(
    "/meetings",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=SECRETARIAT,
    responses=documented(409),
    summary="Open (schedule) a meeting (第N回)",
)
async def open_meeting(
    body: OpenMeetingBody, who: Caller, ctx: Ctx, request: Request, key: IdempotencyKey = None
) -> MeetingOut:
    write = Write(ctx, who, request, key, body)
    store = ctx.ringi.store
    record = await write.claim()
    if record is not None and record.number is not None:
        return MeetingOut(number=body.number, held_at=store.meetings()[body.number])
    held_at = body.held_at or datetime.now(tz=UTC)
    try:
        await ctx.in_thread(ctx.ringi.open_meeting, body.number, held_at, write.actor, body.title)
    except Refused:
        twin = ctx.keys.get(who.token_id, key) if key is not None else None
        if twin is None or twin.number is None:
            raise
    if key is not None:
        await ctx.in_thread(ctx.keys.resolve, who, key, body.number)
    return MeetingOut(number=body.number, held_at=store.meetings()[body.number])
