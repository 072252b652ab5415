"""Backend-neutral vocabulary: job progress snapshots, completion thresholds and their verdicts, errors.

Every hook answers ``progress(job_id) -> JobProgress`` with its own status word mapped to a neutral
:class:`JobPhase`, and raises :class:`JobServiceError` with its own error code classified into a neutral
:class:`ErrorKind`. Operators, sensors and triggers judge that snapshot with one ``CompletionThresholds`` object
and decide retries by the kind alone, so "95 % succeeded" and "busy, try later" mean the same thing for every
backend and every mode. This module is imported at DAG-parse time: standard library only.
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


class ErrorKind(enum.StrEnum):
    """What a remote failure means for the caller; each hook maps its own codes onto these."""

    THROTTLED = "throttled"  # the request rate is limited: retry after a short wait (Retry-After)
    BUSY = "busy"  # a slot or quota is taken (too many active jobs): a launch waits, up to its deadline
    TRANSIENT = "transient"  # 5xx, no answer, a dropped connection
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMANENT = "permanent"  # bad request, bad credentials: no retry can fix it

    @classmethod
    def from_status(cls, status: int) -> ErrorKind:
        """The HTTP default, for codes a hook does not classify itself."""
        if status == 429:
            return cls.THROTTLED
        if status >= 500 or status == 0:
            return cls.TRANSIENT
        if status == 404:
            return cls.NOT_FOUND
        if status == 409:
            return cls.ALREADY_EXISTS
        return cls.PERMANENT


class JobServiceError(IoTJobsError):
    """A remote service refused a request; carries the service's own error code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        kind: ErrorKind | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind or ErrorKind.from_status(status)
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {code}: {message}" if status else f"{code}: {message}")

    @property
    def transient(self) -> bool:
        """Worth the same request again soon: the one place that decides it (retries, waits, triggers)."""
        return self.kind in (ErrorKind.THROTTLED, ErrorKind.TRANSIENT)

    @property
    def busy(self) -> bool:
        """A launch slot is taken: a new job can start later, when another one ends."""
        return self.kind is ErrorKind.BUSY

    @property
    def permanent(self) -> bool:
        """Nothing to wait for: the task fails without Airflow retries."""
        return not (self.transient or self.busy)


class JobAlreadyExistsError(JobServiceError):
    """The client-chosen job id is taken (a retry of a launch that already reached the service)."""


def service_error(
    status: int, code: str, message: str, kind: ErrorKind | None = None, retry_after: float | None = None
) -> JobServiceError:
    """The error a hook raises, of the class its kind calls for."""
    kind = kind or ErrorKind.from_status(status)
    error_class = JobAlreadyExistsError if kind is ErrorKind.ALREADY_EXISTS else JobServiceError
    return error_class(status, code, message, kind=kind, retry_after=retry_after)


class JobThresholdFailure(IoTJobsError):
    """A job finished, or crossed its failure threshold, without meeting its success threshold."""


class Verdict(enum.StrEnum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILURE = "failure"


class JobPhase(enum.StrEnum):
    """Where a job is in its life, whatever the backend calls it."""

    PENDING = "pending"  # queued, scheduled, waiting for its start time
    RUNNING = "running"
    PAUSED = "paused"  # stopped by a user but resumable (IoT Central)
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED)


@dataclass(frozen=True)
class DeviceFailure:
    device_id: str
    code: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of one remote job, in counts of targeted devices. ``status`` is the backend's own word."""

    job_id: str
    status: str
    phase: JobPhase = JobPhase.UNKNOWN
    targeted: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    job_type: str | None = None
    failure_reason: str | None = None
    #: the service itself stopped the job because its own failure criteria were crossed (an AWS abort config,
    #: an IoT Central cancellation threshold): a failure whatever the counts, saying ``failure_reason``
    aborted: bool = False

    @property
    def terminal(self) -> bool:
        return self.phase.terminal

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
        return {**asdict(self), "phase": self.phase.value}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> JobProgress:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["phase"] = JobPhase(fields.get("phase", JobPhase.UNKNOWN))
        return cls(**fields)

    def describe(self) -> str:
        """The counts part of the progress line."""
        if self.targeted:
            share = 100.0 * self.succeeded / self.targeted
            counts = f"{self.succeeded:,}/{self.targeted:,} succeeded ({share:.1f} %)"
        else:
            counts = f"{self.succeeded:,} succeeded"
        return (
            f"job {self.job_id}: {counts}, {self.failed:,} failed, {self.running:,} running, "
            f"{self.pending:,} pending [{self.status}]"
        )


