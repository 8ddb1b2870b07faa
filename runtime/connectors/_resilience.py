"""Per-connector protection of a remote system: a token-bucket rate limit and a circuit breaker.

Both are shared by every run and event loop that uses the connector, so their state is guarded
by a thread lock (never held across an await) and measured on the monotonic clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from pydantic import Field

from runtime.connectors.secrets import connector_error
from runtime.spec.common import Duration, SpecModel


class RateLimit(SpecModel):
    """A token bucket: at most `rate` requests a second on average, `burst` at once.

    A request that finds the bucket empty waits (without blocking other work) until a token is
    free, so a connector never exceeds the rate the remote system allows.
    """

    rate: float = Field(gt=0, description="Requests per second, on average.", examples=[5, 0.5])
    burst: int = Field(
        default=1, ge=1, description="Requests that may go out at once after a quiet spell."
    )


class CircuitBreakerConfig(SpecModel):
    """Stop calling a system that keeps failing; probe it again after a while.

    After `failures` consecutive failures (5xx, 408, timeouts, connection errors) the circuit
    opens: calls fail fast with the transient `connector.circuit_open`, whose `retry_after` is
    the time left open. Then one probe call goes through (half-open): its success closes the
    circuit, its failure opens it again for `open_for`.
    """

    failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open the circuit."
    )
    open_for: Duration = Field(
        default="30s", description="How long the circuit stays open before a probe call."
    )


@dataclass
class TokenBucket:
    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._updated = self.clock()

    def reserve(self) -> float:
        """Take a token (possibly one not yet refilled); the seconds to wait before using it."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            await anyio.sleep(wait)
        return wait


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class CircuitBreaker:
    connector: str
    failures: int
    open_for: float
    clock: Callable[[], float] = time.monotonic
    state: str = CLOSED
    consecutive: int = 0
    _open_until: float = 0.0
    _probing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def before(self) -> None:
        """Admit a call, or raise `connector.circuit_open` while the circuit is open."""
        with self._lock:
            if self.state == OPEN:
                remaining = self._open_until - self.clock()
                if remaining > 0:
                    raise connector_error(
                        f"circuit of connector {self.connector} is open after "
                        f"{self.consecutive} consecutive failures; failing fast for "
                        f"{remaining:.1f}s more",
                        transient=True,
                        retry_after=remaining,
                        error_class="circuit_open",
                    )
                self.state = HALF_OPEN
                self._probing = False
            if self.state == HALF_OPEN:
                if self._probing:
                    raise connector_error(
                        f"circuit of connector {self.connector} is half-open and a probe "
                        "call is in flight",
                        transient=True,
                        retry_after=min(1.0, self.open_for),
                        error_class="circuit_open",
                    )
                self._probing = True

    def record(self, ok: bool) -> None:
        """The outcome of an admitted call: `ok` when the system answered sanely."""
        with self._lock:
            self._probing = False
            if ok:
                self.state, self.consecutive = CLOSED, 0
                return
            self.consecutive += 1
            if self.state == HALF_OPEN or self.consecutive >= self.failures:
                self.state = OPEN
                self._open_until = self.clock() + self.open_for

    def release(self) -> None:
        """An admitted call ended without an outcome (cancelled): let another probe go."""
        with self._lock:
            self._probing = False
