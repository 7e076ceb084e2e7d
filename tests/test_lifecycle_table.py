"""The lifecycle table (``lifecycle.MOVES``) is what the aggregate does: every
command has one row and one method, a command records only what its row says
and moves only along the row's arrows, and the README draws the table."""

from __future__ import annotations

import random
import re
import typing
from datetime import timedelta
from pathlib import Path

import pytest

from ringi.domain import lifecycle
from ringi.domain.commands import Command, FileRequest, TimerFired
from ringi.domain.errors import Refused
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.timers import ANY_OPEN, CLOSED_FROM, LEFT, TIMER, TIMERS
from ringi.domain.vocabulary import Actor, Category, Stage
from tests.test_replay_fast import COMPANIES, MOVES, T0, WINDOW_MOVES

README = Path(__file__).resolve().parent.parent / "README.md"


def _command_types() -> set[type[object]]:
    union = typing.get_args(Command)[0]
    return set(typing.get_args(union))


def test_every_command_has_exactly_one_row() -> None:
    rows = [m.command for m in lifecycle.MOVES]
    assert len(rows) == len(set(rows))
    assert set(rows) == _command_types() | {FileRequest}


def test_every_row_is_carried_out_by_the_aggregate_method_of_its_name() -> None:
    for move in lifecycle.MOVES:
        if move.command is FileRequest:
            continue  # filing makes the aggregate: ``Request.file``
        method = getattr(Request, move.name, None)
        assert callable(method), f"Request has no method {move.name} for {move.command.__name__}"


def test_every_timer_kind_has_a_row() -> None:
    from ringi.domain.commands import TimerKind

    assert {t.kind for t in TIMERS} == set(TimerKind)


def test_the_readme_draws_the_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The lifecycle") :]
    drawn = re.search(r"```mermaid\n(.*?)```", section, re.S)
    assert drawn is not None, "the README's lifecycle section has no mermaid diagram"
    assert drawn.group(1) == lifecycle.diagram()


def _allowed(move: lifecycle.Move[object], cmd: Command) -> tuple[set[str], set[tuple[str, str]]]:
    """The events ``cmd`` may record and the (from, to) arrows it may take."""
    if isinstance(cmd, TimerFired):
        timer = TIMER[cmd.timer]
        records, paths = set(timer.records), timer.paths
    else:
        records, paths = set(move.records), move.paths
    arrows = {(_name(p.source), _name(p.target)) for p in paths}
    return records, arrows


def _name(place: Stage | str) -> str:
    return place.value if isinstance(place, Stage) else place


def _took(
    arrows: set[tuple[str, str]],
    before: Stage,
    after: Stage,
    held_from: Stage | None,
    closed_from: Stage | None = None,
) -> bool:
    for source, target in arrows:
        from_ok = source == before.value or (source == ANY_OPEN and not before.is_terminal)
        to_ok = (
            target == after.value
            or (target == LEFT and after is held_from)
            or (target == CLOSED_FROM and after is closed_from)
        )
        if from_ok and to_ok:
            return True
    return False


@pytest.mark.parametrize("seed", range(12))
def test_each_command_records_only_its_rows_events_and_moves_along_its_arrows(
    seed: int,
) -> None:
    rng = random.Random(seed)
    moves, weights = zip(*MOVES, *WINDOW_MOVES, strict=True)
    checked = moved = 0
    for number in range(1, 41):
        at = T0 + timedelta(hours=number)
        category = rng.choice([Category.REQUEST, Category.REQUEST, Category.OPINION])
        filing = FileRequest(
            actor=Actor.member(rng.choice(COMPANIES)), category=category, target="t", body="b"
        )
        # either way the policy has it: the threshold opens the hearing by itself, or not
        policy = Policy(auto_open_hearing=number % 2 == 0)
        request = Request.file(number, filing, policy, at)
        filed_into = {_name(p.target) for p in lifecycle.move_of(filing).paths}
        assert request.state.stage.value in filed_into
        for _ in range(60):
            timers = lifecycle.pending_timers(request.view())
            if timers and rng.random() < 0.15:
                command: Command = rng.choice(timers)
                at = max(at, command.due)
            else:
                at += timedelta(days=rng.uniform(0.1, 20))
                command = rng.choices(moves, weights)[0](rng, request, at)
            before, held_from = request.state.stage, request.state.held_from
            closure = request.state.closure
            closed_from = closure.closed_from if closure is not None else None
            recorded = len(request.pending_events)
            try:
                request.handle(command, at)
            except Refused:
                assert len(request.pending_events) == recorded  # a refusal records nothing
                continue
            names = {type(e).__name__ for e in request.pending_events[recorded:]}
            records, arrows = _allowed(lifecycle.move_of(command), command)
            assert names, f"{command.kind} recorded nothing"
            assert names <= records, f"{command.kind} recorded {names - records} off its row"
            after = request.state.stage
            if after is not before:
                assert _took(arrows, before, after, held_from, closed_from), (
                    f"{command.kind} moved No.{number} {before.value} → {after.value}, "
                    "an arrow its row does not draw"
                )
                moved += 1
            checked += 1
    assert checked > 100 and moved > 20  # the lives went somewhere
