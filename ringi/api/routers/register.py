"""The register (資料2) over the network: as of a meeting or a moment, in any of
its formats, the changes between two meetings, and one request as it stood then.

Everything here is replayed from the stored events (``ringi.register``), exactly
as ``ringi register`` does: the same events give the same bytes, so a member's
system can check what it fetched against a published register's digest
(``Ringi-Register-Digest``, the digest ``ringi register publish`` records and
``ringi audit verify`` checks). Every role reads the register: it is the
document handed out at the meeting. One request as of a meeting keeps its
clarification thread for whoever may read it now (``lifecycle.as_read_by``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ...domain.errors import NotFound, Refused
from ...domain.lifecycle import JST, as_read_by
from ...domain.vocabulary import Role
from ...register.diff import RegisterDiff, diff_meetings
from ...register.document import cutoff_for
from ...register.kept import RegisterFile, register_file
from ...register.publish import publish
from ...register.render import EXTENSIONS, MEDIA_TYPES, Format, Lang
from ...register.replay import Cutoff, request_as_of
from ...store import RingiStore
from ..context import (
    EVERYONE,
    Caller,
    Ctx,
    IdempotencyKey,
    Write,
    allowed,
    guarded_router,
    require_meetings,
)
from ..errors import ApiError, ErrorDetail, documented
from ..files import file_answer
from ..models import MAX_NUMBER, PublicationOut, QueryCutoff, RequestState

READ = allowed(*EVERYONE)
router = guarded_router("register", 401, 403, 422, 429)

DIGEST_HEADER = "Ringi-Register-Digest"

MeetingNo = Annotated[int | None, Query(ge=1, le=MAX_NUMBER, description="as of meeting N (第N回)")]
AsOf = Annotated[
    QueryCutoff | None,
    Query(
        alias="as_of",
        description="as of this moment (ISO 8601 with a zone) or day (YYYY-MM-DD: through "
        "its end in Japan); neither this nor meeting: now",
    ),
]


def _cutoff(store: RingiStore, meeting: int | None, at: datetime | None) -> Cutoff:
    """A meeting's, a moment's, or now's. Blocking: reads the store."""
    if meeting is None:
        return cutoff_for(store, meeting=None, at=at or datetime.now(tz=JST))
    require_meetings(store, meeting)
    return cutoff_for(store, meeting=meeting, at=None)


def _one_of(meeting: int | None, at: datetime | None) -> None:
    if meeting is not None and at is not None:
        raise ApiError(
            422,
            "invalid",
            "give meeting or as_of, not both",
            details=[
                ErrorDetail(field="query.as_of", message="not with meeting", type="value_error")
            ],
        )


def _rendered(
    store: RingiStore, meeting: int | None, at: datetime | None, fmt: Format, lang: Lang
) -> RegisterFile:
    """The register's file. Blocking: reads the store (a settled cutoff's file is
    kept: ``ringi.register.kept``)."""
    return register_file(store, _cutoff(store, meeting, at), fmt, lang)


@router.get(
    "/register",
    openapi_extra=READ,
    response_class=Response,
    responses={
        200: {
            "description": "the register in the format asked for; "
            f"{DIGEST_HEADER}: the SHA-256 of its content, whatever the format "
            "(a published meeting's equals the digest its publication recorded)",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for fmt, media in MEDIA_TYPES.items()
                if fmt != "json"
            }
            | {"application/json": {"schema": {"type": "object"}}},
        },
        **documented(404),
    },
    summary="The register (資料2) as of a meeting or a moment",
    description="Every request open then, or closed since the previous meeting: No., "
    "区分, 対象箇所, body with notes, the answers with their meetings, support or "
    "保留/クローズ. Replayed from the stored events; a published meeting as it was "
    "published. format: json (default), csv, xlsx, md or html (the printable page); "
    "lang: ja (default) or en headings. 404: no such meeting.",
)
async def read_register(
    ctx: Ctx,
    request: Request,
    meeting: MeetingNo = None,
    at: AsOf = None,
    format: Annotated[Format, Query(description="the format")] = "json",
    lang: Annotated[Lang, Query(description="the headings' language")] = "ja",
) -> Response:
    _one_of(meeting, at)
    file = await ctx.in_thread(_rendered, ctx.ringi.store, meeting, at, format, lang)
    name = f"ringi-register-{meeting if meeting is not None else 'as-of'}-{lang}"
    headers = {
        DIGEST_HEADER: file.digest,
        "Content-Disposition": f'inline; filename="{name}{EXTENSIONS[format]}"',
    }
    return await file_answer(request, file, MEDIA_TYPES[format], headers, ctx.compressed)


