"""`ringi serve` (the HTTP API alone) and `ringi token ...` (who may call it).

    ringi serve --host 127.0.0.1 --port 8000
    ringi token issue --role member --company A社 --name "A社 基幹システム"
    ringi token list
    ringi token revoke ID --reason "leaked"

`ringi serve` needs a Temporal server with a ringi worker (`ringi up`, or
`ringi worker` next to a Temporal of your own) and the event store; the API's
limits come from `RINGI_API_*` (see `ringi.api.settings`). Tokens are recorded
in the event store, so issue them on a machine that reaches it.
"""

from __future__ import annotations

import getpass
import signal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..domain.enums import Role
from .context import guarded, installation, print_json
from .render import when

if TYPE_CHECKING:
    from ..config import Settings

T = TypeVar("T")

token_app = typer.Typer(help="API tokens: issue (shown once), list, revoke.", no_args_is_help=True)


def install(app: typer.Typer) -> None:
    """Add `ringi serve` and `ringi token` to the command line."""
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
) -> None:
    """Run the HTTP API alone, against a running Temporal (with a worker) and the event store."""
    raise typer.Exit(run_api(installation(ctx).settings(), host, port))


def run_api(settings: Settings, host: str, port: int) -> int:
    import asyncio

    from ..api import ApiSettings, create_app
    from ..api.server import ApiServer, bind, freeze_startup_heap
    from ..logging import configure
    from ..service import Ringi

    configure(settings.log_format)

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            ringi = await Ringi.connect(settings)
        except RuntimeError as error:
            typer.echo(
                f"ringi: cannot reach Temporal at {settings.temporal_address} ({error})", err=True
            )
            return 1
        try:
            try:
                sock = bind(host, port)
            except OSError as error:
                typer.echo(f"ringi: cannot listen on {host}:{port} ({error.strerror})", err=True)
                return 1
            server = ApiServer(create_app(ringi, ApiSettings()), sock)
            await server.start()
            freeze_startup_heap()
            print(
                f"ringi API is up: {server.url} (docs {server.url}/docs), Temporal "
                f"{settings.temporal_address}, data {settings.data_dir}. Ctrl-C stops it.",
                flush=True,
            )
            await stop.wait()
            await server.stop()
            return 0
        finally:
            ringi.close()

    return asyncio.run(go())


# --- tokens ---------------------------------------------------------------------------


class TokenRole(StrEnum):
    MEMBER = Role.MEMBER.value
    SECRETARIAT = Role.SECRETARIAT.value
    AUDITOR = Role.AUDITOR.value


def _with_tokens(ctx: typer.Context, work: Any) -> Any:
    """Run ``work`` on the installation's token registry (creating an empty
    store if there is none yet: tokens may be issued before the first `ringi up`)."""
    from ..api.tokens import TokenRegistry
    from ..store import RingiStore

    store = RingiStore(env=installation(ctx).settings().eventsourcing_env())
    try:
        return guarded(lambda: work(TokenRegistry(store)))
    finally:
        store.close()


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@token_app.command("issue")
def token_issue(
    ctx: typer.Context,
    role: Annotated[TokenRole, typer.Option("--role", case_sensitive=False)],
    company: Annotated[
        str | None, typer.Option("--company", help="the company a member's token acts for")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="a label: who or what uses the token")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Issue a token and print it: it is shown this once, and stored only as a hash."""
    from ..api.tokens import TokenInfo, TokenRegistry
    from .inputs import name_option

    given = {"--company": company, "--name": name}
    company, name = (name_option(k, v) if v and v.strip() else v for k, v in given.items())

    def issue(tokens: TokenRegistry) -> tuple[str, TokenInfo]:
        return tokens.issue(Role(role.value), company=company, name=name, issued_by=_login())

    token, info = _with_tokens(ctx, issue)
    if as_json:
        print_json({"token": token, **info.model_dump(mode="json")})
        return
    who = info.company or info.role.value
    typer.echo(
        f"token {info.token_id} for {who} ({info.role.value}), named {info.name!r}; "
        "it is shown this once, keep it safe:",
        err=True,
    )
    typer.echo(token)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The tokens issued, revoked or not (never their secrets)."""
    infos = _with_tokens(ctx, lambda tokens: tokens.list())
    if as_json:
        print_json([info.model_dump(mode="json") for info in infos])
        return
    for info in infos:
        state = f"revoked {when(info.revoked_at)}" if info.revoked_at else "active"
        typer.echo(
            f"{info.token_id}  {info.role.value:<11} {info.company or '-':<12} "
            f"{info.name:<20} issued {when(info.issued_at)}  {state}"
        )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="the token's id (from `ringi token list`)")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Revoke a token: from now on every call with it is answered 401."""
    info = _with_tokens(ctx, lambda tokens: tokens.revoke(token_id, by=_login(), reason=reason))
    typer.echo(f"token {info.token_id} ({info.name}) revoked")
