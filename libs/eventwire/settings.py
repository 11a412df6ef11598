"""Configuration: environment first, Open WebUI's names where it has one."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEV_SECRET = "t0p-s3cr3t"  # Open WebUI's own default; the edge warns when it is in use


class Settings(BaseSettings):
    """Every setting; the README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="EVENTWIRE_", extra="ignore", populate_by_name=True, frozen=True
    )

    amqp_url: str = Field(
        DEFAULT_AMQP_URL,
        validation_alias=AliasChoices("AMQP_URL", "amqp_url"),
        description="Broker URL; memory:// runs an in-process bus (one process only).",
    )
    webui_secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET),
        validation_alias=AliasChoices("WEBUI_SECRET_KEY", "webui_secret_key"),
        description="HS256 key of the users' JWTs (Open WebUI's WEBUI_SECRET_KEY).",
    )
    event_caller_timeout: float = Field(
        300.0,
        gt=0,
        validation_alias=AliasChoices("WEBSOCKET_EVENT_CALLER_TIMEOUT", "event_caller_timeout"),
        description="Seconds an __event_call__ waits for the client's answer.",
    )
    forward_user_info_headers: bool = Field(
        False,
        validation_alias=AliasChoices(
            "ENABLE_FORWARD_USER_INFO_HEADERS", "forward_user_info_headers"
        ),
        description="Forward X-OpenWebUI-User-* and chat/message headers to external tools.",
    )
    namespace: str = Field(
        "eventwire",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every exchange and queue name (isolates deployments and tests).",
    )
    max_payload_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest encoded event or client packet accepted."
    )
    outbox_limit: int = Field(
        10_000, ge=0, description="Emits held while the broker is unreachable; more fail."
    )
    node_queue_expires: float = Field(
        15.0,
        gt=0,
        description="Seconds after which the queue of a vanished edge node is deleted.",
    )
    presence_interval: float = Field(
        2.0, gt=0, description="Seconds between an edge node's presence heartbeats."
    )
    presence_ttl: float = Field(
        6.0,
        gt=0,
        description="Seconds of silence after which a node's sessions leave every presence view.",
    )
    usage_timeout: float = Field(
        3.0, gt=0, description="Seconds a client's `usage` report keeps its model in use."
    )
    client_presence: bool = Field(
        True,
        description="SDK processes keep a presence replica (is_online, models_in_use, and "
        "calls to sessions of a dead edge node fail as offline within the TTL).",
    )
    client_event_rate: float = Field(
        20.0, gt=0, description="Events per second one connection may send (sustained)."
    )
    client_event_burst: int = Field(
        40, gt=0, description="Events one connection may send at once before the rate applies."
    )
    max_client_packet_bytes: int = Field(
        64 * 1024, gt=0, description="Largest client-originated event accepted."
    )
    channel_authorizer: str = Field(
        "",
        description="'module:attribute' of a channel authorizer factory; empty = the token's "
        "`channels` claim, admins everywhere.",
    )
    # -- edge: what chat-scoped tokens may push (issue 16; parsed in eventwire_edge.external) --
    external_event_types: str = Field(
        "status,message,chat:message:delta,replace,chat:message,files,chat:message:files,"
        "source,citation,notification,chat:title,chat:tags,chat:completion",
        description="Edge: comma-separated event types an external tool may push with a "
        "chat-scoped token (empty = none); the user's own token may push any type.",
    )
    # -- end of the issue-16 block --
    reconnect_initial_delay: float = Field(0.2, gt=0, description="First reconnect backoff (s).")
    reconnect_max_delay: float = Field(5.0, gt=0, description="Largest reconnect backoff (s).")
    connect_timeout: float = Field(
        30.0, gt=0, description="Seconds a process waits for the broker at start-up."
    )
    host: str = Field("127.0.0.1", description="Edge node listen address.")
    port: int = Field(8080, ge=0, le=65535, description="Edge node listen port.")
    cors_allowed_origins: str = Field(
        "*", description="Comma-separated origins allowed to open sockets ('*' = any)."
    )
    dev_login: bool = Field(
        False,
        description="Demo only: POST /api/dev/token gives a token for any user name "
        "(the edge refuses to start with it on a non-loopback host).",
    )
    log_level: str = Field("INFO", description="Python logging level.")
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
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto",
        description="Event loop of the eventwire command: auto = uvloop when installed.",
    )

    @model_validator(mode="after")
    def _presence_ttl_outlives_heartbeats(self) -> Settings:
        if self.presence_ttl < 2 * self.presence_interval:
            raise ValueError("presence_ttl must be at least twice presence_interval")
        return self

    @property
    def secret(self) -> str:
        return self.webui_secret_key.get_secret_value()

    @property
    def host_is_loopback(self) -> bool:
        """The edge listens on this machine only (where the demo's dev login is allowed)."""
        try:
            return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def uses_memory_bus(self) -> bool:
        return self.amqp_url.startswith("memory://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
