"""How a job rolls out over its rows: the seams a backend picks.

- **batches**: IoT Central runs a job in batches of N devices or N % of the group, one after the other;
- **abort**: IoT Central's cancellation threshold (whole job or per batch), AWS ``abortConfig``;
- **rate**: rows started per emulated second within a batch (AWS ``jobExecutionsRolloutConfig``).

IoT Hub uses the defaults: one batch, no abort, a fixed rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol


class BatchPolicy(Protocol):
    def batch_end(self, start: int, total: int) -> int:
        """One past the last row of the batch that begins at row ``start`` (of ``total``)."""
        ...


class AbortPolicy(Protocol):
    #: Count failures within the current batch (True) or over the whole job (False).
    per_batch: bool

    def should_abort(self, failed: int, finished: int, total: int) -> bool:
        """Whether the job stops now, given the finished and failed rows out of ``total`` (batch or job)."""
        ...


class RatePolicy(Protocol):
    def start_offset(self, position: int) -> float:
        """Emulated seconds after its batch starts at which the batch's row number ``position`` starts."""
        ...


class NoBatches:
    def batch_end(self, start: int, total: int) -> int:
        return total


@dataclass(frozen=True)
class FixedBatches:
    """Batches of ``size`` rows, or ``size`` % of all rows (rounded up) when ``percentage``."""

    size: float
    percentage: bool = False

    def __post_init__(self) -> None:
        if not self.size > 0 or (self.percentage and self.size > 100):
            raise ValueError(f"batch size must be > 0 (and <= 100 as a percentage), got {self.size!r}")

    def batch_end(self, start: int, total: int) -> int:
        size = math.ceil(total * self.size / 100) if self.percentage else math.floor(self.size)
        return min(total, start + max(1, size))


class NoAbort:
    per_batch = False

    def should_abort(self, failed: int, finished: int, total: int) -> bool:
        return False


@dataclass(frozen=True)
class FailureThreshold:
    """Abort once failures reach ``value`` rows, or ``value`` % when ``percentage``.

    The percentage is of all rows (``of="total"``, IoT Central) or of the finished ones (``of="finished"``,
    AWS ``thresholdPercentage``); nothing aborts before ``min_finished`` rows have finished (AWS
    ``minNumberOfExecutedThings``).
    """

    value: float
    percentage: bool = False
    per_batch: bool = False
    of: Literal["total", "finished"] = "total"
    min_finished: int = 1

    def __post_init__(self) -> None:
        if self.value < 0 or (self.percentage and self.value > 100):
            raise ValueError(f"threshold must be >= 0 (and <= 100 as a percentage), got {self.value!r}")

    def should_abort(self, failed: int, finished: int, total: int) -> bool:
        if finished < self.min_finished or failed == 0:
            return False
        if not self.percentage:
            return failed >= self.value
        base = total if self.of == "total" else finished
        return failed * 100 >= self.value * base


@dataclass(frozen=True)
class FixedRate:
    """``per_second`` rows start per emulated second (AWS ``maximumPerMinute`` is ``per_second * 60``)."""

    per_second: float

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise ValueError(f"rate must be > 0, got {self.per_second!r}")

    def start_offset(self, position: int) -> float:
        return position / self.per_second


@dataclass(frozen=True)
class Policies:
    rate: RatePolicy
    batches: BatchPolicy = field(default_factory=NoBatches)
    abort: AbortPolicy = field(default_factory=NoAbort)
