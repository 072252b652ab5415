"""IoT Central's wire vocabulary: its error envelope, its job statuses, and its job and device-status documents
mapped onto the neutral :mod:`airflow_iot_jobs.jobs` types. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.hooks.http_base import parse_retry_after
from airflow_iot_jobs.jobs import (
    DeviceFailure,
    ErrorKind,
    JobPhase,
    JobProgress,
    JobServiceError,
    service_error,
)

#: the service says "complete" in docs and "completed" in examples, "canceled" in the UI and "cancelled" in docs
JOB_PHASES: Mapping[str, JobPhase] = {
    "pending": JobPhase.PENDING,
    "running": JobPhase.RUNNING,
    "complete": JobPhase.COMPLETED,
    "completed": JobPhase.COMPLETED,
    "failed": JobPhase.FAILED,
    "cancelled": JobPhase.CANCELLED,
    "canceled": JobPhase.CANCELLED,
    "stopped": JobPhase.PAUSED,
}
#: codes that mean "a slot is taken, try later" rather than "this request is wrong"
BUSY_CODES = frozenset({"TooManyJobs", "TooManyActiveJobs", "JobLimitExceeded", "JobQuotaExceeded"})
CANCELLED_BY_THRESHOLD = "the job's cancellation threshold was crossed, so IoT Central cancelled it"


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> JobServiceError:
    """``{"error": {"code", "message", "requestId", "time"}}`` and the ``x-ms-error-code`` header."""
    code = headers.get("x-ms-error-code") or ""
    message = body.strip()[:500] or f"HTTP {status}"
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
        error = envelope["error"]
        code = code or str(error.get("code") or "")
        message = str(error.get("message") or message)
        if error.get("requestId"):
            message += f" (request {error['requestId']})"
    code = code or {401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests"}.get(status, f"HTTP{status}")
    if code in BUSY_CODES:
        kind = ErrorKind.BUSY
    elif status == 409:  # Central answers 409 both for a taken id and for a job in the wrong state
        kind = ErrorKind.ALREADY_EXISTS if "already exists" in message.lower() else ErrorKind.PERMANENT
    else:
        kind = ErrorKind.from_status(status)
    return service_error(status, code, message, kind, parse_retry_after(headers.get("Retry-After")))


def phase_of(status: object) -> JobPhase:
    return JOB_PHASES.get(str(status or "").strip().lower(), JobPhase.UNKNOWN)


def progress_from_job(job: Mapping[str, Any]) -> JobProgress:
    counts = job.get("progress") or {}
    total = int(counts.get("total") or 0)
    pending = int(counts.get("pending") or 0)
    completed = int(counts.get("completed") or 0)
    failed = int(counts.get("failed") or 0)
    status = str(job.get("status") or "unknown")
    phase = phase_of(status)
    return JobProgress(
        job_id=str(job.get("id")),
        status=status,
        phase=phase,
        targeted=total,
        succeeded=completed,
        failed=failed,
        running=max(total - pending - completed - failed, 0),
        pending=pending,
        job_type=job_kind(job),
        failure_reason=CANCELLED_BY_THRESHOLD if phase is JobPhase.CANCELLED else None,
    )


def job_kind(job: Mapping[str, Any]) -> str | None:
    """What a job does: the type of its data entries (``property``, ``command`` …)."""
    kinds = sorted({str(entry.get("type")) for entry in job.get("data") or [] if isinstance(entry, Mapping)})
    return ",".join(kinds) or None


def failure_from_device(row: Mapping[str, Any]) -> DeviceFailure:
    status = str(row.get("status") or "failed")
    return DeviceFailure(str(row.get("id")), status.capitalize(), f"device job status {status}")
