"""The read model (``ringi.projection``) is the fold of the events, exactly once.

On both stores (``RINGI_TEST_STORE``): the projection's states, listing columns,
endorsements and answers equal what folding the log gives, after every save;
a catch-up killed part-way resumes with nothing lost and nothing doubled; two
processes catching up at once apply every event once between them; a
checkpoint stops being used when an event dated before it is recorded after
it; a projection written by another fold is rebuilt; the worker's runner keeps
it current by itself.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

from structlog.testing import capture_logs

from ringi.config import Settings
from ringi.domain.view import RequestView
from ringi.projection import checkpoints
from ringi.projection.catchup import catch_up, caught_up, fingerprint, parse_views, views_of
from ringi.projection.parsed import parsed_of
from ringi.projection.views import from_micros, micros
from ringi.recent import Recent
from ringi.register.replay import Cutoff, replay
from ringi.store import RingiStore
from tests.test_replay_fast import LATER, T0, cutoffs, random_life

ROOT = Path(__file__).resolve().parent.parent


def save_lives(store: RingiStore, numbers: range, seed: int, steps: int = 30) -> None:
    rng = random.Random(seed)
    lives = [random_life(n, rng, steps=rng.randint(0, steps)) for n in numbers]
    for start in range(0, len(lives), 7):
        store.save(*lives[start : start + 7])


def folded(store: RingiStore) -> dict[int, RequestView]:
    return replay(store, LATER, reference=True).views


def projected(store: RingiStore) -> dict[int, RequestView]:
    views = views_of(store)
    return {v.number: v for v in parse_views(text for _, text in views.views_json())}


def assert_projection_is_the_fold(store: RingiStore) -> None:
    expected = folded(store)
    views = views_of(store)
    assert views.position() == views.head()
    assert projected(store) == expected
    for s in views.summaries():
        view = expected[s.number]
        assert (s.stage, s.category, s.target, s.proposer, s.support, s.is_open) == (
            view.stage.value,
            view.category.value,
            view.target,
            view.proposer,
            view.support,
            view.is_open,
        )
        deadline = view.current_deadline
        assert s.deadline == (None if deadline is None else from_micros(micros(deadline)))
    endorsements: dict[int, list[str]] = {}
    for number, _, company, _ in views.stored_endorsements():
        endorsements.setdefault(number, []).append(company)
    assert endorsements == {n: v.endorsers for n, v in expected.items() if v.endorsers}
    answers = {(n, a) for n, a, *_ in views.stored_answers()}
    assert answers == {(n, a.answer_id) for n, v in expected.items() for a in v.answers}


def test_the_projection_is_the_fold_after_every_save(store: RingiStore) -> None:
    for round_, numbers in enumerate((range(1, 15), range(15, 40), range(40, 41))):
        save_lives(store, numbers, seed=round_)
        caught_up(store)
        assert_projection_is_the_fold(store)
    # the store's reads are the projection's
    assert [v.number for v in store.views()] == sorted(folded(store))
    assert store.read_view(20) == folded(store)[20]


def test_replays_read_from_the_projection_give_what_a_fold_gives(store: RingiStore) -> None:
    save_lives(store, range(1, 40), seed=11, steps=40)
    rng = random.Random(3)
    chosen = cutoffs(store, rng)
    for cutoff in chosen * 2:  # the second time from the checkpoints the first one kept
        fast, reference = replay(store, cutoff), replay(store, cutoff, reference=True)
        assert fast.views == reference.views, cutoff
        assert (fast.events, fast.position) == (reference.events, reference.position)
    kept = {(c.cutoff_at, c.position_limit) for c in views_of(store).checkpoints()}
    assert kept and kept <= {checkpoints.key(c) for c in chosen}


def test_replays_read_through_a_cache_too_small_for_a_register_give_what_a_fold_gives(
    store: RingiStore,
) -> None:
    # each read pushes states out before it can take them all: the second pass reads anew
    save_lives(store, range(1, 30), seed=5, steps=30)
    views_of(store)._ringi_parsed = Recent(5)  # type: ignore[attr-defined]
    rng = random.Random(8)
    chosen = cutoffs(store, rng)
    for cutoff in chosen * 2:
        fast, reference = replay(store, cutoff), replay(store, cutoff, reference=True)
        assert fast.views == reference.views, cutoff
        assert (fast.events, fast.position) == (reference.events, reference.position)
    kept = {(c.cutoff_at, c.position_limit) for c in views_of(store).checkpoints()}
    read = [c for c in chosen if checkpoints.key(c) in kept]
    assert read
    sizes = []
    for cutoff in read:  # read from the projection, not folded again
        found = checkpoints.read(store, cutoff)
        assert found is not None, cutoff
        assert found.views == replay(store, cutoff, reference=True).views
        sizes.append(len(found.views))
    assert max(sizes) > 5  # a register larger than the cache was among them
    assert parsed_of(views_of(store)).size <= 5


def test_an_event_dated_before_a_checkpoint_recorded_after_it_drops_the_checkpoint(
    store: RingiStore,
) -> None:
    save_lives(store, range(1, 20), seed=5)
    cutoff = Cutoff(at=T0 + timedelta(days=200))
    before = replay(store, cutoff)
    assert views_of(store).checkpoint(*checkpoints.key(cutoff)) is not None
    # older history recorded later (as an import writes it): dated before the cutoff
    save_lives(store, range(20, 30), seed=6)
    after = replay(store, cutoff)
    assert after.views == replay(store, cutoff, reference=True).views
    assert set(after.views) > set(before.views)


def test_a_projection_written_by_another_fold_is_rebuilt(store: RingiStore) -> None:
    save_lives(store, range(1, 12), seed=7)
    views = caught_up(store)
    with views.batch() as batch:
        batch.cursor.execute(
            views._sql("UPDATE {meta} SET fingerprint=?"), ("written by another ringi",)
        )
        batch.cursor.execute(views._sql("UPDATE {requests} SET stage='closed'"))
    assert views.fingerprint() != fingerprint()
    with capture_logs() as logged:
        caught_up(store)
    assert views.fingerprint() == fingerprint()
    assert [e["event"] for e in logged] == [
        "the projection was written by another version of ringi: rebuilding it from the events"
    ]
    assert_projection_is_the_fold(store)


# --- exactly once, across processes ----------------------------------------------------------

_CATCH_UP = textwrap.dedent(
    """
    import json, sys
    from ringi.config import Settings
    from ringi.projection.catchup import catch_up
    from ringi.store import RingiStore

    settings = Settings.model_validate_json(sys.argv[1])
    store = RingiStore(env=settings.eventsourcing_env())
    print(json.dumps(catch_up(store, batch_size=int(sys.argv[2]))), flush=True)
    """
)


def _catch_up_process(settings: Settings, batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CATCH_UP, settings.model_dump_json(), str(batch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )


def request_events(store: RingiStore) -> int:
    return replay(store, LATER, reference=True).events


def test_a_catch_up_killed_part_way_resumes_with_nothing_lost_or_doubled(
    settings: Settings, store: RingiStore
) -> None:
    save_lives(store, range(1, 120), seed=8, steps=40)
    views = views_of(store)
    head = views.head()
    process = _catch_up_process(settings, batch=10)
    deadline = time.monotonic() + 120
    while views.position() == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the catch-up finished before it was killed"
    reached = views.position()
    assert 0 < reached < head
    applied = catch_up(store)
    assert 0 < applied < request_events(store)
    assert_projection_is_the_fold(store)


def test_two_processes_catching_up_at_once_apply_every_event_once(
    settings: Settings, store: RingiStore
) -> None:
    save_lives(store, range(1, 100), seed=9, steps=40)
    processes = [_catch_up_process(settings, batch=25) for _ in range(2)]
    applied = []
    for process in processes:
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0
        applied.append(json.loads(out))
    assert sum(applied) == request_events(store)
    assert_projection_is_the_fold(store)


def test_the_worker_runner_keeps_the_projection_current(
    settings: Settings, store: RingiStore
) -> None:
    from ringi.projection.runner import keep_current

    save_lives(store, range(1, 10), seed=10)
    stop = threading.Event()
    runner = threading.Thread(target=keep_current, args=(settings.eventsourcing_env(), stop))
    runner.start()
    try:
        views = views_of(store)
        for numbers in (range(10, 20), range(20, 25)):
            save_lives(store, numbers, seed=numbers.start)
            deadline = time.monotonic() + 60
            while views.position() < views.head() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert projected(store) == folded(store)  # no read of ours caught it up
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()


# --- audit: the read model is checked against the events -------------------------------------


def _edit(store: RingiStore, statement: str, *params: object) -> None:
    views = views_of(store)
    with views._transaction(commit=True) as c:
        c.execute(views._sql(statement), params)


def _kept_register(store: RingiStore) -> Cutoff:
    from ringi.register.kept import rendered

    cutoff = Cutoff(at=T0 + timedelta(days=300), since=T0 + timedelta(days=240))
    rendered(store, cutoff, "md", "ja")
    rendered(store, cutoff, "md", "ja")  # the second from what the first kept
    return cutoff


def test_verify_finds_the_read_model_edited_behind_ringis_back(store: RingiStore) -> None:
    from ringi.audit.verify import read_model_findings

    save_lives(store, range(1, 30), seed=12, steps=40)
    caught_up(store)
    cutoff = _kept_register(store)
    assert read_model_findings(store) == []
    checkpoint = views_of(store).checkpoint(*checkpoints.key(cutoff))
    assert checkpoint is not None
    number, version = views_of(store).checkpoint_members(checkpoint.id)[0]
    endorsed = views_of(store).stored_endorsements()[0][0]
    edits = [
        (
            'UPDATE {requests} SET view=replace(view, \'"body":"\', \'"body":"改ざん\') WHERE number=?',
            (7,),
            7,
            "state differs",
        ),
        ("UPDATE {requests} SET target='改ざん' WHERE number=?", (8,), 8, "target"),
        ("DELETE FROM {endorsements} WHERE number=?", (endorsed,), endorsed, "endorsements"),
        (
            'UPDATE {states} SET view=replace(view, \'"body":"\', \'"body":"改ざん\') '
            "WHERE number=? AND version=?",
            (number, version),
            number,
            "checkpoint",
        ),
        ("UPDATE {renders} SET body=?", (b"# forged",), None, "register file"),
    ]
    for statement, params, about, words in edits:
        _edit(store, statement, *params)
        found = read_model_findings(store)
        assert any(f.number == about and words in f.message for f in found), (words, found)
        assert all(f.subject == "read model" and f.kind == "derived" for f in found)
        from ringi.projection.catchup import rebuild

        rebuild(store)
        _kept_register(store)
        assert read_model_findings(store) == []


def test_a_kept_register_file_is_the_one_a_fold_renders(store: RingiStore) -> None:
    from ringi.register.document import document_of
    from ringi.register.kept import rendered
    from ringi.register.render import render

    save_lives(store, range(1, 25), seed=13, steps=40)
    cutoff = Cutoff(at=T0 + timedelta(days=400), since=T0 + timedelta(days=300))
    for fmt in ("md", "csv", "json", "html", "xlsx"):
        first = rendered(store, cutoff, fmt, "ja")  # type: ignore[arg-type]
        again = rendered(store, cutoff, fmt, "ja")  # type: ignore[arg-type]
        folded = document_of(replay(store, cutoff, reference=True))
        assert first == again == (render(folded, fmt, "ja"), folded.digest())  # type: ignore[arg-type]
