"""Backend-neutral vocabulary: job progress snapshots, completion thresholds and their verdicts, errors.

Every hook answers ``progress(job_id) -> JobProgress``; operators, sensors and triggers judge that snapshot with
one ``CompletionThresholds`` object, so "95 % succeeded" means the same thing for every backend and every mode.
This module is imported at DAG-parse time: standard library only.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any


class IoTJobsError(Exception):
    """Base class of this provider's errors."""


class JobServiceError(IoTJobsError):
    """A remote service refused a request; carries the service's own error code and message."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {code}: {message}")

    @property
    def is_throttling(self) -> bool:
        """The service is busy: waiting and trying again can succeed."""
        return self.status == 429 or self.code in {"JobQuotaExceeded", "ThrottlingMaxActiveJobCountExceeded"}


class JobAlreadyExistsError(JobServiceError):
    """The client-chosen job id is taken (a retry of a launch that already reached the service)."""


class JobThresholdFailure(IoTJobsError):
    """A job finished, or crossed its failure threshold, without meeting its success threshold."""


class Verdict(enum.StrEnum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class DeviceFailure:
    device_id: str
    code: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of one remote job, in counts of targeted devices."""

    job_id: str
    status: str
    targeted: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    terminal: bool = False
    job_type: str | None = None
    failure_reason: str | None = None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    def to_dict(self) -> dict[str, Any]:
        """The documented XCom shape."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "targeted": self.targeted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "pending": self.pending,
        }

    def to_event(self) -> dict[str, Any]:
        """Everything needed to rebuild the snapshot on the other side of a deferral (plain JSON)."""
        return asdict(self)

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> JobProgress:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def describe(self) -> str:
        """The one progress line logged on every poll."""
        if self.targeted:
            share = 100.0 * self.succeeded / self.targeted
            counts = f"{self.succeeded:,}/{self.targeted:,} succeeded ({share:.1f} %)"
        else:
            counts = f"{self.succeeded:,} succeeded"
        return (
            f"job {self.job_id}: {counts}, {self.failed:,} failed, {self.running:,} running, "
            f"{self.pending:,} pending [{self.status}]"
        )


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_COUNT = re.compile(r"^\s*(\d+)\s*$")


@dataclass(frozen=True)
class Threshold:
    """A share (``"95%"``) or a device count (``10``) of the targeted devices."""

    value: Fraction  # exact, so "18.4%" of 375 devices is exactly 69, not 69.00000000000001
    is_percent: bool
    text: str = field(compare=False)

    @classmethod
    def parse(cls, raw: object, field_name: str) -> Threshold:
        rule = (
            f"{field_name}: {raw!r} is not a valid threshold; use a percentage string between '0%' and "
            "'100%' (e.g. '95%') or a non-negative whole number of devices (e.g. 10)"
        )
        if isinstance(raw, bool):
            raise ValueError(rule)
        if isinstance(raw, int):
            if raw < 0:
                raise ValueError(rule)
            return cls(Fraction(raw), False, str(raw))
        if isinstance(raw, str):
            if match := _PERCENT.match(raw):
                share = Fraction(match.group(1))
                if share > 100:
                    raise ValueError(rule)
                return cls(share, True, f"{match.group(1)}%")
            if match := _COUNT.match(raw):
                return cls(Fraction(match.group(1)), False, match.group(1))
        raise ValueError(rule)

    def devices(self, targeted: int) -> Fraction:
        """The threshold in devices for a job that targets ``targeted`` devices."""
        return self.value * targeted / 100 if self.is_percent else self.value

    def __str__(self) -> str:
        return self.text


def is_template(value: object) -> bool:
    """True for a Jinja template string that Airflow renders later (validated after rendering)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class CompletionThresholds:
    """When a job counts as a success or a failure.

    * success: ``succeeded >= success`` (a share rounds up to whole devices: 95 % of 10 is 10);
    * failure: ``failed > failure`` — "2%" fails as soon as more than 2 % of targeted devices failed, ``0`` fails on
      the first failed device; checked on every poll, so a bad rollout stops early;
    * a job that ends (completed, failed, cancelled) below the success threshold is a failure;
    * with ``early_success`` (sensors), a running job that already meets the success threshold is a success;
      without it (operators, which wait for the job they launched), success is judged when the job ends.
    """

    success: Threshold
    failure: Threshold | None = None
    early_success: bool = True

    @classmethod
    def parse(
        cls, success_threshold: object = "100%", failure_threshold: object = None, early_success: bool = True
    ) -> CompletionThresholds:
        success = Threshold.parse(success_threshold, "success_threshold")
        failure = (
            None if failure_threshold is None else Threshold.parse(failure_threshold, "failure_threshold")
        )
        return cls(success, failure, early_success)

    def required_successes(self, targeted: int) -> int:
        return math.ceil(self.success.devices(targeted))

    def evaluate(self, progress: JobProgress) -> tuple[Verdict, str]:
        """Judge a snapshot: the verdict and a sentence saying why."""
        targeted = progress.targeted
        if self.failure is not None and targeted and progress.failed > self.failure.devices(targeted):
            return Verdict.FAILURE, (
                f"{progress.failed:,} of {targeted:,} devices failed, above failure_threshold {self.failure}"
            )
        needed = self.required_successes(targeted)
        if progress.terminal:
            if progress.succeeded >= needed:
                return Verdict.SUCCESS, (
                    f"{progress.succeeded:,} of {targeted:,} devices succeeded, meeting success_threshold "
                    f"{self.success}"
                )
            reason = f"; {progress.failure_reason}" if progress.failure_reason else ""
            return Verdict.FAILURE, (
                f"job ended {progress.status} with {progress.succeeded:,} of {targeted:,} devices succeeded, "
                f"below success_threshold {self.success} ({needed:,} needed){reason}"
            )
        if self.early_success and targeted and progress.succeeded >= needed:
            return Verdict.SUCCESS, (
                f"{progress.succeeded:,} of {targeted:,} devices succeeded, meeting success_threshold "
                f"{self.success} while the job is still {progress.status}"
            )
        return Verdict.WAIT, progress.describe()
