"""The register (資料2) over the HTTP API (``ringi/api/routers/register.py``): the
same bytes as ``ringi register`` in every format, the content digest a published
meeting recorded, the changes between two meetings, one request as it stood
then (its clarification thread only for those who may read it), and clear
errors. The lifecycle of ``test_register`` (meetings 35-37, dated commands
straight to a real SQLite store); the API serves it without Temporal."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from openpyxl import load_workbook
from temporalio.client import Client

from ringi.api.idempotency import command_id, fingerprint
from ringi.api.routers.register import PublishBody
from ringi.api.tokens import TokenRegistry
from ringi.config import Settings
from ringi.domain.commands import AskClarification
from ringi.register.diff import diff_meetings
from ringi.register.document import register_document
from ringi.register.publish import publish
from ringi.register.render import FORMATS, render
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving
from tests.test_register import SECRETARIAT, Lifecycle, jst, until_35, until_36, until_37

PATH = "/v1/register"


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    life = Lifecycle(store)
    until_35(life)
    until_36(life)
    # a question to No.3's proposer (C社): only C社, the secretariat and auditors read it
    life.do(3, jst("2018-09-05"), AskClarification(actor=SECRETARIAT, question="高圧のみですか？"))
    until_37(life)
    async with serving(Ringi(settings, cast(Client, None), store)) as served:
        yield served


async def test_every_format_is_the_bytes_ringi_register_renders(api: Api) -> None:
    document = register_document(api.store, meeting=36)
    for fmt in FORMATS:
        for lang in ("ja", "en"):
            got = await api.call("A社", "GET", f"{PATH}?meeting=36&format={fmt}&lang={lang}")
            assert got.status_code == 200, got.text
            assert got.content == render(document, fmt, lang), (fmt, lang)
            assert got.headers["Ringi-Register-Digest"] == document.digest()
            assert f'filename="ringi-register-36-{lang}' in got.headers["Content-Disposition"]
    default = await api.call("auditor", "GET", f"{PATH}?meeting=36")
    assert default.headers["content-type"] == "application/json"
    assert [row["number"] for row in default.json()["rows"]] == [1, 3, 4]
    sheet = await api.call("secretariat", "GET", f"{PATH}?meeting=36&format=xlsx")
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert load_workbook(io.BytesIO(sheet.content)).active is not None
    csv = await api.call("A社", "GET", f"{PATH}?meeting=36&format=csv")
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"


async def test_a_published_meeting_answers_with_the_digest_its_publication_recorded(
    api: Api,
) -> None:
    before = await api.call("A社", "GET", "/v1/meetings/37")
    assert before.status_code == 200 and before.json()["publications"] == []
    published = publish(api.store, 37, formats=["csv"], lang="ja", actor=SECRETARIAT)
    got = await api.call("A社", "GET", f"{PATH}?meeting=37&format=csv")
    assert got.headers["Ringi-Register-Digest"] == published.digest
    assert got.content == published.files["csv"]
    # a member's system finds the digest to check against where the meeting is
    meeting = (await api.call("A社", "GET", "/v1/meetings/37")).json()
    assert meeting["number"] == 37 and meeting["title"] == "第37回"
    (recorded,) = meeting["publications"]
    assert (recorded["publication"], recorded["digest"]) == (1, published.digest)
    assert recorded["formats"] == {"csv": hashlib.sha256(got.content).hexdigest()}
    missing = await api.call("A社", "GET", "/v1/meetings/99")
    assert missing.status_code == 404 and "no meeting 99" in missing.json()["message"]


async def test_as_of_a_moment_and_now(api: Api) -> None:
    then = await api.call("A社", "GET", PATH, params={"as_of": "2018-07-01T00:00:00+09:00"})
    assert then.status_code == 200, then.text
    assert then.json()["as_of"] == "2018-07-01T00:00:00+09:00"
    assert [row["number"] for row in then.json()["rows"]] == [1, 3]  # No.2 closed at 35
    now = await api.call("A社", "GET", PATH)
    assert now.status_code == 200 and now.json()["meeting"] is None
    # a day, as on the command line: through its end in Japan
    day = await api.call("A社", "GET", PATH, params={"as_of": "2018-06-30"})
    assert day.status_code == 200, day.text
    assert day.json()["as_of"] == "2018-06-30T23:59:59.999999+09:00"
    assert day.json()["rows"] == then.json()["rows"]


async def test_bad_questions_get_clear_answers(api: Api) -> None:
    both = await api.call(
        "A社", "GET", PATH, params={"meeting": 36, "as_of": "2018-07-01T00:00:00+09:00"}
    )
    assert both.status_code == 422 and "not both" in both.json()["message"]
    for query, status, words in [
        ({"meeting": 99}, 404, "no meeting 99"),
        ({"meeting": 0}, 422, "meeting"),
        ({"format": "pdf"}, 422, "format"),
        ({"as_of": "2018-07-01T00:00:00"}, 422, "as_of"),  # a moment needs its zone
        ({"as_of": "0.0"}, 422, "ISO 8601"),  # not seconds since 1970
        ({"as_of": "2018-02-30"}, 422, "as_of"),  # not a day
    ]:
        got = await api.call("A社", "GET", PATH, params=query)
        assert got.status_code == status, (query, got.text)
        assert words in got.text, (query, got.text)
    diff = await api.call("A社", "GET", f"{PATH}/diff", params={"from": 35, "to": 98})
    assert diff.status_code == 404 and "no meeting 98" in diff.json()["message"]
    early = await api.call("A社", "GET", f"{PATH}/requests/4", params={"meeting": 35})
    assert early.status_code == 404 and "had not been filed" in early.json()["message"]
    unknown = await api.call("A社", "GET", f"{PATH}/requests/77", params={"meeting": 35})
    assert unknown.status_code == 404


async def test_the_changes_between_two_meetings(api: Api) -> None:
    got = await api.call("A社", "GET", f"{PATH}/diff", params={"from": 35, "to": 36})
    assert got.status_code == 200, got.text
    assert got.json() == json.loads(diff_meetings(api.store, 35, 36).model_dump_json())
    assert [r["number"] for r in got.json()["new_requests"]] == [4]


async def test_one_request_then_keeps_its_clarifications_for_those_who_may_read_them(
    api: Api,
) -> None:
    path = f"{PATH}/requests/3"
    for reader, sees in [("C社", True), ("secretariat", True), ("auditor", True), ("A社", False)]:
        got = await api.call(reader, "GET", path, params={"meeting": 36})
        assert got.status_code == 200, got.text
        request = got.json()["request"]
        assert [c["question"] for c in request["clarifications"]] == (
            ["高圧のみですか？"] if sees else []
        ), reader
        assert got.json()["support"] == 3  # endorsed twice after 35
    at_35 = (await api.call("A社", "GET", f"{PATH}/requests/1", params={"meeting": 35})).json()
    assert [a["meeting"] for a in at_35["request"]["answers"]] == [35]


async def test_the_secretariat_publishes_and_a_retry_publishes_once(api: Api) -> None:
    path = "/v1/meetings/37/publications"
    body = {"formats": ["csv", "xlsx"], "lang": "en"}
    key = {"Idempotency-Key": "publish-37"}
    first = await api.call("secretariat", "POST", path, body, headers=key)
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["meeting"], made["publication"], made["lang"]) == (37, 1, "en")
    assert made["actor"]["role"] == "secretariat" and made["actor"]["user"]
    # what the register says of meeting 37 from now on is what was published
    for fmt in ("csv", "xlsx"):
        got = await api.call(
            "A社", "GET", PATH, params={"meeting": 37, "format": fmt, "lang": "en"}
        )
        assert got.headers["Ringi-Register-Digest"] == made["digest"]
        assert hashlib.sha256(got.content).hexdigest() == made["formats"][fmt]
    assert set(made["formats"]) == {"csv", "xlsx"}

    events = api.store.recorder.max_notification_id()
    again = await api.call("secretariat", "POST", path, body, headers=key)
    assert again.status_code == 201 and again.json() == made
    assert api.store.recorder.max_notification_id() == events  # the retry wrote nothing
    other = await api.call("secretariat", "POST", path, None)  # published again: html, ja
    assert other.status_code == 201 and other.json()["publication"] == 2
    assert set(other.json()["formats"]) == {"html"}
    assert (await api.call("auditor", "POST", "/v1/audit/verify")).json()["clean"] is True

    for who, body_, status, words in [
        ("A社", body, 403, "only secretariat"),
        ("secretariat", {"formats": ["pdf"]}, 422, "formats"),
        ("secretariat", {"formats": []}, 422, "formats"),
    ]:
        refused = await api.call(who, "POST", path, body_)
        assert refused.status_code == status and words in refused.text, refused.text
    missing = await api.call("secretariat", "POST", "/v1/meetings/99/publications", None)
    assert missing.status_code == 404 and "no meeting 99" in missing.json()["message"]


async def test_a_retry_after_a_call_that_published_but_stopped_publishes_nothing_more(
    api: Api,
) -> None:
    """The first call claimed its key and published, then stopped before it could
    note the key's answer: the retry finds that publication instead of making another."""
    path, key = "/v1/meetings/37/publications", "publish-37-stopped"
    who = TokenRegistry(api.store).authenticate(api.tokens["secretariat"])
    started = datetime.now(UTC)
    print_ = fingerprint("POST", path, PublishBody(formats=["csv"]).model_dump_json())
    assert api.app.state.ringi.keys.claim(who, key, print_, "POST", path, started) is None
    publish(
        api.store,
        37,
        formats=["csv"],
        actor=who.actor(),
        at=started + timedelta(seconds=1),
        command_id=command_id(who.token_id, key),
    )

    retried = await api.call(
        "secretariat", "POST", path, {"formats": ["csv"]}, headers={"Idempotency-Key": key}
    )
    assert retried.status_code == 201, retried.text
    assert retried.json()["publication"] == 1 and len(api.store.meeting(37).publications) == 1
    again = await api.call(
        "secretariat", "POST", path, {"formats": ["csv"]}, headers={"Idempotency-Key": key}
    )
    assert again.json() == retried.json() and len(api.store.meeting(37).publications) == 1


