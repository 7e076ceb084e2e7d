"""The outbox's pending deliveries (``ringi.projection.outbox``), on both stores.

The table holds exactly the deliveries the dispatcher's scan calls for
(``store.deliveries_since``) that are neither made nor given up, after
deliveries, failures given up, retries recorded twice and subscriptions ended;
a rebuild makes it again; and it is read without reading the messages already
delivered.
"""

from __future__ import annotations

from datetime import datetime

from ringi.domain.commands import RecordAnswer
from ringi.domain.lifecycle import JST
from ringi.domain.notifications import SECRETARIAT
from ringi.domain.subscriptions import Channel
from ringi.health import OutboxBacklog
from ringi.projection import outbox
from ringi.projection.catchup import rebuild, views_of
from ringi.store import Delivery, RingiStore
from tests.domain_builders import OUTSIDER, PROPOSER, State, day, scenario, secretariat
from tests.test_store import play

T = datetime(2017, 1, 1, tzinfo=JST)


def _scanned(store: RingiStore) -> list[Delivery]:
    """The old way: every delivery the log calls for, less those recorded as made
    or given up, each message loaded."""
    waiting = []
    current = {s.id for s in store.subscriptions()}
    for d in store.deliveries_since(0, limit=10**6).deliveries:
        message = store.outbox_message(d.key)
        done = d.subscriber in message.delivered_to or d.subscriber in message.abandoned
        if not done and d.subscriber in current:
            waiting.append(d)
    return waiting


def _key(d: Delivery) -> tuple[str, str]:
    return d.key, d.subscriber


def test_pending_deliveries_are_what_is_neither_made_nor_given_up(store: RingiStore) -> None:
    subs = {
        who: store.subscribe(who, Channel.EMAIL, f"{i}@example.jp", T, secretariat())
        for i, who in enumerate((OUTSIDER, PROPOSER, SECRETARIAT))
    }
    number, _ = play(store, scenario(State.OBJECTION_WINDOW))
    store.execute(number, RecordAnswer(actor=secretariat(), text="検討中"), day(8))
    backlog = OutboxBacklog(store)

    everything = store.deliveries_since(0, limit=10**6).deliveries
    assert len(everything) > 6
    assert store.pending_deliveries() == everything  # nothing sent yet, in queue order
    assert backlog.count() == len(everything)

    made, given_up, retried = everything[0], everything[1], everything[2]
    assert store.record_delivery(made.key, made.subscriber, day(9))
    assert store.record_abandoned_delivery(given_up.key, given_up.subscriber, day(9), "gave up")
    assert store.record_delivery(retried.key, retried.subscriber, day(9))
    # a retry after the delivery got through records nothing more
    assert not store.record_delivery(retried.key, retried.subscriber, day(10))
    assert not store.record_abandoned_delivery(retried.key, retried.subscriber, day(10), "late")
    left = [d for d in everything if d not in (made, given_up, retried)]
    assert store.pending_deliveries() == left == _scanned(store)
    assert backlog.count() == len(left)

    # an ended subscription is sent nothing more: its deliveries wait no more
    store.unsubscribe(subs[OUTSIDER].id, day(11), secretariat())
    left = [d for d in left if d.subscriber != subs[OUTSIDER].id]
    assert store.pending_deliveries() == left == _scanned(store)

    # a subscription begun later waits for what is queued after it only
    # (since: when it was recorded, as the API and the CLI subscribe; messages are
    # dated by when they were queued)
    now = datetime.now(JST)
    late = store.subscribe(PROPOSER, Channel.EMAIL, "late@example.jp", now, secretariat())
    assert store.pending_deliveries() == left
    store.execute(number, RecordAnswer(actor=secretariat(), text="回答"), day(13))
    pending = store.pending_deliveries()
    assert {d.subscriber for d in pending[len(left) :]} == {
        late.id,
        subs[PROPOSER].id,
        subs[SECRETARIAT].id,
    }
    assert sorted(map(_key, pending)) == sorted(map(_key, _scanned(store)))

    for d in store.pending_deliveries():
        store.record_delivery(d.key, d.subscriber, day(14))
    assert store.pending_deliveries() == [] == _scanned(store)
    assert backlog.count() == 0


def test_a_rebuild_makes_the_pending_deliveries_again(store: RingiStore) -> None:
    store.subscribe(SECRETARIAT, Channel.EMAIL, "s@example.jp", T, secretariat())
    play(store, scenario(State.HEARING))
    first = store.pending_deliveries()
    store.record_delivery(first[0].key, first[0].subscriber, day(9))
    before = store.pending_deliveries()
    assert before == first[1:]
    views = views_of(store)
    with views._transaction(commit=True) as c:
        c.execute(views._sql("DELETE FROM {pending}"))
    assert store.pending_deliveries() == []  # the table is what is read
    rebuild(store)
    assert store.pending_deliveries() == before
    assert outbox.position(views) == views.head()


def test_the_scan_reads_the_pending_rows_only(store: RingiStore) -> None:
    # the messages already delivered are not read again: their rows are gone, and
    # no aggregate is loaded (folding the deliveries recorded needs neither the
    # messages nor the subscriptions)
    store.subscribe(SECRETARIAT, Channel.EMAIL, "s@example.jp", T, secretariat())
    play(store, scenario(State.HEARING))
    for d in store.pending_deliveries():
        store.record_delivery(d.key, d.subscriber, day(9))
    loaded: list[object] = []
    original = store.repository.get

    def counting(aggregate_id: object, **kwargs: object) -> object:
        loaded.append(aggregate_id)
        return original(aggregate_id, **kwargs)  # type: ignore[arg-type]

    store.repository.get = counting  # type: ignore[method-assign]
    assert store.pending_deliveries() == []
    assert OutboxBacklog(store).count() == 0
    assert loaded == []
