"""The operators' probes (``ringi/health.py``, ``ringi/api/health.py``), against a
real store that goes away and comes back: on SQLite its file is moved away, on
PostgreSQL its own database stops taking connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ringi import database
from ringi.api.settings import ApiSettings
from ringi.config import Settings
from ringi.service import Ringi
from tests.api_harness import serving
from tests.conftest import TEST_STORE

ADMIN_DSN = Settings().postgres_dsn


def _dsn_for(name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(ADMIN_DSN), "dbname": name})


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """On PostgreSQL, an event store in a database of its own, so that the test can
    take the database away from under the API."""
    local = Settings(data_dir=tmp_path / "data", task_queue=f"ringi-test-{uuid.uuid4().hex[:8]}")
    if TEST_STORE == "sqlite":
        yield local
        return
    import psycopg

    name = f"ringi_ready_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            on_postgres = local.model_copy(
                update={"store": "postgres", "postgres_dsn": _dsn_for(name)}
            )
            database.init(on_postgres)
            yield on_postgres
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def store_gone(settings: Settings) -> Iterator[None]:
    if settings.store == "sqlite":
        path = settings.event_store_path
        aside = path.with_name(path.name + ".away")
        path.rename(aside)
        try:
            yield
        finally:
            aside.rename(path)
        return
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(settings.postgres_dsn)["dbname"]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


async def test_livez_answers_without_a_token(ringi: Ringi) -> None:
    async with serving(ringi) as api:
        response = await api.call(None, "GET", "/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_turns_503_naming_the_store_while_it_is_gone(ringi: Ringi) -> None:
    async with serving(ringi) as api:
        await api.file()
        ringi.store.summaries()  # the read model caught up
        ready = await api.call(None, "GET", "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["failing"] == []
        assert set(ready.json()["checks"]) == {"store", "temporal", "projection", "outbox"}

        with store_gone(ringi.settings):
            gone = await api.call(None, "GET", "/readyz")
            assert gone.status_code == 503, gone.text
            body = gone.json()
            assert body["status"] == "not ready"
            assert "store" in body["failing"]
            assert "temporal" not in body["failing"]
            assert body["checks"]["store"]["detail"]

        # back: the first probe may meet a pooled connection the database ended
        answers = [(await api.call(None, "GET", "/readyz")).status_code for _ in range(3)]
        assert answers[-1] == 200, answers


async def test_readyz_names_a_projection_behind_its_bound(ringi: Ringi) -> None:
    async with serving(ringi, ApiSettings(rate_per_second=0, ready_max_projection_lag=0)) as api:
        ringi.store.summaries()
        await api.file()  # the test's worker keeps no projection: it falls behind
        behind = await api.call(None, "GET", "/readyz")
        assert behind.status_code == 503, behind.text
        assert behind.json()["failing"] == ["projection"]
        assert behind.json()["checks"]["projection"]["value"] > 0
        ringi.store.summaries()  # a read catches it up
        caught_up = await api.call(None, "GET", "/readyz")
        assert caught_up.status_code == 200, caught_up.text
        assert caught_up.json()["checks"]["projection"]["value"] == 0
