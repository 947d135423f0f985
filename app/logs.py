"""Structured JSON logs: one line per log record and per request, each with the request id.

``configure_logging`` is called by ``funnelgate serve`` (never at import time); it returns a
``logging.config`` dict that uvicorn applies again in each worker process.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

import structlog
from asgi_correlation_id import correlation_id

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def valid_request_id(value: str) -> bool:
    """A caller's X-Request-ID is kept when it is a plain token (UUID, ULID, hex, ...)."""
    return bool(_REQUEST_ID.match(value))


def add_request_id(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the id of the request being served, if any."""
    request_id = correlation_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def drop_color_message(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Uvicorn passes an ANSI-coloured copy of each message; JSON has no use for it."""
    event.pop("color_message", None)
    return event


_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    drop_color_message,
    add_request_id,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> logging.Formatter:
    """Renders stdlib and structlog records alike as one JSON object per line."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def logging_config(level: str = "INFO") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.json_formatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
        "loggers": {
            # Uvicorn's own lines go through the root handler; its access log is replaced by
            # ours, which knows the route template and the request id.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> dict[str, Any]:
    """Send every log record to stdout as JSON; returns the dict config for uvicorn."""
    config = logging_config(level)
    logging.config.dictConfig(config)
    structlog.configure(
        processors=[*_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return config
