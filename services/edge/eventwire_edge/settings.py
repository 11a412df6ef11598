"""The edge node's own settings: where it listens, who may connect, client limits."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, model_validator

from eventwire.settings import Settings, is_loopback_host


class EdgeSettings(Settings):
    """Core settings plus the edge's (environment first, ``EVENTWIRE_`` prefix)."""

    host: str = Field("127.0.0.1", description="Edge node listen address.")
    port: int = Field(8080, ge=0, le=65535, description="Edge node listen port.")
    listen_backlog: int = Field(
        2048,
        ge=1,
        le=65535,
        description="Connections the kernel holds for the edge before it accepts them (the "
        "listen backlog; capped by net.core.somaxconn). Python's default, 128, overflows when "
        "thousands of tabs reconnect at once: the dropped ones retry after 1, 3, 7, 15 s.",
    )
    cors_allowed_origins: str = Field(
        "",
        description="Comma-separated origins besides the edge's own page allowed to open "
        "sockets (empty = same origin only, '*' = any).",
    )
    dev_login: bool = Field(
        False,
        description="Demo only: POST /api/dev/token gives a token for any user name "
        "(the edge refuses to start with it on a non-loopback host).",
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
    external_event_types: str = Field(
        "status,message,chat:message:delta,replace,chat:message,files,chat:message:files,"
        "source,citation,notification,chat:title,chat:tags,chat:completion",
        description="Comma-separated event types an external tool may push with a "
        "chat-scoped token (empty = none); the user's own token may push any type.",
    )
    usage_timeout: float = Field(
        3.0, gt=0, description="Seconds a client's `usage` report keeps its model in use."
    )
    # The worker reads the same variable for its own drain: one grace per deployment.
    edge_drain_grace: float = Field(
        10.0,
        ge=0,
        validation_alias=AliasChoices("EVENTWIRE_DRAIN_GRACE", "edge_drain_grace"),
        description="Edge: seconds a SIGTERM'd edge node has to hand its sockets to other "
        "nodes (calls in flight get half of it) before it exits.",
    )
    drain_delay: float = Field(
        3.0,
        ge=0,
        description="Edge: seconds between readiness turning 503 and telling the sockets to "
        "reconnect, so load balancers stop sending new ones here first (HAProxy in deploy/: "
        "inter 2 s + fastinter 0.5 s). Part of the drain grace.",
    )
    # -- bounds on what one client may make the edge hold or send (README "Limits") ----------
    max_client_queue_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Bytes queued for one connection that it has not read yet; over it the "
        "connection is dropped as a slow consumer.",
    )
    max_client_packet_attachments: int = Field(
        10, ge=0, description="Binary attachments one client packet may declare."
    )
    max_json_depth: int = Field(
        64, gt=0, description="Deepest nesting of a client packet or HTTP body."
    )
    max_channels_per_connection: int = Field(
        1000, gt=0, description="Channels one connection may be a member of."
    )
    max_model_name_length: int = Field(
        256, gt=0, description="Longest model name a `usage` report may carry (characters)."
    )
    max_models_per_session: int = Field(
        16,
        gt=0,
        description="Models one session may have in use; a report beyond it drops the one "
        "reported least recently.",
    )
    max_models_in_answer: int = Field(256, gt=0, description="Most models a `usage` answer lists.")

    @model_validator(mode="after")
    def _one_event_fits_the_client_queue(self) -> EdgeSettings:
        if self.max_client_queue_bytes < self.max_payload_bytes:
            raise ValueError(
                "max_client_queue_bytes must be at least max_payload_bytes (one event)"
            )
        return self

    @property
    def host_is_loopback(self) -> bool:
        """The edge listens on this machine only (where the demo's dev login is allowed)."""
        return is_loopback_host(self.host)


@lru_cache(maxsize=1)
def get_edge_settings() -> EdgeSettings:
    """The edge process's settings, read once from the environment."""
    return EdgeSettings()
