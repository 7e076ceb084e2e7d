"""The register as of a moment or a meeting, folded from the stored events only.

Nothing here reads a request's current state: the event log is streamed once,
in pages, and each request's events are folded with the aggregate's own event
classes (``mapper.to_domain_event`` then ``event.mutate``), exactly as the
repository would fold them, but stopping at the cutoff.

The cutoff
----------
- **As of a moment T**: a request's state is the fold of its events up to the
  first one whose domain time (``at``, when it happened; for native events the
  moment the workflow recorded it) is after T. Per request it is a prefix of
  its events, so a state is always one the request really passed through.
- **As of meeting N**: as of the end of meeting N's day in Japan (23:59:59.999999
  JST on the date of ``held_at``), so everything recorded on the meeting's day,
  the answers tagged with it among them, is in. An answer recorded after that
  day, even if tagged with meeting N, belongs to a later register.
- **A published meeting** (``RegisterPublished``): the publication's own cutoff,
  and the event log only up to the position it had when it was published. What
  the register said is then fixed for good: neither events recorded later (a
  late answer dated that day, an import of older history) nor a meeting opened
  later between two others changes it, so its digest can be checked at any time.
  A meeting published more than once replays as its latest publication.

The register of meeting N shows every request open at its cutoff and those
that closed (or were released) since the previous meeting's cutoff (``since``).
As of a moment, the previous meeting is the last one whose day ended before
that moment.

Imported requests carry upper bounds for their times (see
``ringi.register.importer``); as of an earlier meeting they show what was
certainly said by then.

Two folds
---------
``replay`` and ``replay_many`` fold with ``ringi.register.fold``: only the
request events are read, as plain rows, and each is folded by calling the
``Request`` aggregate's own event-apply function on a light shell (no domain
event objects, no mapper). With ``reference=True`` they fold the way the
repository does, through the mapper and ``event.mutate``; they also fall back to
that fold when the fast one cannot fold a log (a broken or tampered one), so
that the error is the reference fold's. Both give equal views
(``tests/test_replay_fast.py``).
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from ..domain.errors import Refused
from ..domain.lifecycle import JST, end_of_day
from ..domain.meeting import Meeting, Publication
from ..domain.request import Request, request_id
from ..domain.view import RequestView
from ..domain.vocabulary import Stage
from ..store import RingiStore
from .edition import EDITION, TAGGED_ANSWERS_SINCE
from .fold import REQUEST_TOPICS, Folder, Unfoldable, request_rows

PAGE = 2_000


class ReplayError(Refused):
    """The stored events do not fold (a broken or tampered log)."""


@dataclass(frozen=True)
class Cutoff:
    """Which events a replay folds: domain time up to ``at`` and, if given, the
    event log up to ``position`` (both inclusive)."""

    at: datetime
    position: int | None = None
    since: datetime | None = None  # closed after this: still in the register
    meeting: int | None = None
    held_at: datetime | None = None
    date_is_placeholder: bool = False
    published: bool = False
    edition: int = EDITION  # of the register's rules (``ringi.register.edition``)


def meeting_cutoff(store: RingiStore, number: int, *, published: bool = True) -> Cutoff:
    """The cutoff of meeting ``number``: its latest publication's if it was
    published (and ``published``), otherwise the end of its day."""
    meeting = store.meeting(number)
    if published and meeting.publications:
        return publication_cutoff(number, meeting, meeting.publications[-1])
    earlier = [held for n, held in store.meetings().items() if n < number]
    return Cutoff(
        at=end_of_day(meeting.held_at),
        since=end_of_day(max(earlier)) if earlier else None,
        meeting=number,
        held_at=meeting.held_at,
        date_is_placeholder=meeting.date_is_placeholder,
    )


def publication_cutoff(number: int, meeting: Meeting, publication: Publication) -> Cutoff:
    """What ``publication`` of meeting ``number`` was folded from, with the meeting's
    date as it stood then: a meeting moved later keeps the register it published."""
    return Cutoff(
        at=publication.cutoff,
        position=publication.position,
        since=publication.since,
        meeting=number,
        held_at=meeting.held_at_when(publication.at),
        date_is_placeholder=meeting.placeholder_when(publication.at),
        published=True,
        edition=publication.edition,
    )


def moment_cutoff(store: RingiStore, at: datetime) -> Cutoff:
    """The cutoff of the moment ``at`` (any time zone; naive means Japan)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=JST)
    ended = [end_of_day(held) for held in store.meetings().values() if end_of_day(held) < at]
    return Cutoff(at=at, since=max(ended) if ended else None)


