"""Who is told, and how: the secretariat's subscriptions to the outbox.

A subscription sends the notifications addressed to one recipient (a member
company, or the secretariat) to a webhook (a URL and a secret the payload is
signed with) or to an e-mail address. Subscriptions are facts like any other:
one aggregate records every subscription made and ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict

from .enums import Channel as Channel  # re-exported: it was defined here
from .errors import Refused
from .notifications import NotificationKind
from .request import NAMESPACE

SUBSCRIPTIONS_ID: UUID = uuid5(NAMESPACE, "subscriptions")


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # "s1", "s2", ...: the subscriber deliveries are recorded against
    recipient: str  # a company name, or "secretariat"
    channel: Channel
    target: str  # the webhook's URL, or the e-mail address
    secret: str = ""  # webhooks only: the key their payloads are signed with
    since: datetime  # notifications queued before this are not sent to it
    actor: dict[str, Any] | None = None
    #: the kinds of notification it wants; empty means every kind (and is what
    #: subscriptions recorded before kinds could be chosen read as)
    kinds: tuple[NotificationKind, ...] = ()

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


class Subscriptions(Aggregate):
    """Every subscription, current and ended."""

    @staticmethod
    def create_id() -> UUID:
        return SUBSCRIPTIONS_ID

    @event("SubscriptionsOpened")
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.ended: list[str] = []
        self.count = 0

    def add(
        self,
        recipient: str,
        channel: Channel,
        target: str,
        secret: str,
        at: datetime,
        actor: dict[str, Any],
        kinds: tuple[NotificationKind, ...] = (),
    ) -> Subscription:
        recipient, target = recipient.strip(), target.strip()
        if not recipient or not target:
            raise Refused("a subscription needs a recipient and a target")
        if channel is Channel.WEBHOOK:
            if not target.startswith(("http://", "https://")):
                raise Refused(f"a webhook's URL must be http(s): {target!r}")
            if not secret:
                raise Refused("a webhook needs a secret to sign its payloads with")
        elif "@" not in target:
            raise Refused(f"not an e-mail address: {target!r}")
        for current in self.current():
            if (current.recipient, current.channel, current.target) == (
                recipient,
                channel,
                target,
            ):
                raise Refused(f"{recipient} already has that {channel.value} ({current.id})")
        sid = f"s{self.count + 1}"
        self._subscribed(
            sid=sid,
            recipient=recipient,
            channel=channel.value,
            target=target,
            secret=secret,
            since=at,
            actor=actor,
            kinds=sorted(set(kinds)),
        )
        return self.get(sid)

    def rotate(self, sid: str, secret: str, at: datetime, actor: dict[str, Any]) -> Subscription:
        """Give a current webhook a new secret: what it is sent from now on is signed
        with that one (a secret that leaked, or one recorded before secrets were sealed)."""
        if not self.is_current(sid):
            raise Refused(f"there is no current subscription {sid}")
        if self.items[sid]["channel"] != Channel.WEBHOOK.value:
            raise Refused(f"{sid} sends e-mail: only a webhook has a secret to replace")
        if not secret:
            raise Refused("a webhook needs a secret to sign its payloads with")
        self._secret_rotated(sid=sid, secret=secret, at=at, actor=actor)
        return self.get(sid)

    def end(self, sid: str, at: datetime, actor: dict[str, Any]) -> None:
        if sid not in self.items or sid in self.ended:
            raise Refused(f"there is no current subscription {sid}")
        self._unsubscribed(sid=sid, at=at, actor=actor)

    def get(self, sid: str) -> Subscription:
        return Subscription.model_validate(self.items[sid])

    def is_current(self, sid: str) -> bool:
        return sid in self.items and sid not in self.ended

    def current(self) -> list[Subscription]:
        return [self.get(sid) for sid in self.items if sid not in self.ended]

    def for_recipient(self, recipient: str) -> list[Subscription]:
        return [s for s in self.current() if s.recipient == recipient]

    @event("Subscribed")
    def _subscribed(
        self,
        sid: str,
        recipient: str,
        channel: str,
        target: str,
        secret: str,
        since: datetime,
        actor: dict[str, Any],
        kinds: list[str] | None = None,  # absent from subscriptions recorded before kinds
    ) -> None:
        self.count += 1
        self.items[sid] = {
            "id": sid,
            "recipient": recipient,
            "channel": channel,
            "target": target,
            "secret": secret,
            "since": since,
            "actor": actor,
            "kinds": kinds or [],
        }

    @event("SecretRotated")
    def _secret_rotated(self, sid: str, secret: str, at: datetime, actor: dict[str, Any]) -> None:
        self.items[sid]["secret"] = secret

    @event("Unsubscribed")
    def _unsubscribed(self, sid: str, at: datetime, actor: dict[str, Any]) -> None:
        self.ended.append(sid)
