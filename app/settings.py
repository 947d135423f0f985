"""One settings object, read from the environment (``FUNNELGATE_*``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNNELGATE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./funnelgate.db"
    # Optional PostgreSQL streaming replica for analytics reads (primary as fallback).
    read_database_url: str | None = None
    replica_max_lag_s: float = Field(default=1.0, ge=0)
    # HS256 secret (or the private key for RS256). Unset: a random secret kept beside the
    # SQLite database file; refused at start on any other database (resolvers/jwtsecret.py).
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_public_key: str | None = None
    storage_url: str = "./funnelgate-objects"
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    redis_key_prefix: str = "funnelgate"
    country_header: str = "CF-IPCountry"
    introspection: bool = True
    visitor_salt: str = "funnelgate-visitor-salt"
    webhook_allow_private: bool = False
    webhook_worker_enabled: bool = True
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_backoff_base_s: float = Field(default=1.0, gt=0)

    graphql_max_depth: int = Field(default=12, ge=1)
    graphql_max_aliases: int = Field(default=30, ge=1)
    graphql_max_tokens: int = Field(default=4000, ge=10)
    graphql_max_cost: int = Field(default=10000, ge=1)
    graphql_apq: bool = True
    graphql_apq_cache_size: int = Field(default=1000, ge=1)
    graphql_allowlist: bool = False
    graphql_allowlist_file: str | None = None
    # Compiled completion of plain-data selections (schema/engine/compiled.py).
    graphql_compiled: bool = True
    # Query responses cached per caller for at most 1 s (app/runtime/responsecache.py).
    graphql_response_cache: bool = True
    graphql_response_cache_size: int = Field(default=2000, ge=1)
    graphql_response_cache_ttl_s: float = Field(default=1.0, gt=0, le=1.0)

    # Peers whose X-Forwarded-For names the client (redirect visitor ids, rate limits):
    # comma-separated IPs or CIDRs, "*" for any. FORWARDED_ALLOW_IPS (uvicorn's) is honoured
    # when this is unset.
    trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        validation_alias=AliasChoices(
            "FUNNELGATE_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS", "trusted_proxies"
        ),
    )

    rate_limit_enabled: bool = True
    rate_limit_api: str = "1200/minute"
    rate_limit_api_ip: str = "2400/minute"
    rate_limit_redirect_ip: str = "6000/minute"
    # Comma-separated client addresses that skip the per-IP limits (not the per-token one).
    rate_limit_exempt_ips: str = "127.0.0.1,::1"
    rate_limit_strategy: str = "sliding-window-counter"

    ingest_batch_max: int = Field(default=500, ge=1)
    ingest_batch_wait_ms: float = Field(default=0.0, ge=0)
    ingest_queue_max: int = Field(default=20000, ge=1)
    # Group-commit writers in flight on PostgreSQL (SQLite has one writer by design). A
    # click batch is one statement, so two suffice: one commits while the next gathers,
    # and a long conversion batch in one does not hold clicks back. More writers make
    # smaller batches (more rollup upserts per click) and cost PostgreSQL CPU.
    ingest_writers: int = Field(default=2, ge=1, le=16)
    link_cache_ttl_s: float = Field(default=0.5, ge=0)
    # A link or rules reload that fails or takes longer than this serves the last value
    # loaded (at most link_stale_s old), so redirects keep answering through an outage.
    link_load_timeout_s: float = Field(default=1.0, gt=0)
    link_stale_s: float = Field(default=3600.0, ge=0)
    # Clicks that cannot commit within the budget are fsync'd to a per-process journal.
    journal_enabled: bool = True
    journal_dir: str = "./funnelgate-journal"
    ingest_commit_budget_s: float = Field(default=2.0, gt=0)

    # HTTP limits against abuse (funnelgate serve; app/serving.py, app/middleware/bodylimit.py).
    http_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024)  # request line + headers
    http_header_timeout_s: float = Field(default=10.0, gt=0)  # to send the request head
    http_body_timeout_s: float = Field(default=30.0, gt=0)  # then the whole body
    http_keep_alive_s: int = Field(default=5, ge=1)  # idle keep-alive connections
    http_graceful_shutdown_s: int = Field(default=30, ge=1)  # SIGTERM: in-flight requests
    http_limit_concurrency: int | None = Field(default=None, ge=1)  # then 503; None: off

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or CIDR") from exc
        return value

    @property
    def trusted_proxy_hosts(self) -> list[str]:
        """``trusted_proxies`` as uvicorn's ProxyHeadersMiddleware takes them."""
        items = [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]
        if "*" in items:
            return ["*"]
        return [
            str(ipaddress.ip_network(item, strict=False)) if "/" in item else item for item in items
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
