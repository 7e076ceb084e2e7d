"""``ringi audit verify``: walk every hash chain and every published digest.

What is checked
---------------
Every event of a request (and of a meeting) stores ``previous_hash``, the hash
of the event before it, and ``event_hash``, the SHA-256 of its own stored
content (topic, aggregate id, version and every stored attribute; see
``ringi.domain.chain``). Verification reads the raw records through the
recorder, page by page, recomputes each event's hash from the bytes as stored
and follows the links:

- **edited**: an event's content no longer matches its own hash (or cannot be
  read at all); or an event was changed and re-hashed, which the next event
  gives away because it still points at the old hash.
- **deleted**: a version is missing from a chain. SQLite keeps the event log's
  notification ids without gaps, so there a missing notification id is reported
  too, unless a chain finding already accounts for it.
- **reordered**: an event's content verifies only under another version number
  (its version is part of what was hashed); or it stands in the event log after a
  later version of its chain (deleted and inserted again: moved, content intact).
- **inserted**: an event that is not part of the chain: its content matches no
  hash and it does not follow the event before it, or it is a copy of another.

What cannot be detected without an anchor
-----------------------------------------
The hash is not keyed, so a chain proves its own consistency, not its length.
Someone who can write the database and knows the scheme can delete a chain's
last events, or append or rewrite events at its end with freshly computed
hashes, and the chain alone still looks whole. Such a tail is caught only
against something kept outside the chain that knows a version (and hash): an
``Anchor``. A seal (``ringi audit seal``, ``ringi.audit.seal``) is one: every
chain's head and hash at a moment, kept outside the database, checked with
``ringi audit verify --seal FILE``. ``ringi audit verify --workflows`` takes the version each request's
workflow holds (a store that ends before it lost events); ``ringi audit
reconcile`` compares the workflows' whole state; published registers (資料2)
pin what the register said at each meeting. On SQLite, deleting a request's
last event still leaves a gap in the notification ids, reported as a deleted
event of the log, unless it was the last row of the whole log (SQLite then
reuses its id) or the database was vacuumed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder
from pydantic import BaseModel, Field

from ..domain.chain import GENESIS, HASH, PREVIOUS, content_hash
from ..domain.meeting import meeting_id
from ..domain.request import request_id
from ..store import RingiStore
from .records import (
    PAGE,
    Numbers,
    Subject,
    aggregate_events,
    aggregate_name,
    chained_subject,
    decode,
    event_name,
    highest_number,
    last_version,
    notifications,
)

Kind = Literal["edited", "deleted", "reordered", "inserted", "publication", "derived"]
_KINDS: tuple[Kind, ...] = ("deleted", "edited", "reordered", "inserted", "publication", "derived")
_SUBJECTS: tuple[Subject, ...] = ("request", "meeting", "publication", "log", "read model")


class Finding(BaseModel):
    """One thing that is not as it was recorded."""

    kind: Kind
    #: the request's No. (the meeting's number for a meeting; None when unknown)
    number: int | None
    #: the version of the event concerned (None for a whole publication or a log gap)
    version: int | None
    message: str
    subject: Subject = "request"

    def line(self) -> str:
        if self.subject == "publication":  # the message names the meeting and the publication
            return f"{self.kind}: {self.message}"
        if self.subject == "read model":  # derived from the events: names what differs
            where = f"read model, No.{self.number}" if self.number is not None else "read model"
            return f"{where}: {self.message}"
        where = {
            "request": f"No.{self.number}",
            "meeting": f"meeting {self.number} (第{self.number}回)",
            "log": "event log",
        }[self.subject]
        if self.subject in ("request", "meeting") and self.number is None:
            where = f"an unknown {self.subject}"
        if self.version is not None:
            where += f" version {self.version}"
        return f"{where}: {self.kind}: {self.message}"

    def sort_key(self) -> tuple[int, int, int, int]:
        return (
            _SUBJECTS.index(self.subject),
            self.number or 0,
            self.version or 0,
            _KINDS.index(self.kind),
        )


class Anchor(BaseModel):
    """A version (and, when known, the hash) of a request's chain kept outside it."""

    number: int
    version: int
    hash: str | None = None
    #: who knows it, for the message: "the workflow", "the register published at 第36回"
    source: str
    subject: Subject = "request"


