"""The register's search through the projection's text index (``ringi_search``).

On both stores (``RINGI_TEST_STORE``): for random needles over a generated
register, the index answers what the Python scan it replaced answers (the
register page's ``q`` and target, the API's ``target``), short needles and
LIKE's wildcards included; the index follows a request's texts as they change;
a rebuild makes it again; ``audit verify`` finds it edited.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringi.domain.commands import AppendNote, CorrectAnswer, FileRequest, RecordAnswer
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Actor, Category
from ringi.projection.catchup import caught_up, rebuild, views_of
from ringi.projection.search import holds, target_holds
from ringi.register.replay import Cutoff, replay
from ringi.store import RingiStore
from ringi.web.reads import RegisterQuery, register_page
from tests.test_replay_fast import COMPANIES, SECRETARIAT, T0

#: what the generated texts are made of: kana and kanji, both cases of ASCII and
#: of full-width letters, letters whose casefold is longer (ß, ﬁ) or differs from
#: lower() (ς, İ), LIKE's and FTS5's special characters, spaces
ALPHABET = "スイッチング支援システム供給地点番号検索aAbBxXＡａＢｂßﬁςσΣİi%_\\\"'* ・、。-"
NOW = datetime(2100, 1, 1, tzinfo=T0.tzinfo)


def _text(rng: random.Random, shortest: int = 1, longest: int = 14) -> str:
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(shortest, longest))).strip()
    return text or "ス"


def _life(number: int, rng: random.Random) -> Request:
    at = T0 + timedelta(hours=number)
    filing = FileRequest(
        actor=Actor.member(rng.choice(COMPANIES), user="担当"),
        category=rng.choice(list(Category)),
        target=_text(rng),
        body=_text(rng, 1, 40),
    )
    request = Request.file(number, filing, Policy(), at)
    for _ in range(rng.randint(0, 4)):
        at += timedelta(days=1)
        if rng.random() < 0.5:
            request.handle(AppendNote(actor=filing.actor, text=_text(rng)), at)
        else:
            request.handle(RecordAnswer(actor=SECRETARIAT, text=_text(rng)), at)
    return request


@pytest.fixture
def register(store: RingiStore) -> Iterator[RingiStore]:
    rng = random.Random(14)
    lives = [_life(n, rng) for n in range(1, 121)]
    for start in range(0, len(lives), 10):
        store.save(*lives[start : start + 10])
    caught_up(store)
    yield store


def _current(store: RingiStore) -> list[RequestView]:
    return list(store.views())


def _scanned(views: list[RequestView], q: str | None, target: str | None) -> set[int]:
    """The old rule: the states' texts, looked at in Python."""
    return {
        v.number
        for v in views
        if (not q or holds(v, q)) and (not target or target_holds(v, target))
    }


def _indexed(store: RingiStore, q: str | None, target: str | None) -> set[int]:
    return {n for n, (_, hit) in caught_up(store).text_matches(q, target).items() if hit}


needles = st.text(alphabet=ALPHABET, min_size=1, max_size=5)
hypothesis_settings = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@hypothesis_settings
@given(q=needles, target=st.one_of(st.none(), needles))
def test_the_index_answers_what_the_python_scan_answers(
    register: RingiStore, q: str, target: str | None
) -> None:
    views = _current(register)
    assert _indexed(register, q, target) == _scanned(views, q, target)
    assert _indexed(register, None, q) == _scanned(views, None, q)
    listed = {n for n, _ in caught_up(register).listing(0, target=q)}
    assert listed == _scanned(views, None, q)


def test_needles_found_in_the_register_are_found_by_the_index(register: RingiStore) -> None:
    # random needles rarely hit; parts of the texts themselves always do
    rng = random.Random(5)
    views = _current(register)
    for _ in range(150):
        view = rng.choice(views)
        texts = [view.target, view.body, *(n.text for n in view.notes)]
        texts += [a.text for a in view.answers]
        text = rng.choice(texts)
        start = rng.randrange(len(text))
        needle = text[start : start + rng.randint(1, 6)].upper()
        found = _indexed(register, needle, None)
        assert view.number in found
        assert found == _scanned(views, needle, None), needle


