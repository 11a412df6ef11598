"""The command line's own knob: which event loop runs the services."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTWIRE_", extra="ignore", frozen=True)

    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto",
        description="Event loop of the eventwire command: auto = uvloop when installed.",
    )
