"""``Idempotency-Key``: a retried write answers with its first result and writes
nothing new.

The whole stack is idempotent by command id already (it is the Temporal update
id, and the store skips a command a request has handled), so the API only has
to derive the same command id for the same key: ``command_id(token, key)``.
Keys are per token: two clients never share one by accident.

What the command id cannot tell is a key reused for a *different* call, so the
first use of a key is recorded (an ``IdempotencyRecord`` in the event store:
the token, the key and a fingerprint of the call) and a later call with the
key but another fingerprint is refused. A filing also records the number it
was given, so its retry finds the request without asking Temporal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from ..domain.errors import Conflict
from ..domain.request import NAMESPACE, Request, request_id
from ..domain.view import RequestView
from ..store import RingiStore
from .tokens import Principal

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class KeyReused(Exception):
    """The key was first used for another call (another path or body)."""


def command_id(token_id: str, key: str, item: int | None = None, *, via: str = "api") -> str:
    """The command id a keyed call's command carries (an item's, in a bulk call);
    ``via`` names where the call came in (the command line's keys are "cli")."""
    digest = hashlib.sha256(f"{token_id}\n{key}".encode()).hexdigest()[:32]
    return f"{via}:{token_id}:{digest}" + (f":{item}" if item is not None else "")


def fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def record_id(token_id: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"idempotency/{token_id}/{key}")


class IdempotencyRecord(Aggregate):
    """The first use of an idempotency key by a token."""

    @staticmethod
    def create_id(token_id: str, key: str) -> UUID:
        return record_id(token_id, key)

    @event("KeyUsed")
    def __init__(
        self, token_id: str, key: str, fingerprint: str, method: str, path: str, at: datetime
    ) -> None:
        self.token_id, self.key, self.fingerprint = token_id, key, fingerprint
        self.method, self.path, self.first_used_at = method, path, at
        self.number: int | None = None

    def resolve(self, number: int) -> None:
        if self.number is None:
            self._resolved(number=number)

    @event("Resolved")
    def _resolved(self, number: int) -> None:
        self.number = number


class Keys:
    """The idempotency records of one event store."""

    def __init__(self, store: RingiStore) -> None:
        self.store = store

    def claim(
        self, who: Principal, key: str, print_: str, method: str, path: str, at: datetime
    ) -> IdempotencyRecord | None:
        """Record the first use of ``key``; None if this is that first use, the
        record if the key was used before for this very call. ``KeyReused`` if it
        was used for another."""
        for _ in range(50):
            existing = self.get(who.token_id, key)
            if existing is not None:
                if existing.fingerprint != print_:
                    raise KeyReused(
                        f"the {HEADER} {key!r} was first used for {existing.method} "
                        f"{existing.path} with another body, at {existing.first_used_at.isoformat()}; "
                        "use a new key for a new call"
                    )
                return existing
            record = IdempotencyRecord(
                token_id=who.token_id, key=key, fingerprint=print_, method=method, path=path, at=at
            )
            try:
                self.store.save(record)
            except IntegrityError:
                continue  # the same key at the same moment: read what the other call recorded
            return None
        raise Conflict(f"could not record the {HEADER}; try again")

    def resolve(self, who: Principal, key: str, number: int) -> None:
        for _ in range(50):
            record = self.get(who.token_id, key)
            if record is None or record.number is not None:
                return
            record.resolve(number)
            try:
                self.store.save(record)
            except IntegrityError:
                continue
            return

    def get(self, token_id: str, key: str) -> IdempotencyRecord | None:
        try:
            found: Aggregate = self.store.repository.get(record_id(token_id, key))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, IdempotencyRecord) else None


def first_result(store: RingiStore, number: int, cid: str) -> RequestView | None:
    """The request as the command with this id left it (None if it has not
    handled it): the first result of a retried command, folded from the store."""
    request = store.request(number)
    if not request.has_handled(cid):
        return None
    version = max(
        (
            e.originator_version
            for e in store.events.get(request_id(number))
            if getattr(e, "command_id", None) == cid
        ),
        default=None,
    )
    if version is None:
        return request.view()
    then: Aggregate = store.repository.get(request_id(number), version=version)
    assert isinstance(then, Request)
    return then.view()
