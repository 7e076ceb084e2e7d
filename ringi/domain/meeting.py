"""Meetings (第N回) and the numbering of requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel

from .chain import ChainedAggregate
from .errors import NotAllowed, Refused
from .lifecycle import JST, end_of_day
from .request import NAMESPACE
from .text import number_problem
from .vocabulary import Actor, Role

#: in a meeting's title: its date is not known (an imported register does not
#: give it) and ``held_at`` is a placeholder that only keeps the meetings in order
PLACEHOLDER_DATE = "[日付不明: 仮の日付]"
#: in a meeting's title: an import opened it, and dated the imported answers by it
IMPORTED_MEETING = "(imported register)"


def meeting_day(meetings: Mapping[int, datetime], number: int) -> datetime:
    """When meeting ``number`` is held: what a deadline "until meeting N" means."""
    if number not in meetings:
        raise Refused(
            f"meeting {number} (第{number}回) has not been opened; open it with its date first"
        )
    return meetings[number]


def after_its_day(meetings: Mapping[int, datetime], number: int, at: datetime) -> str | None:
    """What to tell whoever records something tagged with meeting ``number`` at
    ``at``, after the meeting's day in Japan has ended: the register of meeting N is
    folded as of the end of its day, so what is recorded later is in the next
    meeting's register, whatever its tag (``ringi.register.replay``)."""
    held = meetings.get(number)
    if held is None or at <= end_of_day(held):
        return None
    return (
        f"meeting {number} (第{number}回) was held on {held.astimezone(JST):%Y-%m-%d}: what is "
        f"recorded now is tagged with it but shows in the next meeting's register, not {number}'s"
    )


@dataclass
class FollowedMeeting:
    """What a meeting's new date did to the deadlines that run until it: support
    deadlines and objection windows (``lifecycle.follows_meeting``)."""

    number: int
    held_at: datetime
    #: requests whose support deadline or objection window ran until the meeting,
    #: now until its new date
    following: list[int] = field(default_factory=list)
    #: those whose deadline stays later: the meeting came earlier, and what members
    #: were told they have, they keep
    kept: list[int] = field(default_factory=list)


def meeting_id(number: int) -> UUID:
    return uuid5(NAMESPACE, f"meeting/{number}")


