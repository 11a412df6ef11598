"""Configuration: environment first, Open WebUI's names where it has one."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError
from .topology import MAX_CALL_TIMEOUT

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEV_SECRET = "t0p-s3cr3t"  # Open WebUI's own default: public, so anyone can forge a token with it


class Settings(BaseSettings):
    """What every eventwire process shares: the broker, the secret, timeouts, presence.

    Services extend it with their own knobs (``eventwire_edge.settings``,
    ``eventwire_worker.settings``); the README's configuration tables mirror these classes.
    """

    model_config = SettingsConfigDict(
        env_prefix="EVENTWIRE_", extra="ignore", populate_by_name=True, frozen=True
    )

    amqp_url: str = Field(
        DEFAULT_AMQP_URL,
        validation_alias=AliasChoices("AMQP_URL", "amqp_url"),
        description="Broker URL, or several comma-separated (the nodes of a RabbitMQ cluster: "
        "tried in order, and the next on connection loss); memory:// runs an in-process bus "
        "(one process only).",
    )
    webui_secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET),
        validation_alias=AliasChoices("WEBUI_SECRET_KEY", "webui_secret_key"),
        description="HS256 key of the users' JWTs (Open WebUI's WEBUI_SECRET_KEY).",
    )
    event_caller_timeout: float = Field(
        300.0,
        gt=0,
        le=MAX_CALL_TIMEOUT,
        validation_alias=AliasChoices("WEBSOCKET_EVENT_CALLER_TIMEOUT", "event_caller_timeout"),
        description="Seconds an __event_call__ waits for the client's answer.",
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
    outbox_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Bytes (encoded bodies and keys) the outbox holds at most; more fail.",
    )
    heartbeat: int = Field(
        2,
        ge=1,
        le=60,
        description="AMQP heartbeat (s) negotiated with the broker, and how often this process "
        "checks that the broker still answers.",
    )
    broker_timeout: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Seconds the broker has to confirm a publish, answer a liveness check or "
        "complete a connection handshake before it counts as unreachable.",
    )
    node_queue_type: Literal["auto", "classic", "quorum"] = Field(
        "auto",
        description="Edge node queues: classic, or quorum (survive a cluster node's loss); "
        "auto = quorum when AMQP_URL lists several brokers.",
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
    client_presence: bool = Field(
        True,
        description="SDK processes keep a presence replica (is_online, models_in_use, and "
        "calls to sessions of a dead edge node fail as offline within the TTL).",
    )
    recovery_window: float = Field(
        120.0,
        ge=0,
        le=24 * 3600,
        description="Seconds a tab that lost its connection (not closed) can reconnect to any "
        "edge and get what it missed, in order, and its pending calls asked again; 0 = off. Set "
        "the same on every process (edges keep mailboxes; callers stop failing calls to the "
        "sessions of a dead edge node, which may come back).",
    )
    recovery_max_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Bytes of events one session's mailbox holds at most (message bodies) while "
        "its tab is away; a mailbox that may have passed it is not recovered (the tab is told).",
    )
    recovery_max_events: int = Field(
        2048,
        gt=0,
        le=65535,
        description="Events one session's mailbox holds at most while its tab is away (and how "
        "many its edge may have written but not yet seen confirmed by the client).",
    )
    reconnect_initial_delay: float = Field(0.2, gt=0, description="First reconnect backoff (s).")
    reconnect_max_delay: float = Field(5.0, gt=0, description="Largest reconnect backoff (s).")
    connect_timeout: float = Field(
        30.0, gt=0, description="Seconds a process waits for the broker at start-up."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as text, or one JSON object per line (time, level, logger, "
        "message, node_id, user_id, session_id, task_id).",
    )

    @field_validator("amqp_url")
    @classmethod
    def _broker_urls(cls, value: str) -> str:
        urls = [u.strip() for u in value.split(",") if u.strip()]
        if not urls:
            raise ValueError("AMQP_URL is empty")
        memory = [u for u in urls if u.startswith("memory://")]
        if memory and len(urls) > 1:
            raise ValueError("memory:// is one in-process bus: it cannot be listed with others")
        for url in urls:
            if not url.startswith(("memory://", "amqp://", "amqps://")):
                raise ValueError(f"broker URL must be amqp://, amqps:// or memory://: {url!r}")
        return ",".join(urls)

    @model_validator(mode="after")
    def _presence_ttl_outlives_heartbeats(self) -> Settings:
        if self.presence_ttl < 2 * self.presence_interval:
            raise ValueError("presence_ttl must be at least twice presence_interval")
        if self.recovery_window and self.recovery_max_bytes <= self.max_payload_bytes:
            raise ValueError(
                "recovery_max_bytes must be larger than max_payload_bytes (a mailbox holds "
                "more than one event)"
            )
        return self

    @property
    def recovers(self) -> bool:
        """Tabs that lose their connection can be recovered (``EVENTWIRE_RECOVERY_WINDOW``).

        Not on ``memory://`` (one process), nor on a cluster (quorum node queues): a mailbox
        is a classic queue, on one broker node, gone while that node is down; a quorum queue
        per session is too heavy."""
        return self.recovery_window > 0 and not self.uses_memory_bus and not self.quorum_node_queues

    @property
    def secret(self) -> str:
        return self.webui_secret_key.get_secret_value()

    @property
    def uses_memory_bus(self) -> bool:
        return self.amqp_url.startswith("memory://")

    @property
    def amqp_urls(self) -> list[str]:
        """Every broker ``AMQP_URL`` lists, in the order they are tried."""
        return self.amqp_url.split(",")

    @property
    def quorum_node_queues(self) -> bool:
        if self.node_queue_type == "auto":
            return len(self.amqp_urls) > 1
        return self.node_queue_type == "quorum"

    @property
    def broker_is_local(self) -> bool:
        """The bus stays on this machine: ``memory://``, or a broker on a loopback host."""
        return self.uses_memory_bus or all(
            is_loopback_host(urlsplit(url.strip()).hostname or "") for url in self.amqp_urls
        )


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); names other than localhost are
    not resolved (a name that resolves to loopback today may not tomorrow)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_default_secret(settings: Settings, *, what: str, listen_host: str | None = None) -> None:
    """Refuse to run with the public default secret unless everything is on this machine.

    "On this machine" means the broker is (``AMQP_URL`` on a loopback host, or ``memory://``)
    and, for a process that listens, so is its listen address. Anything else is a deployment
    other machines reach, where anyone could sign tokens with Open WebUI's published default.
    """
    if settings.secret != DEV_SECRET:
        return
    if listen_host is not None and not is_loopback_host(listen_host):
        where = f"listening on {listen_host!r}"
    elif not settings.broker_is_local:
        hosts = [urlsplit(url.strip()).hostname for url in settings.amqp_urls]
        where = f"with the broker at {', '.join(repr(h) for h in hosts)}"
    else:
        return
    raise ConfigurationError(
        f"WEBUI_SECRET_KEY is Open WebUI's public default, with which anyone can forge any "
        f"user's token; {what} refuses it {where}. Set WEBUI_SECRET_KEY to a secret of your "
        "own (the same in every eventwire process and in Open WebUI). The default is allowed "
        "only when the broker is on loopback or memory:// (and an edge listens on loopback)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
