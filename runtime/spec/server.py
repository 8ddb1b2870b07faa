"""Settings of `seamline serve`: API tokens and their roles, webhook sources and their secrets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runtime.spec.common import Duration, SpecModel

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
"""Each role may do everything the roles before it may."""

SecretReference = Annotated[
    str,
    Field(
        pattern=r"^(env|file):.+$",
        description="A secret reference, `env:NAME` or `file:PATH`; never the secret itself.",
        examples=["env:SEAMLINE_OPS_TOKEN"],
    ),
]


class ApiToken(SpecModel):
    """A bearer token for the ops API (`Authorization: Bearer <token>`) and the role it grants."""

    token: SecretReference = Field(description="Where the token is: `env:NAME` or `file:PATH`.")
    role: Role = Field(
        default="viewer",
        description="`viewer` reads (flows, runs, contracts, status, metrics); `operator` also "
        "replays and discards dead letters; `admin` also forces a reload.",
    )
    name: str | None = Field(
        default=None, description="Who holds it; shown in logs instead of the token."
    )


class HookSource(SpecModel):
    """A system that posts webhooks to `POST /hooks/<source>`, signed with HMAC-SHA256."""

    secret: SecretReference = Field(
        description="The shared signing secret: `env:NAME` or `file:PATH`."
    )
    tolerance: Duration = Field(
        default="5m",
        description="How far the signature's timestamp may be from now; older (or reused) "
        "signatures are rejected as replays.",
    )


__all__ = ["ROLES", "ApiToken", "HookSource", "Role", "SecretReference"]
