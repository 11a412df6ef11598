"""The worker's own settings: plugins, concurrency, retries, drain, streaming."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field

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
    forward_user_info_headers: bool = Field(
        False,
        validation_alias=AliasChoices(
            "ENABLE_FORWARD_USER_INFO_HEADERS", "forward_user_info_headers"
        ),
        description="Forward X-OpenWebUI-User-* and chat/message headers to external tools.",
    )


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """The worker process's settings, read once from the environment."""
    return WorkerSettings()
