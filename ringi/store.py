"""The event store: the one place events are written and read.

``RingiStore`` is an eventsourcing ``Application``: thin services over the
aggregates of ``domain``, each one a single atomic ``save``. Idempotency and
optimistic concurrency live here: a command whose id a request has already
handled writes nothing and returns the state as it is; two writers racing on
one request collide on the (aggregate, version) key and the loser retries on
fresh state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import EnvType
from pydantic import BaseModel

from . import database
from .domain.chain import HASH, PREVIOUS
from .domain.commands import Close, Command, FileRequest
from .domain.errors import Conflict, NotFound, Refused
from .domain.imported import ImportedMeeting, ImportedRequest
from .domain.meeting import (
    CALENDAR_ID,
    NUMBERING_ID,
    Meeting,
    MeetingCalendar,
    Numbering,
    meeting_id,
)
from .domain.notifications import EVERY_MEMBER, SECRETARIAT, NotificationDraft, NotificationKind
from .domain.policy import Policy
from .domain.request import NAMESPACE, Request, request_id
from .domain.subscriptions import SUBSCRIPTIONS_ID, Channel, Subscription, Subscriptions
from .domain.view import Outcome as Outcome  # re-exported: it was defined here
from .domain.view import RequestView
from .domain.vocabulary import Actor

if TYPE_CHECKING:
    from .projection.views import Summary

#: how long a writer keeps trying after losing races to other writers. Every lost
#: race means another writer got through, so the store as a whole moves on; a
#: burst of writes delays the loser, it does not fail it.
_RACE_PATIENCE_SECONDS = 10.0


def _attempts() -> Iterator[int]:
    """Attempts at a save that may lose a race, with a short random pause before
    each retry so that writers who keep colliding fall out of step."""
    give_up_at = time.monotonic() + _RACE_PATIENCE_SECONDS
    attempt = 0
    while True:
        yield attempt
        attempt += 1
        if time.monotonic() >= give_up_at:
            return
        time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))


class OutboxMessage(Aggregate):
    """A notification waiting to be delivered, recorded like every other fact."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE, f"outbox/{key}")

    @event("NotificationQueued")
    def __init__(
        self,
        key: str,
        kind: str,
        request_number: int,
        recipients: list[str],
        subject: str,
        body: str,
    ) -> None:
        self.key, self.kind, self.request_number = key, kind, request_number
        self.recipients, self.subject, self.body = recipients, subject, body
        self.delivered_to: list[str] = []
        #: subscriber → why its delivery was given up
        self.abandoned: dict[str, str] = {}

    @event("Delivered")
    def delivered(self, subscriber: str, at: datetime) -> None:
        """Sent to ``subscriber`` (a subscription's id) and accepted by it."""
        self.delivered_to.append(subscriber)

    @event("DeliveryAbandoned")
    def abandon(self, subscriber: str, at: datetime, reason: str) -> None:
        """Tried until the delivery's patience ran out, never accepted: the
        secretariat has to tell ``subscriber`` some other way."""
        self.abandoned[subscriber] = reason


class Delivery(BaseModel):
    """One notification for one subscriber."""

    key: str  # the outbox message's key
    subscriber: str  # the subscription's id
    #: how long it is tried before it is given up (the dispatcher sets it from settings)
    patience_seconds: float = 3 * 24 * 3600

    @property
    def id(self) -> str:
        """Stable across retries and restarts: receivers dedupe on it."""
        return str(uuid5(NAMESPACE, f"delivery/{self.key}/{self.subscriber}"))


class AbandonedDelivery(BaseModel):
    """A delivery given up, and why (what the receiver last answered)."""

    delivery: Delivery
    reason: str


class DeliveryBatch(BaseModel):
    """The deliveries the outbox messages after a position in the notification
    log call for, and the position to read on from."""

    position: int
    deliveries: list[Delivery]


