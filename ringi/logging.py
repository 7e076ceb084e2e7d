"""Structured logs: console for people, JSON for machines.

Both structlog's loggers and the standard library's (the Temporal SDK's,
psycopg's, and the Temporal core's, forwarded from Rust) go through the same
processors to stderr, so with ``--log-format json`` every line a
process writes is one JSON object, and every line written while an activity
runs carries the context it bound (request, workflow id, run id, actor...).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Literal

LogFormat = Literal["console", "json"]

#: the handler ``configure`` puts on the root logger (replaced, not stacked, when
#: it is called again; other handlers, such as pytest's, are left alone)
_HANDLER_NAME = "ringi"


def configure(log_format: LogFormat = "console", level: int = logging.INFO) -> None:
    """Log in ``log_format`` to stderr. Called before the first Temporal client
    connects (as every entry point does), it also routes the Temporal core's own
    messages (polling errors while the server is unreachable...) through Python
    logging, so that they come out in the same format."""
    import structlog  # here: every command declares --log-format, few of them log

    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                # the Temporal SDK's activity and workflow details, not its internals
                structlog.stdlib.ExtraAdder(allow=("temporal_activity", "temporal_workflow")),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    _forward_temporal_core()


def _forward_temporal_core() -> None:
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=forwarding,
            )
        )
    )
    # clients made before (configured late, or again) keep the runtime they have
    with contextlib.suppress(RuntimeError):
        Runtime.set_default(runtime, error_if_already_set=True)
