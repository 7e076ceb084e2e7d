"""Where the request commands are carried out: here (Temporal and the event
store, `Local`) or through the HTTP API with a token (`ringi.cli.remote`).

``desk(ctx)`` chooses, once, from the global ``--url``/``--token`` options
(``RINGI_URL``/``RINGI_TOKEN``); the commands are written once against
``Desk`` and ``Session`` and print the same either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import typer

from ..domain.enums import Category, Stage
from .context import USAGE, fail, installation, run_with_ringi, with_store
from .inputs import member
from .keys import GIVEN, claimed, key_of, remember

if TYPE_CHECKING:  # the sessions import what they use: a read does not load the writers
    from ..domain.commands import Command, FileRequest, RecordAnswer
    from ..domain.meeting import FollowedMeeting
    from ..domain.view import RequestView
    from ..domain.vocabulary import Actor
    from ..projection.views import Summary
    from ..service import Ringi
    from ..store import RingiStore, TimelineEntry
    from .remote import Remote

C = TypeVar("C", "Command", "FileRequest")

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """A request as `ringi list` shows it."""

    number: int
    category: Category
    target: str
    stage: Stage
    support: int
    proposer: str
    deadline: datetime | None

    @classmethod
    def summarised(cls, summary: Summary) -> Row:
        return cls(
            number=summary.number,
            category=Category(summary.category),
            target=summary.target,
            stage=Stage(summary.stage),
            support=summary.support,
            proposer=summary.proposer,
            deadline=summary.deadline,
        )

    @classmethod
    def of(cls, view: RequestView) -> Row:
        return cls(
            number=view.number,
            category=view.category,
            target=view.target,
            stage=view.stage,
            support=view.support,
            proposer=view.proposer,
            deadline=view.current_deadline,
        )


class Session(Protocol):
    """One command's connection to ringi."""

    async def file(self, command: FileRequest) -> RequestView: ...

    async def act(self, number: int, command: Command) -> RequestView: ...

    async def open_meeting(
        self, number: int, held_at: datetime, actor: Actor, title: str
    ) -> None: ...

    async def reschedule_meeting(
        self, number: int, held_at: datetime, reason: str, actor: Actor
    ) -> FollowedMeeting: ...

    async def meetings(self) -> dict[int, datetime]: ...

    async def request(self, number: int) -> tuple[RequestView, list[TimelineEntry]]: ...

    async def requests(self, stages: list[Stage], open_only: bool) -> list[Row]: ...

    async def answer_together(
        self, numbers: list[int], command: RecordAnswer
    ) -> list[RequestView]: ...


class Desk(Protocol):
    def member(self, company: str | None, user: str | None) -> Actor:
        """The member a member's command acts for."""
        ...

    def run(self, work: Callable[[Session], Coroutine[Any, Any, T]], *, writes: bool = True) -> T:
        """Open a session, do ``work``, and leave with exit 1 for a refusal, 2
        for a usage error; ``writes=False`` needs only to read."""
        ...


def together(numbers: list[int], number: int, command: RecordAnswer) -> RecordAnswer:
    """``command`` as it is given to No.``number`` of ``numbers``: naming the others,
    under a key of its own derived from the call's."""
    others = tuple(n for n in numbers if n != number)
    key = key_of(command.command_id)
    update: dict[str, Any] = {"together_with": others}
    if key is not None:
        tag = command.command_id.removesuffix(key)
        update["command_id"] = f"{tag}{key}:{number}"
    return command.model_copy(update=update)


class LocalSession:
    """Writes through the request's workflow (``Ringi``), reads from the store."""

    def __init__(self, store: RingiStore, ringi: Ringi | None = None) -> None:
        self.store, self.ringi = store, ringi

    def _writer(self) -> Ringi:
        assert self.ringi is not None, "a read-only session was asked to write"
        return self.ringi

    async def file(self, command: FileRequest) -> RequestView:
        return await self._sent("file", command, self._writer().file)

    async def act(self, number: int, command: Command) -> RequestView:
        ringi = self._writer()
        return await self._sent(
            f"{command.kind} {number}", command, lambda sent: ringi.act(number, sent)
        )

    async def answer_together(self, numbers: list[int], command: RecordAnswer) -> list[RequestView]:
        """One answer recorded on each of ``numbers``, naming the others (issue 20):
        each its own keyed command, so that the call sent again records nothing twice."""
        views = []
        for number in numbers:
            views.append(await self.act(number, together(numbers, number, command)))
        return views

    async def _sent(
        self, call: str, command: C, send: Callable[[C], Awaitable[RequestView]]
    ) -> RequestView:
        """``command`` sent under its key's id; if its answer does not come, its
        outcome is unknown (``OutcomeUnknown`` naming the key to retry with), and
        a key the command was given is recorded for this call first."""
        import asyncio

        from ..service import lost

        try:
            return await send(await asyncio.to_thread(claimed, self.store, call, command))
        except BaseException as error:
            unknown = lost(error)
            if unknown is None and not isinstance(error, asyncio.CancelledError):
                raise
            if command.command_id.startswith(GIVEN):
                with contextlib.suppress(Exception):  # the store may be what failed
                    remember(self.store, call, command)
            if unknown is None:
                raise  # cancelled by the command's timeout: it says the outcome is unknown
            raise unknown.keyed(key_of(command.command_id)) from None

    async def open_meeting(self, number: int, held_at: datetime, actor: Actor, title: str) -> None:
        self._writer().open_meeting(number, held_at, actor, title)

    async def reschedule_meeting(
        self, number: int, held_at: datetime, reason: str, actor: Actor
    ) -> FollowedMeeting:
        return await self._writer().reschedule_meeting(number, held_at, reason, actor)

    async def meetings(self) -> dict[int, datetime]:
        return self.store.meetings()

    async def request(self, number: int) -> tuple[RequestView, list[TimelineEntry]]:
        return self.store.read_view(number), self.store.timeline(number)

    async def requests(self, stages: list[Stage], open_only: bool) -> list[Row]:
        wanted = {s.value for s in stages}
        return [
            Row.summarised(s)
            for s in self.store.summaries()
            if (not wanted or s.stage in wanted) and (s.is_open or not open_only)
        ]


class Local:
    """This machine reaches Temporal and the event store itself."""

    def __init__(self, ctx: typer.Context) -> None:
        self.ctx = ctx

    def member(self, company: str | None, user: str | None) -> Actor:
        return member(company, user)

    def run(self, work: Callable[[Session], Coroutine[Any, Any, T]], *, writes: bool = True) -> T:
        if writes:
            return run_with_ringi(self.ctx, lambda ringi: work(LocalSession(ringi.store, ringi)))
        import asyncio

        return with_store(self.ctx, lambda store: asyncio.run(work(LocalSession(store))))


def desk(ctx: typer.Context) -> Desk:
    """The one place that decides: through the API if a URL is given, else here."""
    where = installation(ctx)
    if where.url is None:
        return Local(ctx)
    if not where.token:
        raise fail("--url needs a token: give --token or set RINGI_TOKEN", USAGE)
    if not (where.token.isascii() and where.token.isprintable()):
        raise fail("the token is not one `ringi token issue` printed (printable ASCII)", USAGE)
    from .remote import Remote

    return Remote(where.url, where.token)


def through_api(ctx: typer.Context) -> Remote | None:
    """The HTTP API to go through (``--url``/``RINGI_URL``), or None for the store here."""
    if installation(ctx).url is None:
        return None
    from .remote import Remote

    found = desk(ctx)
    assert isinstance(found, Remote)
    return found