class TimelineEntry(BaseModel):
    version: int
    event: str
    at: datetime | None
    recorded_at: datetime
    actor: dict[str, Any] | None
    meeting: int | None
    details: dict[str, Any]
    #: the event's own hash in its request's chain (``domain.chain``)
    hash: str | None = None


def plain_rows(recorder: Any, statement: Any, params: Sequence[Any]) -> list[Any]:
    """The rows of a SELECT on the SQLite or PostgreSQL recorder's own
    connection, as plain tuples: what the store's fast paths read (the log for
    the API, the request events for the replay), without eventsourcing's row
    objects."""
    if type(recorder).__module__ == "eventsourcing.postgres":
        from psycopg.rows import tuple_row

        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(statement, params, prepare=True)
            return list(cursor.fetchall())
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.row_factory = None  # plain tuples
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def postgres_events_table(recorder: Any) -> Any:
    """The PostgreSQL recorder's events table, schema-qualified, for a query's ``{table}``."""
    from psycopg.sql import SQL, Identifier

    return SQL("{}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )


def postgres_log_query(recorder: Any) -> Any:
    """``RingiStore.log_versions``' SELECT on PostgreSQL (parameters: after, limit)."""
    from psycopg.sql import SQL

    return SQL(
        "SELECT notification_id, originator_id, originator_version, topic "
        "FROM {table} WHERE notification_id>%s ORDER BY notification_id LIMIT %s"
    ).format(table=postgres_events_table(recorder))


def timeline_entry(domain_event: Any) -> TimelineEntry:
    """One of a request's stored events as its timeline shows it."""
    attrs = {k: v for k, v in domain_event.__dict__.items() if not k.startswith("originator")}
    return TimelineEntry(
        version=domain_event.originator_version,
        event=type(domain_event).__qualname__.rsplit(".", 1)[-1],
        at=attrs.pop("at", None),
        recorded_at=attrs.pop("timestamp"),
        actor=attrs.pop("actor", None),
        meeting=attrs.pop("meeting", None),
        hash=attrs.pop(HASH, None),
        details={
            k: v for k, v in attrs.items() if k not in ("command_id", "originator_topic", PREVIOUS)
        },
    )


class ImportOutcome(BaseModel):
    """What an import wrote: the rows written, the rows already in the store
    (imported before), and the meetings it opened."""

    imported: list[int]
    already: list[int]
    meetings_opened: list[int]


class _Repository(Repository[UUID]):
    """eventsourcing's repository, each aggregate read by one thread at a time.

    Its ``get`` brings a cached aggregate up to date in place (under a lock of
    that aggregate's) but deep-copies it for the caller after letting go of the
    lock, so a second thread bringing the same aggregate up to date could change
    it under the copy ("dictionary changed size during iteration"; or a copy
    half old, half new). The store's threads (a worker's activities, the
    service's calls off the event loop) all read the numbering and the meeting
    calendar: this holds one of a few striped locks across the whole ``get``.
    """

    _STRIPES = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripes = [threading.Lock() for _ in range(self._STRIPES)]

    def get(self, aggregate_id: UUID, **kwargs: Any) -> Any:
        with self._stripes[hash(aggregate_id) % self._STRIPES]:
            return super().get(aggregate_id, **kwargs)


class RingiStore(Application[UUID]):
    name = "ringi"
    snapshotting_intervals = {Numbering: 200, MeetingCalendar: 200}  # noqa: RUF012

    def construct_repository(self) -> Repository[UUID]:
        plain = super().construct_repository()
        return _Repository(
            event_store=plain.event_store,
            snapshot_store=plain.snapshot_store,
            cache_maxsize=self._cache_maxsize(),
            fastforward=plain.fastforward,
            fastforward_skipping=plain.fastforward_skipping,
            deepcopy_from_cache=plain.deepcopy_from_cache,
        )

    def _cache_maxsize(self) -> int | None:
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return int(size) if size else None

    def __init__(self, env: EnvType | None = None, *, check_schema: bool = True) -> None:
        """Opens the store; refuses (``database.SchemaError``) a database that
        ``ringi db init`` has not brought to this ringi's schema version."""
        super().__init__(env)
        if check_schema:
            try:
                database.check(self)
            except BaseException:
                self.close()
                raise

    # --- numbers and meetings ------------------------------------------------------

    def reserve_number(self, key: str) -> int:
        for _ in _attempts():
            numbering = self._get_or_none(NUMBERING_ID) or Numbering()
            assert isinstance(numbering, Numbering)
            number = numbering.reserve(key)
            try:
                self.save(numbering)
            except IntegrityError:
                continue  # another filing took the next number first: take the one after
            return number
        raise Conflict("could not reserve a request number: too many filings at once; try again")

    def open_meeting(self, number: int, held_at: datetime, actor: Actor, title: str = "") -> None:
        for _ in _attempts():
            calendar = self._get_or_none(CALENDAR_ID) or MeetingCalendar()
            assert isinstance(calendar, MeetingCalendar)
            calendar.add(number, held_at)
            meeting = Meeting(
                number=number,
                held_at=held_at,
                at=datetime.now(tz=held_at.tzinfo),
                actor=actor.model_dump(mode="json"),
                title=title,
            )
            try:
                self.save(calendar, meeting)
            except IntegrityError:
                continue
            return
        raise Conflict(f"could not open meeting {number}: the calendar kept changing; try again")

    def reschedule_meeting(
        self, number: int, held_at: datetime, reason: str, actor: Actor
    ) -> Meeting:
        """Move meeting ``number`` to ``held_at``, in the calendar and on the meeting
        itself, in one transaction (see ``Meeting.reschedule``)."""
        for _ in _attempts():
            meeting = self.meeting(number)
            meeting.reschedule(held_at, reason, datetime.now(tz=held_at.tzinfo), actor)
            calendar = self._get_or_none(CALENDAR_ID)
            assert isinstance(calendar, MeetingCalendar)  # the meeting was opened in it
            calendar.reschedule(number, held_at)
            try:
                self.save(calendar, meeting)
            except IntegrityError:
                continue
            return meeting
        raise Conflict(f"could not reschedule meeting {number}: it kept changing; try again")

    def meetings(self) -> dict[int, datetime]:
        calendar = self._get_or_none(CALENDAR_ID)
        return (
            dict(sorted(calendar.meetings.items())) if isinstance(calendar, MeetingCalendar) else {}
        )

    def next_meeting_after(self, at: datetime) -> tuple[int, datetime] | None:
        calendar = self._get_or_none(CALENDAR_ID)
        return calendar.next_after(at) if isinstance(calendar, MeetingCalendar) else None

    def meeting(self, number: int) -> Meeting:
        found = self._get_or_none(meeting_id(number))
        if not isinstance(found, Meeting):
            raise Refused(f"meeting {number} (第{number}回) has not been opened")
        return found

    def publish_register(
        self,
        number: int,
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
        """Record the publication of meeting ``number``'s register (資料2); its
        number among the meeting's publications (see ``Meeting.publish_register``)."""
        for _ in _attempts():
            meeting = self.meeting(number)
            made = meeting.publish_register(
                cutoff=cutoff,
                since=since,
                position=position,
                digest=digest,
                formats=formats,
                lang=lang,
                at=at,
                actor=actor,
                command_id=command_id,
                edition=edition,
            )
            try:
                self.save(meeting)  # nothing to save for a command already handled
            except IntegrityError:
                continue  # another publication came first: look again, this one may be it
            return made
        raise Conflict(f"could not record the publication of meeting {number}; try again")

    # --- importing a register ----------------------------------------------------------

    def import_register(
        self,
        meetings: Sequence[ImportedMeeting],
        requests: Sequence[ImportedRequest],
        policy: Policy,
        actor: Actor,
        *,
        write: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportOutcome:
        """Write an imported register: its meetings, its requests' histories and
        their numbers, in one transaction, or nothing at all.

        A row already imported (its deterministic command id) is skipped, so
        importing the same file again writes nothing; a number the store already
        holds for anything else refuses the whole import. ``write=False`` decides
        all the same and writes nothing (``ringi import --check``). ``progress``
        is told ``(rows decided, rows)`` as it goes, and ``(rows, rows)`` once written.
        """
        for _ in _attempts():
            calendar = self._get_or_none(CALENDAR_ID) or MeetingCalendar()
            numbering = self._get_or_none(NUMBERING_ID) or Numbering()
            assert isinstance(calendar, MeetingCalendar) and isinstance(numbering, Numbering)
            opened: list[Aggregate] = []
            for m in meetings:
                held = calendar.meetings.get(m.number)
                if held is not None:
                    if held != m.held_at:
                        raise Refused(
                            f"meeting {m.number} (第{m.number}回) is already held on "
                            f"{held.isoformat()}, not {m.held_at.isoformat()}; nothing was imported"
                        )
                    continue
                calendar.add(m.number, m.held_at)
                opened.append(
                    Meeting(
                        number=m.number,
                        held_at=m.held_at,
                        at=m.held_at,
                        actor=actor.model_dump(mode="json"),
                        title=m.title,
                    )
                )
            # each new request's events, made ready to store as soon as it is built, so
            # that the aggregates and their event objects need not all be held at once
            written: list[StoredEvent] = []
            imported, already = [], []
            for done, item in enumerate(requests):
                if progress is not None and done % 100 == 0:
                    progress(done, len(requests))
                line = f"line {item.source.line}: No.{item.number}"
                # most rows are new: one indexed lookup each, the aggregate read only if it is there
                oid = request_id(item.number)
                existing = self._get_or_none(oid) if self._exists(oid) else None
                if isinstance(existing, Request):
                    if not existing.has_handled(item.command_id):
                        raise Refused(
                            f"{line} is already in the store and differs from this row; "
                            "nothing was imported"
                        )
                    already.append(item.number)
                    continue
                needed = {item.source.register_meeting}
                needed |= {a.meeting for a in item.answers if a.meeting}
                needed |= {n.meeting for n in item.notes if n.meeting}
                missing = sorted(needed - calendar.meetings.keys())
                if missing:
                    raise Refused(f"{line} names meetings that are not open: {missing}")
                try:
                    numbering.claim(item.number, item.command_id)
                except Refused as taken:
                    raise Refused(f"{line}: {taken}; nothing was imported") from None
                request = Request.imported(item, policy, actor)
                if write:
                    written.extend(self.mapper.to_stored_event(e) for e in request.collect_events())
                imported.append(item.number)
            outcome = ImportOutcome(
                imported=imported,
                already=already,
                meetings_opened=[m.number for m in meetings if m.number in _numbers(opened)],
            )
            if not write or not (opened or written):
                if progress is not None:
                    progress(len(requests), len(requests))
                return outcome
            try:
                self._save_imported([calendar, numbering, *opened], written)
            except IntegrityError:
                continue  # a filing or a meeting got in between: decide again
            if progress is not None:
                progress(len(requests), len(requests))
            return outcome
        raise Conflict("could not import the register: the store kept changing; try again")

    def _save_imported(self, aggregates: list[Aggregate], stored: list[StoredEvent]) -> None:
        """What ``save(*aggregates, *requests)`` does, with the requests' events
        already mapped (``stored``): one insert, one transaction, in the same
        order; then the snapshots and the cache ``save`` would keep."""
        pending = [e for aggregate in aggregates for e in aggregate.collect_events()]
        self.recorder.insert_events([*map(self.mapper.to_stored_event, pending), *stored])
        cache = self.repository.cache
        if cache is not None and not self.repository.fastforward:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)
        for aggregate in aggregates:
            interval = self.snapshotting_intervals.get(type(aggregate))
            versions = [e.originator_version for e in pending if e.originator_id == aggregate.id]
            due = [v for v in versions if interval and v % interval == 0]
            if self.snapshots is not None and due:
                self.take_snapshot(aggregate.id, version=due[-1])

    # --- requests ----------------------------------------------------------------------

    def file(self, number: int, cmd: FileRequest, policy: Policy, at: datetime) -> Outcome:
        existing = self._get_or_none(request_id(number))
        if isinstance(existing, Request):
            if existing.has_handled(cmd.command_id):
                return Outcome(view=existing.view(), written=False)
            raise Conflict(f"No.{number} was already filed by another command")
        self.require_known(cmd)
        request = Request.file(number, cmd, policy, at)
        try:
            self.save(request, *self._outbox(request))
        except IntegrityError:
            return self.file(
                number, cmd, policy, at
            )  # a retried attempt won the race: read it back
        return Outcome(view=request.view(), written=True)

    def execute(
        self, number: int, cmd: Command, at: datetime, expected_version: int | None = None
    ) -> Outcome:
        """Carry out ``cmd`` on No.``number`` once, however often it is retried."""
        for _ in _attempts():
            request = self.request(number)
            if request.has_handled(cmd.command_id):
                return Outcome(view=request.view(), written=False)
            if expected_version is not None and request.version != expected_version:
                raise Conflict(
                    f"No.{number} is at version {request.version} in the store, "
                    f"but the command was decided at version {expected_version}"
                )
            self.require_known(cmd)
            next_meeting = self.next_meeting_after(at)
            request.handle(cmd, at, next_meeting)
            try:
                self.save(request, *self._outbox(request))
            except IntegrityError:
                continue  # someone wrote in between: decide again on fresh state
            return Outcome(view=request.view(), written=True)
        raise Conflict(f"No.{number} kept changing while {cmd.kind} was being recorded; try again")

    def request(self, number: int) -> Request:
        try:
            request: Aggregate = self.repository.get(request_id(number))
        except AggregateNotFoundError:
            raise NotFound(f"there is no request No.{number}") from None
        assert isinstance(request, Request)
        return request

    def view(self, number: int) -> RequestView:
        return self.request(number).view()

    def read_view(self, number: int) -> RequestView:
        """No.``number`` as the read model holds it, brought up to the log's head
        first (``ringi.projection``): for reads; writers fold the aggregate (``view``)."""
        from .projection.catchup import caught_up

        text = caught_up(self).view_json(number)
        if text is None:
            raise NotFound(f"there is no request No.{number}")
        return RequestView.model_validate_json(text)

    def numbers(self) -> list[int]:
        numbering = self._get_or_none(NUMBERING_ID)
        if not isinstance(numbering, Numbering):
            return []
        return [n for n in range(1, numbering.last + 1) if self._exists(request_id(n))]

    def views(self) -> Iterator[RequestView]:
        """Every request as it stands, in number order, from the read model
        (``ringi.projection``), brought up to the log's head first."""
        from .projection.catchup import caught_up, parse_views

        yield from parse_views(text for _, text in caught_up(self).views_json())

    def summaries(self) -> list[Summary]:
        """What a listing shows of every request, in number order, without
        reading their whole states (``ringi.projection``)."""
        from .projection.catchup import caught_up

        return caught_up(self).summaries()

    def timeline(self, number: int) -> list[TimelineEntry]:
        self.request(number)  # a clear refusal for an unknown number
        return [timeline_entry(e) for e in self.events.get(request_id(number))]

    def outbox(self) -> list[OutboxMessage]:
        """Every notification ever queued, in log order (the database picks them
        out by topic)."""
        found = self.recorder.select_notifications(start=None, limit=10**9, topics=[_QUEUED_TOPIC])
        return [self._message(UUID(str(n.originator_id))) for n in found]

    # --- notifications out ------------------------------------------------------------------

    def subscribe(
        self,
        recipient: str,
        channel: Channel,
        target: str,
        at: datetime,
        actor: Actor,
        secret: str = "",
        kinds: tuple[NotificationKind, ...] = (),
    ) -> Subscription:
        for _ in _attempts():
            subscriptions = self._subscriptions() or Subscriptions()
            added = subscriptions.add(
                recipient, channel, target, secret, at, actor.model_dump(mode="json"), kinds
            )
            try:
                self.save(subscriptions)
            except IntegrityError:
                continue
            return added
        raise Conflict("could not record the subscription: too many changes at once; try again")

    def unsubscribe(self, subscriber: str, at: datetime, actor: Actor) -> None:
        for _ in _attempts():
            subscriptions = self._subscriptions() or Subscriptions()
            subscriptions.end(subscriber, at, actor.model_dump(mode="json"))
            try:
                self.save(subscriptions)
            except IntegrityError:
                continue
            return
        raise Conflict(f"could not end subscription {subscriber}; try again")

    def rotate_secret(
        self, subscriber: str, secret: str, at: datetime, actor: Actor
    ) -> Subscription:
        for _ in _attempts():
            subscriptions = self._subscriptions() or Subscriptions()
            rotated = subscriptions.rotate(subscriber, secret, at, actor.model_dump(mode="json"))
            try:
                self.save(subscriptions)
            except IntegrityError:
                continue
            return rotated
        raise Conflict(f"could not replace the secret of {subscriber}; try again")

    def subscriptions(self) -> list[Subscription]:
        """The current subscriptions."""
        subscriptions = self._subscriptions()
        return subscriptions.current() if subscriptions else []

    def subscription(self, subscriber: str) -> Subscription | None:
        """A current subscription, or None if there is none by that id (any more)."""
        subscriptions = self._subscriptions()
        if subscriptions is None or not subscriptions.is_current(subscriber):
            return None
        return subscriptions.get(subscriber)

    def log_versions(self, after: int, limit: int) -> list[tuple[int, str, int, str]]:
        """The notification log after position ``after``, up to ``limit`` rows, as
        (position, originator id as 32 hex digits, version, topic): no states, and no
        ``Notification`` or ``UUID`` per row, which cost the API's read model ~15 µs a
        row when it caught up with a burst of writes."""
        recorder: Any = self.recorder
        module = type(recorder).__module__
        if module == "eventsourcing.sqlite":
            statement = (
                f"SELECT rowid, originator_id, originator_version, topic "
                f"FROM {recorder.events_table_name} WHERE rowid>? ORDER BY rowid LIMIT ?"
            )
            # the recorder writes UUID.hex; a hyphenated id would still read right
            rows = plain_rows(recorder, statement, (after, limit))
            return [(i, o.replace("-", ""), v, t) for i, o, v, t in rows]
        if module == "eventsourcing.postgres":
            rows = plain_rows(recorder, postgres_log_query(recorder), (after, limit))
            return [(i, o.hex, v, t) for i, o, v, t in rows]
        return [  # any other recorder: through its API
            (n.id, UUID(str(n.originator_id)).hex, n.originator_version, n.topic)
            for n in recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
        ]

    def deliveries_since(self, position: int, limit: int = 500) -> DeliveryBatch:
        """What the notifications queued after ``position`` in the notification log
        are to be sent to: one delivery per message and current subscription of
        one of its recipients that wants its kind, made before the message was queued."""
        found = self.recorder.select_notifications(
            start=position,
            limit=limit,
            topics=[_QUEUED_TOPIC],
            inclusive_of_start=False,
        )
        subscriptions = self.subscriptions()
        deliveries = []
        for notification in found:
            message = self._message(UUID(str(notification.originator_id)))
            deliveries += deliveries_of(message, subscriptions)
        last = found[-1].id if found else position
        return DeliveryBatch(position=last, deliveries=deliveries)

    def pending_deliveries(self) -> list[Delivery]:
        """The deliveries neither made nor given up, oldest first, from the read
        model's table of them (``ringi.projection.outbox``): as many rows read as
        there are deliveries pending, however many were made before."""
        from .projection.outbox import pending

        return pending(self)

    def outbox_message(self, key: str) -> OutboxMessage:
        found = self._get_or_none(OutboxMessage.create_id(key))
        if not isinstance(found, OutboxMessage):
            raise NotFound(f"there is no notification {key!r} in the outbox")
        return found

    def record_delivery(self, key: str, subscriber: str, at: datetime) -> bool:
        """Record that ``key`` reached ``subscriber``; False if it was already recorded."""
        for _ in _attempts():
            message = self.outbox_message(key)
            if subscriber in message.delivered_to:
                return False
            message.delivered(subscriber=subscriber, at=at)
            try:
                self.save(message)
            except IntegrityError:
                continue  # another subscriber's delivery was recorded in between
            return True
        raise Conflict(f"could not record the delivery of {key!r} to {subscriber}; try again")

    def record_abandoned_delivery(
        self, key: str, subscriber: str, at: datetime, reason: str
    ) -> bool:
        """Record that ``key`` was given up for ``subscriber``; False if that (or
        its delivery) was already recorded."""
        for _ in _attempts():
            message = self.outbox_message(key)
            if subscriber in message.delivered_to or subscriber in message.abandoned:
                return False
            message.abandon(subscriber=subscriber, at=at, reason=reason)
            try:
                self.save(message)
            except IntegrityError:
                continue
            return True
        raise Conflict(f"could not record giving up {key!r} for {subscriber}; try again")

    # --- helpers ------------------------------------------------------------------------

    def _subscriptions(self) -> Subscriptions | None:
        found = self._get_or_none(SUBSCRIPTIONS_ID)
        return found if isinstance(found, Subscriptions) else None

    def _message(self, aggregate_id: UUID) -> OutboxMessage:
        message: Aggregate = self.repository.get(aggregate_id)
        assert isinstance(message, OutboxMessage)
        return message

    def require_known(self, cmd: Command | FileRequest) -> None:
        """What ``cmd`` names exists: the meeting it was said at is open, and the
        requests it links to (a filing's related ones, the original of a duplicate)
        were filed; a link to a mistyped No. would otherwise stand for good."""
        if cmd.meeting is not None and cmd.meeting not in self.meetings():
            raise Refused(
                f"meeting {cmd.meeting} (第{cmd.meeting}回) has not been opened; "
                f"open it first with `ringi meeting open {cmd.meeting}`"
            )
        if isinstance(cmd, FileRequest):
            linked = list(cmd.related)
        elif isinstance(cmd, Close) and cmd.duplicate_of is not None:
            linked = [cmd.duplicate_of]
        else:
            return
        missing = [n for n in linked if not self._exists(request_id(n))]
        if missing:
            names = ", ".join(f"No.{n}" for n in missing)
            raise Refused(f"there is no request {names} to link to")

    def _outbox(self, request: Request) -> list[OutboxMessage]:
        return [_queued(draft) for draft in request.take_notifications()]

    def _get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))


_QUEUED_TOPIC = f"{__name__}:OutboxMessage.NotificationQueued"


def deliveries_of(message: OutboxMessage, subscriptions: Sequence[Subscription]) -> list[Delivery]:
    """What ``message`` is to be sent to: one delivery per current subscription of
    one of its recipients that wants its kind, made before the message was queued."""
    recipients = set(message.recipients)
    deliveries = []
    for sub in subscriptions:
        # a member's subscription hears what is for every member; once each
        meant = sub.recipient in recipients or (
            EVERY_MEMBER in recipients and sub.recipient != SECRETARIAT
        )
        if meant and sub.since <= message.created_on and sub.wants(message.kind):
            deliveries.append(Delivery(key=message.key, subscriber=sub.id))
    return deliveries


def _numbers(meetings: list[Aggregate]) -> set[int]:
    return {m.number for m in meetings if isinstance(m, Meeting)}


def _queued(draft: NotificationDraft) -> OutboxMessage:
    return OutboxMessage(
        key=draft.key,
        kind=draft.kind.value,
        request_number=draft.request_number,
        recipients=list(draft.recipients),
        subject=draft.subject,
        body=draft.body,
    )