class Report(BaseModel):
    findings: list[Finding]
    chains: int
    events: int
    #: the numbers of the meetings whose chains were walked (for the calendar's check)
    meetings: list[int] = Field(default_factory=list, exclude=True)

    @property
    def clean(self) -> bool:
        return not self.findings


#: what is recorded but not chained, so not covered by a verification: said with
#: every result, so that a clean one is not read as more than it is
NOT_CHAINED = (
    "API tokens, webhook subscriptions and the numbering are not chained: a verification "
    "does not cover them (the meeting calendar is checked against the chained meetings)"
)


def verify(store: RingiStore, anchors: Iterable[Anchor] = (), page: int = PAGE) -> Report:
    """Every chain, every published digest, and the calendar against the meetings."""
    report = verify_chains(store, anchors, page)
    findings = [
        *report.findings,
        *publication_findings(store),
        *calendar_findings(store, report.meetings),
    ]
    # a request whose events were altered is told by its chain; that its read
    # model no longer matches them follows from it
    altered = {f.number for f in findings if f.subject == "request"}
    findings += [f for f in read_model_findings(store) if f.number not in altered]
    findings.sort(key=Finding.sort_key)
    return Report(findings=findings, chains=report.chains, events=report.events)


# --- the chains ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one stored record says about its place in its chain."""

    stored: int  # the version it is stored under
    status: Literal["ok", "bad", "unreadable"]
    recorded: int | None = None  # the version its content verifies under ("ok" only)
    event_hash: str | None = None
    previous: str | None = None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class _Row:
    notification_id: int
    originator_id: UUID
    version: int
    topic: str


@dataclass
class _Gap:
    first: int  # missing notification ids first..last
    last: int
    before: _Row | None
    after: _Row | None


@dataclass
class _Log:
    chains: dict[UUID, Subject]
    numbers: Numbers
    gaps: list[_Gap]
    events: int
    #: rows of a chain that come in the log after a later version of it: moved (a
    #: row deleted and inserted again), with the row of that later version
    moved: list[tuple[_Row, _Row]]


def verify_chains(store: RingiStore, anchors: Iterable[Anchor] = (), page: int = PAGE) -> Report:
    log = _scan_log(store, page)
    # a chain may be anchored several times (its workflow, a seal or two): each counts
    anchored: dict[tuple[Subject, int], list[Anchor]] = defaultdict(list)
    for a in anchors:
        anchored[(a.subject, a.number)].append(a)
    highest = highest_number(store)
    findings: list[Finding] = []
    deletions: list[tuple[UUID, int]] = []
    subjects: dict[UUID, tuple[Subject, int | None]] = {}
    for originator_id, subject in log.chains.items():
        number = log.numbers.number_of(originator_id, highest)
        subjects[originator_id] = (subject, number)
        known = anchored.pop((subject, number), []) if number is not None else []
        entries = list(_entries(store, originator_id, page))
        for kind, version, message in _classify(entries, known):
            findings.append(
                Finding(kind=kind, number=number, version=version, message=message, subject=subject)
            )
            if kind == "deleted":
                deletions.append((originator_id, version))
    for anchor in (max(known, key=lambda a: a.version) for known in anchored.values()):
        # anchored chains the store has no event of at all
        absent = (request_id if anchor.subject == "request" else meeting_id)(anchor.number)
        for version in range(1, anchor.version + 1):
            deletions.append((absent, version))
            findings.append(
                Finding(
                    kind="deleted",
                    number=anchor.number,
                    version=version,
                    subject=anchor.subject,
                    message=f"{anchor.source} knows version {anchor.version}, but the store has no event of it",
                )
            )
    named = {(f.subject, f.number, f.version) for f in findings}
    for moved, later in log.moved:
        subject, number = subjects.get(moved.originator_id, ("log", None))
        if (subject, number, moved.version) in named:
            continue  # its chain says already what was done to it (versions swapped)
        findings.append(
            Finding(
                kind="reordered",
                number=number,
                version=moved.version,
                subject=subject,
                message=(
                    f"it stands in the event log at notification {moved.notification_id}, "
                    f"after version {later.version} (notification {later.notification_id}): "
                    "moved in the database (deleted and inserted again); its content is intact"
                ),
            )
        )
    moved_ids = [m.notification_id for m, _ in log.moved]
    shifted = [(m.originator_id, m.version) for m, _ in log.moved]
    for gap in _unexplained(store, log.gaps, deletions + shifted, moved_ids):
        findings.append(
            Finding(
                kind="deleted",
                number=None,
                version=None,
                subject="log",
                message=_gap_message(gap, subjects),
            )
        )
    findings.sort(key=Finding.sort_key)
    meetings = sorted(n for subject, n in subjects.values() if subject == "meeting" and n)
    return Report(findings=findings, chains=len(log.chains), events=log.events, meetings=meetings)


