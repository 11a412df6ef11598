"""The worker's own settings: plugins, concurrency, retries, drain, streaming."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from eventwire.settings import Settings


class WorkerSettings(Settings):
    """Core settings plus the worker's (environment first, ``EVENTWIRE_`` prefix)."""

    plugins_dir: str | None = Field(None, description="Worker: directory of plugin files.")
    worker_concurrency: int = Field(4, gt=0, description="Worker: jobs run at the same time.")
    job_max_attempts: int = Field(
        3,
        gt=0,
        le=20,
        description="Deliveries of a job whose worker died before it is dead-lettered.",
    )
    drain_grace: float = Field(
        30.0, ge=0, description="Worker: seconds running jobs get to finish on SIGTERM."
    )
    install_requirements: bool = Field(
        False, description="Worker: pip-install the `requirements:` of plugin frontmatter."
    )
    event_token_ttl: float = Field(
        900.0, gt=0, description="Lifetime (s) of the chat-scoped token a job gives its tools."
    )
    stream_interval: float = Field(
        0.05, ge=0, description="Worker: least seconds between streamed deltas (throttling)."
    )
    # -- hardening (issue 10) -----------------------------------------------------------
    queued_stop_ttl: float = Field(
        3600.0,
        gt=0,
        description="Worker: seconds a stop for a task not started yet is remembered; a job "
        "taken within that time is cancelled instead of run.",
    )
    # -- end of hardening ------------------------------------------------------------------
    worker_metrics_port: int | None = Field(
        9100,
        le=65535,
        description="Worker: port of /metrics, /healthz and /readyz (0 = any free port, "
        "printed in the ready line; empty or negative = no server).",
    )
    worker_metrics_host: str = Field(
        "0.0.0.0",
        description="Worker: listen address of the metrics server (all interfaces: "
        "Prometheus and probes reach it from outside the container).",
    )
    forward_user_info_headers: bool = Field(
        False,
        validation_alias=AliasChoices(
            "ENABLE_FORWARD_USER_INFO_HEADERS", "forward_user_info_headers"
        ),
        description="Forward X-OpenWebUI-User-* and chat/message headers to external tools.",
    )

    @field_validator("worker_metrics_port", mode="before")
    @classmethod
    def _off_when_empty_or_negative(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if int(value) < 0:
            return None
        return value


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """The worker process's settings, read once from the environment."""
    return WorkerSettings()
