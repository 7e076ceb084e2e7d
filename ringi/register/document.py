"""The register (資料2) as a document: what it says, before any format.

One row per request open at the cutoff, or closed (released) since the
previous meeting, in the six columns of the register: No. · 区分 · 対象箇所 ·
ご意見・ご要望 (the body with its 追記 notes) · 回答 (the answers joined with
"→", each tagged with its meeting) · 改修・対応希望 (the support count, or 保留 /
クローズ).

``RegisterDocument`` holds the content in language-neutral form; its
canonical bytes (sorted-key compact JSON) and their SHA-256 are what a
publication records. ``render`` turns it into HTML, CSV, XLSX, Markdown or JSON
in Japanese or English.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel

from ..domain.lifecycle import JST
from ..domain.view import Note, RequestView
from ..domain.vocabulary import Category, Stage
from ..store import RingiStore
from .replay import Cutoff, Replay, meeting_cutoff, moment_cutoff, replay


class Status(StrEnum):
    """What the last column shows."""

    SUPPORT = "support"  # the count
    HELD = "held"  # 保留
    CLOSED = "closed"  # クローズ
    RELEASED = "released"  # リリース済
    UNKNOWN = "unknown"  # an imported request before the register gave its count


class RowNote(BaseModel):
    text: str
    dated: str  # as the register writes it: 2018年10月
    meeting: int | None = None


class RowAnswer(BaseModel):
    answer_id: str
    text: str
    meeting: int | None = None
    continued: bool = False
    corrects: str | None = None  # this answer corrects that one
    corrected_by: str | None = None  # this answer was corrected by that one
    corrected_at: int | None = None  # ... at that meeting


class RegisterRow(BaseModel):
    number: int
    category: Category
    target: str
    body: str
    notes: list[RowNote]
    answers: list[RowAnswer]
    stage: Stage
    support: int | None
    status: Status


class RegisterDocument(BaseModel):
    meeting: int | None
    held_on: date | None
    date_is_placeholder: bool = False
    as_of: datetime
    since: datetime | None
    rows: list[RegisterRow]

    def canonical(self) -> bytes:
        """The content as bytes that do not depend on format or language."""
        data = self.model_dump(mode="json")
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def note_date(note: Note) -> str:
    if note.dated:
        return note.dated
    day = note.at.astimezone(JST)
    return f"{day.year}年{day.month}月"


def row_of(view: RequestView) -> RegisterRow:
    by_id = {a.answer_id: a for a in view.answers}
    answers = []
    for a in view.answers:
        corrector = by_id.get(a.superseded_by) if a.superseded_by else None
        answers.append(
            RowAnswer(
                answer_id=a.answer_id,
                text=a.text,
                meeting=a.meeting,
                continued=a.continued,
                corrects=a.corrects,
                corrected_by=a.superseded_by,
                corrected_at=corrector.meeting if corrector is not None else None,
            )
        )
    if view.stage is Stage.ON_HOLD:
        status = Status.HELD
    elif view.stage is Stage.CLOSED:
        status = Status.CLOSED
    elif view.stage is Stage.RELEASED:
        status = Status.RELEASED
    elif not view.support_known:
        status = Status.UNKNOWN
    else:
        status = Status.SUPPORT
    return RegisterRow(
        number=view.number,
        category=view.category,
        target=view.target,
        body=view.body,
        notes=[RowNote(text=n.text, dated=note_date(n), meeting=n.meeting) for n in view.notes],
        answers=answers,
        stage=view.stage,
        support=view.support if view.support_known else None,
        status=status,
    )


def document_of(folded: Replay) -> RegisterDocument:
    cutoff = folded.cutoff
    return RegisterDocument(
        meeting=cutoff.meeting,
        held_on=cutoff.held_at.astimezone(JST).date() if cutoff.held_at else None,
        date_is_placeholder=cutoff.date_is_placeholder,
        as_of=cutoff.at,
        since=cutoff.since,
        rows=[row_of(view) for view in folded.rows()],
    )


def register_document(
    store: RingiStore, *, meeting: int | None = None, at: datetime | None = None
) -> RegisterDocument:
    """The register of meeting ``meeting``, or as of the moment ``at`` (one of them)."""
    return document_of(replay(store, cutoff_for(store, meeting=meeting, at=at)))


def cutoff_for(store: RingiStore, *, meeting: int | None, at: datetime | None) -> Cutoff:
    if (meeting is None) == (at is None):
        raise ValueError("give a meeting or a moment, not both")
    if meeting is not None:
        return meeting_cutoff(store, meeting)
    assert at is not None
    return moment_cutoff(store, at)
