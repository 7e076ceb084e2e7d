"""The pages and their form posts.

Every page but the sign-in form needs a signed-in token, checked again on each
load; every post carries the session's form token (``csrf``) and, when the
browser sends one, an ``Origin`` (or ``Referer``) of this site. A post is
carried out exactly as the API carries out the same call (``carry_out``, the
workflow's validator, the token's user recorded as the actor); a refusal comes
back as the page with the validator's reason, status 409.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from temporalio.service import RPCError

from ..api.actions import Known, base
from ..api.context import ApiContext, Write, carry_out
from ..api.idempotency import command_id as keyed_command_id
from ..api.limits import RateLimiter
from ..api.models import FileBody
from ..api.tokens import Principal, Unauthenticated
from ..domain import commands as c
from ..domain import lifecycle
from ..domain.errors import DomainError, NotAllowed, NotFound
from ..domain.lifecycle import JST
from ..domain.meeting import after_its_day
from ..domain.text import MAX_NUMBER
from ..domain.vocabulary import Category, Role, Stage
from ..register.publish import publish
from ..register.render import FORMATS, LANGS, MEDIA_TYPES
from . import actions as a
from . import reads
from .i18n import DEFAULT_LANG, parse_lang
from .session import CSRF_FIELD, Session, Sessions, csrf_ok, find_token, same_origin
from .templating import LANG_COOKIE, PageState, render

log = structlog.get_logger("ringi.web")

#: a form's one-time key: the same form sent twice is carried out once
KEY_FIELD = "key"
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Answer(Exception):
    """A finished response raised from deep in a handler (a refusal, a redirect)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class Web:
    """The pages' shared parts: the API's context and the session cookies."""

    def __init__(self, ctx: ApiContext, sessions: Sessions) -> None:
        self.ctx = ctx
        self.sessions = sessions

    # --- who is asking ------------------------------------------------------------------

    async def state(self, request: Request) -> tuple[PageState, Session | None]:
        session = self.sessions.read(request)
        principal = await self.ctx.in_thread(self.sessions.principal, self.ctx.ringi.store, session)
        from_query = parse_lang(request.query_params.get("lang"))
        lang = from_query or parse_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG
        state = PageState(
            lang=lang,
            lang_from_query=from_query is not None,
            principal=principal,
            csrf=session.csrf if session is not None else "",
        )
        return state, session

    async def signed_in(self, request: Request) -> tuple[PageState, Principal]:
        """The page's state for a signed-in caller; otherwise off to the sign-in form
        (with a word if the session was good and its token no longer is)."""
        state, session = await self.state(request)
        if state.principal is None:
            expired = session is not None and session.token_id is not None
            target = "/web/signin" + ("?expired=1" if expired else "")
            if request.method == "GET":
                target += ("&" if expired else "?") + "next=" + quote(_local(request), safe="")
            response = RedirectResponse(target, status_code=303)
            if expired:
                Sessions.clear(response)
            raise Answer(response)
        self._limit(request, state, state.principal)
        return state, state.principal

    async def posted(self, request: Request) -> tuple[PageState, Principal, dict[str, str]]:
        """A signed-in form post with a good form token, from this site."""
        state, session = await self.state(request)
        form = await _form(request)
        if not csrf_ok(session, form.get(CSRF_FIELD)):
            raise Answer(self.error(request, state, 403, state.t("error.csrf")))
        if not same_origin(request):
            raise Answer(self.error(request, state, 403, state.t("error.origin")))
        state, principal = await self.signed_in(request)
        return state, principal, form

    def _limit(self, request: Request, state: PageState, who: Principal) -> None:
        wait = self.ctx.limiter.take(who.token_id)
        if wait:
            seconds = RateLimiter.retry_after(wait)
            response = self.error(request, state, 429, state.t("error.rate", seconds=seconds))
            response.headers["Retry-After"] = seconds
            raise Answer(response)

    def require(self, request: Request, state: PageState, who: Principal, role: Role) -> None:
        """Refused (403, as a page) unless ``who`` acts in ``role``."""
        if who.role is not role:
            t = state.t
            message = t("error.forbidden_role", roles=t.role(role), role=t.role(who.role))
            raise Answer(self.error(request, state, 403, message))

    def error(self, request: Request, state: PageState, status: int, message: str) -> Response:
        return render(request, state, "error.html.j2", status=status, message=message)


