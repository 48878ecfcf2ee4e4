"""Server settings: flags override environment, environment overrides defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 4437


class ServerSettings(BaseSettings):
    """Settings of the Durable Streams server (``netscript streams serve``)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("STREAMS_HOST", "host"))
    port: int = Field(
        DEFAULT_PORT, ge=0, le=65535, validation_alias=AliasChoices("STREAMS_PORT", "PORT", "port")
    )
    long_poll_timeout: float = Field(
        30.0, gt=0, validation_alias=AliasChoices("STREAMS_LONG_POLL_TIMEOUT", "long_poll_timeout")
    )
    memory: bool = Field(False, validation_alias=AliasChoices("STREAMS_MEMORY", "memory"))
    data_dir: Path = Field(
        Path(".netscript/streams"), validation_alias=AliasChoices("STREAMS_DATA_DIR", "data_dir")
    )
    fsync: Literal["always", "batch", "never"] = Field(
        "always", validation_alias=AliasChoices("STREAMS_FSYNC", "fsync")
    )
    max_body_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        validation_alias=AliasChoices("STREAMS_MAX_BODY_BYTES", "max_body_bytes"),
    )
    max_read_bytes: int = Field(
        1024 * 1024, gt=0, validation_alias=AliasChoices("STREAMS_MAX_READ_BYTES", "max_read_bytes")
    )
    max_open_files: int | None = Field(
        None,
        ge=4,
        validation_alias=AliasChoices("STREAMS_MAX_OPEN_FILES", "max_open_files"),
        description="segment files kept open (default: a quarter of `ulimit -n`, at most 1024)",
    )
    sweep_interval: float = Field(
        30.0, gt=0, validation_alias=AliasChoices("STREAMS_SWEEP_INTERVAL", "sweep_interval")
    )
    secret: str | None = Field(
        None,
        repr=False,
        validation_alias=AliasChoices("STREAMS_SECRET", "DURABLE_STREAMS_SECRET", "secret"),
    )
    allowed_origins: str | None = Field(
        None,
        validation_alias=AliasChoices("STREAMS_ALLOWED_ORIGINS", "allowed_origins"),
        description="without a secret: origins (comma-separated, or *) besides loopback ones",
    )
    allowed_hosts: str | None = Field(
        None,
        validation_alias=AliasChoices("STREAMS_ALLOWED_HOSTS", "allowed_hosts"),
        description="without a secret: Host names (comma-separated, or *) besides loopback ones",
    )
    sse_recycle_seconds: float = Field(
        60.0, gt=0, validation_alias=AliasChoices("STREAMS_SSE_RECYCLE", "sse_recycle_seconds")
    )
    sse_stall_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("STREAMS_SSE_STALL", "sse_stall_seconds"),
        description="an SSE reader whose write does not complete this soon is dropped",
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, validation_alias=AliasChoices("STREAMS_SSE_KEEPALIVE", "sse_keepalive_seconds")
    )
