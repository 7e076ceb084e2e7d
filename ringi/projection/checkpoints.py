"""The register as of a cutoff, read rather than folded again.

A checkpoint is what a replay folded for one cutoff (``ringi.register.replay``):
which state of every request it saw, as (number, version) pairs pointing at
``ringi_states``, and the log position it had read to. It is kept when the
cutoff can no longer move forward in time: a publication's (its log position
is fixed), or a meeting's whose day is over.

A checkpoint of an unpublished cutoff stays true only while no event recorded
after it is dated at or before the cutoff (an import of older history, a late
answer dated that day). The projection drops such checkpoints as it applies
those events (``views.Batch.invalidate``), and a checkpoint is only read once
the projection has caught up with the log, so a checkpoint that is read is
one that a fold would give again; ``ringi audit verify`` folds them again to
make sure.

A cutoff past every event folded (the register as it stands now) is read from
the request states themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..domain.view import RequestView
from .catchup import ProjectionError, caught_up, parse_views, views_of
from .parsed import ParsedStates, parsed_of
from .views import RequestViews, micros

if TYPE_CHECKING:
    from ..register.replay import Cutoff, Replay
    from ..store import RingiStore


@dataclass(frozen=True)
class Found:
    """What a checkpoint (or the current states) holds for a cutoff."""

    position: int
    events: int
    views: dict[int, RequestView]


def key(cutoff: Cutoff) -> tuple[int, int]:
    return micros(_aware(cutoff.at)), -1 if cutoff.position is None else cutoff.position


def read(store: RingiStore, cutoff: Cutoff) -> Found | None:
    """The views a fold of ``cutoff`` would give, if the projection has them."""
    return read_many(store, [cutoff])[0]


def read_many(store: RingiStore, cutoffs: Sequence[Cutoff]) -> list[Found | None]:
    """``read`` of each cutoff. A state is parsed once per process
    (``ringi.projection.parsed``), and the replays share it: nobody changes a
    replay's views."""
    from ..register.replay import collector_paused

    try:
        views = caught_up(store)
    except ProjectionError:
        return [None] * len(cutoffs)  # the events do not fold: a fold says why
    parsed = parsed_of(views)
    with collector_paused():
        return [_read(views, cutoff, parsed) for cutoff in cutoffs]


def _never(_key: tuple[int, int]) -> bool:
    return False


def _read(views: RequestViews, cutoff: Cutoff, parsed: ParsedStates) -> Found | None:
    at, limit = key(cutoff)
    # a second pass parses every state anew: other readers pushed some of the
    # first pass's out of the cache before it could take them
    passes = (parsed.__contains__, _never)
    if limit == -1:
        latest = views.latest_at()
        if latest is None or latest <= at:  # every event is in: the states as they stand
            for known in passes:
                position, members, texts = views.current_states(known)
                done = _found(parsed, members, parse_views(texts), position, events=None)
                if done is not None:
                    return done
            return None
    found = views.checkpoint(at, limit)
    if found is None:
        return None
    members = views.checkpoint_members(found.id)
    # an unpublished cutoff's checkpoint still holds, so it is the fold of the log to its head
    position = found.taken_position if limit != -1 else max(found.taken_position, views.position())
    for known in passes:
        unread = [m for m in members if not known(m)]
        if len(unread) > len(members) // 2:
            rows = views.checkpoint_views(found.id)
            texts = [text for n, v, text in rows if not known((n, v))]
        else:
            texts = [text for _, _, text in views.states_json(unread)]
        done = _found(parsed, members, parse_views(texts), position, events=found.events)
        if done is not None:
            return done
    return None


def _found(
    parsed: ParsedStates,
    members: list[tuple[int, int]],
    fresh: list[RequestView],
    position: int,
    events: int | None,
) -> Found | None:
    """The views of ``members``: ``fresh`` ones, the rest from the cache (None if
    one is no longer there)."""
    mine = {(v.number, v.version): v for v in fresh}
    for pair, view in mine.items():
        parsed.put(pair, view)
    folded: dict[int, RequestView] = {}
    for pair in members:
        found = mine.get(pair) or parsed.get(pair)
        if found is None:
            return None
        folded[pair[0]] = found
    count = sum(v.version for v in folded.values()) if events is None else events
    return Found(position=position, events=count, views=folded)


def settled(cutoff: Cutoff) -> bool:
    """Whether a cutoff's fold can only change by events dated before it: a
    publication's, or one in the past."""
    return cutoff.position is not None or _aware(cutoff.at) < datetime.now(tz=UTC)


def keep(store: RingiStore, replays: Sequence[Replay]) -> None:
    """Keep the folds of settled cutoffs as checkpoints."""
    wanted = [r for r in replays if settled(r.cutoff)]
    if not wanted:
        return
    views = views_of(store)
    have = views.stored_states()
    with views.batch() as batch:
        for replay in wanted:
            at, limit = key(replay.cutoff)
            if limit == -1 and batch.position > replay.position:
                # the projection applied events this fold did not see, without
                # knowing of this checkpoint: the next read folds again
                continue
            members = sorted((n, v.version) for n, v in replay.views.items())
            states = [
                (n, version, replay.views[n].model_dump_json())
                for n, version in members
                if (n, version) not in have
            ]
            have.update((n, version) for n, version, _ in states)
            batch.save_checkpoint(at, limit, replay.position, replay.events, members, states)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
