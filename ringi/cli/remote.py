"""The request commands through the HTTP API, with a bearer token.

    RINGI_URL=http://desk.example:8000 RINGI_TOKEN=ringi_... ringi endorse 12
    ringi --url http://127.0.0.1:8000 --token ringi_... show 12 --json

Who acts is the token's: a member's ``--as`` may be omitted, and if given must
be the token's company (else exit 1, nothing sent); ``--user`` is not sent (the
event records the token's user). A command's id goes as its
``Idempotency-Key``, so ``--key`` means the same as it does locally. The
server's answers become the command line's exit statuses: 401, 403, 404, 409,
429 and 5xx are refusals (exit 1, the server's message on stderr); 413 and 422
are usage errors (exit 2); an API that cannot be reached is exit 3; a write the
server answers 503 ``outcome_unknown``, or whose answer does not arrive, is exit
4, naming the key to send it again with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import httpx
import typer
from pydantic import ValidationError

from ..audit.seal import Seal, checked
from ..audit.trail import HistoryEntry
from ..domain import commands as c
from ..domain.meeting import FollowedMeeting
from ..domain.notifications import NotificationKind
from ..domain.subscriptions import Channel, Subscription
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, Category, Role, Stage
from ..register.diff import RegisterDiff
from ..service import OutcomeUnknown
from ..store import TimelineEntry
from .context import (
    COMMAND_TIMEOUT,
    REFUSED,
    UNREACHABLE,
    USAGE,
    describe_validation,
    fail,
    unknown_exit,
)
from .desk import Row, Session
from .inputs import name_option
from .keys import sent_id

T = TypeVar("T")

#: the API's path under /v1/requests/{n}/ for each command, and the command's
#: fields its body takes (the actor and the command id never go in a body)
ROUTES: dict[type[c.Command], tuple[str, tuple[str, ...]]] = {
    c.Endorse: ("endorse", ("meeting",)),
    c.WithdrawEndorsement: ("unendorse", ("meeting",)),
    c.AppendNote: ("notes", ("text", "meeting")),
    c.AnswerClarification: ("clarification-answer", ("text",)),
    c.RaiseObjection: ("objections", ("reason",)),
    c.WithdrawObjection: ("objection-withdrawal", ("reason",)),
    c.Withdraw: ("withdraw", ("reason",)),
    c.OpenSupport: ("open-support", ("deadline", "until_meeting")),
    c.AskClarification: ("ask-clarification", ("question", "meeting")),
    c.WithdrawClarification: ("clarification-withdrawal", ("reason", "meeting")),
    c.DismissObjection: ("objection-dismissals", ("company", "reason", "meeting")),
    c.IdentifyProposer: ("proposer", ("company", "meeting")),
    c.CarryForward: ("carry-forward", ("stage", "reason", "meeting")),
    c.ExtendDeadline: ("extend-deadline", ("deadline", "reason", "meeting", "until_meeting")),
    c.OpenHearing: ("open-hearing", ("meeting",)),
    c.RecordFindings: ("findings", ("text", "meeting")),
    c.EvaluateCost: ("cost-evaluation", ("inputs", "meeting")),
    c.OpenObjectionWindow: ("open-objection-window", ("meeting", "ends_at", "until_meeting")),
    c.Approve: ("approve", ("planned_release", "meeting")),
    c.ChangeReleaseDate: ("change-release", ("planned_release", "reason", "meeting")),
    c.Release: ("release", ("released_on", "meeting")),
    c.Hold: ("hold", ("reason", "meeting")),
    c.Resume: ("resume", ("reason", "meeting")),
    c.Close: ("close", ("reason", "duplicate_of", "note", "meeting", "duplicates")),
    c.RecordAnswer: ("answers", ("text", "continued", "meeting")),
    c.CorrectAnswer: ("answer-corrections", ("answer_id", "text", "reason", "meeting")),
    # the secretariat's discretion and after the end (issue 20)
    c.HearBelowThreshold: ("hear-below-threshold", ("reason", "meeting")),
    c.EvaluateWithoutHearing: ("cost-evaluation-without-hearing", ("inputs", "reason", "meeting")),
    c.Reopen: ("reopen", ("reason", "deadline", "until_meeting", "meeting")),
    # the secretariat's windows (issue 20)
    c.FinalCall: ("final-call", ("until_meeting", "meeting")),
    c.EndSupport: ("end-support", ("meeting",)),
    c.EndObjectionWindow: ("end-objection-window", ("meeting",)),
}

#: statuses that mean the input was wrong (exit 2); every other failure is a refusal
USAGE_STATUSES = frozenset({400, 413, 422})


class Answered(Exception):
    """The API refused: its status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def body_of(command: c.Command) -> dict[str, Any]:
    """The JSON body of ``command``'s route: its fields, the unset ones left out."""
    _, fields = ROUTES[type(command)]
    data = command.model_dump(mode="json", include=set(fields))
    body: dict[str, Any] = {}
    for name, value in data.items():
        if name == "inputs":  # a cost evaluation's inputs are the body itself
            body.update({k: v for k, v in value.items() if v is not None})
        elif value is not None:
            body[name] = value
    if "until_meeting" in body:  # the API finds the meeting's day itself
        body.pop("deadline", None)
        body.pop("ends_at", None)
    return body


