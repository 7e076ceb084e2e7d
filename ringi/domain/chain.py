"""Tamper evidence: every event of a chained aggregate carries the hash of the
event before it and a hash of its own content.

The hash covers exactly what the event store keeps of an event: its topic, the
aggregate's id, its version, and every attribute the mapper stores (the
timestamp, the domain attributes and the previous event's hash). So an edit of
any stored byte that changes the event, a deleted or reordered event, or an
inserted one no longer fits the chain; ``ringi.audit.verify`` walks the chains.

The hash is a plain SHA-256, not a keyed MAC: it proves that what is stored is
what was recorded only up to the last event someone outside the store has seen
(a published register, a workflow's known version). Someone who can write to
the database and knows this module could rewrite a chain's tail consistently;
see ``ringi.audit.verify`` for what is and is not detected.

Pure computation: no I/O.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Self, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

#: the ``previous_hash`` of an aggregate's first event
GENESIS = "0" * 64
#: the attributes every chained event adds to what is stored
PREVIOUS = "previous_hash"
HASH = "event_hash"
#: changes if the canonical form below ever changes, so old and new never mix silently
_DOMAIN = b"ringi-event-chain-v1\n"


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data, the same before storing and after reading
    back: datetimes, dates, UUIDs and decimals are tagged with their type, tuples
    become lists, dictionary keys strings."""
    if isinstance(value, Enum):
        return canonical(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__} in a chained event")


def content_hash(
    topic: str, originator_id: UUID | str, version: int, state: Mapping[str, Any]
) -> str:
    """The hash of one stored event: its topic, aggregate id, version and stored
    state (every attribute but ``event_hash`` itself, which is ignored if present)."""
    content = {
        "topic": topic,
        "originator_id": str(originator_id),
        "originator_version": version,
        "state": {k: canonical(v) for k, v in state.items() if k != HASH},
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(_DOMAIN + text.encode("utf-8")).hexdigest()


def stored_state(event_class: type[Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """What the mapper stores of an event with these attributes: all of them but
    the id and version (which are stored as columns), plus ``class_version`` when
    the class has been versioned."""
    state = {
        k: v for k, v in attributes.items() if k not in ("originator_id", "originator_version")
    }
    class_version = getattr(event_class, "class_version", 1)
    if class_version > 1:
        state["class_version"] = class_version
    return state


class ChainedAggregate(Aggregate):
    """An aggregate whose events form a hash chain (see the module docstring)."""

    class Event(Aggregate.Event):
        previous_hash: str
        event_hash: str

        def mutate(self, aggregate: Any) -> Any:
            aggregate = super().mutate(aggregate)
            aggregate.__dict__["_chain_head"] = self.event_hash
            return aggregate

    class Created(Event, Aggregate.Created):
        pass

    @property
    def chain_head(self) -> str:
        """The hash of the aggregate's last event."""
        return cast(str, self.__dict__.get("_chain_head", GENESIS))

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        kwargs = dict(kwargs)
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        kwargs[PREVIOUS] = self.chain_head
        kwargs[HASH] = _hash_of(
            event_class,
            {**kwargs, "originator_id": self.id, "originator_version": self.version + 1},
        )
        super().trigger_event(event_class, **kwargs)

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,  # eventsourcing's name for it
        **kwargs: Any,
    ) -> Self:
        if id is None:
            params = inspect.signature(cls.create_id).parameters
            id = cls.create_id(**{k: v for k, v in kwargs.items() if k in params})
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        kwargs[PREVIOUS] = GENESIS
        kwargs[HASH] = _hash_of(
            event_class,
            {
                **kwargs,
                "originator_topic": get_topic(cls),
                "originator_id": id,
                "originator_version": cls.INITIAL_VERSION,
            },
        )
        return super()._create(event_class, id=id, **kwargs)


def _hash_of(event_class: type[Any], attributes: dict[str, Any]) -> str:
    """The hash of the event ``event_class(**attributes)`` would be, computed from
    the event itself so that it covers exactly the attributes the mapper stores."""
    probe = event_class(**{**attributes, HASH: ""})
    return content_hash(
        get_topic(event_class),
        attributes["originator_id"],
        attributes["originator_version"],
        stored_state(event_class, vars(probe)),
    )
