"""The outbox's pending deliveries, kept in the read model (``ringi_outbox_pending``).

What waits to be sent used to be found by reading every notification ever
queued and loading every outbox message (the readiness probe's backlog on a
fresh process, ``store.outbox()``), so it grew with every message delivered.
This table holds a row per delivery neither made nor given up, and nothing
else: reading it costs as many rows as are pending.

It is a fold of the log, like the requests' tables, with a tracking record of
its own (``views.OUTBOX``, so the readiness probe's projection lag stays the
requests'): a batch reads the outbox's and the subscriptions' events after its
position and, in the transaction that moves the position,

- a queued notification adds one row per delivery it calls for, by the rule
  the dispatcher follows (``store.deliveries_of``), with the subscriptions as
  they stood where it was queued;
- a delivery made (``Delivered``) or given up (``DeliveryAbandoned``) removes its row;
- a subscription ended removes its rows: the delivery workflow sends nothing to
  an ended subscription, and records nothing either.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ..domain.subscriptions import SUBSCRIPTIONS_ID, Subscriptions
from .views import OUTBOX, RequestViews, _value

if TYPE_CHECKING:
    from ..store import Delivery, RingiStore

#: events read in one transaction
BATCH = 5_000


def _topics() -> tuple[str, str, str]:
    from ..store import OutboxMessage

    base = get_topic(OutboxMessage)
    return (f"{base}.NotificationQueued", f"{base}.Delivered", f"{base}.DeliveryAbandoned")


def catch_up(store: RingiStore, batch_size: int = BATCH) -> int:
    """Fold the outbox's events after the table's position onto it; the events folded."""
    from eventsourcing.persistence import OperationalError

    from .catchup import caught_up_layout

    views = caught_up_layout(store)
    folded = 0
    refused = 0
    while True:
        try:
            done, count = _batch(store, views, batch_size)
        except OperationalError:
            # SQLite: another writer came in first; the batch wrote nothing
            refused += 1
            if refused > 50:
                raise
            time.sleep(0.02 * (1 + refused % 5))
            continue
        folded += count
        if done:
            return folded


def _batch(store: RingiStore, views: RequestViews, limit: int) -> tuple[bool, int]:
    """One transaction: (whether it reached the head, events folded)."""
    from ..store import deliveries_of

    sql = views._sql
    queued, delivered, abandoned = _topics()
    postgres = views.dialect == "postgres"
    subs_id: Any = SUBSCRIPTIONS_ID if postgres else SUBSCRIPTIONS_ID.hex
    with views._transaction(commit=True) as c:
        c.execute(
            sql(
                "INSERT INTO {tracking} (application_name, notification_id) VALUES (?, 0) "
                "ON CONFLICT (application_name) DO NOTHING"
            ),
            (OUTBOX,),
        )
        c.execute(sql(views.tracking_lock), (OUTBOX,))
        position = int(_value(c.fetchone(), 0))
        c.execute(sql("SELECT MAX({n}) FROM {events}"))
        head = int(_value(c.fetchone(), 0) or 0)
        if position >= head:
            return True, 0
        c.execute(
            sql(
                "SELECT {n}, originator_id, originator_version, topic, state FROM {events} "
                "WHERE {n}>? AND {n}<=? AND (topic IN (?,?,?) OR originator_id=?) "
                "ORDER BY {n} LIMIT ?"
            ),
            (position, head, queued, delivered, abandoned, subs_id, limit),
        )
        rows = views._rows(c)
        reached = head if len(rows) < limit else int(rows[-1][0])
        # read where first needed: a batch of deliveries recorded needs none
        subscriptions: Subscriptions | None = None
        known = False
        for n, oid, version, topic, state in rows:
            event: Any = store.mapper.to_domain_event(
                StoredEvent(
                    originator_id=oid if isinstance(oid, UUID) else UUID(str(oid)),
                    originator_version=int(version),
                    topic=str(topic),
                    state=bytes(state),
                )
            )
            if not known and (topic == queued or topic not in (delivered, abandoned)):
                subscriptions = _subscriptions_at(store, views, c, int(n) - 1, subs_id)
                known = True
            if topic == queued:
                message = event.mutate(None)
                current = subscriptions.current() if subscriptions is not None else []

                c.executemany(
                    sql(
                        "INSERT INTO {pending} (oid, subscriber, key, position) VALUES (?,?,?,?) "
                        "ON CONFLICT (oid, subscriber) DO NOTHING"
                    ),
                    [
                        (_hex(oid), d.subscriber, d.key, int(n))
                        for d in deliveries_of(message, current)
                    ],
                )
            elif topic in (delivered, abandoned):
                c.execute(
                    sql("DELETE FROM {pending} WHERE oid=? AND subscriber=?"),
                    (_hex(oid), event.subscriber),
                )
            else:  # the subscriptions' own events
                subscriptions = event.mutate(subscriptions)
                if topic.endswith(".Unsubscribed"):
                    c.execute(sql("DELETE FROM {pending} WHERE subscriber=?"), (event.sid,))
        c.execute(
            sql("UPDATE {tracking} SET notification_id=? WHERE application_name=?"),
            (reached, OUTBOX),
        )
        return reached >= head, len(rows)


def _subscriptions_at(
    store: RingiStore, views: RequestViews, c: Any, position: int, subs_id: Any
) -> Subscriptions | None:
    """The subscriptions as they stood at log position ``position``."""
    c.execute(
        views._sql("SELECT MAX(originator_version) FROM {events} WHERE originator_id=? AND {n}<=?"),
        (subs_id, position),
    )
    version = _value(c.fetchone(), 0)
    if version is None:
        return None
    found: Any = store.repository.get(SUBSCRIPTIONS_ID, version=int(version))
    assert isinstance(found, Subscriptions)
    return found


def _hex(oid: Any) -> str:
    return oid.hex if isinstance(oid, UUID) else str(oid).replace("-", "")


def pending(store: RingiStore) -> list[Delivery]:
    """The deliveries neither made nor given up, oldest first (caught up first)."""
    from ..store import Delivery

    views = caught_up_outbox(store)
    with views._transaction(commit=False) as c:
        c.execute(views._sql("SELECT key, subscriber FROM {pending} ORDER BY position, subscriber"))
        return [Delivery(key=str(k), subscriber=str(s)) for k, s in views._rows(c)]


def pending_count(store: RingiStore) -> int:
    views = caught_up_outbox(store)
    with views._transaction(commit=False) as c:
        c.execute(views._sql("SELECT COUNT(*) FROM {pending}"))
        return int(_value(c.fetchone(), 0))


def position(views: RequestViews) -> int:
    return int(views.max_tracking_id(OUTBOX) or 0)


def caught_up_outbox(store: RingiStore) -> RequestViews:
    """The read model, its outbox table brought up to the store's head first."""
    from .catchup import caught_up_layout

    views = caught_up_layout(store)
    if position(views) < views.head():
        catch_up(store)
    return views