async def test_a_retry_racing_its_first_call_publishes_once(api: Api) -> None:
    """The retry arrives while the first call is still rendering (its key claimed,
    nothing published): the retry publishes, and the first call, when it gets to
    record its publication, finds the retry's and records nothing."""
    path, key = "/v1/meetings/37/publications", "publish-37-racing"
    who = TokenRegistry(api.store).authenticate(api.tokens["secretariat"])
    print_ = fingerprint("POST", path, PublishBody(formats=["md"]).model_dump_json())
    started = datetime.now(UTC)
    assert api.app.state.ringi.keys.claim(who, key, print_, "POST", path, started) is None

    retried = await api.call(
        "secretariat", "POST", path, {"formats": ["md"]}, headers={"Idempotency-Key": key}
    )
    assert retried.status_code == 201, retried.text
    events = api.store.recorder.max_notification_id()
    first = publish(
        api.store, 37, formats=["md"], actor=who.actor(), command_id=command_id(who.token_id, key)
    )
    assert api.store.recorder.max_notification_id() == events
    assert (first.publication, first.digest) == (1, retried.json()["digest"])
    assert hashlib.sha256(first.files["md"]).hexdigest() == retried.json()["formats"]["md"]
    assert len(api.store.meeting(37).publications) == 1


async def test_the_secretariat_reschedules_a_meeting_and_its_register_follows(api: Api) -> None:
    """Meeting 37 brought forward a day: its register is cut at the end of the new day,
    so the answers recorded on the old one are no longer in it."""
    path, released = "/v1/meetings/37", "2019年2月リリース予定です。"
    register = {"meeting": 37, "format": "json"}
    before = await api.call("A社", "GET", PATH, params=register)
    assert released in before.text
    body = {"held_at": "2018-12-19T00:00:00+09:00", "reason": "会場の都合で前倒し"}
    key = {"Idempotency-Key": "move-37"}
    moved = await api.call("secretariat", "PATCH", path, body, headers=key)
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "number": 37,
        "held_at": "2018-12-19T00:00:00+09:00",
        "deadlines_following": [],  # nothing gathers support until meeting 37
        "deadlines_kept": [],
    }
    events = api.store.recorder.max_notification_id()
    again = await api.call("secretariat", "PATCH", path, body, headers=key)
    assert again.status_code == 200 and again.json() == moved.json()
    assert api.store.recorder.max_notification_id() == events  # the retry wrote nothing

    after = await api.call("A社", "GET", PATH, params=register)
    assert released not in after.text
    assert after.headers["Ringi-Register-Digest"] != before.headers["Ringi-Register-Digest"]
    shown = (await api.call("auditor", "GET", path)).json()
    assert shown["held_at"] == "2018-12-19T00:00:00+09:00"

    for who, body_, status, words in [
        ("A社", body, 403, "only secretariat"),
        ("secretariat", {"held_at": "2018-09-01T00:00:00+09:00"}, 409, "not after"),
        ("secretariat", {"held_at": "2018-12-19"}, 422, "held_at"),
    ]:
        refused = await api.call(who, "PATCH", path, body_)
        assert refused.status_code == status and words in refused.text, refused.text
    missing = await api.call("secretariat", "PATCH", "/v1/meetings/99", body)
    assert missing.status_code == 404


