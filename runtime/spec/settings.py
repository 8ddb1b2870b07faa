"""Workspace settings: `seamline.yaml` at the workspace root (all optional)."""

from __future__ import annotations

from pydantic import Field

from runtime.spec.common import Identifier, SpecModel
from runtime.spec.retry import RetryPolicy


class WorkspaceSettings(SpecModel):
    """Runtime settings; `SEAMLINE_*` environment variables and flags override them."""

    store: str = Field(
        default="sqlite:///.seamline/seamline.db",
        description="Where runs are recorded: a SQLite path or a PostgreSQL URL.",
    )
    host: str = Field(default="127.0.0.1", description="Address `seamline serve` binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `seamline serve` listens on.")
    retry_policies: dict[Identifier, RetryPolicy] = Field(
        default_factory=dict,
        description="Named retry policies a step can use with `retry: <name>`.",
    )
    default_retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="Retry policy of `call` steps that declare none.",
    )
    max_event_bytes: int = Field(default=1_048_576, ge=1024, description="Largest accepted event.")
