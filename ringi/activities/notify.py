"""Activities that deliver the outbox: find what is to be sent, and send one.

``deliver`` checks the record before it sends and records the delivery after,
so a retried or repeated delivery sends nothing once one attempt got through.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..config import Settings
from ..delivery import DeliveryFailed, send
from ..domain.errors import NotFound
from ..sealing import Sealer, Unsealable
from ..store import AbandonedDelivery, Delivery, DeliveryBatch, RingiStore

log = structlog.get_logger("ringi.delivery")


class NotifyActivities:
    def __init__(self, store: RingiStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @cached_property
    def sealer(self) -> Sealer:
        return Sealer.of(self.settings)

    @activity.defn(name="deliveries_since")
    def deliveries_since(self, position: int) -> DeliveryBatch:
        return self.store.deliveries_since(position)

    @activity.defn(name="deliver")
    def deliver(self, delivery: Delivery) -> str:
        """Send one notification to one subscriber, once: "delivered", or why not."""
        bound = log.bind(
            notification=delivery.key,
            subscriber=delivery.subscriber,
            delivery_id=delivery.id,
            attempt=activity.info().attempt,
        )
        try:
            message = self.store.outbox_message(delivery.key)
        except NotFound as error:
            raise ApplicationError(str(error), type="NotFound", non_retryable=True) from None
        if delivery.subscriber in message.delivered_to:
            bound.info("already delivered")
            return "already delivered"
        subscription = self.store.subscription(delivery.subscriber)
        if subscription is None:
            bound.info("unsubscribed: not sent")
            return "unsubscribed"
        try:
            # the secret is recorded sealed; it is opened only to sign this payload
            secret = self.sealer.open(subscription.secret) if subscription.secret else ""
        except Unsealable as error:
            # retried: the delivery goes out once the worker has the installation's keys
            bound.error("not delivered", reason=str(error))
            raise ApplicationError(str(error), type="Unsealable") from None
        try:
            send(
                self.settings, message, subscription.model_copy(update={"secret": secret}), delivery
            )
        except DeliveryFailed as error:
            bound.warning("not delivered", reason=str(error))
            raise ApplicationError(str(error), type="DeliveryFailed") from None
        self.store.record_delivery(delivery.key, delivery.subscriber, datetime.now(UTC))
        bound.info("delivered", channel=subscription.channel.value, to=subscription.target)
        return "delivered"

    @activity.defn(name="abandon_delivery")
    def abandon_delivery(self, given_up: AbandonedDelivery) -> str:
        """Record that a delivery was given up, once."""
        delivery = given_up.delivery
        recorded = self.store.record_abandoned_delivery(
            delivery.key, delivery.subscriber, datetime.now(UTC), given_up.reason
        )
        log.warning(
            "delivery abandoned",
            notification=delivery.key,
            subscriber=delivery.subscriber,
            delivery_id=delivery.id,
            reason=given_up.reason,
            recorded=recorded,
        )
        return "abandoned"

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliveries_since, self.deliver, self.abandon_delivery]