def chain_heads(store: RingiStore, page: int = PAGE) -> Iterator[tuple[Subject, int, int, str]]:
    """(subject, number, last version, that event's stored hash) of every chain
    whose number is known: what a seal (``ringi.audit.seal``) keeps."""
    log = _scan_log(store, page)
    highest = highest_number(store)
    for originator_id, subject in log.chains.items():
        number = log.numbers.number_of(originator_id, highest)
        last = store.recorder.select_events(originator_id, desc=True, limit=1)
        if number is None or not last:
            continue
        event_hash = decode(store, last[0].state).get(HASH)
        if isinstance(event_hash, str):
            yield subject, number, last[0].originator_version, event_hash


def _scan_log(store: RingiStore, page: int) -> _Log:
    """One pass over the notification log: which chains there are, their numbers,
    and (on SQLite, whose notification ids have no gaps) where ids are missing."""
    numbers = Numbers()
    chains: dict[UUID, Subject] = {}
    gaps: list[_Gap] = []
    gapless = isinstance(store.recorder, SQLiteApplicationRecorder)
    previous: _Row | None = None
    events = 0
    latest: dict[UUID, _Row] = {}  # each chain's highest version so far in the log
    moved: list[tuple[_Row, _Row]] = []
    for n in notifications(store, page):
        events += 1
        originator_id = UUID(str(n.originator_id))
        row = _Row(n.id, originator_id, n.originator_version, n.topic)
        expected = previous.notification_id + 1 if previous else 1
        if gapless and n.id > expected:
            gaps.append(_Gap(expected, n.id - 1, previous, row))
        previous = row
        subject = chained_subject(n.topic)
        if subject is None:
            continue
        chains.setdefault(originator_id, subject)
        last = latest.get(originator_id)
        if last is not None and last.version > row.version:
            moved.append((row, last))  # a chain's events are recorded in version order
        else:
            latest[originator_id] = row
        if n.originator_version == 1:
            try:
                number = decode(store, n.state).get("number")
            except Exception:  # an unreadable first event: the number comes from the id
                continue
            if isinstance(number, int):
                numbers.learn(originator_id, subject, number)
    return _Log(chains=chains, numbers=numbers, gaps=gaps, events=events, moved=moved)


def _entries(store: RingiStore, originator_id: UUID, page: int) -> Iterator[_Entry]:
    top = last_version(store, originator_id)
    for record in aggregate_events(store, originator_id, page):
        version = record.originator_version
        try:
            state = decode(store, record.state)
        except Exception as error:
            yield _Entry(
                version, "unreadable", problem=f"its stored state cannot be read ({error})"
            )
            continue
        stored_hash, previous = state.get(HASH), state.get(PREVIOUS)
        if not isinstance(stored_hash, str) or not isinstance(previous, str):
            yield _Entry(version, "unreadable", problem="it carries no chain hash")
            continue

        recorded = _recorded_version(record.topic, originator_id, state, stored_hash, version, top)
        yield _Entry(
            version,
            "bad" if recorded is None else "ok",
            recorded=recorded,
            event_hash=stored_hash,
            previous=previous,
        )


def _recorded_version(
    topic: str, originator_id: UUID, state: dict[str, Any], stored_hash: str, stored: int, top: int
) -> int | None:
    """The version under which this content hashes to its stored hash: the one it
    is stored under, or another (then it was moved), or None (then it was changed)."""
    candidates: list[int] = [stored, *range(1, top + 2)]
    for version in candidates:
        try:
            if content_hash(topic, originator_id, version, state) == stored_hash:
                return version
        except TypeError:  # a value with no canonical form was written into the state
            return None
    return None


