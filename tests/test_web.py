"""The web pages end to end: the API's app around a real Ringi (time-skipping
Temporal server, a worker, a SQLite event store), driven through httpx as a
browser without JavaScript would: sign in with a token, read the register and
a request, post the forms.

What must hold: tokens and roles as in the API (a revoked token stops at the
next page); every post needs the session's form token; a member is offered
and allowed only a member's actions; a refusal is shown with the validator's
reason and writes nothing; a clarification thread is never shown to another
member; both languages; every input labelled.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer

from ringi.api.tokens import TokenRegistry
from ringi.domain.lifecycle import JST
from ringi.domain.vocabulary import Actor, Role, Stage
from ringi.register.document import register_document
from ringi.register.publish import publish
from ringi.register.render import EXTENSIONS, FORMATS, MEDIA_TYPES, render
from ringi.service import Ringi
from ringi.web import i18n, reads
from ringi.web.settings import SECRET_FILE
from tests.api_harness import Api, serving
from tests.helpers import event_names, events
from tests.test_import import imported
from tests.web_harness import Element, actions, browser, parse, text


@pytest.fixture
async def api(ringi: Ringi) -> AsyncIterator[Api]:
    async with serving(ringi) as api:
        yield api


def log_position(api: Api) -> int:
    return api.store.recorder.max_notification_id() or 0


async def post_api(api: Api, who: str, path: str, body: Any = None) -> dict[str, Any]:
    response = await api.call(who, "POST", path, body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


# --- signing in -----------------------------------------------------------------------------


async def test_sign_in_with_a_good_a_bad_and_a_revoked_token(api: Api) -> None:
    async with browser(api) as b:
        # not signed in: off to the sign-in form, which says where to come back to
        first = await b.get("/web/register?stage=hearing")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/web/signin?next=")

        form = await b.page("/web/signin")
        token_input = form.one("input", name="token")
        assert form.one("label", for_=token_input.attrs["id"]).text.strip() == "トークン"
        form.one("button", data_testid="signin")

        bad = await b.post("/web/signin", {"token": "ringi_0123456789abcdef_wrong"})
        assert bad.status_code == 401
        assert "このトークンではサインインできません" in text(
            parse(bad.text).one(data_testid="signin-error")
        )

        good = await b.post(
            "/web/signin", {"token": api.tokens["A社"], "next": "/web/register?stage=hearing"}
        )
        assert good.status_code == 303
        assert good.headers["location"] == "/web/register?stage=hearing"
        cookie = good.headers["set-cookie"]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax", "path=/web"} <= flags
        assert "secure" not in flags  # plain http here; https would add it
        # the cookie holds the token's id, never the token or its secret
        value = cookie.split(";")[0].split("=", 1)[1].strip('"')
        # anyone can read a signed cookie's payload (it is signed, not encrypted)
        session = URLSafeTimedSerializer("any").load_payload(value.rsplit(".", 2)[0].encode())
        # ringi_<hex id>_<secret>; the secret itself may hold "_"
        secret = api.tokens["A社"].split("_", 2)[2]
        assert len(secret) >= 32
        assert set(session) == {"csrf", "tid", "bind"}
        assert secret not in value and secret not in json.dumps(session)

        page = await b.page("/web/register")
        assert "A社" in text(page.one(data_testid="who"))

        # revoked: the very next page sends the browser back to sign in
        token_id = session["tid"]
        TokenRegistry(api.store).revoke(token_id, reason="leaked")
        after = await b.get("/web/register")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/web/signin?expired=1")
        notice = await b.page(after.headers["location"])
        assert "失効" in text(notice.one(data_testid="notice"))
        again = await b.post("/web/signin", {"token": api.tokens["A社"]})
        assert again.status_code == 401


async def test_a_tampered_cookie_is_no_session_and_the_secret_is_kept_private(
    api: Api, ringi: Ringi
) -> None:
    path = ringi.settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with browser(api, "B社") as b:
        cookie = b.client.cookies.get("ringi_session")
        assert cookie
        b.client.cookies.set("ringi_session", cookie[:-2] + "xx", domain="ringi.test", path="/web")
        assert (await b.get("/web/register")).status_code == 303


async def test_sign_out_needs_the_form_token_and_ends_the_session(api: Api) -> None:
    async with browser(api, "B社") as b:
        assert (await b.post("/web/signout", csrf="")).status_code == 403
        assert (await b.get("/web/register")).status_code == 200
        out = await b.post("/web/signout")
        assert out.status_code == 303
        assert (await b.get("/web/register")).status_code == 303


async def test_the_root_leads_to_the_pages(api: Api) -> None:
    async with browser(api) as b:
        root = await b.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/web/"
        assert (await b.get("/web/")).headers["location"] == "/web/register"
        css = await b.get("/web/static/ringi.css")
        assert css.status_code == 200 and ":focus-visible" in css.text


# --- CSRF and roles ---------------------------------------------------------------------------


async def test_a_post_without_the_form_token_is_refused_and_writes_nothing(api: Api) -> None:
    n = await api.file("A社")
    async with browser(api, "B社") as b:
        before = log_position(api)
        for forged in ("", "not-the-token"):
            response = await b.post(f"/web/requests/{n}/endorse", csrf=forged)
            assert response.status_code == 403
            assert "CSRF" in text(parse(response.text).one(data_testid="error"))
        # the right token, but sent from another site
        foreign = await b.post(
            f"/web/requests/{n}/endorse", headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        referred = await b.post(
            f"/web/requests/{n}/endorse", headers={"Referer": "https://evil.example/x"}
        )
        assert referred.status_code == 403
        assert log_position(api) == before
        assert "Endorsed" not in event_names(api.store, n)

        # with it: carried out as the token's user, like the API would
        done = await b.post(f"/web/requests/{n}/endorse", headers={"Origin": "http://ringi.test"})
        assert done.status_code == 303
        assert done.headers["location"] == f"/web/requests/{n}?done=endorse"
        (endorsed,) = events(api.store, n, "Endorsed")
        assert endorsed.actor is not None
        assert endorsed.actor["company"] == "B社"
        assert endorsed.actor["user"].startswith("B社#")


async def test_the_sign_in_form_is_protected_too(api: Api) -> None:
    async with browser(api) as b:
        await b.get("/web/signin")
        response = await b.post("/web/signin", {"token": api.tokens["A社"]}, csrf="")
        assert response.status_code == 403


async def test_each_role_is_offered_its_own_actions_only(api: Api) -> None:
    n = await api.file("A社")
    async with (
        browser(api, "A社") as proposer,
        browser(api, "B社") as other,
        browser(api, "secretariat") as desk,
        browser(api, "auditor") as auditor,
    ):
        assert actions(await other.page(f"/web/requests/{n}")) == {"endorse"}
        assert actions(await proposer.page(f"/web/requests/{n}")) == {"notes", "withdraw"}
        offered = actions(await desk.page(f"/web/requests/{n}"))
        assert {"answers", "hold", "close", "ask-clarification", "extend-deadline"} <= offered
        assert not offered & {"endorse", "notes", "withdraw", "open-hearing", "approve"}
        assert actions(await auditor.page(f"/web/requests/{n}")) == set()

        # endorsed: B社 may now withdraw its endorsement instead
        await other.post(f"/web/requests/{n}/endorse")
        assert actions(await other.page(f"/web/requests/{n}")) == {"unendorse"}

        # a member forcing a secretariat action: 403 and nothing written
        before = log_position(api)
        forced = await other.post(f"/web/requests/{n}/hold", {"reason": "x"})
        assert forced.status_code == 403
        assert "事務局" in text(parse(forced.text).one(data_testid="error"))
        # a member acting on another company's request where only the proposer may
        foreign = await other.post(f"/web/requests/{n}/notes", {"text": "割り込み"})
        assert foreign.status_code == 403
        assert "only the proposer (A社)" in foreign.text
        # the auditor changes nothing
        assert (await auditor.post(f"/web/requests/{n}/answers", {"text": "x"})).status_code == 403
        assert log_position(api) == before


async def test_a_refusal_is_shown_with_the_validators_reason_and_writes_nothing(
    api: Api,
) -> None:
    n = await api.file("A社")
    async with browser(api, "B社") as b, browser(api, "secretariat") as desk:
        assert (await b.post(f"/web/requests/{n}/endorse")).status_code == 303
        before = log_position(api)
        again = await b.post(f"/web/requests/{n}/endorse")  # a stale page, say
        assert again.status_code == 409
        refusal = text(parse(again.text).one(data_testid="refusal"))
        assert f"B社 already endorses No.{n}; an endorsement counts once" in refusal
        assert "ライフサイクルの規則により受け付けられませんでした" in refusal
        assert log_position(api) == before

        # a value the rules refuse: a deadline earlier than the one running
        view = api.store.view(n)
        assert view.support_deadline is not None
        earlier = (view.support_deadline - timedelta(days=10)).date().isoformat()
        refused = await desk.post(f"/web/requests/{n}/extend-deadline", {"deadline": earlier})
        assert refused.status_code == 409
        page = parse(refused.text)
        assert "is not later than the current one" in text(page.one(data_testid="refusal"))
        assert log_position(api) == before

        # and one the form itself refuses: 422, the error next to the field
        invalid = await desk.post(f"/web/requests/{n}/hold", {"reason": "  "})
        assert invalid.status_code == 422
        page = parse(invalid.text)
        error = page.one(data_testid="field-error", data_field="reason")
        assert text(error) == "入力してください。"
        field = page.one("textarea", id="hold-reason")
        assert field.attrs["aria-describedby"] == error.attrs["id"]
        assert log_position(api) == before

        # the same form sent twice (a double click) is carried out once
        key = {"key": "double-click-key-0001"}
        first = await desk.post(f"/web/requests/{n}/answers", {"text": "検討します", **key})
        second = await desk.post(f"/web/requests/{n}/answers", {"text": "検討します", **key})
        assert first.status_code == second.status_code == 303
        assert len(events(api.store, n, "AnswerRecorded")) == 1
        assert not (await desk.page(first.headers["location"])).find(data_testid="after-meeting")


async def test_an_answer_tagged_with_a_meeting_already_held_says_where_it_shows(api: Api) -> None:
    n = await api.file("A社")
    for number, day in ((1, "2020-01-10"), (2, "2199-01-10")):
        body = {"number": number, "held_at": f"{day}T00:00:00+09:00"}
        await post_api(api, "secretariat", "/v1/meetings", body)
    async with browser(api, "secretariat") as desk:
        for meeting, told in ((2, False), (1, True)):
            answer = {"text": f"第{meeting}回の回答", "meeting": str(meeting)}
            done = await desk.post(f"/web/requests/{n}/answers", answer)
            assert done.status_code == 303, done.text[:500]
            page = await desk.page(done.headers["location"])
            assert page.one(data_testid="done")
            notes = page.find(data_testid="after-meeting")
            assert bool(notes) is told, meeting
        assert "第1回の開催日は過ぎています" in text(notes[0])


# --- filing ---------------------------------------------------------------------------------


async def test_the_filing_form_validates_on_both_sides(api: Api) -> None:
    async with browser(api, "C社") as b:
        form = await b.page("/web/file")
        target = form.one("input", name="target")
        assert "required" in target.attrs and target.attrs["maxlength"] == "500"
        assert "required" in form.one("textarea", name="body").attrs

        numbers = api.store.numbers()
        bad = await b.post("/web/file", {"category": "要望", "target": "", "body": "x" * 20_001})
        assert bad.status_code == 422
        page = parse(bad.text)
        assert (
            text(page.one(data_testid="field-error", data_field="target")) == "入力してください。"
        )
        assert "20000" in text(page.one(data_testid="field-error", data_field="body"))
        assert page.one("textarea", name="body").attrs["aria-invalid"] == "true"
        unknown = await b.post("/web/file", {"category": "苦情", "target": "画面", "body": "x"})
        assert unknown.status_code == 422
        assert parse(unknown.text).one(data_testid="field-error", data_field="category")
        assert api.store.numbers() == numbers

        filed = await b.post(
            "/web/file", {"category": "質問", "target": "API", "body": "上限件数は？"}
        )
        assert filed.status_code == 303
        number = int(filed.headers["location"].rsplit("/", 1)[1])
        view = api.store.view(number)
        assert (view.proposer, view.category.value, view.body) == ("C社", "質問", "上限件数は？")
        page = await b.page(filed.headers["location"])
        assert page.one(data_testid="stage").attrs["data-stage"] == Stage.FILED.value

    async with browser(api, "secretariat") as desk:
        assert (await desk.get("/web/file")).status_code == 403


# --- reading ----------------------------------------------------------------------------------


async def test_the_register_filters_sorts_and_replays_a_past_meeting(api: Api) -> None:
    one = await api.file("A社", target="使用量情報照会", body="パスワード発行を一括で")
    two = await api.file("B社", target="設備情報検索", body="高圧の検索")
    three = await api.file("C社", category="意見", target="API", body="レスポンスを速く")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 1})
    publish(api.store, 1, actor=Actor.secretariat("desk"))  # fixes what meeting 1 said
    # after the meeting: No.1 gains support, No.2 is closed
    await post_api(api, "C社", f"/v1/requests/{one}/endorse")
    await post_api(api, "D社", f"/v1/requests/{one}/endorse")
    await post_api(api, "secretariat", f"/v1/requests/{two}/close", {"reason": "out_of_scope"})

    def rows(page: Element) -> dict[int, Element]:
        table = page.one("table", data_testid="register")
        return {int(tr.attrs["data-number"]): tr for tr in table.find("tr", data_number=...)}

    async with browser(api, "E社") as b:
        now = rows(await b.page("/web/register"))
        assert set(now) == {one, two, three}  # No.2 closed since the last meeting: still shown
        assert text(now[one].one(data_testid="support")) == "3"
        assert text(now[two].one(data_testid="support")) == "クローズ"
        assert "残り" in text(now[one].one(data_testid="deadline"))

        assert set(rows(await b.page("/web/register?stage=gathering_support"))) == {one}
        assert set(rows(await b.page("/web/register?category=意見"))) == {three}
        assert set(rows(await b.page("/web/register?target=検索"))) == {two}
        assert set(rows(await b.page("/web/register?q=パスワード"))) == {one}
        by_support = await b.page("/web/register?sort=support&order=desc")
        assert next(iter(rows(by_support))) == one
        assert list(rows(await b.page("/web/register?sort=number&order=desc"))) == [
            three,
            two,
            one,
        ]
        # nonsense in the query is ignored, not an error
        assert set(rows(await b.page("/web/register?stage=nope&sort=drop&meeting=x"))) == {
            one,
            two,
            three,
        }

        # the switch to meeting 1: the register as it was then, from the events
        page = await b.page("/web/register")
        select = page.one("select", name="meeting")
        assert [o.attrs["value"] for o in select.find("option")] == ["", "1"]
        then_page = await b.page("/web/register?meeting=1")
        assert then_page.one(data_testid="replay-note")
        then = rows(then_page)
        assert set(then) == {one, two, three}
        assert text(then[one].one(data_testid="support")) == "1"
        assert text(then[two].one(data_testid="support")) == "1"
        assert then[two].attrs["data-stage"] == Stage.GATHERING_SUPPORT.value


async def test_the_register_is_shown_a_page_at_a_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "PAGE_SIZE", 2)
    one = await api.file("A社", target="使用量情報照会", body="パスワード発行を一括で")
    two = await api.file("B社", target="設備情報検索", body="高圧の検索")
    three = await api.file("C社", category="意見", target="API", body="レスポンスを速く")

    def numbers(page: Element) -> list[int]:
        table = page.one("table", data_testid="register")
        return [int(tr.attrs["data-number"]) for tr in table.find("tr", data_number=...)]

    async with browser(api, "E社") as b:
        first = await b.page("/web/register")
        assert numbers(first) == [one, two]
        assert text(first.one(data_testid="count")) == "3件 / 3件"  # every page's rows
        pager = first.find("nav", data_testid="pager")[0]
        assert [a.attrs["rel"] for a in pager.find("a")] == ["next"]
        following = pager.find("a")[0].attrs["href"]
        second = await b.page("/web/register" + following)
        assert numbers(second) == [three]
        assert [a.attrs["rel"] for a in second.find("nav", data_testid="pager")[0].find("a")] == [
            "prev"
        ]
        # the order is the whole register's, then cut into pages
        assert numbers(await b.page("/web/register?sort=number&order=desc")) == [three, two]
        assert numbers(await b.page("/web/register?sort=number&order=desc&page=2")) == [one]
        # a page past the last shows the last; nonsense shows the first
        assert numbers(await b.page("/web/register?page=99")) == [three]
        assert numbers(await b.page("/web/register?page=x")) == [one, two]
        assert numbers(await b.page("/web/register?page=²&meeting=²")) == [one, two]
        # a filter counts what it admits
        only = await b.page("/web/register?target=検索")
        assert numbers(only) == [two] and not only.find("nav", data_testid="pager")
        assert text(only.one(data_testid="count")) == "1件 / 3件"


async def test_the_register_is_downloaded_whole_in_every_format(api: Api) -> None:
    one = await api.file("A社", target="使用量情報照会", body="パスワード発行を一括で")
    await api.file("B社", target="設備情報検索", body="高圧の検索")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 1})
    await post_api(api, "C社", f"/v1/requests/{one}/endorse")
    meeting_1 = register_document(api.store, meeting=1)

    async with browser(api, "E社") as b:
        page = await b.page("/web/register?meeting=1&stage=hearing")  # filtered: shows none
        links = [a.attrs["href"] for a in page.one(data_testid="downloads").find("a")]
        offered = ("html", "xlsx", "csv", "md", "json")
        assert sorted(offered) == sorted(FORMATS)
        assert links == [f"/web/register/download?format={f}&meeting=1" for f in offered]
        for fmt in FORMATS:
            got = await b.get(f"/web/register/download?format={fmt}&meeting=1")
            assert got.status_code == 200, got.text[:500]
            assert got.content == render(meeting_1, fmt, "ja"), fmt  # the whole register
            assert got.headers["content-type"] == MEDIA_TYPES[fmt]
            name = f"ringi-register-1-ja{EXTENSIONS[fmt]}"
            assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
        english = await b.get("/web/register/download?format=csv&meeting=1&lang=en")
        assert english.content == render(meeting_1, "csv", "en")
        now = await b.get("/web/register/download?format=md")
        assert now.status_code == 200
        assert "ringi-register-now-ja.md" in now.headers["content-disposition"]
        bad = await b.get("/web/register/download?format=pdf")
        assert bad.status_code == 404
        # a meeting never opened is not found, not quietly today's register
        for path in ("/web/register", "/web/register/download"):
            missing = await b.get(f"{path}?format=csv&meeting=99")
            assert missing.status_code == 404, path
            assert "meeting &#39;99&#39;" in missing.text
            assert "content-disposition" not in missing.headers

    async with browser(api) as anonymous:  # not signed in: to the sign-in page, no file
        away = await anonymous.get("/web/register/download?format=csv")
        assert away.status_code in (302, 303) and "/web/signin" in away.headers["location"]


async def test_the_secretariat_publishes_a_meetings_register_from_its_page(api: Api) -> None:
    await api.file("A社", target="使用量情報照会", body="パスワード発行を一括で")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 1})

    def publications() -> list[Any]:
        return api.store.meeting(1).publications

    async with browser(api, "A社") as member:
        page = await member.page("/web/register?meeting=1")
        assert not page.find("form", data_action="publish")  # a member is not offered it
        refused = await member.post("/web/register/publish", {"meeting": "1"})
        assert refused.status_code == 403 and publications() == []

    async with browser(api, "secretariat") as b:
        assert not (await b.page("/web/register")).find("form", data_action="publish")  # now
        page = await b.page("/web/register?meeting=1")
        form = page.one("form", data_action="publish")
        sent = {"meeting": "1", "key": form.one("input", name="key").attrs["value"]}
        no_token = await b.post("/web/register/publish", sent, csrf="")
        assert no_token.status_code == 403 and publications() == []
        done = await b.post("/web/register/publish", sent)
        assert done.status_code == 303, done.text[:500]
        twice = await b.post("/web/register/publish", sent)  # a double click publishes once
        assert twice.status_code == 303 and twice.headers["location"] == done.headers["location"]
        (made,) = publications()
        assert made.digest == register_document(api.store, meeting=1).digest()
        assert set(made.formats) == set(FORMATS) and made.lang == "ja"
        assert made.actor.role is Role.SECRETARIAT
        shown = await b.page(done.headers["location"])
        assert made.digest in text(shown.one(data_testid="published"))
        missing = await b.post("/web/register/publish", {"meeting": "9"})
        assert missing.status_code == 404 and len(publications()) == 1


async def test_the_secretariat_reschedules_a_meeting_from_its_register_page(api: Api) -> None:
    for number, day in ((1, "2030-01-10"), (2, "2030-02-10")):
        body = {"number": number, "held_at": f"{day}T00:00:00+09:00"}
        await post_api(api, "secretariat", "/v1/meetings", body)
    n = await api.file("A社", category="意見")
    await post_api(api, "secretariat", f"/v1/requests/{n}/open-support", {"until_meeting": 1})
    async with browser(api, "A社") as member:
        page = await member.page("/web/register?meeting=1")
        assert not page.find("form", data_action="reschedule-meeting")
        refused = await member.post("/web/meetings/1/reschedule", {"date": "2030-01-17"})
        assert refused.status_code == 403
    async with browser(api, "secretariat") as b:
        page = await b.page("/web/register?meeting=1")
        assert page.one("form", data_action="reschedule-meeting")
        done = await b.post("/web/meetings/1/reschedule", {"date": "2030-01-17", "reason": "延期"})
        assert done.status_code == 303, done.text[:500]
        shown = await b.page(done.headers["location"])
        assert "賛同期限 1件を新しい開催日に合わせました" in text(
            shown.one(data_testid="rescheduled")
        )
        assert api.store.meetings()[1] == datetime(2030, 1, 17, tzinfo=JST)
        assert api.store.view(n).support_deadline == datetime(2030, 1, 17, tzinfo=JST)
        twice = await b.post("/web/meetings/1/reschedule", {"date": "2030-01-17"})
        assert twice.status_code == 303  # a second click: done once
        clash = await b.post("/web/meetings/1/reschedule", {"date": "2030-02-11"})
        assert clash.status_code == 409 and "not before" in clash.text
        bad = await b.post("/web/meetings/1/reschedule", {"date": "17/01/2030"})
        assert bad.status_code == 422
        missing = await b.post("/web/meetings/9/reschedule", {"date": "2030-01-17"})
        assert missing.status_code == 404
    assert api.store.meetings()[1] == datetime(2030, 1, 17, tzinfo=JST)


async def test_an_imported_meeting_offers_no_reschedule_form(api: Api) -> None:
    imported(api.store)
    async with browser(api, "secretariat") as b:
        page = await b.page("/web/register?meeting=37")
        assert page.one("form", data_action="publish")
        assert not page.find("form", data_action="reschedule-meeting")
        refused = await b.post("/web/meetings/37/reschedule", {"date": "2018-12-20"})
        assert refused.status_code == 409 and "--meeting-dates" in refused.text


async def test_the_secretariat_opens_a_meeting_from_the_register_page(api: Api) -> None:
    async with browser(api, "A社") as member:
        assert not (await member.page("/web/register")).find("form", data_action="open-meeting")
        refused = await member.post("/web/meetings", {"number": "5", "date": "2030-01-10"})
        assert refused.status_code == 403 and api.store.meetings() == {}

    async with browser(api, "secretariat") as b:
        assert (await b.page("/web/register")).one("form", data_action="open-meeting")
        form = {"number": "5", "date": "2030-01-10", "title": "第5回会議"}
        done = await b.post("/web/meetings", form)
        assert done.status_code == 303 and done.headers["location"].endswith("?meeting=5&opened=5")
        held = datetime(2030, 1, 10, tzinfo=JST)
        assert api.store.meetings() == {5: held}
        shown = await b.page(done.headers["location"])
        assert "第5回を開きました" in text(shown.one(data_testid="opened"))
        again = await b.post("/web/meetings", form)  # a second click: done once
        assert again.status_code == 303 and api.store.meetings() == {5: held}

        other_day = await b.post("/web/meetings", {**form, "date": "2030-02-10"})
        assert other_day.status_code == 409
        assert "already" in text(parse(other_day.text).one(data_testid="meeting-error"))
        for bad in ({"number": "x", "date": "2030-01-10"}, {"number": "6", "date": "1/10"}):
            invalid = await b.post("/web/meetings", bad)
            assert invalid.status_code == 422, bad
            page = parse(invalid.text)
            assert "YYYY-MM-DD" in text(page.one(data_testid="meeting-error"))
            assert page.one("input", name="number").attrs["value"] == bad["number"]  # kept
        assert api.store.meetings() == {5: held}
        no_token = await b.post("/web/meetings", {"number": "7", "date": "2030-03-10"}, csrf="")
        assert no_token.status_code == 403 and 7 not in api.store.meetings()


async def test_a_request_page_shows_its_life_and_the_cost_table(api: Api) -> None:
    n = await api.file("A社")
    for company in ("B社", "C社", "D社", "E社"):  # the threshold of 5: the hearing opens
        await post_api(api, company, f"/v1/requests/{n}/endorse")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 33})
    await post_api(api, "A社", f"/v1/requests/{n}/notes", {"text": "複数地点まとめて"})
    async with browser(api, "secretariat") as desk:
        page = await desk.page(f"/web/requests/{n}")
        assert page.one(data_testid="stage").attrs["data-stage"] == Stage.HEARING.value
        steps = page.one(data_testid="lifecycle").find("li")
        assert [s.attrs["class"] for s in steps][:4] == [
            "step done",
            "step done",
            "step current",
            "step todo",
        ]
        endorsers = page.one(data_testid="endorsers")
        assert [li.attrs["data-company"] for li in endorsers.find("li")] == [
            "B社",
            "C社",
            "D社",
            "E社",
        ]
        assert "複数地点まとめて" in text(page.one(data_testid="notes"))
        assert not page.find(data_testid="cost")

        done = await desk.post(
            f"/web/requests/{n}/cost-evaluation",
            {
                "monthly_volume": "6000",
                "benefit_per_unit_yen": "300",
                "cost_central": "40000000",
                "cost_network_operators": "20000000",
                "meeting": "33",
            },
        )
        assert done.status_code == 303, done.text[:3000]
        page = await desk.page(done.headers["location"])
        assert text(page.one(data_testid="done"))
        assert page.one(data_testid="stage").attrs["data-stage"] == Stage.COST_EVALUATION.value
        cost = page.one(data_testid="cost")
        assert text(cost.one(data_testid="benefit")) == "108,000,000"
        assert text(cost.one(data_testid="total-cost")) == "60,000,000"
        assert text(cost.one(data_testid="ratio")) == "1.8000"
        assert text(cost.one(data_testid="cost-verdict")) == "費用対効果あり"
        timeline = page.one(data_testid="timeline")
        names = [tr.attrs["data-event"] for tr in timeline.find("tr", data_event=...)]
        assert names[0] == "Filed" and names[-1] == "CostEvaluated"
        last = timeline.find("tr", data_event="CostEvaluated")[0]
        assert "第33回" in text(last) and "事務局" in text(last)
        # what each event records is labelled in the page's language
        filed = text(timeline.find("tr", data_event="Filed")[0])
        assert "対象箇所:" in filed and "区分:" in filed and "target:" not in filed
        # times in Japan, as the rest of the page; records as fields, not JSON
        opened = text(timeline.find("tr", data_event="SupportGatheringOpened")[0])
        assert re.search(r"期限: \d{4}-\d{2}-\d{2} \d{2}:\d{2} JST", opened), opened
        assert "+00:00" not in opened
        assert "support_threshold: 5" in filed and "{" not in filed
        assert "open-objection-window" in actions(page)

        # a form the domain refuses for its figures: the benefit stated two ways
        both = await desk.post(
            f"/web/requests/{n}/cost-evaluation",
            {
                "monthly_volume": "1",
                "benefit_per_unit_yen": "1",
                "total_benefit_yen": "5",
                "cost_central": "1",
            },
        )
        assert both.status_code == 422
        assert parse(both.text).one(data_testid="field-error", data_field="total_benefit_yen")


async def test_a_clarification_thread_is_shown_to_the_proposer_and_the_secretariat_only(
    api: Api,
) -> None:
    n = await api.file("A社")
    question = "Web・APIいずれの機能のご要望か具体的にご教示願います"
    reply = "API の機能です (社内システム連携のため)"
    await post_api(
        api, "secretariat", f"/v1/requests/{n}/ask-clarification", {"question": question}
    )
    async with browser(api, "A社") as proposer:
        page = await proposer.page(f"/web/requests/{n}")
        assert question in text(page.one(data_testid="clarifications"))
        assert "clarification-answer" in actions(page)
        assert (
            await proposer.post(f"/web/requests/{n}/clarification-answer", {"text": reply})
        ).status_code == 303
    for who in ("secretariat", "auditor", "A社"):
        async with browser(api, who) as b:
            body = (await b.get(f"/web/requests/{n}")).text
            assert question in body and reply in body
    for who in ("B社", "C社"):
        async with browser(api, who) as b:
            response = await b.get(f"/web/requests/{n}")
            assert response.status_code == 200
            assert question not in response.text and reply not in response.text
            page = parse(response.text)
            assert not page.find(data_testid="clarifications")
            # the timeline keeps the events' place, not their words
            asked = page.one("tr", data_event="ClarificationAsked")
            assert "非公開" in text(asked)


async def test_the_secretariat_withdraws_an_unanswered_question_from_the_page(api: Api) -> None:
    n = await api.file("A社")
    question = "Web・APIいずれの機能のご要望か具体的にご教示願います"
    await post_api(
        api, "secretariat", f"/v1/requests/{n}/ask-clarification", {"question": question}
    )
    async with browser(api, "A社") as proposer:
        assert "clarification-withdrawal" not in actions(await proposer.page(f"/web/requests/{n}"))
    async with browser(api, "secretariat") as b:
        page = await b.page(f"/web/requests/{n}")
        assert "clarification-withdrawal" in actions(page)
        assert "ask-clarification" not in actions(page)  # one open question at a time
        done = await b.post(
            f"/web/requests/{n}/clarification-withdrawal", {"reason": "第36回会議で確認済み"}
        )
        assert done.status_code == 303, done.text[:500]
        page = await b.page(f"/web/requests/{n}")
        assert text(page.one(data_testid="clarification-withdrawn")) == "第36回会議で確認済み"
        assert "ask-clarification" in actions(page) and "clarification-withdrawal" not in actions(
            page
        )
        assert page.one("tr", data_event="ClarificationWithdrawn")
    async with browser(api, "B社") as other:  # the thread's words stay private
        response = await other.get(f"/web/requests/{n}")
        assert "第36回会議で確認済み" not in response.text
        assert "非公開" in text(parse(response.text).one("tr", data_event="ClarificationWithdrawn"))


async def test_objections_are_withdrawn_by_their_member_and_ruled_on_by_the_secretariat(
    api: Api,
) -> None:
    n = await api.file("A社")
    for company in ("B社", "C社", "D社", "E社"):
        await post_api(api, company, f"/v1/requests/{n}/endorse")
    cost = {"total_benefit_yen": "900", "cost_items": [{"bearer": "central", "amount_yen": 1}]}
    await post_api(api, "secretariat", f"/v1/requests/{n}/cost-evaluation", cost)
    await post_api(api, "secretariat", f"/v1/requests/{n}/open-objection-window")
    for company in ("B社", "C社"):
        await post_api(api, company, f"/v1/requests/{n}/objections", {"reason": f"{company}の問題"})

    async with browser(api, "D社") as other:  # no objection of its own to withdraw
        assert "objection-withdrawal" not in actions(await other.page(f"/web/requests/{n}"))
    async with browser(api, "B社") as member:
        assert "objection-withdrawal" in actions(await member.page(f"/web/requests/{n}"))
        done = await member.post(f"/web/requests/{n}/objection-withdrawal", {"reason": ""})
        assert done.status_code == 303, done.text[:500]
        page = await member.page(f"/web/requests/{n}")
        assert "objection-withdrawal" not in actions(page)
        objections = page.one(data_testid="objections")
        assert objections.one("li", data_company="B社").find(data_testid="objection-withdrawn")
    async with browser(api, "secretariat") as desk:
        page = await desk.page(f"/web/requests/{n}")
        form = page.one("form", data_action="objection-dismissals")
        offered = [o.attrs["value"] for o in form.one("select", name="company").find("option")]
        assert offered == ["C社"]  # only the objections still standing
        done = await desk.post(
            f"/web/requests/{n}/objection-dismissals",
            {"company": "C社", "reason": "移行期間を1年設ける"},
        )
        assert done.status_code == 303, done.text[:500]
        page = await desk.page(f"/web/requests/{n}")
        objections = page.one(data_testid="objections")
        dismissed = objections.one("li", data_company="C社").one(data_testid="objection-dismissed")
        assert "移行期間を1年設ける" in text(dismissed)
        assert "objection-dismissals" not in actions(page)  # nothing left standing
    window = api.store.view(n).objection_window
    assert window is not None and window.standing == []


async def test_an_imported_request_is_carried_forward_and_named_from_its_page(api: Api) -> None:
    imported(api.store)  # No.39: a count of 5, so the import placed it in the hearing
    ordinary = await api.file("A社")
    async with browser(api, "secretariat") as desk:
        assert not {"carry-forward", "proposer"} & actions(
            await desk.page(f"/web/requests/{ordinary}")
        )
        page = await desk.page("/web/requests/39")
        assert {"carry-forward", "proposer"} <= actions(page)
        form = page.one("form", data_action="carry-forward")
        offered = [o.attrs["value"] for o in form.one("select", name="stage").find("option")]
        assert offered == ["cost_evaluation", "implementation"]  # forward, never back
        done = await desk.post(
            "/web/requests/39/carry-forward",
            {"stage": "implementation", "reason": "第35回: 意見照会で問題なし"},
        )
        assert done.status_code == 303, done.text[:500]
        named = await desk.post("/web/requests/39/proposer", {"company": "G電力"})
        assert named.status_code == 303, named.text[:500]
        page = await desk.page("/web/requests/39")
        assert page.one(data_testid="stage").attrs["data-stage"] == "implementation"
        assert not {"carry-forward", "proposer"} & actions(page)
    view = api.store.view(39)
    assert (view.stage, view.proposer) == (Stage.IMPLEMENTATION, "G電力")


async def test_the_audit_page_lists_meetings_diffs_and_the_integrity_check(api: Api) -> None:
    n = await api.file("A社")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 1})
    publish(api.store, 1, actor=Actor.secretariat("desk"))
    await post_api(api, "B社", f"/v1/requests/{n}/endorse")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 2})
    async with browser(api, "auditor") as b:
        page = await b.page("/web/audit")
        assert page.one(data_testid="verify").attrs["data-clean"] == "true"
        meetings = page.one(data_testid="meetings")
        assert [tr.attrs["data-meeting"] for tr in meetings.find("tr", data_meeting=...)] == [
            "1",
            "2",
        ]
        assert meetings.find("a", href="/web/register?meeting=1")
        diff = page.one(data_testid="diff")
        assert (diff.attrs["data-before"], diff.attrs["data-after"]) == ("1", "2")
        assert "1 → 2" in text(diff)
        page.one("div", data_testid="charts")
    async with browser(api, "B社") as member:
        assert (await member.get("/web/audit")).status_code == 403


# --- languages and accessibility ------------------------------------------------------------


async def test_japanese_by_default_and_english_on_request(api: Api) -> None:
    n = await api.file("A社")
    async with browser(api, "B社") as b:
        page = await b.page("/web/register")
        assert page.one("html").attrs["lang"] == "ja"
        assert "要望一覧" in text(page.one("h1"))
        switch = page.one("a", data_testid="lang-switch")
        assert "lang=en" in switch.attrs["href"]

        english = await b.page(switch.attrs["href"])
        assert english.one("html").attrs["lang"] == "en"
        assert "Register" in text(english.one("h1"))
        # remembered: the next page is English without asking again
        request_page = await b.page(f"/web/requests/{n}")
        assert request_page.one("html").attrs["lang"] == "en"
        assert text(request_page.one(data_testid="stage")) == "Gathering support"
        assert text(request_page.one("button", data_testid="do-endorse")) == "Endorse"
        refused = await b.post(f"/web/requests/{n}/hold", {"reason": "x"})
        assert "Only the secretariat may do this" in refused.text

        back = await b.page(f"/web/requests/{n}?lang=ja")
        assert back.one("html").attrs["lang"] == "ja"
        assert text(back.one(data_testid="stage")) == "賛同募集中"


def test_every_message_is_in_both_languages() -> None:
    missing = [key for key in i18n.catalog_keys() if not i18n.has_both_languages(key)]
    assert missing == []


async def test_every_input_on_every_page_has_a_label(api: Api) -> None:
    n = await api.file("A社")
    await post_api(api, "secretariat", "/v1/meetings", {"number": 1})
    pages: dict[str, list[str]] = {
        "secretariat": ["/web/register", f"/web/requests/{n}", "/web/audit"],
        "A社": ["/web/file", f"/web/requests/{n}"],
        "B社": [f"/web/requests/{n}"],
    }
    checked = 0
    async with browser(api) as anonymous:
        checked += _all_labelled(await anonymous.page("/web/signin"))
    for who, paths in pages.items():
        async with browser(api, who) as b:
            for path in paths:
                checked += _all_labelled(await b.page(path))
    assert checked > 20


def _all_labelled(page: Element) -> int:
    labels = {label.attrs.get("for") for label in page.find("label")}
    ids = [e.attrs.get("id") for e in page.find() if e.attrs.get("id")]
    assert len(ids) == len(set(ids)), "an id is used twice"
    count = 0
    for tag in ("input", "select", "textarea"):
        for element in page.find(tag):
            if element.attrs.get("type") in ("hidden", "submit"):
                continue
            assert element.attrs.get("id") in labels, f"<{tag} name={element.attrs.get('name')}>"
            count += 1
    return count


async def test_a_page_shows_time_left_in_iso_dates(api: Api) -> None:
    n = await api.file("A社")
    async with browser(api, "A社") as b:
        page = await b.page(f"/web/requests/{n}")
        deadline = page.one(data_testid="deadline")
        moment = datetime.fromisoformat(deadline.one("time").attrs["datetime"])
        assert moment > datetime.now(tz=UTC) + timedelta(days=80)
        assert "残り" in text(deadline)
        assert text(deadline.one("time"))[:4].isdigit() and "JST" in text(deadline)


async def test_unknown_pages_and_numbers_answer_with_a_page(api: Api) -> None:
    async with browser(api, "B社") as b:
        for path in ("/web/requests/abc", "/web/requests/999", "/web/nowhere"):
            response = await b.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html")
            assert parse(response.text).one(data_testid="error")
        unknown = await b.post("/web/requests/1/launch")
        assert unknown.status_code == 404


async def test_a_request_past_its_threshold_shows_until_when_it_takes_endorsements(
    api: Api,
) -> None:
    """The hearing opened early; others may still back it until its support deadline,
    and the page, which offers them the button, says until when."""
    n = await api.file("A社")
    for company in ("B社", "C社", "D社", "E社"):
        await post_api(api, company, f"/v1/requests/{n}/endorse", None)
    assert api.store.view(n).stage is Stage.HEARING
    async with browser(api, "B社") as b:
        page = await b.page(f"/web/requests/{n}")
        line = page.one(data_testid="support-until")
        assert "賛同の受付" in text(line) and "残り" in text(line)
        assert "unendorse" in actions(page)


# --- the secretariat's windows (issue 20) ----------------------------------------------------


async def test_the_secretariat_is_offered_the_windows_own_moves_and_posts_a_final_call(
    api: Api,
) -> None:
    body = {"number": 27, "held_at": "2150-01-10T14:00:00+09:00"}
    await post_api(api, "secretariat", "/v1/meetings", body)
    n = await api.file("A社")
    async with browser(api, "A社") as member:
        assert not actions(await member.page(f"/web/requests/{n}")) & {"final-call", "end-support"}
    async with browser(api, "secretariat") as b:
        offered = actions(await b.page(f"/web/requests/{n}"))
        assert {"final-call", "end-support"} <= offered
        assert "end-objection-window" not in offered  # no window open
        done = await b.post(f"/web/requests/{n}/final-call", {"until_meeting": "27"})
        assert done.status_code == 303, done.text[:500]
    view = api.store.view(n)
    assert view.support_deadline == datetime(2150, 1, 10, 14, tzinfo=JST)
    assert view.support_until_meeting == 27
    (called,) = events(api.store, n, "FinalCallIssued")
    assert called.actor is not None and called.actor["role"] == Role.SECRETARIAT
