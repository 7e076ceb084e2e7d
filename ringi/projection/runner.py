"""Keeping the projection current beside the worker: eventsourcing's ``ProjectionRunner``.

The runner subscribes to the store's recorder and hands every new request event
to ``RequestProjection.process_event``, which catches the projection up to the
log's head in batches (``catchup.catch_up``): a burst of events is folded in
one transaction, and the events the subscription still delivers after it are
already behind the tracking position. PostgreSQL's recorder is subscribed to
with LISTEN/NOTIFY; eventsourcing's SQLite recorder takes no subscriptions, so
on SQLite the runner's store uses ``PollingSQLiteRecorder``, whose subscription
is eventsourcing's own pulling one, woken by a timer instead of a NOTIFY.

``keep_current`` runs it in a thread of the worker (and so of ``ringi up``):
catches up first in bulk (the subscription would decode every event of a long
log one by one), then runs the runner, and restarts it after an error. Every
so often it also keeps the checkpoints of meetings whose day is over.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from eventsourcing.persistence import ListenNotifySubscription, Subscription, Tracking
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from ..domain.request import Request
from ..register.fold import APPLIERS
from .catchup import catch_up, views_of
from .views import PROJECTION, RequestViews, SQLiteRequestViews, postgres_views_class

log = structlog.get_logger("ringi.projection")

#: how often the SQLite subscription looks for new events, seconds
POLL_SECONDS = 0.2
#: how often meetings whose day is over are given their checkpoints, seconds
CHECKPOINT_SECONDS = 60.0


class PollingSubscription(ListenNotifySubscription[Any]):
    """eventsourcing's pulling subscription, woken every ``POLL_SECONDS`` (SQLite
    has no NOTIFY to wake it)."""

    def __init__(self, recorder: Any, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="ringi-poll")
        self._ticker.start()

    def _tick(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            threading.Event().wait(POLL_SECONDS)


class PollingSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, subscribable (``APPLICATION_RECORDER_TOPIC``)."""

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        return PollingSubscription(self, gt=gt, topics=topics)


class RequestProjection(Projection[RequestViews]):
    """Every request event brings the projection to the log's head (in batches)."""

    name = PROJECTION
    topics = tuple(sorted(t for t in APPLIERS if t.startswith(get_topic(Request) + ".")))

    def __init__(self, view: RequestViews) -> None:
        super().__init__(view)
        self.store: Any = None  # the runner's store, set once the runner has made it

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if tracking.notification_id <= self.view.position():
            return  # a batch already folded it
        catch_up(self.store)


def runner_env(env: dict[str, str]) -> dict[str, str]:
    if env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        return env | {"APPLICATION_RECORDER_TOPIC": get_topic(PollingSQLiteRecorder)}
    return env


def view_class(env: dict[str, str]) -> type[Any]:
    if env.get("PERSISTENCE_MODULE", "").endswith("postgres"):
        return postgres_views_class()  # type: ignore[no-any-return]
    return SQLiteRequestViews


def start_runner(env: dict[str, str]) -> ProjectionRunner[Any, Any]:
    from ..store import RingiStore

    runner: ProjectionRunner[Any, Any] = ProjectionRunner(
        application_class=RingiStore,
        projection_class=RequestProjection,
        view_class=view_class(env),
        env=runner_env(env),
    )
    runner.projection.store = runner.app  # type: ignore[attr-defined]
    return runner


def keep_checkpoints(store: Any) -> list[int]:
    """Fold and keep the register of every meeting whose day is over and that has
    no checkpoint yet; the meetings it kept."""
    from ..register.replay import meeting_cutoff, replay
    from .checkpoints import key

    views = views_of(store)
    have = {(c.cutoff_at, c.position_limit) for c in views.checkpoints()}
    now = datetime.now(tz=UTC)
    kept = []
    for number in store.meetings():
        cutoff = meeting_cutoff(store, number)
        if cutoff.at < now and key(cutoff) not in have:
            replay(store, cutoff)
            kept.append(number)
    return kept


def keep_current(env: dict[str, str], stop: threading.Event) -> None:
    """Keep the projection current until ``stop`` is set (a thread's target)."""
    from ..store import RingiStore

    while not stop.is_set():
        try:
            store = RingiStore(env=env)
            try:
                applied = catch_up(store)
                if applied:
                    log.info("projection caught up", events=applied)
                runner = start_runner(env)
                with runner:
                    log.info("projection runner started")
                    next_checkpoints = 0.0
                    clock = threading.Event()
                    while not stop.is_set() and not runner.is_interrupted.is_set():
                        next_checkpoints -= 1.0
                        if next_checkpoints <= 0:
                            kept = keep_checkpoints(store)
                            if kept:
                                log.info("registers kept as checkpoints", meetings=kept)
                            next_checkpoints = CHECKPOINT_SECONDS
                        clock.wait(1.0)
                    runner.run_forever(timeout=0)  # raises what stopped it, if anything
            finally:
                store.close()
        except Exception as error:
            log.warning("the projection runner stopped; starting it again", error=str(error))
            stop.wait(5.0)
