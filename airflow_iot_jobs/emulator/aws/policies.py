"""AWS's rollout and abort rules as shared-engine policies (:mod:`airflow_iot_jobs.emulator.engine.policies`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.emulator.engine import FixedRate, Policies, RatePolicy

#: Things notified per minute when a job has no rollout config. Inferred from the job-limits page: "AWS IoT Jobs
#: can roll out and cancel job executions swiftly at a rate of 1000 devices per minute".
DEFAULT_PER_MINUTE = 1000.0


@dataclass(frozen=True)
class ExponentialRate:
    """``exponentialRate``: ``base_per_minute`` at first, multiplied by ``factor`` after every ``every`` things,
    never above ``cap_per_minute`` (``maximumPerMinute``, else the default).

    ``rateIncreaseCriteria.numberOfSucceededThings`` is taken as a count of notified things too (the engine
    decides start times before outcomes are known): the increase comes no later than AWS's would.
    """

    base_per_minute: float
    factor: float
    every: int
    cap_per_minute: float = DEFAULT_PER_MINUTE

    def start_offset(self, position: int) -> float:
        offset, start, rate = 0.0, 0, min(self.base_per_minute, self.cap_per_minute)
        while position >= start + self.every and rate < self.cap_per_minute:
            offset += self.every * 60.0 / rate
            start += self.every
            rate = min(rate * self.factor, self.cap_per_minute)
        return offset + (position - start) * 60.0 / rate


def rate_policy(rollout: dict[str, Any] | None) -> RatePolicy:
    rollout = rollout or {}
    cap = float(rollout.get("maximumPerMinute") or DEFAULT_PER_MINUTE)
    exponential = rollout.get("exponentialRate")
    if exponential:
        criteria = exponential["rateIncreaseCriteria"]
        every = int(criteria.get("numberOfNotifiedThings") or criteria.get("numberOfSucceededThings") or 1)
        return ExponentialRate(
            float(exponential["baseRatePerMinute"]), float(exponential["incrementFactor"]), every, cap
        )
    return FixedRate(cap / 60.0)


class AbortCriteria:
    """``abortConfig.criteriaList``: the job is canceled once, for one criterion, at least
    ``minNumberOfExecutedThings`` things have finished and the failures of its ``failureType`` (``ALL``: FAILED,
    REJECTED and TIMED_OUT together) reach ``thresholdPercentage`` of them.

    The engine's abort seam gives only the total; the counts by type are read from the job (``counts()``).
    """

    per_batch = False

    def __init__(self, criteria: list[dict[str, Any]], counts: Callable[[], dict[str, int]]) -> None:
        self.criteria = criteria
        self.counts = counts
        self.reason: str | None = None

    def should_abort(self, failed: int, finished: int, total: int) -> bool:
        counts = self.counts()
        for criterion in self.criteria:
            kind = criterion["failureType"]
            kinds = ("FAILED", "REJECTED", "TIMED_OUT") if kind == "ALL" else (kind,)
            failures = sum(counts.get(k, 0) for k in kinds)
            threshold = float(criterion["thresholdPercentage"])
            if (
                finished >= int(criterion["minNumberOfExecutedThings"])
                and failures
                and (failures * 100.0 >= threshold * finished)
            ):
                self.reason = (
                    f"Job canceled by its abortConfig: {failures} of {finished} executed things ended {kind} "
                    f"({failures * 100.0 / finished:.1f}% >= {threshold:g}%)."
                )
                return True
        return False


def policies_for(
    rollout: dict[str, Any] | None, abort: dict[str, Any] | None, counts: Callable[[], dict[str, int]]
) -> Policies:
    if abort and abort.get("criteriaList"):
        return Policies(rate=rate_policy(rollout), abort=AbortCriteria(abort["criteriaList"], counts))
    return Policies(rate=rate_policy(rollout))
