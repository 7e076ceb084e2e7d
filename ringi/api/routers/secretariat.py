"""What the secretariat (事務局) does: every stage transition, answers,
deadlines, hold/resume/close, hearing findings, cost evaluations, meetings.

The actions on one request are declared in ``ringi.api.actions`` and made into
endpoints by ``request_actions``; opening a meeting is written here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Path, Request, status

from ...domain import commands as c
from ...domain.errors import NotFound, Refused
from ...domain.vocabulary import Role
from ..context import (
    Caller,
    Ctx,
    IdempotencyKey,
    Write,
    allowed,
    carry_out,
    guarded_router,
    require_meetings,
)
from ..errors import classify, documented, require_bulk_size
from ..models import (
    MAX_NUMBER,
    AnswerItem,
    BulkAnswerBody,
    BulkAnswerResult,
    ItemError,
    MeetingOut,
    OpenMeetingBody,
    RequestSummary,
    RescheduledMeeting,
    RescheduleMeetingBody,
)
from . import request_actions

SECRETARIAT = allowed(Role.SECRETARIAT)
log = structlog.get_logger("ringi.api")
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


@router.patch(
    "/meetings/{number}",
    openapi_extra=SECRETARIAT,
    responses=documented(404, 409),
    summary="Reschedule a meeting (第N回): postponed or brought forward",
    description="The meeting stays between the meetings numbered around it (409 otherwise); "
    "a meeting an import opened keeps its date (409): the imported answers are dated by it. "
    "What was recorded keeps its date: answers their meeting, publications their cutoff. "
    "A support deadline set 'until this meeting' follows it to a later date (an extension "
    "recorded on the request) and is kept when the meeting comes earlier. 404: no such meeting.",
)
async def reschedule_meeting(
    number: Annotated[int, Path(ge=1, le=MAX_NUMBER)],
    body: RescheduleMeetingBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    key: IdempotencyKey = None,
) -> RescheduledMeeting:
    store = ctx.ringi.store
    await ctx.in_thread(require_meetings, store, number)
    write = Write(ctx, who, request, key, body)
    record = await write.claim()
    if record is not None and record.number is not None:
        # the retry of a call that finished: nothing is moved again (the meeting may
        # have moved since); the deadlines are followed to where it is now
        return RescheduledMeeting.of(await ctx.ringi.follow_meeting(number, write.actor))
    # a retry whose first call moved the meeting but stopped before noting it, maybe
    # before every deadline followed: done again, not refused
    followed = await ctx.ringi.reschedule_meeting(
        number, body.held_at, body.reason, write.actor, again=record is not None
    )
    if key is not None:
        await ctx.in_thread(ctx.keys.resolve, who, key, number)
    return RescheduledMeeting.of(followed)


# --- one answer given to several requests (issue 20) ------------------------------------


@router.post(
    "/bulk/answer",
    openapi_extra=SECRETARIAT,
    responses=documented(409),
    summary="Give one answer to several requests (「No43に同じ」)",
    description="The answer is recorded on each request on its own, naming the others it "
    "was given with: one refused does not undo the others, and none is half-written. The "
    "answer reports, per number in the order given, what succeeded and what was refused "
    "and why. With an Idempotency-Key, a retry records nothing twice.",
)
async def bulk_answer(
    body: BulkAnswerBody, who: Caller, ctx: Ctx, request: Request, key: IdempotencyKey = None
) -> BulkAnswerResult:
    require_bulk_size(body.numbers, ctx.settings.bulk_max_items)
    write = Write(ctx, who, request, key, body)
    retry = await write.claim() is not None
    gate = asyncio.Semaphore(ctx.settings.bulk_concurrency)

    async def exists(number: int) -> bool:
        try:
            await ctx.reads.view(number)
        except NotFound:
            return False
        return True

    # each answer names the others given it: those that are requests
    known = [n for n in body.numbers if await exists(n)]

    async def one(number: int) -> AnswerItem:
        others = tuple(n for n in known if n != number)
        cmd = c.RecordAnswer(
            actor=write.actor,
            command_id=write.command_id(number),
            text=body.text,
            continued=body.continued,
            meeting=body.meeting,
            together_with=others,
        )
        async with gate:
            try:
                view = await carry_out(ctx, number, cmd, retry=retry)
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    log.exception("bulk answer item failed", number=number)
                    found = (500, "internal", "ringi failed to carry this out; it was logged", None)
                status_, error, message, _ = found
                return AnswerItem(
                    number=number,
                    ok=False,
                    status=status_,
                    error=ItemError(status=status_, error=error, message=message),
                )
        return AnswerItem(number=number, ok=True, status=200, request=RequestSummary.of(view))

    items = await asyncio.gather(*(one(n) for n in body.numbers))
    succeeded = sum(1 for item in items if item.ok)
    return BulkAnswerResult(succeeded=succeeded, failed=len(items) - succeeded, items=items)
