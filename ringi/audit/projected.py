"""``ringi audit verify`` over the read model: the projection and its checkpoints
are what a fresh fold of the events gives.

The projection (``ringi.projection``) is derived data that reads are served
from, so it is a place where a change behind ringi's back would show in every
answer while the events stay intact. Each request's stored state, its listing
columns, endorsements, answers and search index rows are compared with the
events folded up to the projection's position; every checkpoint with the fold of its cutoff; every kept
register file with the file rendered again. A finding names the request or the
checkpoint's cutoff; ``ringi db rebuild-projections`` makes it all again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ..domain.view import RequestView
from ..projection.catchup import parse_views, state_row, views_of
from ..projection.search import search_texts
from ..projection.views import RequestViews, from_micros
from ..register.replay import Cutoff, replay, replay_many
from ..store import RingiStore

FAR = datetime(9999, 1, 1, tzinfo=UTC)
#: the listing columns compared (the state itself is compared whole)
_COLUMNS = (
    "stage",
    "category",
    "target",
    "proposer",
    "support",
    "deadline",
    "meeting",
    "is_open",
    "updated",
)


def projection_problems(store: RingiStore) -> Iterator[tuple[int | None, str]]:
    """(request number or None, what differs) for everything the read model holds
    that a fresh fold of the events does not give."""
    views = views_of(store)
    if not views.has_tables():
        return
    position = views.position()
    if position == 0:
        return
    expected = replay(store, Cutoff(at=FAR, position=position), projected=False).views
    yield from _requests(views, expected)
    yield from _checkpoints(store, views, position)


def _requests(
    views: RequestViews, expected: dict[int, RequestView]
) -> Iterator[tuple[int | None, str]]:
    rows = {row[0]: row for row in views.stored_rows()}
    for number in sorted(expected.keys() - rows.keys()):
        yield number, "missing from the read model"
    for number in sorted(rows.keys() - expected.keys()):
        yield number, "in the read model, but the events hold no such request"
    stored = dict(zip(rows, parse_views(row[13] for row in rows.values()), strict=True))
    for number in sorted(rows.keys() & expected.keys()):
        view, row = expected[number], rows[number]
        if stored[number] != view:
            yield (
                number,
                (
                    f"the read model's state differs from the events' (version {row[2]}, "
                    f"stage {row[3]}; the events: version {view.version}, stage {view.stage.value})"
                ),
            )
            continue
        made = state_row(row[1], view, row[12])
        columns = dict(zip(("number", "oid", "version", *_COLUMNS), row, strict=False))
        for name in ("version", *_COLUMNS):
            have, want = columns[name], getattr(made, name)
            if name == "is_open":
                have = bool(have)
            if have != want:
                yield number, f"the read model's {name} is {have!r}, the events give {want!r}"
    endorsed: dict[int, list[tuple[str, int]]] = {}
    for number, _, company, at in views.stored_endorsements():
        endorsed.setdefault(number, []).append((company, at))
    answered: dict[int, set[tuple[str, int | None, int, str]]] = {}
    for number, answer_id, meeting, at, text in views.stored_answers():
        answered.setdefault(number, set()).add((answer_id, meeting, at, text))
    for number in sorted(expected):
        made = state_row("", expected[number], 0)
        if endorsed.get(number, []) != list(made.endorsements):
            yield number, "the read model's endorsements differ from the events'"
        if answered.get(number, set()) != set(made.answers):
            yield number, "the read model's answers differ from the events'"
    yield from _texts(views, expected)


def _texts(
    views: RequestViews, expected: dict[int, RequestView]
) -> Iterator[tuple[int | None, str]]:
    """The search index holds each request's texts, as its state gives them."""
    indexed: dict[int, list[tuple[str, str]]] = {}
    for number, field, text in views.stored_texts():
        indexed.setdefault(number, []).append((field, text))
    for number in sorted(indexed.keys() - expected.keys()):
        yield number, "in the search index, but the events hold no such request"
    for number in sorted(expected):
        if indexed.get(number, []) != list(search_texts(expected[number])):
            yield number, "the search index's texts differ from the events'"


def _checkpoints(
    store: RingiStore, views: RequestViews, position: int
) -> Iterator[tuple[int | None, str]]:
    from ..register.kept import from_variant, rendered_again

    kept = views.checkpoints()
    cutoffs = [
        Cutoff(
            at=from_micros(c.cutoff_at),
            position=max(position, c.taken_position)
            if c.position_limit == -1
            else c.position_limit,
        )
        for c in kept
    ]
    for checkpoint, cutoff, folded in zip(
        kept, cutoffs, replay_many(store, cutoffs, projected=False), strict=True
    ):
        name = f"the checkpoint of {cutoff.at.isoformat()}" + (
            f" (log position {checkpoint.position_limit})"
            if checkpoint.position_limit != -1
            else ""
        )
        members = views.checkpoint_members(checkpoint.id)
        wanted = sorted((n, v.version) for n, v in folded.views.items())
        if members != wanted:
            differing = sorted(set(members) ^ set(wanted))
            yield differing[0][0], f"{name} holds other states than the events give"
            continue
        for number, _, text in views.checkpoint_views(checkpoint.id):
            if parse_views([text])[0] != folded.views[number]:
                yield number, f"{name}: the state it holds differs from the events'"
        for variant, body in views.renders_of(checkpoint.id):
            made = from_variant(variant)
            if made is not None and rendered_again(folded, made) != body:
                yield None, f"{name}: a register file kept with it is not the one its events render"
