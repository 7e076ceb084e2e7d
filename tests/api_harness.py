"""The API as its clients see it: ``create_app`` around a real ``Ringi`` (on a
real Temporal server with a worker, a real SQLite event store), called over
httpx's ASGI transport, with real tokens from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from ringi.api import ApiSettings, create_app
from ringi.api.tokens import TokenRegistry
from ringi.domain.vocabulary import Role
from ringi.service import Ringi
from ringi.store import RingiStore

#: the callers every API test has: a token per role, members of three companies
ROLES: dict[str, tuple[Role, str | None]] = {
    "A社": (Role.MEMBER, "A社"),
    "B社": (Role.MEMBER, "B社"),
    "C社": (Role.MEMBER, "C社"),
    "D社": (Role.MEMBER, "D社"),
    "E社": (Role.MEMBER, "E社"),
    "secretariat": (Role.SECRETARIAT, None),
    "auditor": (Role.AUDITOR, None),
}


@dataclass
class Api:
    ringi: Ringi
    app: FastAPI
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> RingiStore:
        return self.ringi.store

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def issue(self, who: str, role: Role, company: str | None = None) -> str:
        token, _ = TokenRegistry(self.store).issue(role, company=company, name=who)
        self.tokens[who] = token
        return token

    async def call(
        self,
        who: str | None,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {**(self.auth(who) if who else {}), **(headers or {})}
        return await self.client.request(method, path, json=json, headers=sent, **kwargs)

    async def file(self, who: str = "A社", **body: Any) -> int:
        response = await self.call(
            who,
            "POST",
            "/v1/requests",
            {"target": "スイッチング支援システム API", "body": "一括で取得したい", **body},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["request"]["number"])


@asynccontextmanager
async def serving(ringi: Ringi, settings: ApiSettings | None = None) -> AsyncIterator[Api]:
    app = create_app(ringi, settings or ApiSettings(rate_per_second=0))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ringi.test") as client:
            api = Api(ringi=ringi, app=app, client=client)
            for who, (role, company) in ROLES.items():
                api.issue(who, role, company)
            yield api
    finally:
        app.state.ringi.close()
