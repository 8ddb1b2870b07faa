"""The clocks a run reads and sleeps on, and the ISO timestamps its trace carries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import anyio


class Clock:
    """Real time: sleeps really sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def stamp(self) -> str:
        """`iso(self.now())`: the timestamp a trace record carries."""
        return iso(self.now())

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class VirtualClock(Clock):
    """For `seamline run` and tests: waits are recorded and skipped; time jumps forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._stamp: str | None = None  # iso(self._now), kept until the clock moves
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def stamp(self) -> str:
        stamp = self._stamp
        if stamp is None:
            stamp = self._stamp = iso(self._now)
        return stamp

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += timedelta(seconds=seconds)
        self._stamp = None
        # still a checkpoint, so concurrent branches take turns as they would in real time;
        # asyncio's own (the runtime runs on asyncio), without anyio's backend lookup
        await asyncio.sleep(0)


_LAST_ISO: tuple[datetime | None, str] = (None, "")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z; the last answer is kept (a virtual clock only moves on sleep)."""
    global _LAST_ISO
    if _LAST_ISO[0] == moment:
        return _LAST_ISO[1]
    text = (
        (moment if moment.tzinfo is UTC else moment.astimezone(UTC))
        .isoformat()
        .replace("+00:00", "Z")
    )
    _LAST_ISO = (moment, text)
    return text