class Meeting(ChainedAggregate):
    """A meeting of the secretariat with the members, at which answers are given.

    Its events are chained like a request's (``chain.ChainedAggregate``)."""

    @staticmethod
    def create_id(number: int) -> UUID:
        return meeting_id(number)

    @event("MeetingOpened")
    def __init__(
        self, number: int, held_at: datetime, at: datetime, actor: dict[str, Any], title: str
    ) -> None:
        self.number = number
        self.held_at = held_at
        self.title = title
        self.publications: list[Publication] = []
        #: (when it was rescheduled, the date it had until then), oldest first
        self.moves: list[tuple[datetime, datetime]] = []

    @property
    def imported(self) -> bool:
        """Opened by an import, which dated the answers it imported by this meeting."""
        return IMPORTED_MEETING in self.title

    @property
    def date_is_placeholder(self) -> bool:
        return PLACEHOLDER_DATE in self.title and not self.moves

    def held_at_when(self, moment: datetime) -> datetime:
        """The date the meeting had at ``moment`` (a publication's): what a register
        published then printed, whatever the meeting was moved to later."""
        for moved_at, previous in self.moves:
            if moment < moved_at:
                return previous
        return self.held_at

    def placeholder_when(self, moment: datetime) -> bool:
        return PLACEHOLDER_DATE in self.title and not (self.moves and self.moves[0][0] <= moment)

    def reschedule(self, held_at: datetime, reason: str, at: datetime, actor: Actor) -> None:
        """Move the meeting to another day (postponed, brought forward). What is
        recorded stays as it was: answers keep their meeting and publications their
        cutoff; what is decided from now on takes the new date (this meeting's
        register, the next meeting for a final call), and the service moves the
        support deadlines that run until it (``Ringi.follow_meeting``). A meeting an
        import opened keeps its date: the answers it imported are dated by it."""
        if actor.role is not Role.SECRETARIAT:
            raise NotAllowed("only the secretariat reschedules meetings")
        if self.imported:
            # its imported answers carry its date: moved, the meeting would leave them
            # behind, in the registers of the meetings before or after it
            raise Refused(
                f"meeting {self.number} (第{self.number}回) came from an imported register, "
                "whose answers are dated by it: it keeps its date. Give an imported "
                "register's meetings their dates when it is imported (ringi import FILE "
                "--meeting-dates DATES, into a store that does not hold it yet)"
            )
        if held_at == self.held_at:
            raise Refused(
                f"meeting {self.number} (第{self.number}回) is already held at {held_at.isoformat()}"
            )
        self._rescheduled(
            held_at=held_at,
            previous=self.held_at,
            reason=reason,
            at=at,
            actor=actor.model_dump(mode="json"),
        )

    @event("MeetingRescheduled")
    def _rescheduled(
        self,
        held_at: datetime,
        previous: datetime,
        reason: str,
        at: datetime,
        actor: dict[str, Any],
    ) -> None:
        self.moves.append((at, previous))
        self.held_at = held_at

    def publish_register(
        self,
        *,
        cutoff: datetime,
        since: datetime | None,
        position: int,
        digest: str,
        formats: dict[str, str],
        lang: str,
        at: datetime,
        actor: Actor,
        command_id: str | None = None,
        edition: int = 1,
    ) -> int:
        """Record that the register (資料2) of this meeting was published: which
        events it was folded from (domain time up to ``cutoff``, the event log up
        to ``position``; closed since ``since`` shown), by which edition of the
        rules that choose its rows (``edition``), the SHA-256 of its
        canonical content and of each rendered format. Returns the publication's
        number (1 for the first). A ``command_id`` this meeting has published
        under already records nothing and returns that publication: a retried
        publish, even one racing its first attempt, publishes once."""
        if actor.role is not Role.SECRETARIAT:
            raise NotAllowed("only the secretariat publishes the register")
        if not formats:
            raise Refused("publish the register in at least one format")
        done = self.publication_of(command_id)
        if done is not None:
            return done
        self._register_published(
            cutoff=cutoff,
            since=since,
            position=position,
            digest=digest,
            formats=dict(sorted(formats.items())),
            lang=lang,
            at=at,
            actor=actor.model_dump(mode="json"),
            command_id=command_id,
            edition=edition,
        )
        return len(self.publications)

    def publication_of(self, command_id: str | None) -> int | None:
        """The number of the publication made under ``command_id``, if there is one."""
        if command_id is None:
            return None
        for index, made in enumerate(self.publications, 1):
            if made.command_id == command_id:
                return index
        return None

    @event("RegisterPublished")
    def _register_published(
        self,
        cutoff: datetime,
        since: datetime | None,
        position: int,
        digest: str,
        formats: dict[str, str],
        lang: str,
        at: datetime,
        actor: dict[str, Any],
        command_id: str | None = None,  # absent from publications recorded before it was kept
        edition: int = 1,  # absent from publications made by the first edition's rules
    ) -> None:
        self.publications.append(
            Publication(
                cutoff=cutoff,
                since=since,
                position=position,
                digest=digest,
                formats=formats,
                lang=lang,
                at=at,
                actor=Actor.model_validate(actor),
                command_id=command_id,
                edition=edition,
            )
        )


class Publication(BaseModel):
    """One publication of a meeting's register (see ``Meeting.publish_register``)."""

    cutoff: datetime
    since: datetime | None
    position: int
    digest: str
    formats: dict[str, str]  # format -> SHA-256 of the bytes handed out
    lang: str
    at: datetime
    actor: Actor
    #: the command it was made under (an API Idempotency-Key's, a web form's)
    command_id: str | None = None
    #: the edition of the register's rules it was made by (``ringi.register.edition``):
    #: a publication replays by the rules it was made with, so that its digest holds
    edition: int = 1


