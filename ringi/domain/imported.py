"""Requests that come from a register kept before ringi (資料2 in a spreadsheet).

An imported request is written as historical events: ``Filed`` by the unknown
proposer (``UNKNOWN_PROPOSER``), its notes (``NoteImported``) and answers
(``AnswerRecorded``, keeping each answer's meeting), and ``ImportedFromRegister``
with what the register's last column said (a support count, 保留 or クローズ).
The register does not say when things happened, only which meeting an answer
was given at, so the times here are bounds that ``ringi.register.importer``
works out: each fact is dated no later than the meeting it is tagged with (an
untagged one, no later than the next tagged one or the register's meeting).

Pure data: what to write is decided here and in ``request.Request.imported``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .vocabulary import Category

Text = Annotated[str, Field(min_length=1, max_length=100_000)]


class RegisterMark(StrEnum):
    """The last column (改修・対応希望) when it is not a support count."""

    HELD = "保留"
    CLOSED = "クローズ"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImportSource(_Frozen):
    file: str
    sha256: str  # of the file's bytes
    line: int = Field(ge=1)
    register_meeting: int = Field(ge=1)


class ImportedNote(_Frozen):
    """追記 found inside the body: 【2018年10月追記】 text (第36回)."""

    text: Text
    dated: str | None = None  # "2018年10月", as written
    meeting: int | None = Field(None, ge=1)
    at: datetime


class ImportedAnswer(_Frozen):
    text: Text
    meeting: int | None = Field(None, ge=1)
    continued: bool = False  # (継続)
    at: datetime


class ImportedRequest(_Frozen):
    number: int = Field(ge=1)
    category: Category
    target: Annotated[str, Field(min_length=1, max_length=500)]
    body: Text
    related: tuple[int, ...] = ()
    notes: tuple[ImportedNote, ...] = ()
    answers: tuple[ImportedAnswer, ...] = ()
    support: int | None = Field(None, ge=1, description="the count, proposer included")
    mark: RegisterMark | None = None
    filed_at: datetime  # no later than
    settled_at: datetime  # the register's meeting: when the last column held
    source: ImportSource
    #: deterministic, from the row's content: importing the row again writes nothing
    command_id: str = Field(min_length=1, max_length=200)


class ImportedMeeting(_Frozen):
    number: int = Field(ge=1)
    held_at: datetime
    title: str