def _check(answer: httpx.Response) -> Any:
    if answer.is_success:
        return answer.json()
    try:
        found = answer.json()
        message = str(found["message"])
    except (ValueError, KeyError, TypeError):
        found, message = None, answer.text.strip() or answer.reason_phrase
    if isinstance(found, dict) and found.get("error") == "outcome_unknown":
        key = found.get("idempotency_key") or answer.headers.get("Idempotency-Key")
        # the API's own reason (no answer in time, Temporal gone), without its advice
        # about the header: the command line says how to retry in its own words
        said = message.removeprefix("outcome unknown: ").split("; it may have been", 1)[0]
        why = f"the ringi API answered HTTP {answer.status_code}: {said}"
        raise OutcomeUnknown(why, str(key) if key else None)
    raise Answered(answer.status_code, f"{message} (HTTP {answer.status_code})")


def _sent(error: httpx.HTTPError) -> OutcomeUnknown | None:
    """A write that reached the API but whose answer did not come back: its
    outcome is unknown (None for a call that never left, or a read)."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return None
    request = getattr(error, "_request", None)  # ``.request`` raises when there is none
    if request is None or request.method == "GET":
        return None
    key = request.headers.get("Idempotency-Key")
    return OutcomeUnknown(f"no answer from the ringi API ({type(error).__name__})", key)


def _state(data: Any) -> RequestView:
    return RequestView.model_validate(data["request"])


def _as_of(meeting: int | None, as_of: datetime | None) -> dict[str, Any]:
    if meeting is not None:
        return {"meeting": meeting}
    return {"as_of": as_of.isoformat()} if as_of is not None else {}


def _subscription(data: Any) -> Subscription:
    """A subscription as the API shows it; its secret only in the answer that made it."""
    return Subscription.model_validate({**data, "secret": data.get("secret") or ""})


class RemoteSession:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _post(self, path: str, body: dict[str, Any], key: str | None = None) -> Any:
        if key and not (key.isascii() and key.isprintable() and " " not in key):
            raise fail(f"--key {key!r}: over the API a key is printable ASCII", USAGE)
        headers = {"Idempotency-Key": key} if key else {}
        return _check(await self.http.post(path, json=body, headers=headers))

    async def file(self, command: c.FileRequest) -> RequestView:
        body = command.model_dump(
            mode="json", include={"category", "target", "body", "related", "meeting"}
        )
        body = {k: v for k, v in body.items() if v is not None}
        return _state(await self._post("/v1/requests", body, sent_id(command.command_id)))

    async def act(self, number: int, command: c.Command) -> RequestView:
        path, _ = ROUTES[type(command)]
        return _state(
            await self._post(
                f"/v1/requests/{number}/{path}", body_of(command), sent_id(command.command_id)
            )
        )

    async def answer_together(
        self, numbers: list[int], command: c.RecordAnswer
    ) -> list[RequestView]:
        """One answer on each of ``numbers`` (issue 20), in one call of the bulk endpoint."""
        body = {
            "numbers": numbers,
            **command.model_dump(mode="json", include={"text", "continued", "meeting"}),
        }
        body = {k: v for k, v in body.items() if v is not None}
        answer = await self._post("/v1/bulk/answer", body, sent_id(command.command_id))
        refused = [i for i in answer["items"] if not i["ok"]]
        if refused:
            done = [f"No.{i['number']}" for i in answer["items"] if i["ok"]]
            first = refused[0]
            status, message = first["status"], first["error"]["message"]
            recorded = f" (recorded on {', '.join(done)})" if done else ""
            raise Answered(status, f"No.{first['number']}: {message}{recorded} (HTTP {status})")
        return [(await self.request(n))[0] for n in numbers]

    async def open_meeting(self, number: int, held_at: datetime, actor: Actor, title: str) -> None:
        await self._post(
            "/v1/meetings", {"number": number, "held_at": held_at.isoformat(), "title": title}
        )

    async def reschedule_meeting(
        self, number: int, held_at: datetime, reason: str, actor: Actor
    ) -> FollowedMeeting:
        body = {"held_at": held_at.isoformat(), "reason": reason}
        moved = _check(await self.http.patch(f"/v1/meetings/{number}", json=body))
        return FollowedMeeting(
            number=number,
            held_at=datetime.fromisoformat(moved["held_at"]),
            following=list(moved["deadlines_following"]),
            kept=list(moved["deadlines_kept"]),
        )

    async def meetings(self) -> dict[int, datetime]:
        found = _check(await self.http.get("/v1/meetings"))
        return {int(m["number"]): datetime.fromisoformat(m["held_at"]) for m in found}

    async def request(self, number: int) -> tuple[RequestView, list[TimelineEntry]]:
        data = _check(await self.http.get(f"/v1/requests/{number}"))
        return _state(data), [TimelineEntry.model_validate(e) for e in data["timeline"]]

    async def requests(self, stages: list[Stage], open_only: bool) -> list[Row]:
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("stage", s.value) for s in stages
        ]
        if open_only:
            params.append(("open", "true"))
        rows: list[Row] = []
        cursor: str | None = None
        while True:
            page_params = [*params, ("cursor", cursor)] if cursor else params
            page = _check(await self.http.get("/v1/requests", params=page_params))
            rows += [
                Row(
                    number=item["number"],
                    category=Category(item["category"]),
                    target=item["target"],
                    stage=Stage(item["stage"]),
                    support=item["support"],
                    proposer=item["proposer"],
                    deadline=datetime.fromisoformat(item["deadline"]) if item["deadline"] else None,
                )
                for item in page["items"]
            ]
            cursor = page["next_cursor"]
            if not cursor:
                return rows

    # --- notification subscriptions (`ringi subscribe|subscriptions|unsubscribe`) ----------

    async def subscribe(
        self, recipient: str, channel: Channel, target: str, kinds: list[NotificationKind]
    ) -> Subscription:
        body = {
            "channel": channel.value,
            "target": target,
            "recipient": recipient,
            "kinds": [k.value for k in kinds],
        }
        return _subscription(await self._post("/v1/subscriptions", body))

    async def subscriptions(self) -> list[Subscription]:
        return [_subscription(s) for s in _check(await self.http.get("/v1/subscriptions"))]

    async def unsubscribe(self, subscriber: str) -> None:
        _check(await self.http.delete(f"/v1/subscriptions/{quote(subscriber, safe='')}"))

    async def rotate_secret(self, subscriber: str) -> Subscription:
        path = f"/v1/subscriptions/{quote(subscriber, safe='')}/secret"
        return _subscription(await self._post(path, {}))

    # --- the register and auditing (`ringi register ...`, `ringi audit ...`) --------------

    async def register(
        self, meeting: int | None, as_of: datetime | None, fmt: str, lang: str
    ) -> bytes:
        """The register's bytes, as ``ringi register`` renders them locally."""
        query = {"format": fmt, "lang": lang, **_as_of(meeting, as_of)}
        answer = await self.http.get("/v1/register", params=query)
        if not answer.is_success:
            _check(answer)
        return answer.content

    async def request_then(
        self, number: int, meeting: int | None, as_of: datetime | None
    ) -> RequestView:
        path = f"/v1/register/requests/{number}"
        return _state(_check(await self.http.get(path, params=_as_of(meeting, as_of))))

    async def diff(self, before: int, after: int) -> RegisterDiff:
        answer = await self.http.get("/v1/register/diff", params={"from": before, "to": after})
        return RegisterDiff.model_validate(_check(answer))

    async def publish(
        self, meeting: int, formats: list[str], lang: str, *, fetch: bool
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The publication as recorded and, with ``fetch``, the files it recorded
        the digests of (each one more replay and render on the server)."""
        made = await self._post(
            f"/v1/meetings/{meeting}/publications", {"formats": formats, "lang": lang}
        )
        if not fetch:
            return made, {}
        files = {fmt: await self.register(meeting, None, fmt, lang) for fmt in made["formats"]}
        return made, files

    async def verify(self, seals: list[Seal], workflows: bool) -> dict[str, Any]:
        body = {"seals": [s.model_dump(mode="json") for s in seals], "workflows": workflows}
        answer = await self.http.post("/v1/audit/verify", json=body, timeout=None)
        found: dict[str, Any] = _check(answer)
        return found

    async def seal(self) -> Seal:
        """A seal of the server's store, checked against its own digest on arrival."""
        answer = await self.http.post("/v1/audit/seal", timeout=None)
        return checked(Seal.model_validate(_check(answer)), "the seal the server sent")

    async def history(self, number: int) -> list[HistoryEntry]:
        answer = await self.http.get(f"/v1/audit/requests/{number}/history")
        return [HistoryEntry.model_validate(e) for e in _check(answer)]

    async def export(self, fmt: str, out: BinaryIO) -> int:
        """Streams the export into ``out``; the number of events."""
        lines = 0
        params = {"format": fmt}
        async with self.http.stream("GET", "/v1/audit/export", params=params, timeout=None) as got:
            if not got.is_success:
                await got.aread()
                _check(got)
            async for chunk in got.aiter_bytes():
                out.write(chunk)
                lines += chunk.count(b"\n")
        return lines - 1 if fmt == "csv" else lines  # a CSV's header is not an event


class Remote:
    """Through the API at ``url``, as the token's holder."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self._me: dict[str, Any] | None = None

    def _unreachable(self, error: httpx.HTTPError) -> typer.Exit:
        unknown = _sent(error)
        if unknown is not None:
            return unknown_exit(unknown, None)
        return fail(
            f"cannot reach the ringi API at {self.url} ({error or type(error).__name__}); "
            "are --url / RINGI_URL right?",
            UNREACHABLE,
        )

    def me(self) -> dict[str, Any]:
        """Who the token is (``GET /v1/me``), asked once."""
        if self._me is None:
            try:
                with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as http:
                    self._me = _check(http.get("/v1/me"))
            except Answered as refused:
                raise _exit(refused) from None
            except httpx.HTTPError as error:
                raise self._unreachable(error) from None
        assert self._me is not None
        return self._me

    def member(self, company: str | None, user: str | None) -> Actor:
        if company is not None and company.strip():
            company = name_option("--as", company)  # refused before anything is sent
        me = self.me()
        mine = me.get("company")
        if me["role"] != Role.MEMBER.value or not mine:
            # not a member's token: the API says who may do this (403)
            return Actor.member((company or "").strip() or me["name"])
        if company is not None and company.strip() != mine:
            raise fail(
                f"this token acts for {mine}, not for {company.strip()}; over the API a member "
                "acts for its token's company (omit --as, or give that company)",
                REFUSED,
            )
        return Actor.member(mine)

    def run(self, work: Callable[[Session], Coroutine[Any, Any, T]], *, writes: bool = True) -> T:
        return self.through(work)

    def through(self, work: Callable[[RemoteSession], Coroutine[Any, Any, T]]) -> T:
        """``work`` on a session of the API's (also what only the API session
        does: subscriptions), with ``run``'s exit statuses."""

        async def go() -> T:
            async with httpx.AsyncClient(
                base_url=self.url, headers=self.headers, timeout=COMMAND_TIMEOUT + 5
            ) as http:
                return await work(RemoteSession(http))

        try:
            return asyncio.run(go())
        except OutcomeUnknown as unknown:
            raise unknown_exit(unknown, None) from None
        except Answered as refused:
            raise _exit(refused) from None
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        except ValidationError as error:
            raise fail(describe_validation(error), USAGE) from None


def _exit(refused: Answered) -> typer.Exit:
    return fail(refused.message, USAGE if refused.status in USAGE_STATUSES else REFUSED)
