"""Notification subscriptions over the HTTP API (``ringi/api/routers/subscriptions.py``):
who may subscribe, list and end which, the webhook's secret shown once, and
what the store holds afterwards. The API runs over a real SQLite event store
alone: subscriptions need no Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from temporalio.client import Client

from ringi.api.tokens import Principal, TokenRegistry
from ringi.config import Settings
from ringi.domain.notifications import NotificationKind
from ringi.domain.subscriptions import SUBSCRIPTIONS_ID, Channel
from ringi.domain.vocabulary import Actor
from ringi.sealing import Sealer
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.api_harness import Api, serving

HOOK = "https://hooks.a.example/ringi"
PATH = "/v1/subscriptions"


@pytest.fixture
async def api(settings: Settings, store: RingiStore) -> AsyncIterator[Api]:
    """The API over the store alone, as test_api_cache serves it."""
    async with serving(Ringi(settings, cast(Client, None), store)) as api:
        yield api


def position(api: Api) -> int:
    return api.store.recorder.max_notification_id() or 0


def caller(api: Api, who: str) -> Principal:
    return TokenRegistry(api.store).authenticate(api.tokens[who])


def last_event(api: Api) -> Any:
    return list(api.store.events.get(SUBSCRIPTIONS_ID))[-1]


async def subscribe(api: Api, who: str, **body: Any) -> Any:
    response = await api.call(who, "POST", PATH, {"channel": "webhook", "target": HOOK, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_member_subscribes_a_webhook_for_itself_and_sees_the_secret_once(
    api: Api,
) -> None:
    response = await api.call("A社", "POST", PATH, {"channel": "webhook", "target": HOOK})
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["id"] == "s1" and made["recipient"] == "A社"  # the token's company by default
    assert made["channel"] == "webhook" and made["target"] == HOOK and made["kinds"] == []
    secret = made["secret"]
    assert isinstance(secret, str) and len(secret) >= 40  # token_urlsafe(32)

    # the store holds it, with the secret the worker signs with, attributed to the token
    (stored,) = api.store.subscriptions()
    assert (stored.id, stored.recipient, stored.channel, stored.target) == (
        "s1",
        "A社",
        Channel.WEBHOOK,
        HOOK,
    )
    # sealed: the store never holds the secret itself (ringi/sealing.py)
    assert stored.secret.startswith("fernet:") and secret not in stored.secret
    assert Sealer.of(api.ringi.settings).open(stored.secret) == secret
    who = caller(api, "A社")
    assert stored.actor == Actor.member("A社", who.user).model_dump(mode="json")
    assert made["actor"] == stored.actor
    event = last_event(api)
    assert type(event).__name__.endswith("Subscribed")
    assert event.actor["user"] == who.user and event.actor["company"] == "A社"

    # never again: not in a listing, for anyone, nor in the answer that ends it
    for reader in ("A社", "secretariat", "auditor"):
        listed = await api.call(reader, "GET", PATH)
        assert listed.status_code == 200, listed.text
        assert secret not in listed.text
        assert [s["id"] for s in listed.json()] == ["s1"]
        assert all("secret" not in s for s in listed.json())
    ended = await api.call("A社", "DELETE", f"{PATH}/s1")
    assert ended.status_code == 200, ended.text
    assert secret not in ended.text and "secret" not in ended.json()


async def test_a_member_may_not_subscribe_for_another_company_or_the_secretariat(
    api: Api,
) -> None:
    before = position(api)
    for recipient in ("B社", "secretariat"):
        response = await api.call(
            "A社", "POST", PATH, {"channel": "webhook", "target": HOOK, "recipient": recipient}
        )
        assert response.status_code == 403, response.text
        error = response.json()
        assert error["error"] == "forbidden"
        assert "own company" in error["message"] and recipient in error["message"]
    assert position(api) == before and api.store.subscriptions() == []
    # its own company, named, is fine
    assert (await subscribe(api, "A社", recipient="A社"))["recipient"] == "A社"
    assert [s.recipient for s in api.store.subscriptions()] == ["A社"]


async def test_an_auditor_may_not_subscribe_nor_end_one(api: Api) -> None:
    await subscribe(api, "secretariat", recipient="A社")
    before = position(api)
    for method, path, body in (
        ("POST", PATH, {"channel": "email", "target": "audit@example.jp", "recipient": "A社"}),
        ("DELETE", f"{PATH}/s1", None),
    ):
        response = await api.call("auditor", method, path, body)
        assert response.status_code == 403, response.text
        assert "auditor" in response.json()["message"]
    assert position(api) == before
    assert [s.id for s in api.store.subscriptions()] == ["s1"]


async def test_the_secretariat_subscribes_for_itself_and_for_any_company(api: Api) -> None:
    own = await subscribe(api, "secretariat", channel="email", target="desk@example.jp")
    assert own["recipient"] == "secretariat" and own["secret"] is None  # its own by default
    named = await subscribe(api, "secretariat", recipient="secretariat")
    company = await subscribe(api, "secretariat", recipient="C社", kinds=["answered"])
    assert company["recipient"] == "C社" and company["secret"]
    stored = {s.id: s for s in api.store.subscriptions()}
    assert [(s.recipient, s.channel) for s in stored.values()] == [
        ("secretariat", Channel.EMAIL),
        ("secretariat", Channel.WEBHOOK),
        ("C社", Channel.WEBHOOK),
    ]
    assert stored[own["id"]].secret == ""
    assert Sealer.of(api.ringi.settings).open(stored[named["id"]].secret) == named["secret"]
    desk = caller(api, "secretariat")
    assert all(
        s.actor == {"role": "secretariat", "company": None, "user": desk.user}
        for s in stored.values()
    )


async def test_an_email_subscription_with_some_kinds(api: Api) -> None:
    made = await subscribe(
        api,
        "B社",
        channel="email",
        target="ringi@b.example.jp",
        kinds=["auto_closed", "answered", "answered"],
    )
    assert made["secret"] is None and made["recipient"] == "B社"
    assert made["kinds"] == ["answered", "auto_closed"]
    (stored,) = api.store.subscriptions()
    assert stored.channel is Channel.EMAIL and stored.target == "ringi@b.example.jp"
    assert stored.kinds == (NotificationKind.ANSWERED, NotificationKind.AUTO_CLOSED)
    assert stored.secret == ""
    assert stored.wants("answered") and not stored.wants("stage_changed")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"channel": "webhook", "target": "ftp://hooks.example/x"}, "body.target", "http"),
        ({"channel": "webhook", "target": "hooks.example/x"}, "body.target", "http"),
        ({"channel": "webhook", "target": "https://"}, "body.target", "host"),
        ({"channel": "webhook", "target": "https://a b.example/"}, "body.target", "spaces"),
        ({"channel": "webhook", "target": " https://a.example/"}, "body.target", "spaces"),
        ({"channel": "webhook", "target": "https://[::1/"}, "body.target", "URL"),
        ({"channel": "email", "target": "not-an-address"}, "body.target", "e-mail"),
        ({"channel": "email", "target": "@example.jp"}, "body.target", "e-mail"),
        ({"channel": "webhook"}, "body.target", "required"),
        ({"target": HOOK}, "body.channel", "required"),
        ({"channel": "pigeon", "target": HOOK}, "body.channel", "webhook"),
        ({"channel": "webhook", "target": HOOK, "kinds": ["gossip"]}, "body.kinds.0", ""),
        ({"channel": "webhook", "target": HOOK, "recipient": ""}, "body.recipient", ""),
        ({"channel": "webhook", "target": HOOK, "secret": "mine"}, "body.secret", ""),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field_and_writes_nothing(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    before = position(api)
    for who in ("A社", "secretariat"):
        response = await api.call(who, "POST", PATH, body)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["error"] == "invalid" and field in error["message"]
        (detail,) = [d for d in error["details"] if d["field"] == field]
        assert words in detail["message"], detail
    assert api.store.subscriptions() == []
    assert position(api) == before


async def test_the_same_target_twice_is_refused_with_the_domains_reason(api: Api) -> None:
    await subscribe(api, "A社")
    before = position(api)
    again = await api.call(
        "secretariat", "POST", PATH, {"channel": "webhook", "target": HOOK, "recipient": "A社"}
    )
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "refused"
    assert "A社 already has that webhook (s1)" in again.json()["message"]
    assert position(api) == before
    # another recipient may use the same URL
    assert (await subscribe(api, "B社"))["id"] == "s2"


async def test_who_sees_which_subscriptions(api: Api) -> None:
    await subscribe(api, "A社")
    await subscribe(api, "B社", channel="email", target="b@b.example.jp")
    await subscribe(api, "secretariat", recipient="A社", channel="email", target="a@a.example.jp")
    await subscribe(api, "secretariat", channel="email", target="desk@example.jp")

    async def seen(who: str) -> list[tuple[str, str]]:
        response = await api.call(who, "GET", PATH)
        assert response.status_code == 200, response.text
        return [(s["id"], s["recipient"]) for s in response.json()]

    everything = [("s1", "A社"), ("s2", "B社"), ("s3", "A社"), ("s4", "secretariat")]
    assert await seen("secretariat") == everything
    assert await seen("auditor") == everything
    assert await seen("A社") == [("s1", "A社"), ("s3", "A社")]  # its own, whoever made them
    assert await seen("B社") == [("s2", "B社")]
    assert await seen("C社") == []
    # ended ones are not current any more
    assert (await api.call("A社", "DELETE", f"{PATH}/s1")).status_code == 200
    assert await seen("A社") == [("s3", "A社")]
    listed = await api.call("secretariat", "GET", PATH, params={"recipient": "A社"})
    assert listed.status_code == 422 and listed.json()["details"][0]["field"] == "query.recipient"


async def test_ending_a_subscription_by_its_owner_another_member_and_the_secretariat(
    api: Api,
) -> None:
    mine = await subscribe(api, "A社")
    theirs = await subscribe(api, "B社", channel="email", target="b@b.example.jp")
    before = position(api)

    # another member: 403, nothing ended
    refused = await api.call("B社", "DELETE", f"{PATH}/{mine['id']}")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "forbidden" and "only its own" in refused.json()["message"]
    # unknown ids: 404
    for unknown in ("s99", "nope"):
        missing = await api.call("A社", "DELETE", f"{PATH}/{unknown}")
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"] == "not_found" and unknown in missing.json()["message"]
    assert position(api) == before
    assert [s.id for s in api.store.subscriptions()] == [mine["id"], theirs["id"]]

    # the owner: 200 with what was ended, recorded as the token's doing
    ended = await api.call("A社", "DELETE", f"{PATH}/{mine['id']}")
    assert ended.status_code == 200, ended.text
    shown = ended.json()
    assert shown["id"] == mine["id"] and shown["recipient"] == "A社" and "secret" not in shown
    assert [s.id for s in api.store.subscriptions()] == [theirs["id"]]
    event = last_event(api)
    assert type(event).__name__.endswith("Unsubscribed") and event.sid == mine["id"]
    assert event.actor == Actor.member("A社", caller(api, "A社").user).model_dump(mode="json")
    # ended: a second time is a 404, and writes nothing
    again = await api.call("A社", "DELETE", f"{PATH}/{mine['id']}")
    assert again.status_code == 404 and "ended" in again.json()["message"]
    assert position(api) == before + 1

    # the secretariat ends any company's
    desk = await api.call("secretariat", "DELETE", f"{PATH}/{theirs['id']}")
    assert desk.status_code == 200, desk.text
    assert api.store.subscriptions() == []
    assert last_event(api).actor["user"] == caller(api, "secretariat").user


async def test_an_idempotency_key_makes_a_retry_answer_as_the_first_call(api: Api) -> None:
    key = {"Idempotency-Key": "sub-0001"}
    body = {"channel": "webhook", "target": HOOK, "kinds": ["answered"]}
    first = await api.call("A社", "POST", PATH, body, headers=key)
    assert first.status_code == 201, first.text
    after_first = position(api)
    retry = await api.call("A社", "POST", PATH, body, headers=key)
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()  # the same subscription, its secret included
    assert len(api.store.subscriptions()) == 1 and position(api) == after_first
    # the key is the token's: another token's same key is another call
    other = await api.call("secretariat", "POST", PATH, {**body, "recipient": "B社"}, headers=key)
    assert other.status_code == 201 and other.json()["id"] == "s2"
    # the same key for another body: refused, nothing written
    reused = await api.call("A社", "POST", PATH, {**body, "kinds": []}, headers=key)
    assert reused.status_code == 422 and reused.json()["error"] == "idempotency_key_reused"

    # ending, retried with its key, answers as the first time did
    end_key = {"Idempotency-Key": "unsub-0001"}
    ended = await api.call("A社", "DELETE", f"{PATH}/s1", headers=end_key)
    assert ended.status_code == 200, ended.text
    settled = position(api)
    again = await api.call("A社", "DELETE", f"{PATH}/s1", headers=end_key)
    assert again.status_code == 200 and again.json() == ended.json()
    assert position(api) == settled
    # without the key (or with another one) it is gone
    assert (await api.call("A社", "DELETE", f"{PATH}/s1")).status_code == 404
    assert [s.id for s in api.store.subscriptions()] == ["s2"]


async def test_one_subscription_is_read_by_its_id_by_whoever_may_see_it(api: Api) -> None:
    mine = await subscribe(api, "A社", kinds=["answered"])
    theirs = await subscribe(api, "secretariat", recipient="C社")
    for reader in ("A社", "secretariat", "auditor"):
        got = await api.call(reader, "GET", f"{PATH}/{mine['id']}")
        assert got.status_code == 200, got.text
        assert got.json() == {k: v for k, v in mine.items() if k != "secret"}
        assert mine["secret"] not in got.text and "secret" not in got.json()
    refused = await api.call("A社", "GET", f"{PATH}/{theirs['id']}")
    assert refused.status_code == 403 and "not A社's" in refused.json()["message"]
    for missing in ("s99", "nonsense"):
        none = await api.call("secretariat", "GET", f"{PATH}/{missing}")
        assert none.status_code == 404 and missing in none.json()["message"]
    assert (await api.call("A社", "DELETE", f"{PATH}/{mine['id']}")).status_code == 200
    ended = await api.call("A社", "GET", f"{PATH}/{mine['id']}")
    assert ended.status_code == 404 and "no current subscription" in ended.json()["message"]


async def test_a_webhook_gets_a_new_secret_shown_once_and_recorded_sealed(api: Api) -> None:
    made = await subscribe(api, "A社")
    mail = await subscribe(api, "A社", channel="email", target="a@a.example.jp")
    theirs = await subscribe(api, "secretariat", recipient="C社")
    path = f"{PATH}/{made['id']}/secret"
    key = {"Idempotency-Key": "rotate-1"}

    rotated = await api.call("A社", "POST", path, headers=key)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new and new != made["secret"] and rotated.json()["id"] == made["id"]
    stored = next(s for s in api.store.subscriptions() if s.id == made["id"])
    assert stored.secret.startswith("fernet:") and new not in stored.secret
    assert Sealer.of(api.ringi.settings).open(stored.secret) == new
    assert type(last_event(api)).__name__.endswith("SecretRotated")
    assert last_event(api).actor["company"] == "A社"

    events = position(api)
    again = await api.call("A社", "POST", path, headers=key)  # a retry: no new secret
    assert again.status_code == 200 and again.json()["secret"] == new
    assert position(api) == events
    by_desk = await api.call("secretariat", "POST", path)  # the secretariat may too
    assert by_desk.status_code == 200 and by_desk.json()["secret"] not in (new, made["secret"])

    for who, target, status, words in [
        ("A社", f"{PATH}/{theirs['id']}/secret", 403, "not A社's"),
        ("auditor", path, 403, "only member or secretariat"),
        ("A社", f"{PATH}/{mail['id']}/secret", 409, "only a webhook"),
        ("A社", f"{PATH}/s99/secret", 404, "no current subscription s99"),
    ]:
        refused = await api.call(who, "POST", target)
        assert refused.status_code == status and words in refused.text, refused.text
    assert (await api.call("A社", "DELETE", f"{PATH}/{made['id']}")).status_code == 200
    ended = await api.call("A社", "POST", path)
    assert ended.status_code == 404 and position(api) == events + 2  # rotated once more, ended


async def test_the_openapi_document_describes_the_subscription_operations(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    post = doc["paths"][PATH]["post"]
    get = doc["paths"][PATH]["get"]
    delete = doc["paths"][f"{PATH}/{{id}}"]["delete"]
    one = doc["paths"][f"{PATH}/{{id}}"]["get"]
    assert post["x-ringi-roles"] == ["member", "secretariat"]
    assert get["x-ringi-roles"] == one["x-ringi-roles"] == ["member", "secretariat", "auditor"]
    assert delete["x-ringi-roles"] == ["member", "secretariat"]
    assert {"200", "404"} <= set(one["responses"])
    for op in (post, get, delete, one):
        assert op["summary"] and op["tags"] == ["subscriptions"]
        assert {"401", "403", "422", "429"} <= set(op["responses"])
    assert {"201", "409"} <= set(post["responses"])
    assert {"200", "404"} <= set(delete["responses"])
    made = post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    listed = get["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"]
    schemas = doc["components"]["schemas"]
    assert "secret" in schemas[made.rsplit("/", 1)[1]]["properties"]
    assert "secret" not in schemas[listed.rsplit("/", 1)[1]]["properties"]
    assert schemas["SubscribeBody"]["additionalProperties"] is False
    assert [p["name"] for p in delete["parameters"]] == ["id", "Idempotency-Key"]