def test_the_register_page_shows_what_it_showed_before(register: RingiStore) -> None:
    rng = random.Random(9)
    views = replay(register, Cutoff(at=NOW)).rows()
    for _ in range(40):
        view = rng.choice(views)
        q = view.body[: rng.randint(1, 4)]
        target = rng.choice(["", view.target[-3:]])
        query = RegisterQuery(q=q, target=target)
        page = register_page(register, query, NOW)
        before = [v.number for v in views if query.admits(v)]  # no index: the Python scan
        assert [line.view.number for line in page.lines] == before[:100]
        assert page.matched == len(before)


def test_past_states_are_matched_by_their_own_texts(register: RingiStore) -> None:
    # a register before the answers: its states are older than the index's
    past = replay(register, Cutoff(at=T0 + timedelta(days=2))).rows()
    newer = {v.number: v.version for v in _current(register)}
    assert any(newer[v.number] != v.version for v in past)
    for view in past:
        for text in (view.body, view.target):
            query = RegisterQuery(q=text[:3])
            texts = query.text_matches(register)
            assert query.admits(view, texts) == query.admits(view)


def test_the_index_follows_a_requests_texts_as_they_change(store: RingiStore) -> None:
    # nothing recorded is edited in place: a correction is a new answer, and the
    # corrected one stays in the request's state (and so in the search, as before)
    filing = FileRequest(
        actor=Actor.member("A社"),
        category=Category.QUESTION,
        target="スイッチング支援システム",
        body="照会",
    )
    request = Request.file(1, filing, Policy(), T0)
    answer = RecordAnswer(actor=SECRETARIAT, text="廃止予定のＡＰＩです")
    request.handle(answer, T0 + timedelta(days=1))
    store.save(request)
    assert _indexed(store, "予定のａｐｉ", None) == {1}
    assert _indexed(store, "継続提供", None) == set()
    answer_id = store.view(1).answers[0].answer_id
    correct = CorrectAnswer(
        actor=SECRETARIAT, answer_id=answer_id, text="継続提供します", reason="誤記"
    )
    store.execute(1, correct, T0 + timedelta(days=2))
    assert _indexed(store, "継続提供", None) == {1}
    store.execute(1, AppendNote(actor=filing.actor, text="Web画面の件"), T0 + timedelta(days=3))
    assert _indexed(store, "web画面", None) == {1}
    assert _indexed(store, None, "支援シ") == {1}
    views = _current(store)
    for needle in ("予定のａｐｉ", "照会", "web", "ス"):
        assert _indexed(store, needle, None) == _scanned(views, needle, None)
    assert [f for _, f, _ in views_of(store).stored_texts()] == [
        "target",
        "body",
        "note",
        "answer",
        "answer",
    ]


def test_a_rebuild_makes_the_index_again(register: RingiStore) -> None:
    views = views_of(register)
    before = views.stored_texts()
    assert before
    with views._transaction(commit=True) as c:
        c.execute(views._sql("DELETE FROM {search}"))
    assert _indexed(register, "ス", None) == set()
    rebuild(register)
    assert views.stored_texts() == before
    assert _indexed(register, "ス", None) == _scanned(_current(register), "ス", None)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {search} SET text='改ざん' WHERE number=? AND field='target'",
        "DELETE FROM {search} WHERE number=? AND field='body'",
        "INSERT INTO {search} (number, field, text) VALUES (?, 'note', 'forged')",
    ],
)
def test_verify_finds_the_index_edited(register: RingiStore, statement: str) -> None:
    from ringi.audit.verify import read_model_findings

    assert read_model_findings(register) == []
    views = views_of(register)
    sql = statement
    if views.dialect == "postgres" and sql.startswith("INSERT"):
        sql = "INSERT INTO {search} (number, seq, field, text) VALUES (?, 99, 'note', 'forged')"
    with views._transaction(commit=True) as c:
        c.execute(views._sql(sql), (7,))
    found = read_model_findings(register)
    assert [(f.number, f.message) for f in found] == [
        (7, "the search index's texts differ from the events'")
    ]
    rebuild(register)
    assert read_model_findings(register) == []
