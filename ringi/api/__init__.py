"""ringi's HTTP API (FastAPI): every action of every role, bulk calls, bearer
tokens with roles, idempotency keys, rate limits. ``create_app`` builds it;
``ringi serve`` and ``ringi up`` serve it."""

from .app import create_app
from .settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
