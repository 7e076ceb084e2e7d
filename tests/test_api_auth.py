"""Who may call what: every endpoint of the API × every kind of caller.

Callers: the proposing member (A社), another member (B社), the secretariat,
an auditor, a revoked token, a token that is not one, and no token. Each
refused cell must answer 401 or 403 in the one error shape and write nothing
at all (the store's whole event log is compared before and after); each
allowed cell gets past identity and roles (to a 2xx, or to the lifecycle's
own 409) and what it writes is attributed to the token's user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ringi.api.tokens import TokenRegistry
from ringi.domain.subscriptions import SUBSCRIPTIONS_ID, Channel
from ringi.domain.vocabulary import Actor, Role
from ringi.service import Ringi
from tests.api_harness import Api, serving

PROPOSER, OTHER, SEC, AUD = "A社", "B社", "secretariat", "auditor"
REVOKED, BOGUS, NONE = "revoked", "bogus", "none"
CALLERS = (PROPOSER, OTHER, SEC, AUD, REVOKED, BOGUS, NONE)


@dataclass
class Cell:
    """One endpoint: what to send, and the status each caller gets (401 for the
    three without a valid token is implied)."""

    method: str
    path: str
    body: Any = None
    expect: dict[str, int] = field(default_factory=dict)

    def status_for(self, caller: str) -> int:
        if caller in (REVOKED, BOGUS, NONE):
            return 401
        return self.expect.get(caller, 403)


def member_only(proposer: int, other: int) -> dict[str, int]:
    return {PROPOSER: proposer, OTHER: other}


def everyone(status: int = 200) -> dict[str, int]:
    return {PROPOSER: status, OTHER: status, SEC: status, AUD: status}


def matrix(
    n: int, withdrawn: int, closed: int, bulk: int, mine: str = "s1", theirs: str = "s2"
) -> list[Cell]:
    """Request ``n`` (A社's, gathering support) takes most calls; ``withdrawn``
    and ``closed`` are A社's requests for the calls that end one; ``bulk`` is
    endorsed in bulk; ``mine`` and ``theirs`` are subscriptions of A社's and of
    C社's to end. The order matters only for the allowed cells."""
    r = f"/v1/requests/{n}"
    s = "/v1/subscriptions"
    return [
        # --- members -----------------------------------------------------------------
        Cell("POST", "/v1/requests", {"target": "API", "body": "一括取得"}, member_only(201, 201)),
        Cell("POST", f"{r}/endorse", None, member_only(409, 200)),  # the proposer already counts
        Cell("POST", f"{r}/unendorse", None, member_only(409, 200)),
        Cell("POST", f"{r}/notes", {"text": "追記です"}, member_only(200, 403)),
        Cell("POST", f"{r}/clarification-answer", {"text": "Web です"}, member_only(409, 403)),
        Cell("POST", f"{r}/objections", {"reason": "間に合わない"}, member_only(409, 409)),
        Cell("POST", f"{r}/objection-withdrawal", None, member_only(409, 409)),
        Cell(
            "POST", f"/v1/requests/{withdrawn}/withdraw", {"reason": "不要"}, member_only(200, 403)
        ),
        Cell("POST", "/v1/bulk/endorse", {"numbers": [bulk]}, member_only(200, 200)),
        # --- the secretariat ----------------------------------------------------------
        Cell("POST", f"{r}/open-support", None, {SEC: 409}),  # a 要望 gathers support already
        Cell("POST", f"{r}/ask-clarification", {"question": "Web・APIいずれ？"}, {SEC: 200}),
        Cell("POST", f"{r}/clarification-withdrawal", {"reason": "会議で確認済み"}, {SEC: 200}),
        Cell("POST", f"{r}/proposer", {"company": "B社"}, {SEC: 409}),  # A社 proposed it
        Cell(
            "POST",
            f"{r}/carry-forward",
            {"stage": "implementation", "reason": "第35回で問題なし"},
            {SEC: 409},  # not imported
        ),
        Cell(
            "POST",
            f"{r}/objection-dismissals",
            {"company": "C社", "reason": "移行期間を設ける"},
            {SEC: 409},  # no objection window
        ),
        Cell("POST", f"{r}/extend-deadline", {"deadline": "2150-01-01T00:00:00+09:00"}, {SEC: 200}),
        Cell("POST", f"{r}/open-hearing", None, {SEC: 409}),  # support 1 of 5
        Cell("POST", f"{r}/findings", {"text": "ヒアリング実施"}, {SEC: 409}),
        Cell(
            "POST",
            f"{r}/cost-evaluation",
            {
                "total_benefit_yen": "50000000",
                "cost_items": [{"bearer": "members", "amount_yen": 1e9}],
            },
            {SEC: 409},
        ),
        Cell("POST", f"{r}/open-objection-window", None, {SEC: 409}),
        Cell("POST", f"{r}/approve", {"planned_release": "2150-02-01"}, {SEC: 409}),
        Cell("POST", f"{r}/change-release", {"planned_release": "2150-03-01"}, {SEC: 409}),
        Cell("POST", f"{r}/release", None, {SEC: 409}),
        Cell("POST", f"{r}/hold", {"reason": "法改正の動向を見極める"}, {SEC: 200}),
        Cell("POST", f"{r}/resume", {"reason": "再開"}, {SEC: 200}),
        Cell("POST", f"{r}/answers", {"text": "検討します", "continued": True}, {SEC: 200}),
        Cell(
            "POST",
            f"{r}/answer-corrections",
            {"answer_id": "a1", "text": "検討を進めます", "reason": "誤記"},
            {SEC: 200},
        ),
        Cell("POST", f"/v1/requests/{closed}/close", {"reason": "out_of_scope"}, {SEC: 200}),
        Cell(
            "POST",
            "/v1/meetings",
            {"number": 40, "held_at": "2150-01-10T14:00:00+09:00"},
            {SEC: 201},
        ),
        Cell("POST", "/v1/meetings/40/publications", {"formats": ["csv"]}, {SEC: 201}),
        Cell(
            "PATCH",
            "/v1/meetings/40",
            {"held_at": "2150-01-17T14:00:00+09:00", "reason": "延期"},
            {SEC: 200},
        ),
        # the secretariat's windows (issue 20): n gathers support, short of the threshold
        Cell("POST", f"{r}/final-call", {"until_meeting": 40, "meeting": 40}, {SEC: 200}),
        Cell("POST", f"{r}/end-objection-window", None, {SEC: 409}),  # no objection window
        Cell("POST", f"{r}/end-support", {"meeting": 40}, {SEC: 200}),  # closed: support 1 of 5
        # the secretariat's discretion and after the end (issue 20): n, closed, comes back
        Cell("POST", f"{r}/reopen", {"reason": "再検討"}, {SEC: 200}),
        Cell(
            "POST",
            f"{r}/cost-evaluation-without-hearing",
            {
                "total_benefit_yen": "50000000",
                "cost_items": [{"bearer": "members", "amount_yen": 1e9}],
                "reason": "賛同数の条件を満たした",
            },
            {SEC: 409},  # support 1 of 5
        ),
        Cell("POST", f"{r}/hear-below-threshold", {"reason": "起案者へのヒアリング"}, {SEC: 200}),
        Cell("POST", "/v1/bulk/answer", {"numbers": [n, bulk], "text": "No43に同じ"}, {SEC: 200}),
        # --- reading: everyone ------------------------------------------------------------
        Cell("GET", r, None, everyone()),
        Cell("GET", "/v1/requests", None, everyone()),
        Cell("POST", "/v1/bulk/requests", {"numbers": [n, 999]}, everyone()),
        Cell("GET", "/v1/meetings", None, everyone()),
        Cell("GET", "/v1/meetings/40", None, everyone()),
        # --- the register (資料2): everyone; meeting 40 was opened above ----------------------
        Cell("GET", "/v1/register?meeting=40&format=csv", None, everyone()),
        Cell("GET", "/v1/register/diff?from=40&to=40", None, everyone()),
        Cell("GET", f"/v1/register/requests/{n}?meeting=40", None, everyone()),
        # --- auditing: the secretariat and auditors, not members; nothing is written -------
        Cell("POST", "/v1/audit/verify", {"workflows": True}, {SEC: 200, AUD: 200}),
        Cell("POST", "/v1/audit/seal", None, {SEC: 200, AUD: 200}),
        Cell("GET", f"/v1/audit/requests/{n}/history", None, {SEC: 200, AUD: 200}),
        Cell("GET", "/v1/audit/export?format=csv", None, {SEC: 200, AUD: 200}),
        Cell("GET", "/v1/me", None, everyone()),
        # --- notification subscriptions: a member its own company's, the secretariat any ----
        Cell(  # each for itself: a member its company, the secretariat 'secretariat'
            "POST",
            s,
            {"channel": "email", "target": "ringi@example.jp"},
            {PROPOSER: 201, OTHER: 201, SEC: 201},
        ),
        Cell("GET", s, None, everyone()),
        Cell("GET", f"{s}/{mine}", None, {PROPOSER: 200, OTHER: 403, SEC: 200, AUD: 200}),
        Cell("POST", f"{s}/{mine}/secret", None, {PROPOSER: 200, OTHER: 403, SEC: 200}),
        Cell("DELETE", f"{s}/{mine}", None, {PROPOSER: 200, SEC: 404}),  # A社 ended it first
        Cell("DELETE", f"{s}/{theirs}", None, {SEC: 200}),  # C社's: no other member's to end
    ]


def every_route(api: Api) -> set[tuple[str, str]]:
    paths = api.app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def template(path: str) -> str:
    parts = path.split("?")[0].split("/")
    if parts[2] == "subscriptions" and len(parts) >= 4:
        return "/".join([*parts[:3], "{id}", *parts[4:]])
    return "/".join(
        "{number}" if part.isdigit() and i in (3, 4) else part for i, part in enumerate(parts)
    )


def log_position(api: Api) -> int:
    return api.store.recorder.max_notification_id() or 0


async def call(api: Api, caller: str, cell: Cell) -> Any:
    headers = {}
    if caller == BOGUS:
        headers = {"Authorization": "Bearer ringi_0123456789abcdef_not-the-secret"}
    elif caller != NONE:
        headers = api.auth(caller)
    return await api.client.request(cell.method, cell.path, json=cell.body, headers=headers)


@pytest.fixture
async def api(ringi: Ringi) -> Any:
    async with serving(ringi) as api:
        token = api.issue(REVOKED, Role.MEMBER, "A社")
        registry = TokenRegistry(api.store)
        registry.revoke(registry.authenticate(token).token_id, reason="leaked")
        yield api


async def test_every_endpoint_by_every_caller(api: Api) -> None:
    n, withdrawn, closed = await api.file(), await api.file(), await api.file()
    bulk = await api.file(who="C社")
    hook, setup = "https://hooks.example/", Actor.secretariat("setup")
    mine, theirs = (
        api.store.subscribe(c, Channel.WEBHOOK, hook, datetime.now(UTC), setup, secret="k").id
        for c in ("A社", "C社")
    )
    cells = matrix(n, withdrawn, closed, bulk, mine, theirs)
    # the matrix covers the whole API: a route added without a row fails here
    assert {(c.method, template(c.path)) for c in cells} == every_route(api)

    users = {
        who: TokenRegistry(api.store).authenticate(token).user
        for who, token in api.tokens.items()
        if who != REVOKED
    }
    for cell in cells:
        refused = [c for c in CALLERS if cell.status_for(c) in (401, 403)]
        allowed = [c for c in CALLERS if c not in refused]
        for caller in refused:
            before, timeline = log_position(api), api.store.timeline(n)
            response = await call(api, caller, cell)
            where = f"{cell.method} {cell.path} as {caller}"
            assert response.status_code == cell.status_for(caller), f"{where}: {response.text}"
            error = response.json()
            assert error["status"] == response.status_code and error["message"], where
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), where
                assert error["error"] == "unauthenticated"
            else:
                assert error["error"] == "forbidden"
            assert log_position(api) == before, f"{where} wrote an event"
            assert api.store.timeline(n) == timeline, where
        for caller in allowed:
            before = log_position(api)
            response = await call(api, caller, cell)
            where = f"{cell.method} {cell.path} as {caller}"
            assert response.status_code == cell.status_for(caller), f"{where}: {response.text}"
            if response.status_code == 409:
                assert response.json()["error"] == "refused"
                assert log_position(api) == before, f"{where} was refused but wrote"
            wrote = log_position(api) > before
            assert wrote == (
                cell.method in ("POST", "PATCH", "DELETE")
                and response.status_code in (200, 201)
                and "/bulk/requests" not in cell.path
                and "/audit/" not in cell.path
            ), where
            if wrote and cell.path.startswith("/v1/subscriptions"):
                event = list(api.store.events.get(SUBSCRIPTIONS_ID))[-1]
                assert event.actor["user"] == users[caller], where
                if caller in (PROPOSER, OTHER):
                    assert event.actor["company"] == caller, where
            if wrote and cell.path.startswith("/v1/requests"):
                number = response.json()["request"]["number"]
                last = api.store.timeline(number)[-1]
                assert last.actor is not None and last.actor["user"] == users[caller], where
                if caller in (PROPOSER, OTHER):
                    assert last.actor["company"] == caller, where


