"""docker-compose.yml and the Dockerfile agree with what ringi reads.

CI has no Docker engine, so nothing here starts a container: the tests read
the real files and check them against ringi's own Settings, its modules and
the services the files name, so that a renamed setting, module or service
breaks the build instead of the first `docker compose up`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from ringi.config import Settings
from ringi.workflows.request import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

POSTGRES = "postgresql"
TEMPORAL = "temporal"
WORKER = "worker"

# Columns that Temporal's SQL visibility schema has for custom search
# attributes, per type, in each namespace.
SQL_VISIBILITY_SLOTS = {"KEYWORD": 10, "INT": 3, "DATETIME": 3, "DOUBLE": 3, "BOOL": 3, "TEXT": 3}


# -- reading the files -------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{COMPOSE_FILE.name} is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, f"{COMPOSE_FILE.name} defines no services"
    return {name: (spec or {}) for name, spec in found.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): _text(v) for k, v in env.items()}
    out: dict[str, str] = {}
    for item in env:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports the service's container listens on, from `ports` and `expose`."""
    ports: set[int] = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            spec = str(entry).split("/")[0]  # drop /tcp
            ports.add(int(spec.rsplit(":", 1)[-1]))
    for entry in service.get("expose") or []:
        ports.add(int(str(entry).split("/")[0]))
    return ports


def module_of(argv: list[str]) -> str:
    """The module in `python -m MODULE ...`."""
    assert len(argv) >= 3 and Path(argv[0]).name.startswith("python") and argv[1] == "-m", (
        f"expected `python -m MODULE`, got {argv}"
    )
    return argv[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (`service_started` for the short form)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


# -- the stack ---------------------------------------------------------------


def test_compose_defines_the_stack(services: dict[str, dict[str, Any]]) -> None:
    for name in (POSTGRES, TEMPORAL, "temporal-ui", WORKER):
        assert name in services, f"{COMPOSE_FILE.name} has no `{name}` service"
    assert services[POSTGRES].get("image", "").startswith("postgres:")
    assert services[TEMPORAL].get("image", "").startswith("temporalio/")
    assert services["temporal-ui"].get("image", "").startswith("temporalio/ui")


def test_every_ringi_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "RINGI_"
    seen = 0
    for name, service in services.items():
        for key in environment(service):
            if not key.upper().startswith(prefix):
                continue
            seen += 1
            field = key[len(prefix) :].lower()
            assert field in Settings.model_fields, (
                f"service {name}: {key} is not a ringi setting "
                f"(Settings has {sorted(Settings.model_fields)})"
            )
    assert seen, "no service sets any RINGI_* variable"


@pytest.fixture
def worker_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings as the worker container reads them from its environment."""
    for key in list(os.environ):
        if key.upper().startswith("RINGI_"):
            monkeypatch.delenv(key)
    for key, value in environment(services[WORKER]).items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_worker_environment_is_valid_settings(worker_settings: Settings) -> None:
    assert worker_settings.store == "postgres"
    assert worker_settings.log_format == "json"


def test_worker_command_is_a_ringi_module(services: dict[str, dict[str, Any]]) -> None:
    argv = command(services[WORKER]) or dockerfile_cmd()
    module = module_of(argv)
    assert module.startswith("ringi."), module
    assert importlib.util.find_spec(module) is not None, f"no module {module}"


def test_temporal_address_is_the_temporal_service(
    services: dict[str, dict[str, Any]], worker_settings: Settings
) -> None:
    temporal_ports = container_ports(services[TEMPORAL])
    for name, address in [
        (WORKER, worker_settings.temporal_address),
        ("temporal-ui", environment(services["temporal-ui"]).get("TEMPORAL_ADDRESS", "")),
    ]:
        host, _, port = address.rpartition(":")
        assert host == TEMPORAL, f"{name} talks to Temporal at {address!r}"
        assert port.isdigit() and int(port) in temporal_ports, (
            f"{name} talks to Temporal on port {port}, "
            f"the temporal service listens on {sorted(temporal_ports)}"
        )


def test_postgres_dsn_is_the_postgres_service(
    services: dict[str, dict[str, Any]], worker_settings: Settings
) -> None:
    pg_env = environment(services[POSTGRES])
    user = pg_env.get("POSTGRES_USER", "postgres")
    password = pg_env.get("POSTGRES_PASSWORD", "")
    db = pg_env.get("POSTGRES_DB", user)

    dsn = urlsplit(worker_settings.postgres_dsn)
    assert dsn.scheme in ("postgresql", "postgres")
    assert dsn.hostname == POSTGRES
    assert (dsn.port or 5432) == 5432
    assert unquote(dsn.username or "") == user
    assert unquote(dsn.password or "") == password
    assert dsn.path.lstrip("/") == db

    # ...and ringi's own reading of it, as the event store will be opened
    es = worker_settings.eventsourcing_env()
    assert es["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (es["POSTGRES_HOST"], es["POSTGRES_PORT"]) == (POSTGRES, "5432")
    assert (es["POSTGRES_USER"], es["POSTGRES_PASSWORD"]) == (user, password)
    assert es["POSTGRES_DBNAME"] == db


def test_temporal_stores_in_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    pg_env = environment(services[POSTGRES])
    env = environment(services[TEMPORAL])
    assert env.get("DB") in ("postgres12", "postgres12_pgx")
    assert env.get("POSTGRES_SEEDS") == POSTGRES
    assert env.get("DB_PORT", "5432") == "5432"
    assert env.get("POSTGRES_USER") == pg_env.get("POSTGRES_USER", "postgres")
    assert env.get("POSTGRES_PWD") == pg_env.get("POSTGRES_PASSWORD", "")


def test_ringi_search_attributes_fit_sql_visibility(
    services: dict[str, dict[str, Any]],
) -> None:
    """auto-setup's sample Custom*Field attributes would take slots ringi needs."""
    env = environment(services[TEMPORAL])
    assert env.get("SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES", "").lower() == "true"
    wanted = Counter(key.indexed_value_type.name for key in SEARCH_ATTRIBUTES)
    for kind, count in wanted.items():
        assert count <= SQL_VISIBILITY_SLOTS[kind], f"{count} {kind} search attributes"


@pytest.mark.parametrize("name", [POSTGRES, TEMPORAL])
def test_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name].get("healthcheck") or {}
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert test, f"{name} has no healthcheck"
    parts = [test] if isinstance(test, str) else list(test)
    assert parts[0] != "NONE" and any(p.strip() for p in parts[1:] or parts)


