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
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from ..api.idempotency import KeyReused, Keys, command_id, fingerprint
from ..api.tokens import Principal
from ..domain.commands import _Command
from ..domain.errors import Refused
from ..store import RingiStore

C = TypeVar("C", bound=_Command)  # any command, the filing included

TAG = "key:"
#: the scope of this installation's command line keys (the API's are its tokens')
SCOPE = "local"


def tagged(key: str | None) -> str | None:
    """The ``--key`` option's value as a command id the sessions recognise."""
    return None if key is None else TAG + key


def key_of(command_id: str) -> str | None:
    """The ``--key`` a command id carries, if it carries one."""
    return command_id.removeprefix(TAG) if command_id.startswith(TAG) else None


def sent_id(command_id: str) -> str:
    """What goes to the API as the ``Idempotency-Key``: the key itself, or the
    generated id of a command given no key."""
    return key_of(command_id) or command_id


def claimed(store: RingiStore, call: str, command: C) -> C:
    """``command`` with the id it is carried out under here: for a keyed call,
    the key's first use is recorded (refused if it was first used for another
    call) and the id derived from it; an unkeyed command as it is."""
    key = key_of(command.command_id)
    if key is None:
        return command
    scope = Principal(token_id=SCOPE, role=command.actor.role, name=SCOPE)
    print_ = fingerprint("ringi", call, command.model_dump_json(exclude={"command_id"}))
    now = datetime.now(tz=UTC)
    try:
        Keys(store).claim(scope, key, print_, "ringi", call, now)
    except KeyReused as reused:
        raise Refused(str(reused).replace("Idempotency-Key", "--key")) from None
    return command.model_copy(update={"command_id": command_id(SCOPE, key, via="cli")})
