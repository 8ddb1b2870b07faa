"""Fault injection: an error rate (503), added latency, and timeouts (a request that hangs).

A timed-out read hangs and then answers 504. A timed-out write is *carried out*, and then its
answer hangs: the case idempotency keys exist for (the client must retry with the same key and
get the first answer, not a second record).

Decisions are drawn per request. With a `seed` they are deterministic: each draw is a hash of
the seed, the request (method, path, query, `Idempotency-Key`) and how many times that same
request has been seen, so the same requests get the same faults however they interleave, and a
retry of a failed request gets a fresh draw (it can succeed).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often."""

    error_rate: float = 0.0  # share of requests answered 503 Service Unavailable
    latency: float = 0.0  # seconds added to every request
    jitter: float = 0.0  # up to this many seconds more, drawn per request
    timeout_rate: float = 0.0  # share of requests that hang for `hang` seconds, then 504
    hang: float = 30.0  # how long a timed-out request hangs (longer than any client timeout)
    seed: int | None = None  # deterministic draws when set

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("latency", "jitter", "hang"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def active(self) -> bool:
        return bool(self.error_rate or self.latency or self.jitter or self.timeout_rate)

    def with_changes(self, **changes: Any) -> FaultConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(
        cls, service: str | None = None, environ: Mapping[str, str] | None = None
    ) -> FaultConfig:
        """`SEAMLINE_SANDBOX_ERROR_RATE`, `…_LATENCY`, `…_JITTER`, `…_TIMEOUT_RATE`, `…_HANG`,
        `…_SEED`; `SEAMLINE_SANDBOX_<SERVICE>_<NAME>` overrides for one service."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in ("error_rate", "latency", "jitter", "timeout_rate", "hang", "seed"):
            keys = [f"SEAMLINE_SANDBOX_{name.upper()}"]
            if service:
                keys.append(f"SEAMLINE_SANDBOX_{service.upper()}_{name.upper()}")
            for key in keys:
                if env.get(key):
                    values[name] = int(env[key]) if name == "seed" else float(env[key])
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    delay: float = 0.0
    error: bool = False
    hang: bool = False


@dataclass
class FaultInjector:
    """Draws a `Decision` for each request; `config` may be replaced while serving."""

    config: FaultConfig = field(default_factory=FaultConfig)
    _seen: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def decide(self, method: str, path: str, query: str, key: str | None) -> Decision:
        config = self.config
        if not config.active:
            return Decision()
        ident = f"{method} {path}?{query} {key or ''}"
        with self._lock:
            occurrence = self._seen.get(ident, 0)
            self._seen[ident] = occurrence + 1

        def draw(purpose: str) -> float:
            if config.seed is None:
                with self._lock:
                    return self._random.random()
            digest = hashlib.sha256(f"{config.seed}|{purpose}|{ident}|{occurrence}".encode())
            return int.from_bytes(digest.digest()[:8], "big") / 2**64

        delay = config.latency + (config.jitter * draw("jitter") if config.jitter else 0.0)
        if config.timeout_rate and draw("timeout") < config.timeout_rate:
            return Decision(delay=delay, hang=True)
        if config.error_rate and draw("error") < config.error_rate:
            return Decision(delay=delay, error=True)
        return Decision(delay=delay)
