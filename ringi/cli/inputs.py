"""Numbers and text on the command line, by the input policy (``ringi.domain.text``):
a request's No., a meeting's number or a count is written in digits and lies in
the bounds the API and the store keep; text is what the API takes. Anything
else is a usage error (exit 2) with one line naming the option and the value,
before anything is sent. (What goes into a command is checked by the command's
own model, with the same types.)"""

from __future__ import annotations

import functools
import getpass
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain.bounds import MAX_NUMBER, MAX_YEN
from .context import USAGE, fail

if TYPE_CHECKING:
    from ..domain.vocabulary import Actor

_DIGITS = re.compile(r"[0-9]+")
#: yen in ASCII digits, commas between thousands allowed, a fraction after a point
_YEN = re.compile(r"[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?")


def number(where: str, what: str, lowest: int = 1) -> Callable[[str], int]:
    """A typer ``parser`` for ``where`` (an option or an argument), holding ``what``."""

    def parse(text: str) -> int:
        given = str(text).strip()
        if not _DIGITS.fullmatch(given):
            raise fail(f"{where}: {what} is a whole number in digits, not {text!r}", USAGE)
        significant = given.lstrip("0") or "0"
        if len(significant) > len(str(MAX_NUMBER)) or int(significant) > MAX_NUMBER:
            raise fail(f"{where}: {what} is at most {MAX_NUMBER}, not {given}", USAGE)
        value = int(significant)
        if value < lowest:
            raise fail(f"{where}: {what} is at least {lowest}, not {given}", USAGE)
        return value

    return parse


#: the request's No., as an argument
REQUEST = number("NUMBER", "a request's number (No.)")
#: a meeting's number, as an argument
MEETING = number("NUMBER", "a meeting's number (第N回)")


def yen(where: str, text: str) -> Decimal:
    """An amount of yen given to ``where``, from 0 to ``MAX_YEN``, or exit 2:
    not ``abc``, ``1e400``, ``NaN`` or full-width digits (``Decimal`` takes all four)."""
    given = text.strip()
    if not _YEN.fullmatch(given):
        raise fail(
            f"{where}: an amount of yen is written in digits (commas between thousands "
            f"allowed), not {text!r}",
            USAGE,
        )
    amount = Decimal(given.replace(",", ""))
    if amount > MAX_YEN:
        raise fail(f"{where}: an amount of yen is at most {MAX_YEN}, not {given}", USAGE)
    return amount


def name_option(where: str, value: str) -> str:
    """A company's or a person's name given to ``where`` (``--as``, ``--user``,
    ``--company``, ``--name``), as the input policy keeps it, or exit 2."""
    return text_option(where, value, _name())


def text_option(where: str, value: str, kind: Any = None) -> str:
    """``value`` of option ``where`` as the input policy keeps it (LF, NFC), or exit 2
    (``kind``: a pydantic ``TypeAdapter``; the policy's reason text if None)."""
    from pydantic import ValidationError  # here: `ringi --help` needs none

    if kind is None:
        kind = _reason()
    try:
        return str(kind.validate_python(value))
    except ValidationError as error:
        why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise fail(f"{where}: {why}", USAGE) from None


@functools.cache
def _reason() -> Any:
    """The policy's reason text as a pydantic ``TypeAdapter``, made once."""
    from pydantic import TypeAdapter

    from ..domain.text import Reason

    return TypeAdapter(Reason)


@functools.cache
def _name() -> Any:
    from pydantic import TypeAdapter

    from ..domain.text import Name

    return TypeAdapter(Name)


def member(company: str | None, user: str | None) -> Actor:
    if not company or not company.strip():
        raise fail("members act for a company: give --as COMPANY", USAGE)
    from ..domain.vocabulary import Actor

    # the policy before the white space is cut: strip() would take a trailing NEL away
    return Actor.member(name_option("--as", company).strip(), user_option(user))


def secretariat(user: str | None) -> Actor:
    from ..domain.vocabulary import Actor

    return Actor.secretariat(user_option(user) or _login())


def user_option(user: str | None) -> str | None:
    """``--user`` by the input policy (exit 2 naming it); None if not given."""
    return name_option("--user", user) if user else None


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
