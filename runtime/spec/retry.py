"""Retry policy: one fragment shared by call steps, undo steps and named policies."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from runtime.spec.common import Duration, Identifier, SpecModel, parse_duration


class RetryPolicy(SpecModel):
    """How a step is retried after a transient error (timeouts, connection errors, 408/429/5xx)."""

    attempts: int = Field(
        default=3, ge=1, le=100, description="Total attempts including the first one."
    )
    backoff: Literal["constant", "linear", "exponential"] = Field(
        default="exponential", description="How the delay grows between attempts."
    )
    delay: Duration = Field(default="1s", description="Delay before the second attempt.")
    max_delay: Duration = Field(default="1m", description="Upper bound of any single delay.")
    jitter: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Random spread as a fraction of the delay (0.2 = ±20%), so retries do not stampede.",
    )

    @model_validator(mode="after")
    def _max_delay_not_below_delay(self) -> RetryPolicy:
        if parse_duration(self.max_delay) < parse_duration(self.delay):
            raise ValueError("max_delay must not be shorter than delay")
        return self

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2 = the first retry), without jitter."""
        base = parse_duration(self.delay)
        n = max(attempt - 1, 1)
        if self.backoff == "constant":
            raw = base
        elif self.backoff == "linear":
            raw = base * n
        else:
            raw = base * (2 ** (n - 1))
        return min(raw, parse_duration(self.max_delay))

    def wait_before(self, attempt: int, spread: float) -> float:
        """The delay before `attempt` with jitter; `spread` in [-1, 1] scales the jitter.
        Never longer than max_delay."""
        jittered = self.delay_before(attempt) * (1 + self.jitter * spread)
        return max(0.0, min(jittered, parse_duration(self.max_delay)))


NO_RETRY = RetryPolicy(attempts=1)


def _policy_or_name(value: Any) -> str:
    return "<name>" if isinstance(value, str) else "<policy>"


RetrySetting = Annotated[
    Union[Annotated[RetryPolicy, Tag("<policy>")], Annotated[Identifier, Tag("<name>")]],  # noqa: UP007
    Discriminator(_policy_or_name),
]
"""A retry policy written out, or the name of one under `retry_policies` in seamline.yaml."""