async def test_a_member_acts_only_for_its_token_company(api: Api) -> None:
    n = await api.file()
    before = log_position(api)
    # the body cannot name the actor or the company: it is not part of any command
    for body in (
        {"target": "API", "body": "x", "actor": {"role": "member", "company": "B社"}},
        {"target": "API", "body": "x", "company": "B社"},
    ):
        response = await api.call("C社", "POST", "/v1/requests", body)
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] in ("body.actor", "body.company")
    # B社 may not speak for A社's request, in one call or in bulk
    response = await api.call(OTHER, "POST", f"/v1/requests/{n}/withdraw")
    assert response.status_code == 403
    assert "only the proposer (A社)" in response.json()["message"]
    assert log_position(api) == before
    # a member's filing is always its token's company's
    response = await api.call("C社", "POST", "/v1/requests", {"target": "API", "body": "x"})
    assert response.status_code == 201
    assert response.json()["request"]["proposer"] == "C社"


async def test_no_token_is_refused_before_the_body_is_read(api: Api) -> None:
    before = log_position(api)
    for headers in (
        {},
        {"Authorization": "Basic QTpCCg=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-ringi-token"},
    ):
        response = await api.client.post(
            "/v1/requests",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 401, headers
        assert "Bearer" in response.headers["WWW-Authenticate"]
    # a wrong role is refused before the body is judged too
    response = await api.client.post(
        "/v1/requests/1/approve",
        content=b"{not json",
        headers={**api.auth(AUD), "Content-Type": "application/json"},
    )
    assert response.status_code == 403
    assert log_position(api) == before


async def test_a_revoked_token_stops_working_at_once(api: Api) -> None:
    token = api.issue("temp", Role.MEMBER, "D社")
    assert (await api.call("temp", "GET", "/v1/me")).status_code == 200
    registry = TokenRegistry(api.store)
    info = registry.revoke(registry.authenticate(token).token_id, by="admin", reason="test")
    response = await api.call("temp", "GET", "/v1/me")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]
    # issuing and revoking are events in the store, with who did it; the secret is not
    listed = {t.token_id: t for t in registry.list()}
    assert listed[info.token_id].revoked_by == "admin"
    secret = token.split("_", 2)[2]
    assert all(
        secret.encode() not in n.state
        for n in api.store.recorder.select_notifications(start=None, limit=10**6)
    )
