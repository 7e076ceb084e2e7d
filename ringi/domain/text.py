"""The input policy: what text and which numbers ringi takes, at every edge.

One set of rules for the API's bodies, the commands the CLI, the web pages
and the workflows carry, and the store, as pydantic types (``Text``,
``Target``, ``Reason``, ``Name``; ``RequestNumber``, ``MeetingNumber``,
``Count``) and the checks they are made of:

- text is Unicode without lone surrogates, normalised to NFC (the same words
  typed on two systems are the same text); a line break is LF (CR LF and a
  lone CR, as forms and Windows send them, become LF);
- no control character but the line break and the tab (C0, DEL, C1: NUL, ESC
  sequences that recolour a terminal), and no bidi embedding, override or
  isolate (U+202A-U+202E, U+2066-U+2069), which reorder how a row is shown;
- text that is only white space is no text: refused where text is needed,
  and where it may be left out (a reason) it is left out, not blank;
- a request's No., a meeting's number and a count are integers, never a
  string or a boolean (``{"number": "7"}`` is refused, not read as 7); a
  number is from 1 to ``MAX_NUMBER``, what PostgreSQL's integer holds, a
  count from 0.

A refusal names the character: ``contains U+202E (RIGHT-TO-LEFT OVERRIDE), a
bidi control that reorders how text is shown``.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from .bounds import MAX_NUMBER

__all__ = ["MAX_NUMBER"]

#: embeddings and overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI)
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_ALLOWED_CONTROLS = frozenset("\n\t")


def character(ch: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``; control characters have no name."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} ({name})" if name else f"U+{ord(ch):04X}"


def problem(text: str) -> str | None:
    """Why ``text`` (with LF line breaks) cannot be taken, or None."""
    for ch in text:
        if ch in BIDI_CONTROLS:
            return f"contains {character(ch)}, a bidi control that reorders how text is shown"
        if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS:
            return (
                f"contains {character(ch)}, a control character; only line breaks and tabs "
                "are taken"
            )
        if unicodedata.category(ch) == "Cs":
            return f"contains {character(ch)}, a lone surrogate: not Unicode text"
    return None


def clean(text: str) -> str:
    """``text`` as ringi keeps it (LF line breaks, NFC); ``ValueError`` naming the
    character if it holds one ringi does not take."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    why = problem(text)
    if why is not None:
        raise ValueError(why)
    return unicodedata.normalize("NFC", text)


def _some_text(text: str) -> str:
    if text and not text.strip():
        raise ValueError("is only white space")
    return text


def _clean_text(text: str) -> str:
    return _some_text(clean(text))


#: the longest name (a company's, a person's) ringi takes
MAX_NAME = 200

#: what a person says: a body, an answer, a note, a question, a reason that is needed
Text = Annotated[str, AfterValidator(_clean_text), Field(min_length=1, max_length=20_000)]
#: 対象箇所: the part of the system a request is about
Target = Annotated[str, AfterValidator(_clean_text), Field(min_length=1, max_length=500)]
#: a reason that may be left out ("")
Reason = Annotated[str, AfterValidator(_clean_text), Field(max_length=2_000)]
#: a company's or a meeting's name, an answer's id: one line
Name = Annotated[str, AfterValidator(_clean_text), Field(min_length=1, max_length=MAX_NAME)]

#: a request's No.
RequestNumber = Annotated[int, Strict(), Field(ge=1, le=MAX_NUMBER)]
#: a meeting's number (第N回)
MeetingNumber = Annotated[int, Strict(), Field(ge=1, le=MAX_NUMBER)]
#: how many of something (units a month, years): each field says how many at most
Count = Annotated[int, Strict(), Field(ge=0)]


def clean_name(name: str) -> str:
    """A company's or a person's name as ringi keeps it (``Name``'s rules, for
    code that has a plain string: an actor); ``ValueError`` saying why not."""
    name = _clean_text(name)
    if len(name) > MAX_NAME:
        raise ValueError(f"is at most {MAX_NAME} characters, not {len(name)}")
    return name


def number_problem(value: int, what: str) -> str | None:
    """Why ``value`` cannot be ``what`` (a request's No., a meeting's number), or None."""
    if not 1 <= value <= MAX_NUMBER:
        return f"{what} must be from 1 to {MAX_NUMBER}, not {value}"
    return None