@dataclass
class Replay:
    cutoff: Cutoff
    position: int  # the last notification the replay could see
    events: int  # request events folded
    views: dict[int, RequestView]

    def rows(self) -> list[RequestView]:
        """The register's rows: open at the cutoff, or closed since ``since``, or
        ended earlier but given an answer tagged with this meeting since then (a
        correction the secretariat reports at the meeting; one it does not tag
        leaves the request where it ended)."""
        since = self.cutoff.since
        # the meeting whose tagged answers bring an ended request back (edition 2)
        reported = self.cutoff.meeting if self.cutoff.edition >= TAGGED_ANSWERS_SINCE else None
        return [
            view
            for _, view in sorted(self.views.items())
            if view.is_open
            or since is None
            or _ended_at(view) > since
            or (reported is not None and _answered_at(view, reported, since))
        ]


def _answered_at(view: RequestView, meeting: int, since: datetime) -> bool:
    return any(a.meeting == meeting and a.at > since for a in view.answers)


def _ended_at(view: RequestView) -> datetime:
    if view.closure is not None:
        return view.closure.at
    return view.released_at or view.updated_at


def replay(
    store: RingiStore,
    cutoff: Cutoff,
    *,
    page: int = PAGE,
    reference: bool = False,
    projected: bool = True,
) -> Replay:
    """Every request as of ``cutoff``: read from the projection where it holds
    that fold (``ringi.projection.checkpoints``), else from one pass over the
    event log, kept as a checkpoint where the cutoff is settled (with
    ``reference``, always folded, through the mapper and the aggregate's
    ``mutate``). ``projected=False`` folds the events whatever the projection
    holds: what an audit checks the projection against."""
    if not reference and not projected:
        try:
            with collector_paused():
                return _replay_fast(store, cutoff, page)
        except Unfoldable:
            pass  # the reference fold names what is wrong with the log
    elif not reference:
        from ..projection import checkpoints

        found = checkpoints.read(store, cutoff)
        if found is not None:
            return Replay(cutoff, found.position, found.events, found.views)
        try:
            with collector_paused():
                fast = _replay_fast(store, cutoff, page)
        except Unfoldable:
            pass  # the reference fold names what is wrong with the log
        else:
            checkpoints.keep(store, [fast])
            return fast
    top = store.recorder.max_notification_id() or 0
    stop = top if cutoff.position is None else min(top, cutoff.position)
    folded: dict[UUID | str, Any] = {}
    stopped: set[UUID | str] = set()
    count = 0
    to_domain = store.mapper.to_domain_event
    for notification in _notifications(store, stop, page):
        if not notification.topic.startswith(REQUEST_TOPICS):
            continue
        oid = notification.originator_id
        if oid in stopped:
            continue
        domain_event = _decode(to_domain, notification)
        if _at(domain_event) > cutoff.at:
            stopped.add(oid)  # a prefix: nothing after the first event past the cutoff
            continue
        folded[oid] = _mutate(domain_event, folded.get(oid))
        count += 1
    views = {}
    for aggregate in folded.values():
        view = _view(aggregate)
        views[view.number] = view
    return Replay(cutoff=cutoff, position=stop, events=count, views=views)


def replay_many(
    store: RingiStore,
    cutoffs: Sequence[Cutoff],
    *,
    page: int = PAGE,
    reference: bool = False,
    projected: bool = True,
) -> list[Replay]:
    """The replays of several cutoffs (each as ``replay`` would give it): those the
    projection holds read from it, the others from one pass over the event log
    when they nest (each later one's time and position at or after the one
    before, as successive meetings' do), otherwise one pass each."""
    if not cutoffs:
        return []
    if not reference and not projected:
        return _replay_many_folded(store, cutoffs, page=page, keep=False)
    if not reference:
        from ..projection import checkpoints

        read = checkpoints.read_many(store, cutoffs)
        missing = [c for c, found in zip(cutoffs, read, strict=True) if found is None]
        folded = iter(_replay_many_folded(store, missing, page=page) if missing else [])
        replays = [
            Replay(c, found.position, found.events, found.views)
            if found is not None
            else next(folded)
            for c, found in zip(cutoffs, read, strict=True)
        ]
        return replays
    return _replay_many_folded(store, cutoffs, page=page, reference=True)


