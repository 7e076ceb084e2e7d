"""``ringi subscribe`` / ``ringi subscriptions`` / ``ringi unsubscribe``: who is
told of what happens to requests, and how (the secretariat's desk).

A subscription sends the notifications addressed to one recipient (a member
company, or ``secretariat``) to a webhook or an e-mail address. The worker
delivers them (``ringi.workflows.notify``); e-mail goes through the SMTP server
of RINGI_SMTP_HOST / RINGI_SMTP_PORT, from RINGI_SMTP_FROM.

With ``--url``/``RINGI_URL`` and a token the three go through the HTTP API
(``/v1/subscriptions``) instead of the store: who subscribes is the token's
(``--user`` is not sent), a member's token subscribes, lists and ends only its
own company's, and a webhook's secret is the server's to make (``--secret`` is
a usage error there).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ..domain.enums import Channel, NotificationKind
from .context import USAGE, fail, installation, print_json, with_store
from .desk import through_api
from .inputs import secretariat
from .render import echo, when

if TYPE_CHECKING:
    from ..domain.subscriptions import Subscription
    from ..store import RingiStore

subscribe_app = typer.Typer(
    help="Send a recipient's notifications to a webhook or an e-mail address.",
    no_args_is_help=True,
)

For = Annotated[
    str,
    typer.Option("--for", help="whose notifications: a member company, or 'secretariat'"),
]
User = Annotated[str | None, typer.Option("--user", help="who you are (recorded with the event)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]
Kinds = Annotated[
    list[NotificationKind] | None,
    typer.Option(
        "--kind",
        help="send only notifications of this kind (repeat for several; every kind if not given)",
    ),
]


def install(app: typer.Typer) -> None:
    """Add `ringi subscribe ...`, `ringi subscriptions`, `ringi unsubscribe`,
    `ringi rotate-secret` and `ringi secret-key`."""
    app.add_typer(subscribe_app, name="subscribe")
    app.command("subscriptions")(subscriptions)
    app.command("unsubscribe")(unsubscribe)
    app.command("rotate-secret")(rotate_secret)
    app.command("secret-key")(secret_key)


@subscribe_app.command("webhook")
def webhook(
    ctx: typer.Context,
    recipient: For,
    url: Annotated[str, typer.Option("--url", help="where to POST the notifications")],
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            help="the key payloads are signed with (HMAC-SHA256); one is made and shown once "
            "if not given",
        ),
    ] = None,
    kinds: Kinds = None,
    user: User = None,
    as_json: Json = False,
) -> None:
    """POST the recipient's notifications, signed (header Ringi-Signature: t=...,v1=...)."""
    if secret is not None and through_api(ctx) is not None:
        raise fail("over the API the server makes a webhook's secret: leave --secret out", USAGE)
    key = secret or secrets.token_urlsafe(32)
    made = _subscribe(ctx, recipient, Channel.WEBHOOK, url, kinds, user, as_json, secret=key)
    if made is not None and secret is None:
        echo(f"secret (shown once; the receiver checks signatures with it): {made.secret}")


@subscribe_app.command("email")
def email(
    ctx: typer.Context,
    recipient: For,
    address: Annotated[str, typer.Option("--address", help="the e-mail address")],
    kinds: Kinds = None,
    user: User = None,
    as_json: Json = False,
) -> None:
    """E-mail the recipient's notifications to an address."""
    _subscribe(ctx, recipient, Channel.EMAIL, address, kinds, user, as_json)


def _subscribe(
    ctx: typer.Context,
    recipient: str,
    channel: Channel,
    target: str,
    kinds: list[NotificationKind] | None,
    user: str | None,
    as_json: bool,
    secret: str = "",
) -> Subscription | None:
    """Record the subscription and print it; what was made, unless printed as JSON
    (then nothing more is to be said)."""
    from ..sealing import Sealer

    def add(store: RingiStore) -> Subscription:
        return store.subscribe(
            recipient,
            channel,
            target,
            datetime.now(UTC),
            secretariat(user),
            # recorded sealed (``ringi.sealing``): a recorded event is never deleted
            secret=Sealer.of(installation(ctx).settings()).seal(secret) if secret else "",
            kinds=tuple(kinds or ()),
        )

    remote = through_api(ctx)
    if remote is not None:  # the token's company and user; the server makes the secret
        made = remote.through(
            lambda api: api.subscribe(recipient, channel, target, list(kinds or ()))
        )
    else:
        # shown as given, not as recorded
        made = with_store(ctx, add).model_copy(update={"secret": secret})
    if as_json:
        print_json(made.model_dump(mode="json"))
        return None
    shown = "webhook" if channel is Channel.WEBHOOK else "e-mail"
    echo(f"{made.id}: {made.recipient} → {shown} {made.target}")
    return made


def subscriptions(ctx: typer.Context, as_json: Json = False) -> None:
    """The current subscriptions (secrets are not shown)."""
    remote = through_api(ctx)
    if remote is not None:
        found = remote.through(lambda api: api.subscriptions())
    else:
        found = with_store(ctx, lambda store: store.subscriptions())
    if as_json:
        print_json([s.model_dump(mode="json", exclude={"secret"}) for s in found])
        return
    if not found:
        echo("no subscriptions")
    for s in found:
        kinds = ",".join(k.value for k in s.kinds) or "every kind"
        echo(
            f"{s.id}\t{s.recipient}\t{s.channel.value}\t{s.target}\t{kinds}\tsince {when(s.since)}"
        )


def unsubscribe(
    ctx: typer.Context,
    subscriber: Annotated[str, typer.Argument(help="the subscription's id (s1, s2, ...)")],
    user: User = None,
) -> None:
    """End a subscription: nothing more is sent to it."""
    remote = through_api(ctx)
    if remote is not None:
        remote.through(lambda api: api.unsubscribe(subscriber))
    else:
        with_store(
            ctx, lambda store: store.unsubscribe(subscriber, datetime.now(UTC), secretariat(user))
        )
    echo(f"{subscriber} ended")


def rotate_secret(
    ctx: typer.Context,
    subscriber: Annotated[str, typer.Argument(help="the webhook's subscription id (s1, ...)")],
    user: User = None,
) -> None:
    """Give a webhook a new signing secret, shown once: what it is sent from now on is
    signed with it (a secret that leaked, or one recorded before secrets were sealed)."""
    remote = through_api(ctx)
    if remote is not None:  # the server makes the secret
        secret = remote.through(lambda api: api.rotate_secret(subscriber)).secret
    else:
        from ..sealing import Sealer

        secret = secrets.token_urlsafe(32)
        sealed = Sealer.of(installation(ctx).settings()).seal(secret)
        with_store(
            ctx,
            lambda store: store.rotate_secret(
                subscriber, sealed, datetime.now(UTC), secretariat(user)
            ),
        )
    echo(f"{subscriber}: new secret (shown once; the receiver checks signatures with it): {secret}")


def secret_key() -> None:
    """Print a new key for RINGI_SECRET_KEYS, which seals webhook secrets before they
    are recorded. Give every process of an installation the same keys, the newest first."""
    from ..sealing import new_key

    echo(new_key())