_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_COUNT = re.compile(r"\s*(\d+)\s*")
#: a count threshold below this, on a job over many more devices, is probably a percentage missing its '%'
SUSPICIOUS_COUNT = 100


@dataclass(frozen=True)
class Threshold:
    """A share (``"95%"``) or a device count (``10``, or ``"10"`` from a template) of the targeted devices."""

    value: Fraction  # exact, so "18.4%" of 375 devices is exactly 69, not 69.00000000000001
    is_percent: bool
    text: str = field(compare=False)  # canonical and parseable: "95%" or "10"

    @classmethod
    def parse(cls, raw: object, field_name: str) -> Threshold:
        rule = (
            f"{field_name}: {raw!r} is not a valid threshold; use a percentage string between '0%' and "
            "'100%' (e.g. '95%') or a non-negative whole number of devices (e.g. 10, or '10' from a template)"
        )
        if isinstance(raw, bool):
            raise ValueError(rule)
        if isinstance(raw, int):
            if raw < 0:
                raise ValueError(rule)
            return cls(Fraction(raw), False, str(raw))
        if isinstance(raw, str):
            if match := _PERCENT.fullmatch(raw):
                share = Fraction(match.group(1))
                if share > 100:
                    raise ValueError(rule)
                return cls(share, True, f"{match.group(1)}%")
            if match := _COUNT.fullmatch(raw):
                return cls(Fraction(match.group(1)), False, match.group(1))
        raise ValueError(rule)

    def devices(self, targeted: int) -> Fraction:
        """The threshold in devices for a job that targets ``targeted`` devices."""
        return self.value * targeted / 100 if self.is_percent else self.value

    @property
    def label(self) -> str:
        """For people: ``95 %`` or ``95 devices`` — never a bare number."""
        if self.is_percent:
            return f"{self.text[:-1]} %"
        return f"{self.text} device" if self.value == 1 else f"{self.text} devices"

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
    * a job that ends having targeted no device is a failure, unless ``allow_no_devices``;
    * with ``early_success`` (sensors), a running job that already meets the success threshold is a success;
      without it (operators, which wait for the job they launched), success is judged when the job ends;
    * with ``settle_after`` (jobs that never end, such as AWS IoT CONTINUOUS jobs), a running job is judged as soon
      as that many devices finished it, over the devices that finished so far (``succeeded`` of ``finished``);
    * a job the service aborted by its own failure criteria (``JobProgress.aborted``) is a failure.
    """

    success: Threshold
    failure: Threshold | None = None
    early_success: bool = True
    allow_no_devices: bool = False
    settle_after: int | None = None

    @classmethod
    def parse(
        cls,
        success_threshold: object = "100%",
        failure_threshold: object = None,
        early_success: bool = True,
        allow_no_devices: bool = False,
        settle_after: int | None = None,
    ) -> CompletionThresholds:
        success = Threshold.parse(success_threshold, "success_threshold")
        failure = (
            None if failure_threshold is None else Threshold.parse(failure_threshold, "failure_threshold")
        )
        if settle_after is not None and (
            isinstance(settle_after, bool) or not isinstance(settle_after, int) or settle_after < 1
        ):
            raise ValueError(f"settle_after: must be a whole number of devices ≥ 1, got {settle_after!r}")
        return cls(success, failure, early_success, bool(allow_no_devices), settle_after)

    def required_successes(self, targeted: int) -> int:
        return math.ceil(self.success.devices(targeted))

    def describe(self) -> str:
        """``success ≥ 95 %, failure > 2 %``: what a job is judged against."""
        text = f"success ≥ {self.success.label}"
        if self.failure is not None:
            text += f", failure > {self.failure.label}"
        if self.settle_after is not None:
            text += f", once {self.settle_after:,} device(s) finished"
        return text

    def warnings(self, targeted: int) -> list[str]:
        """Thresholds that are valid but probably not meant: a small device count over a large fleet."""
        found = []
        for name, threshold in (("success_threshold", self.success), ("failure_threshold", self.failure)):
            if (
                threshold is not None
                and not threshold.is_percent
                and 0 < threshold.value < SUSPICIOUS_COUNT
                and targeted > 10 * threshold.value
            ):
                found.append(
                    f"{name} {threshold.text} is a count of {threshold.label}, and the job targets "
                    f"{targeted:,}; write '{threshold.text}%' if you meant a percentage"
                )
        return found

    def evaluate(self, progress: JobProgress) -> tuple[Verdict, str]:
        """Judge a snapshot: the verdict and a sentence saying why."""
        targeted = progress.targeted
        if self.failure is not None and targeted and progress.failed > self.failure.devices(targeted):
            # (an abort ends the devices left as failed too: say the service aborted the job, and why)
            aborted = f"; {progress.failure_reason or 'the service aborted it'}" if progress.aborted else ""
            return Verdict.FAILURE, (
                f"{progress.failed:,} of {targeted:,} devices failed, above failure_threshold "
                f"{self.failure.label}{aborted}"
            )
        if progress.terminal and progress.aborted:
            return Verdict.FAILURE, (
                f"job ended {progress.status} with {progress.succeeded:,} of {targeted:,} devices succeeded: "
                f"{progress.failure_reason or 'the service aborted it'}"
            )
        if self.settle_after is not None and not progress.terminal and progress.finished >= self.settle_after:
            return self.evaluate_settled(progress)
        needed = self.required_successes(targeted)
        if progress.terminal:
            if not targeted:
                if progress.phase is not JobPhase.COMPLETED:
                    reason = f"; {progress.failure_reason}" if progress.failure_reason else ""
                    return Verdict.FAILURE, f"job ended {progress.status} before targeting any device{reason}"
                if self.allow_no_devices:
                    return Verdict.SUCCESS, "the job targeted no device (allowed by allow_no_devices)"
                return Verdict.FAILURE, (
                    "the job targeted no device: nothing matched its target; pass allow_no_devices=True "
                    "if an empty set is normal for this task"
                )
            if progress.succeeded >= needed:
                return Verdict.SUCCESS, (
                    f"{progress.succeeded:,} of {targeted:,} devices succeeded, meeting success_threshold "
                    f"{self.success.label}"
                )
            reason = f"; {progress.failure_reason}" if progress.failure_reason else ""
            return Verdict.FAILURE, (
                f"job ended {progress.status} with {progress.succeeded:,} of {targeted:,} devices succeeded, "
                f"below success_threshold {self.success.label} ({needed:,} needed){reason}"
            )
        if self.early_success and targeted and progress.succeeded >= needed:
            return Verdict.SUCCESS, (
                f"{progress.succeeded:,} of {targeted:,} devices succeeded, meeting success_threshold "
                f"{self.success.label} while the job is still {progress.status}"
            )
        return Verdict.WAIT, progress.describe()

    def evaluate_settled(self, progress: JobProgress) -> tuple[Verdict, str]:
        """``settle_after``: judge a job that goes on over the devices that finished it so far."""
        finished = progress.finished
        scope = (
            f"over the {finished:,} devices that finished the job so far; it keeps running for new devices"
        )
        if self.failure is not None and progress.failed > self.failure.devices(finished):
            return Verdict.FAILURE, (
                f"{progress.failed:,} of {finished:,} devices failed, above failure_threshold "
                f"{self.failure.label} ({scope})"
            )
        needed = self.required_successes(finished)
        if progress.succeeded >= needed:
            return Verdict.SUCCESS, (
                f"{progress.succeeded:,} of {finished:,} devices succeeded, meeting success_threshold "
                f"{self.success.label} ({scope})"
            )
        return Verdict.FAILURE, (
            f"{progress.succeeded:,} of {finished:,} devices succeeded, below success_threshold "
            f"{self.success.label} ({needed:,} needed; {scope})"
        )