def _classify(entries: list[_Entry], anchors: list[Anchor]) -> Iterator[tuple[Kind, int, str]]:
    """The findings about one chain (pure: see the module docstring)."""
    found: dict[tuple[int, Kind], str] = {}

    def add(version: int, kind: Kind, message: str) -> None:
        found.setdefault((version, kind), message)

    # which record holds each place in the chain as it was recorded: an intact
    # record the version its content verifies under (the one stored in place if
    # there are copies), any other record the version it is stored under
    by_recorded: dict[int, list[_Entry]] = defaultdict(list)
    for e in entries:
        if e.status == "ok" and e.recorded is not None:
            by_recorded[e.recorded].append(e)
    holder: dict[int, _Entry] = {}
    for recorded, candidates in by_recorded.items():
        in_place = [e for e in candidates if e.stored == recorded]
        holder[recorded] = (in_place or candidates)[0]
    copies: list[_Entry] = []
    for e in entries:
        if e.status == "ok":
            assert e.recorded is not None
            if holder[e.recorded] is not e:
                copies.append(e)
                add(e.stored, "inserted", f"it is a copy of version {e.recorded}, stored again")
            elif e.recorded != e.stored:
                add(
                    e.stored,
                    "reordered",
                    f"stored as version {e.stored}, but it was recorded as version {e.recorded}",
                )
        elif e.stored in holder:
            add(
                e.stored,
                "inserted",
                f"version {e.stored} was recorded elsewhere; this one matches no hash",
            )
        else:
            holder[e.stored] = e
            if e.status == "unreadable":
                add(e.stored, "edited", e.problem)
    places = set(holder) | {e.stored for e in copies}
    last = max(places, default=0)
    for version in range(1, last + 1):
        if version not in places:
            add(version, "deleted", "the event is missing from the chain")

    for place, e in sorted(holder.items()):
        if e.status == "unreadable":
            continue
        if place == 1:
            before: _Entry | None = None
            expected: str | None = GENESIS
        else:
            before = holder.get(place - 1)
            expected = before.event_hash if before and before.status != "unreadable" else None
        if expected is None:  # the event before is missing or unreadable: reported already
            if e.status == "bad":
                add(e.stored, "edited", "its content no longer matches its hash")
            continue
        if e.previous == expected:
            if e.status == "bad":
                add(
                    e.stored,
                    "edited",
                    "its content was changed after it was recorded: it no longer matches its hash",
                )
        elif e.status == "bad":
            add(
                e.stored,
                "inserted",
                "its content matches no hash and it does not follow "
                + (f"version {place - 1}" if place > 1 else "the start of the chain")
                + ": ringi did not record it",
            )
        elif before is None:
            add(e.stored, "inserted", "it claims to be the first event but does not start a chain")
        elif before.status == "ok":
            add(
                before.stored,
                "edited",
                f"it was changed and re-hashed after version {place} was recorded "
                f"(version {place} follows a different hash)",
            )

    for anchor in anchors:
        for version in range(last + 1, anchor.version + 1):
            add(
                version,
                "deleted",
                f"{anchor.source} knows version {anchor.version}, but the chain ends at version {last}",
            )
        held = holder.get(anchor.version)
        if anchor.hash and held is not None and held.event_hash != anchor.hash:
            add(held.stored, "edited", f"its hash differs from the one {anchor.source} recorded")

    for (version, kind), message in sorted(
        found.items(), key=lambda item: (item[0][0], _KINDS.index(item[0][1]))
    ):
        yield kind, version, message


# --- the notification log (SQLite) ---------------------------------------------------------


def _unexplained(
    store: RingiStore,
    gaps: list[_Gap],
    deletions: list[tuple[UUID, int]],
    moved_ids: Sequence[int] = (),
) -> list[_Gap]:
    """The log's gaps that the deleted (or moved) chain events found above do not
    account for. Each accounts for one missing row, in the first gap that lies
    between the rows of its chain's neighbours still in place (``moved_ids``: rows
    that are not)."""
    unexplained = {id(gap): gap.last - gap.first + 1 for gap in gaps}
    if not gaps or not deletions:
        return gaps
    recorder = store.recorder
    assert isinstance(recorder, SQLiteApplicationRecorder)
    table = recorder.events_table_name
    elsewhere = ",".join(str(int(i)) for i in moved_ids) or "NULL"
    for originator_id, version in deletions:
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT MAX(rowid) FROM {table} WHERE originator_id=? AND originator_version<? "
                f"AND rowid NOT IN ({elsewhere})",
                (originator_id.hex, version),
            )
            below = c.fetchone()[0]
            c.execute(
                f"SELECT MIN(rowid) FROM {table} WHERE originator_id=? AND originator_version>? "
                f"AND rowid NOT IN ({elsewhere})",
                (originator_id.hex, version),
            )
            above = c.fetchone()[0]
        for gap in gaps:
            between = (below is None or gap.first > below) and (above is None or gap.last < above)
            if between and unexplained[id(gap)] > 0:
                unexplained[id(gap)] -= 1
                break
    return [gap for gap in gaps if unexplained[id(gap)] > 0]


