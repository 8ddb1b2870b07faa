"""Workspace settings: `seamline.yaml` at the workspace root (all optional)."""

from __future__ import annotations

from pydantic import Field

from runtime.spec.common import Duration, Identifier, SpecModel
from runtime.spec.retry import RetryPolicy
from runtime.spec.server import ApiToken, HookSource, SecretReference


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
    max_event_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest accepted event: the largest body `POST /events` and `POST /hooks/…` "
        "read (a batch counts as a whole); a larger one is answered 413.",
    )
    max_backlog: int = Field(
        default=10_000,
        ge=1,
        description="Ingress answers 429 with `Retry-After` while more than this many events and "
        "runs wait to be processed (events not yet routed plus pending runs).",
    )
    workers: int = Field(
        default=4,
        ge=0,
        description="Runs `seamline serve` executes at once (`--concurrency`); 0 only accepts events.",
    )
    shutdown_grace: Duration = Field(
        default="30s",
        description="On SIGTERM, how long in-flight runs may take to finish before the server "
        "exits anyway (a run cut short resumes from its journal on the next start).",
    )
    tokens: list[ApiToken] = Field(
        default_factory=list,
        description="Bearer tokens of the ops API and their roles. With no `tokens` and no "
        "`ingress_tokens`, the server is open, and only when bound to a loopback address.",
    )
    ingress_tokens: list[SecretReference] = Field(
        default_factory=list,
        description="Bearer tokens that may post events to `POST /events` (and nothing else).",
    )
    hooks: dict[str, HookSource] = Field(
        default_factory=dict,
        description="Webhook sources: `POST /hooks/<source>` verifies the `X-Seamline-Signature` "
        "HMAC with the source's secret.",
    )
