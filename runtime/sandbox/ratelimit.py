"""A token bucket per service: `rate` requests a second on average, bursts up to `burst`."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimit:
    rate: float = 100.0  # tokens added per second; 0 turns the limit off
    burst: int = 200  # bucket size: requests allowed at once after a quiet period


@dataclass
class TokenBucket:
    limit: RateLimit
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.limit.burst)
        self._stamp = time.monotonic()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, tokens left, seconds to wait before retrying when refused)."""
        if self.limit.rate <= 0:
            return True, self.limit.burst, 0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(
                float(self.limit.burst), self._tokens + (now - self._stamp) * self.limit.rate
            )
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True, int(self._tokens), 0
            wait = (1.0 - self._tokens) / self.limit.rate
            return False, 0, max(1, math.ceil(wait))