async def test_a_settled_register_is_sent_once_compressed_and_not_again_to_who_has_it(
    api: Api,
) -> None:
    document = register_document(api.store, meeting=36)
    plain = await api.call(
        "A社", "GET", f"{PATH}?meeting=36&format=md", headers={"Accept-Encoding": "identity"}
    )
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.content == render(document, "md", "ja")
    tag = plain.headers["ETag"]
    zipped = await api.call(
        "B社", "GET", f"{PATH}?meeting=36&format=md", headers={"Accept-Encoding": "br, gzip"}
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx took the gzip off
    assert zipped.headers["ETag"] != tag and zipped.headers["Vary"] == "Accept-Encoding"
    again = await api.call(
        "B社",
        "GET",
        f"{PATH}?meeting=36&format=md",
        headers={"Accept-Encoding": "identity", "If-None-Match": tag},
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["Ringi-Register-Digest"] == document.digest()
    # another format or language is another file
    other = await api.call(
        "B社", "GET", f"{PATH}?meeting=36&format=md&lang=en", headers={"If-None-Match": tag}
    )
    assert other.status_code == 200 and other.headers["ETag"] not in (tag, zipped.headers["ETag"])
    # gzip refused outright (q=0) is not sent
    refused = await api.call(
        "A社", "GET", f"{PATH}?meeting=36&format=md", headers={"Accept-Encoding": "gzip;q=0, *"}
    )
    assert "content-encoding" not in refused.headers


async def test_a_register_as_of_now_carries_no_entity_tag(api: Api) -> None:
    now = await api.call("A社", "GET", PATH, headers={"Accept-Encoding": "gzip"})
    assert now.status_code == 200 and "etag" not in now.headers
    assert "content-encoding" not in now.headers
