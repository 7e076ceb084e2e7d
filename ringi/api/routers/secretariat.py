"""What the secretariat (事務局) does: every stage transition, answers,
deadlines, hold/resume/close, hearing findings, cost evaluations, meetings."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Path, Request, status

from ...domain import commands as c
from ...domain.errors import Refused
from ...domain.vocabulary import Role
from ..context import Caller, Ctx, GuardedRoute, IdempotencyKey, Write, allowed, bearer
from ..errors import documented
from ..models import (
    MAX_NUMBER,
    AnswerBody,
    ApproveBody,
    AtMeeting,
    ChangeReleaseBody,
    CloseBody,
    CorrectAnswerBody,
    EvaluateCostBody,
    ExtendDeadlineBody,
    FindingsBody,
    HoldBody,
    MeetingOut,
    OpenMeetingBody,
    OpenSupportBody,
    QuestionBody,
    ReleaseBody,
    RequestState,
    ResumeBody,
)

SECRETARIAT = allowed(Role.SECRETARIAT)
router = APIRouter(
    prefix="/v1",
    tags=["secretariat"],
    route_class=GuardedRoute,
    dependencies=[Depends(bearer)],
    responses=documented(401, 403, 413, 422, 429),
)
ACTS = documented(404, 409, 503, 504)
No = Path(ge=1, le=MAX_NUMBER, description="the request's No.")


@router.post(
    "/requests/{number}/open-support",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Open support gathering for a filed opinion (意見)",
)
async def open_support(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: OpenSupportBody | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    deadline = body.deadline if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.OpenSupport(**base, deadline=deadline)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/ask-clarification",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Ask the proposer to clarify",
)
async def ask_clarification(
    body: QuestionBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.AskClarification(**base, question=body.question, meeting=body.meeting),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/extend-deadline",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Extend the running deadline (support window or objection window)",
)
async def extend_deadline(
    body: ExtendDeadlineBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    deadline = body.deadline
    if body.until_meeting is not None:
        meetings = await ctx.in_thread(ctx.ringi.store.meetings)
        if body.until_meeting not in meetings:
            raise Refused(
                f"meeting {body.until_meeting} (第{body.until_meeting}回) has not been opened; "
                "open it with its date first"
            )
        deadline = meetings[body.until_meeting]
    assert deadline is not None
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.ExtendDeadline(
            **base, deadline=deadline, reason=body.reason, meeting=body.meeting
        ),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/open-hearing",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Open the members' hearing (needs enough support)",
)
async def open_hearing(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: AtMeeting | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.OpenHearing(**base, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/findings",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Record what the hearing found",
)
async def record_findings(
    body: FindingsBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.RecordFindings(**base, text=body.text, meeting=body.meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/cost-evaluation",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Record a cost-effectiveness evaluation",
    description="State the benefit one way: benefit_per_unit_yen with monthly_volume, or "
    "total_benefit_yen over the horizon (default: the request's policy, 5 years).",
)
async def evaluate_cost(
    body: EvaluateCostBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    years = body.horizon_years
    if years is None:
        years = (await ctx.reads.view(number)).policy.cost_horizon_years
    inputs = body.inputs(years)
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.EvaluateCost(**base, inputs=inputs, meeting=body.meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/open-objection-window",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Open the objection window after a cost-effective evaluation",
)
async def open_objection_window(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: AtMeeting | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.OpenObjectionWindow(**base, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/approve",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Approve implementation with a planned release",
)
async def approve(
    body: ApproveBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.Approve(**base, planned_release=body.planned_release, meeting=body.meeting),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/change-release",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Change the planned release date",
)
async def change_release(
    body: ChangeReleaseBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.ChangeReleaseDate(
            **base, planned_release=body.planned_release, reason=body.reason, meeting=body.meeting
        ),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/release",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Record the release",
)
async def release(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: ReleaseBody | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    released_on = body.released_on if body else None
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.Release(**base, released_on=released_on, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/hold",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Put a request on hold (保留); its deadlines stop",
)
async def hold(
    body: HoldBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.Hold(**base, reason=body.reason, meeting=body.meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/resume",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Resume a held request in the stage it left",
)
async def resume(
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    body: ResumeBody | None = None,
    key: IdempotencyKey = None,
) -> RequestState:
    reason = body.reason if body else ""
    meeting = body.meeting if body else None
    view = await Write(ctx, who, request, key, body).act(
        number, lambda base: c.Resume(**base, reason=reason, meeting=meeting)
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/close",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Close a request (クローズ) with a reason",
)
async def close(
    body: CloseBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.Close(
            **base,
            reason=body.reason,
            duplicate_of=body.duplicate_of,
            note=body.note,
            meeting=body.meeting,
        ),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/answers",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Record an answer (回答), usually at a meeting",
)
async def answer(
    body: AnswerBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.RecordAnswer(
            **base, text=body.text, continued=body.continued, meeting=body.meeting
        ),
    )
    return RequestState.of(view)


@router.post(
    "/requests/{number}/answer-corrections",
    openapi_extra=SECRETARIAT,
    responses=ACTS,
    summary="Correct an answer: a new answer that points at the old one",
)
async def correct_answer(
    body: CorrectAnswerBody,
    who: Caller,
    ctx: Ctx,
    request: Request,
    number: int = No,
    key: IdempotencyKey = None,
) -> RequestState:
    view = await Write(ctx, who, request, key, body).act(
        number,
        lambda base: c.CorrectAnswer(
            **base,
            answer_id=body.answer_id,
            text=body.text,
            reason=body.reason,
            meeting=body.meeting,
        ),
    )
    return RequestState.of(view)


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