def _replay_many_folded(
    store: RingiStore,
    cutoffs: Sequence[Cutoff],
    *,
    page: int = PAGE,
    reference: bool = False,
    keep: bool = True,
) -> list[Replay]:
    """``replay_many`` by folding the log (fast, or with ``reference``), the
    settled cutoffs' folds kept as checkpoints."""
    top = store.recorder.max_notification_id() or 0
    limits = [(top if c.position is None else min(top, c.position), c.at) for c in cutoffs]
    order = sorted(range(len(cutoffs)), key=lambda i: limits[i])
    if any(limits[a][1] > limits[b][1] for a, b in itertools.pairwise(order)):
        return [replay(store, c, page=page, reference=reference, projected=keep) for c in cutoffs]
    if not reference:
        try:
            with collector_paused():
                replays = _replay_many_fast(store, cutoffs, limits, order, page)
        except Unfoldable:
            pass  # the reference fold names what is wrong with the log
        else:
            if keep:
                from ..projection import checkpoints

                checkpoints.keep(store, replays)
            return replays
    folded: dict[UUID | str, Any] = {}
    live: dict[UUID | str, int] = {}  # the first cutoff (in ``order``) the fold still belongs to
    views: list[dict[int, RequestView]] = [{} for _ in cutoffs]
    counts = [0] * len(cutoffs)
    to_domain = store.mapper.to_domain_event
    last = len(order)
    for notification in _notifications(store, limits[order[-1]][0], page):
        if not notification.topic.startswith(REQUEST_TOPICS):
            continue
        oid = notification.originator_id
        k = live.get(oid, 0)
        if k == last:
            continue
        domain_event = _decode(to_domain, notification)
        at = _at(domain_event)
        while k < last and (notification.id > limits[order[k]][0] or at > limits[order[k]][1]):
            if oid in folded:  # what this cutoff sees of the request: the fold so far
                views[order[k]][folded[oid].state.number] = _view(folded[oid], copy=True)
            k += 1
        live[oid] = k
        if k < last:
            folded[oid] = _mutate(domain_event, folded.get(oid))
            for i in order[k:]:
                counts[i] += 1
    for oid, aggregate in folded.items():
        for i in order[live.get(oid, 0) :]:
            views[i][aggregate.state.number] = _view(aggregate, copy=True)
    return [
        Replay(cutoff=c, position=limits[i][0], events=counts[i], views=views[i])
        for i, c in enumerate(cutoffs)
    ]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration (if it was on).

    A replay allocates millions of objects that stay alive (the register being
    built) and few cycles; with the collector on, every full collection on the
    way walks the whole register built so far again, which at a million events
    costs as much as the fold itself. Reference counting still frees everything
    that is dropped; the collector runs again as usual afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _replay_fast(store: RingiStore, cutoff: Cutoff, page: int) -> Replay:
    top = store.recorder.max_notification_id() or 0
    stop = top if cutoff.position is None else min(top, cutoff.position)
    folder = Folder(store)
    stopped: set[Any] = set()
    count = 0
    limit = cutoff.at
    decode, apply = folder.decode, folder.apply
    for rows in request_rows(store, stop, page):
        for row in rows:
            if row[1] in stopped:
                continue
            applier, kwargs, at = decode(row)
            if at > limit:
                stopped.add(row[1])  # a prefix: nothing after the first event past the cutoff
                continue
            apply(row, applier, kwargs)
            count += 1
    views = {}
    for oid in folder.shells:
        view = folder.view(oid)
        views[view.number] = view
    return Replay(cutoff=cutoff, position=stop, events=count, views=views)


def _replay_many_fast(
    store: RingiStore,
    cutoffs: Sequence[Cutoff],
    limits: list[tuple[int, datetime]],
    order: list[int],
    page: int,
) -> list[Replay]:
    """``replay_many``'s single pass (nested cutoffs), with the fast fold."""
    folder = Folder(store)
    live: dict[Any, int] = {}  # the first cutoff (in ``order``) the fold still belongs to
    views: list[dict[int, RequestView]] = [{} for _ in cutoffs]
    counts = [0] * len(cutoffs)
    last = len(order)
    shells = folder.shells
    for rows in request_rows(store, limits[order[-1]][0], page):
        for row in rows:
            oid = row[1]
            k = live.get(oid, 0)
            if k == last:
                continue
            applier, kwargs, at = folder.decode(row)
            while k < last and (row[0] > limits[order[k]][0] or at > limits[order[k]][1]):
                if oid in shells:  # what this cutoff sees of the request: the fold so far
                    view = folder.view(oid, copy=True)
                    views[order[k]][view.number] = view
                k += 1
            live[oid] = k
            if k < last:
                folder.apply(row, applier, kwargs)
                for i in order[k:]:
                    counts[i] += 1
    for oid in shells:
        for i in order[live.get(oid, 0) :]:
            view = folder.view(oid, copy=True)
            views[i][view.number] = view
    return [
        Replay(cutoff=c, position=limits[i][0], events=counts[i], views=views[i])
        for i, c in enumerate(cutoffs)
    ]


