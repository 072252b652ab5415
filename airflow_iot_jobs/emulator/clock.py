"""Injectable clocks for the emulators.

Absolute instants (a job's ``createdTime``, a SAS token's ``se``) are wall-clock UTC; simulated durations
(device latencies, processing rate, ``maxExecutionTimeInSeconds``) are *emulated* seconds that
:class:`Timeline` turns into real seconds by dividing them by ``speed``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch, UTC."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; for deterministic tests."""

    def __init__(self, start: float | datetime | None = None) -> None:
        if start is None:
            start = time.time()
        elif isinstance(start, datetime):
            start = (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float | datetime) -> None:
        if isinstance(when, datetime):
            when = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
        with self._lock:
            if when < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = float(when)


class Timeline:
    """A clock plus a speed factor: ``real_seconds = emulated_seconds / speed``."""

    def __init__(self, clock: Clock | None = None, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.speed = float(speed)

    def now(self) -> float:
        return self.clock.now()

    def real(self, emulated_seconds: float) -> float:
        """Real (wall-clock) seconds that ``emulated_seconds`` of simulated work take."""
        return emulated_seconds / self.speed


def iso7(epoch: float, *, zulu: bool = True) -> str:
    """ISO 8601 UTC with 7 fractional digits, as the service writes them: ``2020-01-06T21:44:00.8884134Z``."""
    # isoformat is C and twice as fast as strftime; "YYYY-MM-DDTHH:MM:SS.ffffff" is its first 26 characters.
    text = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="microseconds")[:26] + "0"
    return text + "Z" if zulu else text


def parse_iso(text: str) -> float:
    """ISO 8601 date-time (``Z``, offsets, 0-7 fractional digits; naive = UTC) to epoch seconds."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    # Python keeps at most 6 fractional digits: trim the service's 7th (100 ns ticks).
    head, sep, frac = value.partition(".")
    if sep:
        digits = len(frac) - len(frac.lstrip("0123456789"))
        if digits > 6:
            frac = frac[:6] + frac[digits:]
        value = head + "." + frac
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
