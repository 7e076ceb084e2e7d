"""Reading the stored records themselves, page by page, the way the recorder
holds them: no aggregate is folded and no more than one page is in memory."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import resolve_topic

from ..domain.chain import ChainedAggregate
from ..domain.meeting import NUMBERING_ID, Meeting, Numbering, meeting_id
from ..domain.request import Request, request_id
from ..store import RingiStore

#: records read at a time
PAGE = 500

Subject = Literal["request", "meeting", "log", "publication", "read model"]


def notifications(store: RingiStore, page: int = PAGE) -> Iterator[Notification]:
    """Every stored event of every aggregate in the order they were recorded."""
    start: int | None = None
    while True:
        batch = store.recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].id


def aggregate_events(
    store: RingiStore, originator_id: UUID, page: int = PAGE
) -> Iterator[StoredEvent]:
    """One aggregate's stored events in version order."""
    after: int | None = None
    while True:
        batch = store.recorder.select_events(originator_id, gt=after, limit=page)
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].originator_version


def highest_number(store: RingiStore) -> int:
    """The highest request number handed out so far."""
    numbering = store._get_or_none(NUMBERING_ID)
    return numbering.last if isinstance(numbering, Numbering) else 0


def last_version(store: RingiStore, originator_id: UUID) -> int:
    last = store.recorder.select_events(originator_id, desc=True, limit=1)
    return last[0].originator_version if last else 0


def decode(store: RingiStore, state: bytes | str) -> dict[str, Any]:
    """The stored state of an event as the mapper reads it, before any upcasting:
    exactly what was hashed (raises if the bytes are not a stored state). Text is
    read as its UTF-8 bytes: SQL string functions turn an edited blob into text."""
    if isinstance(state, str):
        state = state.encode("utf-8")
    mapper = store.mapper
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    decoded = mapper.transcoder.decode(state)
    if not isinstance(decoded, dict):
        raise ValueError(f"a stored state is a JSON object, not {type(decoded).__name__}")
    return decoded


def event_name(topic: str) -> str:
    """``ringi.domain.request:Request.Endorsed`` → ``Endorsed``."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def aggregate_name(topic: str) -> str:
    """``ringi.domain.request:Request.Endorsed`` → ``Request``."""
    return topic.rsplit(":", 1)[-1].split(".", 1)[0]


@functools.lru_cache(maxsize=256)
def chained_subject(topic: str) -> Subject | None:
    """Whose chain an event of this topic belongs to: ``request``, ``meeting``, or
    None for the events of aggregates that are not chained. A topic that no longer
    resolves to a class (a stored topic edited in the database, or a class renamed
    without registering its old topic) is taken at its word."""
    try:
        cls = resolve_topic(topic)
    except Exception:  # a topic of nothing: judged by its name below
        cls = None
    if isinstance(cls, type):
        if issubclass(cls, Request.Event):
            return "request"
        if issubclass(cls, Meeting.Event):
            return "meeting"
        if issubclass(cls, ChainedAggregate.Event):
            return "request"
        return None
    name = aggregate_name(topic)
    return "meeting" if name == "Meeting" else "request" if name == "Request" else None


class Numbers:
    """Request and meeting numbers from aggregate ids (uuid5 of the number)."""

    def __init__(self) -> None:
        self._known: dict[UUID, tuple[Subject, int]] = {}
        self._upto = 0

    def learn(self, originator_id: UUID, subject: Subject, number: int) -> None:
        """Remember the number a first event states, if the id is that number's:
        an edited event cannot lend its request another's number."""
        if originator_id in (request_id(number), meeting_id(number)):
            self._known[originator_id] = (subject, number)

    def number_of(self, originator_id: UUID, beyond: int = 0) -> int | None:
        """The number whose id this is, if it is one of the first ``beyond`` + 1000."""
        found = self._known.get(originator_id)
        if found is not None:
            return found[1]
        limit = beyond + 1000
        while self._upto < limit:
            self._upto += 1
            self._known.setdefault(request_id(self._upto), ("request", self._upto))
            self._known.setdefault(meeting_id(self._upto), ("meeting", self._upto))
        found = self._known.get(originator_id)
        return found[1] if found else None