def _view(aggregate: Any, *, copy: bool = False) -> RequestView:
    assert isinstance(aggregate, Request)
    view = aggregate.state.model_copy(deep=True) if copy else aggregate.state
    assert isinstance(view, RequestView)
    view.version = aggregate.version
    return view


def request_as_of(store: RingiStore, number: int, cutoff: Cutoff) -> RequestView:
    """No.``number`` as of ``cutoff``; refused if it had not been filed by then."""
    oid = request_id(number)
    aggregate: Any = None
    if cutoff.position is None:
        stored = store.recorder.select_events(oid)
    else:
        top = min(store.recorder.max_notification_id() or 0, cutoff.position)
        stored = [n for n in _notifications(store, top, PAGE) if n.originator_id == oid]
    for record in stored:
        domain_event = _decode(store.mapper.to_domain_event, record)
        if _at(domain_event) > cutoff.at:
            break
        aggregate = _mutate(domain_event, aggregate)
    if not isinstance(aggregate, Request):
        raise Refused(f"No.{number} had not been filed by {cutoff.at.isoformat()}")
    return aggregate.view()


def request_steps(
    store: RingiStore, *, page: int = PAGE
) -> list[tuple[UUID | str, datetime, int, Stage, bool]]:
    """Every request event in the log's order as (request's aggregate id, the
    event's domain time, and after it the request's number, stage and
    ``support_known``): for whoever needs the way there, not only where it ends
    (the stays in each stage of ``ringi.web.charts``). By the fast fold; by the
    reference fold, which names the problem, where the fast one cannot fold."""
    try:
        with collector_paused():
            return _steps_fast(store, page)
    except Unfoldable:
        pass
    return [
        (oid, at, after.state.number, after.state.stage, after.state.support_known)
        for oid, at, after in _reference_steps(store, page=page)
    ]


def _steps_fast(store: RingiStore, page: int) -> list[tuple[Any, datetime, int, Stage, bool]]:
    folder = Folder(store)
    steps = []
    top = store.recorder.max_notification_id() or 0
    for rows in request_rows(store, top, page):
        for row in rows:
            applier, kwargs, at = folder.decode(row)
            folder.apply(row, applier, kwargs)
            state = folder.shells[row[1]].state
            steps.append((row[1], at, state.number, state.stage, state.support_known))
    return steps


def _reference_steps(
    store: RingiStore, *, page: int = PAGE
) -> Iterator[tuple[UUID | str, datetime, Request]]:
    """``request_steps`` by the reference fold: the aggregate is the same object
    from step to step, changed in place."""
    top = store.recorder.max_notification_id() or 0
    folded: dict[UUID | str, Request] = {}
    to_domain = store.mapper.to_domain_event
    for notification in _notifications(store, top, page):
        if not notification.topic.startswith(REQUEST_TOPICS):
            continue
        oid = notification.originator_id
        domain_event = _decode(to_domain, notification)
        after = _mutate(domain_event, folded.get(oid))
        assert isinstance(after, Request)
        folded[oid] = after
        yield oid, _at(domain_event), after


def _notifications(store: RingiStore, stop: int, page: int) -> Iterator[Notification]:
    start: int | None = None
    while True:
        batch = store.recorder.select_notifications(
            start=start, limit=page, stop=stop, inclusive_of_start=False
        )
        if not batch:
            return
        yield from batch
        start = batch[-1].id
        if start >= stop:
            return


def _at(domain_event: Any) -> datetime:
    at = getattr(domain_event, "at", None)
    return at if isinstance(at, datetime) else domain_event.timestamp


def _decode(to_domain: Any, record: StoredEvent) -> Any:
    try:
        return to_domain(record)
    except Exception as error:
        raise ReplayError(
            f"the stored event at version {record.originator_version} of aggregate "
            f"{record.originator_id} cannot be read: {error}"
        ) from error


def _mutate(domain_event: Any, aggregate: Any) -> Any:
    try:
        return domain_event.mutate(aggregate)
    except Exception as error:
        raise ReplayError(
            f"the event {type(domain_event).__qualname__} (aggregate "
            f"{domain_event.originator_id}, version {domain_event.originator_version}) "
            f"does not fold: {type(error).__name__}: {error}"
        ) from error
