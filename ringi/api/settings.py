"""What an API process may be tuned with: flags first, then ``RINGI_API_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RINGI_API_", extra="ignore")

    #: a request body larger than this is refused (413) before it is read whole
    max_body_bytes: int = Field(1_048_576, ge=1024)
    #: calls a token may make per second on average (token bucket, per API process);
    #: 0 turns rate limiting off
    rate_per_second: float = Field(20.0, ge=0)
    #: calls a token may make at once after being idle (the bucket's size)
    rate_burst: int = Field(100, ge=1)
    #: items of one bulk call carried out at the same time
    bulk_concurrency: int = Field(32, ge=1, le=1024)
    #: items one bulk call may carry
    bulk_max_items: int = Field(5_000, ge=1)
    #: requests a page of a listing holds unless the caller asks for fewer
    page_size: int = Field(100, ge=1)
    #: the most a caller may ask for in one page
    max_page_size: int = Field(1_000, ge=1)
    #: seconds a write waits for the request's workflow before answering 504
    command_timeout: float = Field(30.0, gt=0)
    #: requests (and tokens) whose folded state an API process keeps between calls;
    #: always checked against the store's notification log, so never stale
    read_cache_size: int = Field(10_000, ge=1)
    #: /readyz fails when the read model is more than this many log positions behind
    ready_max_projection_lag: int = Field(10_000, ge=0)
    #: /readyz fails when more than this many deliveries wait to be sent or given up
    ready_max_outbox_backlog: int = Field(1_000, ge=0)
