"""``--key``: a command line call's idempotency key, the same promise as the
API's ``Idempotency-Key``: the same call sent again with the same key writes
once, and the key used for a *different* call is refused (exit 1), never
silently taken for the first call's retry.

A command's id is what Temporal and the store deduplicate by, so a key cannot
simply be the id: ``answer 1 --key m33`` then ``close 1 --key m33`` would be one
update id, and the close would be answered with the answer's result and never
carried out. Locally, as in the API, the key is recorded on first use with a
fingerprint of the call (``ringi.api.idempotency.Keys``, under the command
line's own scope), and the command carries an id derived from the key. Through
the API the key is sent as the ``Idempotency-Key`` and the server does the same.

The option's value reaches the sessions inside the command's ``command_id``,
marked with ``TAG`` (``tagged``), so that a generated id is never mistaken
for a key.

A write given no ``--key`` is given one (marked ``GIVEN``): if its answer does
not come in time, the command line says so and names the key (``ringi:
outcome unknown: ... retry with --key K``, exit 4), and the command sent again
with ``--key K`` is the same command, carried out at most once. A given key's
first use is recorded only then (``remember``), not on every command.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:  # imported when a key is used: declaring --key must stay cheap
    from ..domain.commands import _Command
    from ..store import RingiStore

C = TypeVar("C", bound="_Command")  # any command, the filing included

TAG = "key:"
#: a key the command line gave a command sent without ``--key``
GIVEN = "given-key:"
#: the scope of this installation's command line keys (the API's are its tokens')
SCOPE = "local"


def tagged(ctx: typer.Context, key: str | None) -> str:
    """The ``--key`` option's value as a command id the sessions recognise; a
    key of its own for a command given none. The key is kept with the
    installation (``Installation.key``), for the line that says to retry with it."""
    from .context import Installation

    given = key is None
    key = uuid.uuid4().hex if key is None else key
    found = ctx.find_object(Installation)
    if found is not None:
        found.key = key
    return (GIVEN if given else TAG) + key


def key_of(command_id: str) -> str | None:
    """The ``--key`` a command id carries (the caller's or a given one), if any."""
    for tag in (TAG, GIVEN):
        if command_id.startswith(tag):
            return command_id.removeprefix(tag)
    return None


def sent_id(command_id: str) -> str:
    """What goes to the API as the ``Idempotency-Key``: the key itself, or the
    generated id of a command given no key."""
    return key_of(command_id) or command_id


def claimed(store: RingiStore, call: str, command: C) -> C:
    """``command`` with the id it is carried out under here: for a keyed call,
    the key's first use is recorded (refused if it was first used for another
    call) and the id derived from it; an unkeyed command as it is."""
    from ..api.idempotency import command_id

    key = key_of(command.command_id)
    if key is None:
        return command
    if not command.command_id.startswith(GIVEN):
        remember(store, call, command)
    return command.model_copy(update={"command_id": command_id(SCOPE, key, via="cli")})


def remember(store: RingiStore, call: str, command: _Command) -> None:
    """Record the first use of the command's key for this call (refused if the
    key was first used for another). Blocking."""
    from ..api.idempotency import KeyReused, Keys, fingerprint
    from ..api.tokens import Principal
    from ..domain.errors import Refused

    key = key_of(command.command_id)
    assert key is not None
    scope = Principal(token_id=SCOPE, role=command.actor.role, name=SCOPE)
    print_ = fingerprint("ringi", call, command.model_dump_json(exclude={"command_id"}))
    now = datetime.now(tz=UTC)
    try:
        Keys(store).claim(scope, key, print_, "ringi", call, now)
    except KeyReused as reused:
        raise Refused(str(reused).replace("Idempotency-Key", "--key")) from None