def build_router(web: Web) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    ctx = web.ctx
    store = ctx.ringi.store

    @router.get("/")
    async def root() -> Response:
        return RedirectResponse("/web/", status_code=307)

    @router.get("/web")
    @router.get("/web/")
    async def home() -> Response:
        return RedirectResponse("/web/register", status_code=303)

    # --- signing in and out ---------------------------------------------------------------

    @router.get("/web/signin")
    async def signin_form(request: Request) -> Response:
        state, session = await web.state(request)
        session = session or Session.anonymous()
        state.csrf = session.csrf
        notice = "signin.expired" if request.query_params.get("expired") else None
        if request.query_params.get("out"):
            notice = "signin.signed_out"
        response = render(
            request,
            state,
            "signin.html.j2",
            next=_safe_next(request.query_params.get("next")),
            notice=notice,
        )
        web.sessions.write(response, request, session)
        return response

    @router.post("/web/signin")
    async def signin(request: Request) -> Response:
        state, session = await web.state(request)
        form = await _form(request)
        if not csrf_ok(session, form.get(CSRF_FIELD)):
            return web.error(request, state, 403, state.t("error.csrf"))
        if not same_origin(request):
            return web.error(request, state, 403, state.t("error.origin"))
        presented = form.get("token", "").strip()
        try:
            who = await ctx.in_thread(ctx.tokens.authenticate, presented)
            token = await ctx.in_thread(find_token, store, who.token_id)
            assert token is not None
        except Unauthenticated as refused:
            message = state.t("signin.bad", reason=str(refused))
            return render(
                request,
                state,
                "signin.html.j2",
                status=401,
                next=_safe_next(form.get("next")),
                notice=None,
                error=message,
            )
        response = RedirectResponse(_safe_next(form.get("next")) or "/web/register", 303)
        web.sessions.write(response, request, web.sessions.signed_in(token))
        log.info("web sign-in", token_id=who.token_id, role=who.role.value)
        return response

    @router.post("/web/signout")
    async def signout(request: Request) -> Response:
        state, session = await web.state(request)
        form = await _form(request)
        if not csrf_ok(session, form.get(CSRF_FIELD)) or not same_origin(request):
            return web.error(request, state, 403, state.t("error.csrf"))
        response = RedirectResponse("/web/signin?out=1", status_code=303)
        Sessions.clear(response)
        return response

    # --- the register ---------------------------------------------------------------------

    async def opened_meeting(given: str) -> int | None:
        """The number of the meeting ``given`` names, if that meeting has been opened."""
        number = _number(given)
        return (
            number if number is not None and number in await ctx.in_thread(store.meetings) else None
        )

    def no_such_meeting(request: Request, state: PageState, given: str) -> Response:
        # a register or a download for a meeting that does not exist is not today's
        reason = f"meeting {given!r}"
        return web.error(request, state, 404, state.t("error.not_found", reason=reason))

    async def asked_for_no_meeting(request: Request, state: PageState) -> Response | None:
        """A 404 page when the query names a meeting by a number never opened (a
        filter value the page does not know is ignored, as other filters are)."""
        given = request.query_params.get("meeting", "").strip()
        if _number(given) is not None and await opened_meeting(given) is None:
            return no_such_meeting(request, state, given)
        return None

    @router.get("/web/register")
    async def register(request: Request) -> Response:
        state, _ = await web.signed_in(request)
        return await asked_for_no_meeting(request, state) or await register_response(request, state)

    async def register_response(
        request: Request,
        state: PageState,
        *,
        status: int = 200,
        meeting_error: str | None = None,
        meeting_values: dict[str, str] | None = None,
    ) -> Response:
        query = reads.RegisterQuery.parse(request.query_params)
        now = datetime.now(tz=UTC)
        page = await ctx.in_thread(reads.register_page, store, query, now)
        published = request.query_params.get("published", "")
        opened = _number(request.query_params.get("opened", ""))
        rescheduled = _number(request.query_params.get("rescheduled", ""))
        # how many support deadlines until the rescheduled meeting follow it, and stay
        followed = {
            name: int(given) if (given := request.query_params.get(name, "")).isdigit() else 0
            for name in ("following", "kept")
        }
        return render(
            request,
            state,
            "register.html.j2",
            status=status,
            meeting_error=meeting_error,
            meeting_values=meeting_values or {},
            opened=opened,
            rescheduled=rescheduled,
            followed=followed,
            page=page,
            published=published if re.fullmatch(r"[0-9a-f]{64}", published) else None,
            query=query,
            params=dict(request.query_params),
            sort_keys=reads.SORT_KEYS,
            page_size=reads.PAGE_SIZE,
            stages=list(Stage),
            categories=list(Category),
        )

    @router.get("/web/register/download")
    async def register_download(request: Request) -> Response:
        """The register the page shows, whole, as a file to hand out."""
        state, _ = await web.signed_in(request)
        query = reads.RegisterQuery.parse(request.query_params)
        fmt = request.query_params.get("format", "html")
        lang = request.query_params.get("lang", state.lang)
        if fmt not in FORMATS or lang not in LANGS:
            reason = f"format {fmt!r} / lang {lang!r}"
            return web.error(request, state, 404, state.t("error.not_found", reason=reason))
        if missing := await asked_for_no_meeting(request, state):
            return missing
        now = datetime.now(tz=UTC)
        data, name = await ctx.in_thread(reads.register_file, store, query.meeting, fmt, lang, now)
        return Response(
            data,
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def meeting_written(
        request: Request,
        state: PageState,
        form: dict[str, str],
        number: int,
        held_at: datetime,
        write: Callable[[], object],
    ) -> Response | None:
        """Open a meeting: the page with the refusal (409), or None once the meeting
        is held at ``held_at`` (the same form sent twice is done once)."""
        try:
            await ctx.in_thread(write)
        except DomainError as refused:
            if (await ctx.in_thread(store.meetings)).get(number) != held_at:
                return await register_response(
                    request, state, status=409, meeting_error=str(refused), meeting_values=form
                )
        return None

    @router.post("/web/meetings")
    async def open_meeting(request: Request) -> Response:
        """The secretariat opens (schedules) a meeting, held on a day (from the start of
        that day in Japan, as an imported register's meetings are)."""
        state, who, form = await web.posted(request)
        web.require(request, state, who, Role.SECRETARIAT)
        number, held_at = _number(form.get("number", "").strip()), _held_on(form)
        if number is None or held_at is None:
            return await register_response(
                request,
                state,
                status=422,
                meeting_error=state.t("meeting.invalid"),
                meeting_values=form,
            )
        title = form.get("title", "").strip()
        refused = await meeting_written(
            request,
            state,
            form,
            number,
            held_at,
            lambda: ctx.ringi.open_meeting(number, held_at, who.actor(), title),
        )
        return refused or RedirectResponse(f"/web/register?meeting={number}&opened={number}", 303)

    @router.post("/web/meetings/{number}/reschedule")
    async def reschedule_meeting(request: Request, number: str) -> Response:
        """The secretariat moves a meeting to another day (from the start of that day
        in Japan, as it opens them)."""
        state, who, form = await web.posted(request)
        web.require(request, state, who, Role.SECRETARIAT)
        t = state.t
        meeting = await opened_meeting(number)
        if meeting is None:
            return no_such_meeting(request, state, number)
        held_at = _held_on(form)
        if held_at is None:
            return await register_response(
                request, state, status=422, meeting_error=t("meeting.invalid"), meeting_values=form
            )
        reason = form.get("reason", "").strip()
        try:  # the same form sent twice is done once, and its deadlines followed again
            followed = await ctx.ringi.reschedule_meeting(
                meeting, held_at, reason, who.actor(), again=True
            )
        except DomainError as refused:
            return await register_response(
                request, state, status=409, meeting_error=str(refused), meeting_values=form
            )
        counts = f"&following={len(followed.following)}&kept={len(followed.kept)}"
        return RedirectResponse(
            f"/web/register?meeting={meeting}&rescheduled={meeting}{counts}", 303
        )

    @router.post("/web/register/publish")
    async def publish_register(request: Request) -> Response:
        """The secretariat publishes the meeting's register in every format (the page's
        language), as `ringi register publish` does."""
        state, who, form = await web.posted(request)
        web.require(request, state, who, Role.SECRETARIAT)
        t = state.t
        meeting = _number(form.get("meeting", ""))
        if meeting is None or meeting not in await ctx.in_thread(store.meetings):
            reason = f"meeting {form.get('meeting', '')!r}"
            return web.error(request, state, 404, t("error.not_found", reason=reason))
        cid = _command_id(who, form)  # the same form sent twice publishes once
        published = await ctx.in_thread(
            lambda: publish(
                store, meeting, formats=FORMATS, lang=state.lang, actor=who.actor(), command_id=cid
            )
        )
        log.info("register published", meeting=meeting, digest=published.digest)
        return RedirectResponse(
            f"/web/register?meeting={meeting}&published={published.digest}", status_code=303
        )

    # --- one request ----------------------------------------------------------------------

    async def request_response(
        request: Request,
        state: PageState,
        who: Principal,
        number: int,
        *,
        status: int = 200,
        refusal: str | None = None,
        failed: str | None = None,
        errors: dict[str, tuple[str, dict[str, object]]] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        # the API's read model: the same fold and timeline, cached, never staler than the log
        entry = await ctx.reads.entry(number)
        if entry.view is None:
            missing = f"there is no request No.{number}"
            return web.error(request, state, 404, state.t("error.not_found", reason=missing))
        page = reads.request_page(entry.view, entry.timeline, who)
        now = datetime.now(tz=UTC)
        offered = a.available(page.view, who.actor(), now)
        known = await ctx.in_thread(reads.meetings, store)
        done = request.query_params.get("done")
        return render(
            request,
            state,
            "request.html.j2",
            status=status,
            page=page,
            view=page.view,
            actions=offered,
            meetings=known,
            close_reasons=a.CHOOSABLE_CLOSE_REASONS,
            carry_stages=lifecycle.CARRY_FORWARD_TO,
            refusal=refusal,
            failed=failed,
            errors=errors or {},
            values=values or {},
            # still taking endorsements after the threshold: its own line, as the
            # stage's deadline (``current_deadline``) is then another or none
            support_until=lifecycle.support_open_until(page.view, now),
            done=done if done in a.BY_SLUG else None,
            after_meeting=_number(request.query_params.get("after_meeting", "")) if done else None,
        )

    @router.get("/web/requests/{number}")
    async def show(request: Request, number: str) -> Response:
        state, who = await web.signed_in(request)
        n = _number(number)
        if n is None:
            return web.error(request, state, 404, state.t("error.not_found", reason=number))
        return await request_response(request, state, who, n)

    @router.post("/web/requests/{number}/{slug}")
    async def act(request: Request, number: str, slug: str) -> Response:
        state, who, form = await web.posted(request)
        t = state.t
        action = a.BY_SLUG.get(slug)
        found = _number(number)
        if action is None or found is None:
            return web.error(request, state, 404, t("error.not_found", reason=request.url.path))
        web.require(request, state, who, action.role)
        n = found
        try:
            await ctx.reads.view(n)
        except NotFound as missing:
            return web.error(request, state, 404, t("error.not_found", reason=str(missing)))

        async def again(status: int, **why: Any) -> Response:
            return await request_response(
                request, state, who, n, status=status, failed=slug, values=form, **why
            )

        try:
            body = a.parse(action, form)
            command = await action.api.command_for(
                body, base(who.actor(), _command_id(who, form)), Known(ctx, n)
            )
            await carry_out(ctx, n, command)
        except a.FormErrors as invalid:
            return await again(422, errors=invalid.fields)
        except ValidationError as invalid:  # the command refused what the body let through
            return await again(422, errors=a.build_errors(action, invalid))
        except NotAllowed as refused:
            return web.error(request, state, 403, t("error.forbidden", reason=str(refused)))
        except NotFound as missing:
            return web.error(request, state, 404, t("error.not_found", reason=str(missing)))
        except DomainError as refused:
            return await again(409, refusal=str(refused))
        except (TimeoutError, RPCError):
            log.warning("web action unavailable", number=n, action=slug)
            return web.error(request, state, 503, t("error.unavailable"))
        # tagged with a meeting whose day is over: say which register will show it
        tag = command.meeting
        late = tag is not None and after_its_day(
            await ctx.in_thread(store.meetings), tag, datetime.now(tz=UTC)
        )
        suffix = f"&after_meeting={tag}" if late else ""
        return RedirectResponse(f"/web/requests/{n}?done={slug}{suffix}", status_code=303)

    # --- filing ---------------------------------------------------------------------------

    @router.get("/web/file")
    async def file_form(request: Request) -> Response:
        state, who = await web.signed_in(request)
        if who.role is not Role.MEMBER:
            return web.error(request, state, 403, state.t("file.members_only"))
        return render(request, state, "file.html.j2", errors={}, values={}, categories=Category)

    @router.post("/web/file")
    async def file(request: Request) -> Response:
        state, who, form = await web.posted(request)
        if who.role is not Role.MEMBER:
            return web.error(request, state, 403, state.t("file.members_only"))
        fields = ("category", "target", "body")
        raw = {name: form.get(name, "").strip() for name in fields}
        raw = {name: value for name, value in raw.items() if value}
        try:
            body = FileBody.model_validate(raw)
        except ValidationError as invalid:
            errors: dict[str, tuple[str, dict[str, object]]] = {}
            for error in invalid.errors():
                name = str(error["loc"][0]) if error["loc"] else "body"
                errors.setdefault(name, a.message_of(error))
            return render(
                request,
                state,
                "file.html.j2",
                status=422,
                errors=errors,
                values=form,
                categories=Category,
            )
        cid = _command_id(who, form)
        write = Write(ctx, who, request, None, None)
        try:
            view = await write.file(
                lambda base: c.FileRequest(
                    **{**base, "command_id": cid},
                    category=body.category,
                    target=body.target,
                    body=body.body,
                )
            )
        except NotAllowed as refused:
            return web.error(request, state, 403, state.t("error.forbidden", reason=str(refused)))
        except DomainError as refused:
            return render(
                request,
                state,
                "file.html.j2",
                status=409,
                errors={},
                values=form,
                categories=Category,
                refusal=str(refused),
            )
        except (TimeoutError, RPCError):
            return web.error(request, state, 503, state.t("error.unavailable"))
        return RedirectResponse(f"/web/requests/{view.number}", status_code=303)

    # --- the audit page -------------------------------------------------------------------

    @router.get("/web/audit")
    async def audit(request: Request) -> Response:
        state, who = await web.signed_in(request)
        if who.role not in (Role.AUDITOR, Role.SECRETARIAT):
            return web.error(request, state, 403, state.t("audit.roles_only"))
        page = await ctx.in_thread(reads.audit_page, store, state.lang)
        # the chart module's SVG is its own markup, built from the store, not from input
        charts = Markup(page.charts) if page.charts is not None else None
        return render(request, state, "audit.html.j2", page=page, charts=charts)

    @router.get("/web/{rest:path}")
    async def unknown(request: Request, rest: str) -> Response:
        state, _ = await web.signed_in(request)
        return web.error(request, state, 404, state.t("error.not_found", reason=request.url.path))

    return router


# --- helpers -----------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (a file upload is no field of ours)."""
    try:
        form = await request.form()
    except Exception:  # not a form at all: nothing in it, so the form token is missing
        return {}
    return {name: value for name, value in form.multi_items() if isinstance(value, str)}


def _command_id(who: Principal, form: dict[str, str]) -> str:
    """The command id of a form post: from its one-time key, scoped to the token,
    so the same form sent twice (a double click, a reload) is carried out once."""
    key = form.get(KEY_FIELD, "")
    if _KEY.fullmatch(key):
        return keyed_command_id(who.token_id, f"web:{key}")
    return c.new_command_id()


def _held_on(form: dict[str, str]) -> datetime | None:
    """The day a meeting form gives, from the start of that day in Japan (None if
    it gives none)."""
    try:
        return datetime.combine(date.fromisoformat(form.get("date", "").strip()), time(0), JST)
    except ValueError:
        return None


def _number(text: str) -> int | None:
    """A request's No. from a path (an HTML page for anything else, not the API's 422)."""
    digits = text.isascii() and text.isdigit() and len(text) <= 10
    return int(text) if digits and 1 <= int(text) <= MAX_NUMBER else None


def _local(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _safe_next(target: str | None) -> str | None:
    """Only a path of these pages: never another site (an open redirect)."""
    if target and target.startswith("/web/") and not target.startswith("//"):
        return target
    return None
