"""ringi's HTTP API (FastAPI): every action of every role, bulk calls, bearer
tokens with roles, idempotency keys, rate limits. ``create_app`` builds it;
``ringi serve`` and ``ringi up`` serve it.

``create_app`` and ``ApiSettings`` are imported on first use, so that the
command line can use the API's plain modules (``ringi.api.idempotency``,
``ringi.api.tokens``) without importing FastAPI."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ApiSettings":
        from .settings import ApiSettings

        return ApiSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