@router.get(
    "/register/diff",
    openapi_extra=READ,
    responses=documented(404),
    summary="What changed between two meetings' registers",
    description="New requests, stage changes, new answers and support changes from "
    "meeting `from` to meeting `to`. 404: either meeting does not exist.",
)
async def register_diff(
    ctx: Ctx,
    before: Annotated[int, Query(alias="from", ge=1, le=MAX_NUMBER, description="earlier")],
    after: Annotated[int, Query(alias="to", ge=1, le=MAX_NUMBER, description="later")],
) -> RegisterDiff:
    store = ctx.ringi.store

    def diff() -> RegisterDiff:
        require_meetings(store, before, after)
        return diff_meetings(store, before, after)

    return await ctx.in_thread(diff)


@router.get(
    "/register/requests/{number}",
    openapi_extra=READ,
    responses=documented(404),
    summary="One request as it stood at a meeting or a moment",
    description="Folded from its events up to the cutoff, like the register. 404: no "
    "such meeting, or the request had not been filed by then.",
)
async def request_then(
    ctx: Ctx,
    who: Caller,
    number: Annotated[int, Path(ge=1, le=MAX_NUMBER)],
    meeting: MeetingNo = None,
    at: AsOf = None,
) -> RequestState:
    _one_of(meeting, at)
    store = ctx.ringi.store

    def then() -> RequestState:
        cutoff = _cutoff(store, meeting, at)
        try:
            view = request_as_of(store, number, cutoff)
        except Refused as refused:  # no such request, or not filed by then
            raise NotFound(str(refused)) from None
        return RequestState.of(as_read_by(view, who.role, who.company))

    return await ctx.in_thread(then)


# --- publishing (the secretariat) -----------------------------------------------------------


def _html_only() -> list[Format]:
    return ["html"]


class PublishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formats: list[Format] = Field(
        default_factory=_html_only,
        min_length=1,
        max_length=5,
        description="the formats handed out, each recorded with its SHA-256 (default: html)",
    )
    lang: Lang = "ja"


def _publication(store: RingiStore, meeting: int, index: int) -> PublicationOut:
    return PublicationOut.of(meeting, index, store.meeting(meeting).publications[index - 1])


@router.post(
    "/meetings/{number}/publications",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=allowed(Role.SECRETARIAT),
    responses=documented(404),
    summary="Publish a meeting's register (資料2): record its cutoff and digests",
    description="Replays the meeting's register as of the end of its day, from the log as "
    "it stands, and records the content digest and each format's: from then on the "
    "meeting's register is that one, and `ringi audit verify` checks it. The files are "
    "GET /v1/register?meeting=N in each format. A meeting published again is shown as "
    "its latest publication. 404: no such meeting.",
)
async def publish_register(
    number: Annotated[int, Path(ge=1, le=MAX_NUMBER)],
    who: Caller,
    ctx: Ctx,
    request: Request,
    body: PublishBody | None = None,
    key: IdempotencyKey = None,
) -> PublicationOut:
    store = ctx.ringi.store
    await ctx.in_thread(require_meetings, store, number)
    asked = body or PublishBody()
    write = Write(ctx, who, request, key, asked)
    record = await write.claim()
    if record is not None and record.number is not None:  # a retry: the first answer again
        return await ctx.in_thread(_publication, store, number, record.number)

    def publish_now() -> PublicationOut:
        # under the key's command id: a retry, even one racing the first call (key
        # claimed, nothing published yet), gets that call's publication, not a second
        published = publish(
            store,
            number,
            formats=asked.formats,
            lang=asked.lang,
            actor=write.actor,
            command_id=write.command_id() if key is not None else None,
        )
        return _publication(store, number, published.publication)

    made = await ctx.in_thread(publish_now)
    if key is not None:
        await ctx.in_thread(ctx.keys.resolve, who, key, made.publication)
    return made
