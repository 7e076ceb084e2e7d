"""Sending one notification to one subscriber: a signed webhook POST or an e-mail.

A webhook's body is JSON; its ``Ringi-Signature`` header is
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the subscriber's
secret>`` (check it with ``verify_signature``), and ``Ringi-Delivery-Id`` is the
same on every attempt at one delivery, so a receiver can drop a repeat: delivery
is at least once (a receiver may have taken a message whose acceptance the
sender never heard of).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate

import httpx

from .config import Settings
from .domain.subscriptions import Channel, Subscription
from .store import Delivery, OutboxMessage

SIGNATURE_HEADER = "Ringi-Signature"
DELIVERY_HEADER = "Ringi-Delivery-Id"
KIND_HEADER = "Ringi-Notification"
#: how old a signature a receiver should accept, by default
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 10.0


class DeliveryFailed(Exception):
    """The receiver did not take it; the attempt is retried."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` is a signature of ``body`` under ``secret``, made within
    ``tolerance`` seconds of ``now``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    fresh = abs((time.time() if now is None else now) - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, parts.get("v1", ""))


def page_url(settings: Settings, number: int) -> str | None:
    """The request's web page, where ringi's pages are reachable (``public_url``)."""
    base = settings.public_url.rstrip("/")
    return f"{base}/web/requests/{number}" if base else None


def payload(
    message: OutboxMessage, subscription: Subscription, delivery: Delivery, url: str | None = None
) -> bytes:
    return json.dumps(
        {
            "delivery_id": delivery.id,
            "notification": message.key,
            "kind": message.kind,
            "request": message.request_number,
            "recipient": subscription.recipient,
            "subject": message.subject,
            "body": message.body,
            "url": url,
            "queued_at": message.created_on.isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def send(
    settings: Settings, message: OutboxMessage, subscription: Subscription, delivery: Delivery
) -> None:
    """One attempt; raises ``DeliveryFailed`` if the receiver did not take it."""
    url = page_url(settings, message.request_number)
    if subscription.channel is Channel.WEBHOOK:
        body = payload(message, subscription, delivery, url)
        post_webhook(subscription, message.kind, body, delivery)
    else:
        send_email(settings, subscription.target, message, delivery, url)


def post_webhook(subscription: Subscription, kind: str, body: bytes, delivery: Delivery) -> None:
    """POST the body; anything but a 2xx answer is a failure, retried. A redirect
    is not followed: followed, a POST becomes a GET without the body (the message
    lost, yet 'delivered'); the subscription's URL is to be corrected instead."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "ringi-webhook",
        SIGNATURE_HEADER: sign(subscription.secret, int(time.time()), body),
        DELIVERY_HEADER: delivery.id,
        KIND_HEADER: kind,
    }
    target = subscription.target
    try:
        response = httpx.post(
            target, content=body, headers=headers, timeout=TIMEOUT_SECONDS, follow_redirects=False
        )
    except (httpx.HTTPError, ValueError) as error:  # unreachable, or not a URL httpx can send to
        raise DeliveryFailed(f"{target} unreachable: {error}") from None
    if response.is_redirect:
        moved = response.headers.get("location", "?")
        raise DeliveryFailed(
            f"{target} answered {response.status_code}, to {moved}: redirects are not "
            "followed (a POST would lose its body); subscribe the URL it moved to"
        )
    if not response.is_success:
        raise DeliveryFailed(f"{target} answered {response.status_code}")


def send_email(
    settings: Settings,
    to: str,
    message: OutboxMessage,
    delivery: Delivery,
    url: str | None = None,
) -> None:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Subject"] = f"[ringi] {message.subject}"
    mail["Date"] = formatdate(localtime=False)
    # the same on every attempt, so a mailbox can drop a repeat
    mail["Message-ID"] = f"<{delivery.id}@ringi>"
    mail[DELIVERY_HEADER] = delivery.id
    mail[KIND_HEADER] = message.kind
    text = message.body or message.subject
    mail.set_content(f"{text}\n\n{url}" if url else text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(
            f"SMTP {settings.smtp_host}:{settings.smtp_port} did not take it: {error}"
        ) from None