CALENDAR_ID = uuid5(NAMESPACE, "meeting-calendar")


class MeetingCalendar(Aggregate):
    """Which meetings there are and when they are held, to find "the next meeting"."""

    @staticmethod
    def create_id() -> UUID:
        return CALENDAR_ID

    @event("CalendarStarted")
    def __init__(self) -> None:
        self.meetings: dict[int, datetime] = {}

    def add(self, number: int, held_at: datetime) -> None:
        out_of_bounds = number_problem(number, f"a meeting's number (第{number}回)")
        if out_of_bounds is not None:  # the bounds the API and the CLI keep too
            raise Refused(out_of_bounds)
        if number in self.meetings:
            raise Refused(f"meeting {number} (第{number}回) is already open")
        self._require_in_order(number, held_at)
        self._added(number=number, held_at=held_at)

    @event("MeetingAdded")
    def _added(self, number: int, held_at: datetime) -> None:
        self.meetings[number] = held_at

    def reschedule(self, number: int, held_at: datetime) -> None:
        """Move meeting ``number``; it stays between the meetings numbered around it."""
        if number not in self.meetings:
            raise Refused(f"meeting {number} (第{number}回) has not been opened")
        self._require_in_order(number, held_at)
        self._moved(number=number, held_at=held_at)

    def _require_in_order(self, number: int, held_at: datetime) -> None:
        """Meetings are numbered in the order they are held: N after N-1, before N+1
        (the register's cutoffs, "the next meeting" and "until meeting N" rely on it)."""
        earlier = [h for n, h in self.meetings.items() if n < number]
        later = [h for n, h in self.meetings.items() if n > number]
        if earlier and held_at <= max(earlier):
            raise Refused(
                f"meeting {number} (第{number}回) cannot be held at {held_at.isoformat()}: "
                f"not after the meeting before it ({max(earlier).isoformat()})"
            )
        if later and held_at >= min(later):
            raise Refused(
                f"meeting {number} (第{number}回) cannot be held at {held_at.isoformat()}: "
                f"not before the meeting after it ({min(later).isoformat()})"
            )

    @event("MeetingMoved")
    def _moved(self, number: int, held_at: datetime) -> None:
        self.meetings[number] = held_at

    def next_after(self, at: datetime) -> tuple[int, datetime] | None:
        later = sorted((held, n) for n, held in self.meetings.items() if held > at)
        return (later[0][1], later[0][0]) if later else None


NUMBERING_ID = uuid5(NAMESPACE, "numbering")
_REMEMBERED_KEYS = 1_000  # enough to answer any retry; bounded so snapshots stay small


class Numbering(Aggregate):
    """Hands out request numbers: sequential, never reused.

    A reservation is keyed by the filing's command id, so a retried filing gets
    the number it was given the first time instead of a new one.
    """

    @staticmethod
    def create_id() -> UUID:
        return NUMBERING_ID

    @event("NumberingStarted")
    def __init__(self) -> None:
        self.last = 0
        self.keys: dict[str, int] = {}

    def reserve(self, key: str) -> int:
        if key in self.keys:
            return self.keys[key]
        self._reserved(number=self.last + 1, key=key)
        return self.last

    def claim(self, number: int, key: str) -> None:
        """Take a number given elsewhere (an imported register's No.)."""
        out_of_bounds = number_problem(number, "a request's No.")
        if out_of_bounds is not None:
            raise Refused(out_of_bounds)
        if number in self.keys.values() and self.keys.get(key) != number:
            raise Refused(f"No.{number} is already taken")
        if key not in self.keys:
            self._reserved(number=number, key=key)

    @event("NumberReserved")
    def _reserved(self, number: int, key: str) -> None:
        self.last = max(self.last, number)
        self.keys[key] = number
        if len(self.keys) > _REMEMBERED_KEYS:
            del self.keys[next(iter(self.keys))]