def _gap_message(gap: _Gap, subjects: Mapping[UUID, tuple[Subject, int | None]]) -> str:
    ids = (
        f"notification {gap.first}"
        if gap.first == gap.last
        else f"notifications {gap.first}-{gap.last}"
    )
    count = gap.last - gap.first + 1
    return (
        f"{ids} {'is' if count == 1 else 'are'} missing from the event log, "
        f"between {_describe(gap.before, subjects)} and {_describe(gap.after, subjects)}: "
        f"{'an event was' if count == 1 else f'{count} events were'} deleted. "
        "A request's deleted last event is named only against an anchor "
        "(`ringi audit verify --workflows`, `ringi audit reconcile`)"
    )


def _describe(row: _Row | None, subjects: Mapping[UUID, tuple[Subject, int | None]]) -> str:
    if row is None:
        return "the start of the log"
    subject, number = subjects.get(row.originator_id, (None, None))
    if subject == "request" and number is not None:
        return f"No.{number} version {row.version} ({event_name(row.topic)})"
    if subject == "meeting" and number is not None:
        return f"meeting {number} version {row.version}"
    return (
        f"{aggregate_name(row.topic)}.{event_name(row.topic)} (notification {row.notification_id})"
    )


# --- published registers -----------------------------------------------------------------------


def calendar_findings(store: RingiStore, chained: Iterable[int]) -> list[Finding]:
    """The meeting calendar is not chained, yet it says when the meetings before a
    register's meeting were held (its cutoff's ``since``) and which is the next
    meeting: each of its entries must agree with the chained meeting it stands for,
    and every chained meeting (``chained``: their numbers) must be in it."""
    calendar = store.meetings()
    walked = set(chained)
    findings = []
    for number in sorted(walked | calendar.keys()):
        listed = calendar.get(number)
        held: datetime | None = None
        if number in walked:
            try:
                held = store.meeting(number).held_at
            except Exception:  # its events do not fold: its chain says why
                continue
        if listed == held:
            continue
        if listed is None:
            message = (
                f"held {held.isoformat() if held else '?'}, but missing from the meeting calendar"
            )
        elif held is None:
            message = (
                f"the meeting calendar lists it (held {listed.isoformat()}), but it has no "
                "events of its own"
            )
        else:
            message = (
                f"the meeting calendar (not chained) says it is held {listed.isoformat()}, "
                f"its own chained events say {held.isoformat()}"
            )
        findings.append(
            Finding(kind="edited", number=number, version=None, message=message, subject="meeting")
        )
    return findings


def read_model_findings(store: RingiStore) -> list[Finding]:
    """What the read model (``ringi.projection``) holds that the events do not give
    (``ringi.audit.projected``): fixed by ``ringi db rebuild-projections``."""
    from .projected import projection_problems

    try:
        problems = list(projection_problems(store))
    except Exception as error:  # events that no longer fold: named by their chains
        problems = [(None, f"cannot be checked: {type(error).__name__}: {error}")]
    return [
        Finding(kind="derived", number=number, version=None, message=message, subject="read model")
        for number, message in problems
    ]


def publication_findings(store: RingiStore) -> list[Finding]:
    """The published registers (資料2) whose recorded digest a re-rendering from
    the events no longer reproduces (``ringi.register.publish``)."""
    from ..register.publish import verify_publications

    try:
        problems = verify_publications(store)
    except Exception as error:  # a meeting whose events no longer fold: named by its chain
        return [
            Finding(
                kind="publication",
                number=None,
                version=None,
                message=f"the published registers cannot be checked: {type(error).__name__}: {error}",
                subject="publication",
            )
        ]
    return [
        Finding(
            kind="publication",
            number=problem.meeting,
            version=None,
            message=problem.message,
            subject="publication",
        )
        for problem in problems
    ]