def test_startup_order_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services[TEMPORAL]).get(POSTGRES) == "service_healthy"
    worker_deps = depends_on(services[WORKER])
    assert worker_deps.get(TEMPORAL) == "service_healthy"
    assert worker_deps.get(POSTGRES) == "service_healthy"


def test_worker_can_scale(services: dict[str, dict[str, Any]]) -> None:
    worker = services[WORKER]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker sets {key}: `--scale worker=N` would collide"


def test_worker_is_built_from_the_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    build = services[WORKER].get("build")
    assert build is not None, "worker is not built from this repository"
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    )
    assert ((COMPOSE_FILE.parent / context) / dockerfile).resolve() == DOCKERFILE


def test_postgres_keeps_its_data_on_a_named_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    mounts = [str(v) for v in services[POSTGRES].get("volumes") or [] if not isinstance(v, dict)]
    named = {m.split(":", 1)[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")}
    assert named, "postgresql's data directory is not on a volume"
    assert named <= set(compose.get("volumes") or {}), f"undeclared volume {named}"


# -- the image ---------------------------------------------------------------


def dockerfile_cmd() -> list[str]:
    cmds = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    argv = json.loads(cmds[-1])  # exec form, so signals reach the worker
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def test_dockerfile_runs_the_worker() -> None:
    module = module_of(dockerfile_cmd())
    assert module == "ringi.worker"
    assert importlib.util.find_spec(module) is not None


def test_dockerfile_base_and_user() -> None:
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"


# -- the event store's schema: created by `ringi db init`, before anyone opens it --

DB_INIT = "db-init"
API = "api"


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as this service's container reads them from its environment."""
    for key in list(os.environ):
        if key.upper().startswith("RINGI_"):
            monkeypatch.delenv(key)
    for key, value in environment(service).items():
        monkeypatch.setenv(key, value)
    return Settings()


def cli_command(argv: list[str]) -> list[str]:
    """The subcommand path `python -m ringi.cli ...` runs, checked against ringi's
    own command line (e.g. ["db", "init"])."""
    import typer

    from ringi.cli.main import app

    assert module_of(argv) == "ringi.cli", argv
    command_: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in argv[3:]:
        if word.startswith("-"):
            break
        found = getattr(command_, "commands", {}).get(word)
        assert found is not None, f"`ringi {' '.join([*path, word])}` is not a ringi command"
        command_, path = found, [*path, word]
    return path


def test_db_init_runs_once_before_the_worker_and_the_api(
    services: dict[str, dict[str, Any]],
) -> None:
    init = services[DB_INIT]
    assert cli_command(command(init)) == ["db", "init"]
    assert depends_on(init).get(POSTGRES) == "service_healthy"
    assert str(init.get("restart", "no")) in ("no", "on-failure"), "a one-shot service"
    for name in (WORKER, API):
        assert depends_on(services[name]).get(DB_INIT) == "service_completed_successfully", name


def test_everything_opens_the_database_db_init_prepared(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    init = settings_of(services[DB_INIT], monkeypatch)
    assert init.store == "postgres"
    for name in (WORKER, API):
        opened = settings_of(services[name], monkeypatch)
        assert (opened.store, opened.postgres_dsn, opened.postgres_schema) == (
            init.store,
            init.postgres_dsn,
            init.postgres_schema,
        ), name
        env = opened.eventsourcing_env()
        assert env["POSTGRES_SCHEMA"] == init.postgres_schema
        # production creates nothing implicitly: an uninitialised database stops it
        assert env["CREATE_TABLE"] == "n", f"{name} would create tables by itself"


def test_api_serves_on_its_published_port(services: dict[str, dict[str, Any]]) -> None:
    api = services[API]
    argv = command(api)
    assert cli_command(argv) == ["serve"]
    host = argv[argv.index("--host") + 1] if "--host" in argv else "127.0.0.1"
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 8000
    assert host == "0.0.0.0", "the API must listen beyond the container's loopback"
    assert port in container_ports(api)
    assert depends_on(api).get(TEMPORAL) == "service_healthy"


def test_the_api_and_the_workers_share_secret_keys_given_from_outside(
    services: dict[str, dict[str, Any]],
) -> None:
    """The API seals webhook secrets and the workers open them (ringi/sealing.py): both
    read the same RINGI_SECRET_KEYS, which compose requires from its environment
    rather than holding a key in this file (and so in the repository)."""
    given = {name: environment(services[name]).get("RINGI_SECRET_KEYS") for name in (API, WORKER)}
    assert len(set(given.values())) == 1, given
    value = given[API]
    assert value is not None and value.startswith("${RINGI_SECRET_KEYS:?"), value
