"""The audit trail as stored: one request's timeline, and every event of every
aggregate exported as JSON Lines or CSV.

Both are generators over the recorder's pages: an export of a million events
holds one page of records at a time, never the million.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TextIO
from uuid import UUID

from pydantic import BaseModel

from ..domain.chain import HASH, PREVIOUS
from ..domain.errors import Refused
from ..domain.request import request_id
from ..domain.vocabulary import Actor
from ..register.formulas import escape
from ..store import RingiStore
from .records import (
    PAGE,
    Numbers,
    aggregate_events,
    aggregate_name,
    chained_subject,
    decode,
    event_name,
    highest_number,
    notifications,
)

Format = Literal["jsonl", "csv"]
CSV_COLUMNS = (
    "notification_id",
    "aggregate",
    "number",
    "originator_id",
    "version",
    "event",
    "timestamp",
    "topic",
    "state",
)


class HistoryEntry(BaseModel):
    """One event in a request's timeline."""

    version: int
    event: str
    #: when it happened (domain time; the recording time for events without one)
    at: datetime | None
    recorded_at: datetime | None
    actor: str | None
    meeting: int | None
    hash: str | None
    previous_hash: str | None


def history(store: RingiStore, number: int, page: int = PAGE) -> Iterator[HistoryEntry]:
    """No.``number``'s events as stored, oldest first."""
    records = aggregate_events(store, request_id(number), page)
    first = next(records, None)
    if first is None:
        raise Refused(f"there is no request No.{number}")
    for record in itertools.chain([first], records):
        state = decode(store, record.state)
        recorded = state.get("timestamp")
        at = state.get("at", recorded)
        actor = state.get("actor")
        meeting = state.get("meeting")
        yield HistoryEntry(
            version=record.originator_version,
            event=event_name(record.topic),
            at=at if isinstance(at, datetime) else None,
            recorded_at=recorded if isinstance(recorded, datetime) else None,
            actor=Actor.model_validate(actor).describe() if isinstance(actor, dict) else None,
            meeting=meeting if isinstance(meeting, int) else None,
            hash=_str_or_none(state.get(HASH)),
            previous_hash=_str_or_none(state.get(PREVIOUS)),
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- export ------------------------------------------------------------------------------------


def export(store: RingiStore, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every stored event of every aggregate, in the order they were recorded, as
    plain JSON data (state values as the store decodes them, dates as ISO text)."""
    highest = highest_number(store)
    numbers = Numbers()
    for n in notifications(store, page):
        originator_id = UUID(str(n.originator_id))
        try:
            state: Any = jsonable(decode(store, n.state))
        except Exception:  # an unreadable record is exported as the bytes it is
            state = {"unreadable": n.state.decode("utf-8", errors="replace")}
        if isinstance(state, dict) and state.get("secret"):
            state["secret"] = "[redacted]"  # a webhook's signing key (domain.subscriptions)
        subject = chained_subject(n.topic)
        number = None
        if subject is not None:
            if n.originator_version == 1 and isinstance(state.get("number"), int):
                numbers.learn(originator_id, subject, state["number"])
            number = numbers.number_of(originator_id, highest)
        yield {
            "notification_id": n.id,
            "aggregate": aggregate_name(n.topic),
            "number": number,
            "originator_id": str(originator_id),
            "version": n.originator_version,
            "event": event_name(n.topic),
            "timestamp": state.get("timestamp"),
            "topic": n.topic,
            "state": state,
        }


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per event, a line each."""
    for record in records:
        yield json.dumps(record, ensure_ascii=False) + "\n"


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A header, then one row per event; the state is a JSON object in the last column.
    No cell begins as a spreadsheet formula (``ringi.register.formulas``): none of
    these columns holds a person's text at its start, and none ever will."""
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\n")

    def take(cells: list[Any]) -> str:
        writer.writerow(cells)
        text = line.getvalue()
        line.seek(0)
        line.truncate()
        return text

    yield take(list(CSV_COLUMNS))
    for record in records:
        row = {**record, "state": json.dumps(record["state"], ensure_ascii=False, sort_keys=True)}
        yield take(["" if row[c] is None else _cell(row[c]) for c in CSV_COLUMNS])


def _cell(value: Any) -> Any:
    return escape(value) if isinstance(value, str) else value


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    return _write(jsonl_lines(records), out)


def write_csv(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One row per event; the state is a JSON object in the last column."""
    return _write(csv_lines(records), out) - 1  # the header is not an event


def _write(lines: Iterator[str], out: TextIO) -> int:
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    return count


WRITERS = {"jsonl": write_jsonl, "csv": write_csv}
