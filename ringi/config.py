"""Where an installation keeps its data and finds its Temporal server.

Every entry point reads the same settings: flags first, then ``RINGI_*``
environment variables, then the defaults (a per-user data directory, the
embedded dev server on localhost:7233).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.policy import Policy

DEFAULT_TEMPORAL = "localhost:7233"
TASK_QUEUE = "ringi"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RINGI_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("ringi")))
    temporal_address: str = DEFAULT_TEMPORAL
    namespace: str = "default"
    task_queue: str = TASK_QUEUE
    store: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path | None = None  # default: <data_dir>/events.db
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/test"
    #: the PostgreSQL schema ringi's tables live in (one database can hold several)
    postgres_schema: str = "ringi"
    #: create the event store's tables on first use. None (the default): yes for
    #: SQLite, no for PostgreSQL, where ``ringi db init`` creates them explicitly
    create_tables: bool | None = None
    log_format: Literal["console", "json"] = "console"
    aggregate_cache_size: int = 1000
    # notifications out (ringi/delivery.py): e-mail goes through this SMTP server
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "ringi@localhost"
    #: where people reach ringi's web pages (https://ringi.example.jp): a notification
    #: then links to its request's page; empty: no link
    public_url: str = ""
    #: how often the outbox dispatcher looks for new notifications, in seconds
    outbox_poll_seconds: float = 1.0
    #: how long a notification is retried at a receiver that refuses it before it
    #: is given up (recorded as DeliveryAbandoned), in hours
    delivery_patience_hours: float = 72.0
    #: the keys webhook secrets are sealed with before they are recorded, separated
    #: by commas, the first sealing (``ringi.sealing``); empty: ``<data_dir>/secret.key``
    secret_keys: SecretStr = SecretStr("")

    @property
    def event_store_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "events.db"

    @property
    def policy_path(self) -> Path:
        return self.data_dir / "policy.json"

    def policy(self) -> Policy:
        """The policy new requests are filed under: ``policy.json`` in the data
        directory if there is one, otherwise the defaults of DESIGN.md."""
        if self.policy_path.exists():
            return Policy.model_validate(json.loads(self.policy_path.read_text()))
        return Policy()

    def _cache_env(self) -> dict[str, str]:
        # a worker keeps recent aggregates in memory and only reads the events
        # written since (fast-forward), instead of replaying each request per command;
        # the repository hands out copies, so a refused command leaves no trace in it
        return {"AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size)}

    def eventsourcing_env(self) -> dict[str, str]:
        if self.store == "postgres":
            from psycopg.conninfo import conninfo_to_dict

            info = conninfo_to_dict(self.postgres_dsn)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": str(info.get("dbname", "test")),
                "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
                "POSTGRES_PORT": str(info.get("port", "5432")),
                "POSTGRES_USER": str(info.get("user", "postgres")),
                "POSTGRES_PASSWORD": str(info.get("password", "")),
                "POSTGRES_SCHEMA": self.postgres_schema,
                "CREATE_TABLE": "y" if self.create_tables else "n",  # `ringi db init`
                **self._cache_env(),
            }
        self.event_store_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            **self._cache_env(),
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.event_store_path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "n" if self.create_tables is False else "y",
        }
