"""IoT Hub's wire vocabulary: its error envelopes and codes, its job statuses, and its job and row documents
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

ERROR_KINDS: Mapping[str, ErrorKind] = {
    "ThrottlingMaxActiveJobCountExceeded": ErrorKind.BUSY,
    "JobQuotaExceeded": ErrorKind.BUSY,
    "ThrottlingException": ErrorKind.THROTTLED,
    "ThrottleBacklogLimitExceeded": ErrorKind.THROTTLED,
    "JobAlreadyExists": ErrorKind.ALREADY_EXISTS,
    "JobNotFound": ErrorKind.NOT_FOUND,
    "DeviceNotFound": ErrorKind.NOT_FOUND,
    "ServerError": ErrorKind.TRANSIENT,
    "ServiceUnavailable": ErrorKind.TRANSIENT,
}
_DEFAULT_CODES = {401: "IotHubUnauthorizedAccess", 404: "NotFound", 429: "ThrottlingException"}

JOB_PHASES: Mapping[str, JobPhase] = {
    "enqueued": JobPhase.PENDING,  # import/export
    "queued": JobPhase.PENDING,
    "scheduled": JobPhase.PENDING,
    "running": JobPhase.RUNNING,
    "completed": JobPhase.COMPLETED,
    "failed": JobPhase.FAILED,
    "cancelled": JobPhase.CANCELLED,
    "unknown": JobPhase.UNKNOWN,
}


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> JobServiceError:
    """The service's error code and message, from the ``iothub-errorcode`` header and either body envelope."""
    code = headers.get("iothub-errorcode") or ""
    message = body.strip()[:500] or f"HTTP {status}"
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict):
        raw = envelope.get("Message") or envelope.get("message") or ""
        if isinstance(raw, str) and raw.startswith("{"):
            try:  # envelope 2: a JSON document inside "Message"
                inner = json.loads(raw)
                raw = inner.get("message") or raw
            except ValueError:
                pass
        if isinstance(raw, str) and raw.startswith("ErrorCode:"):
            head, _, rest = raw.partition(";")
            code = code or head.removeprefix("ErrorCode:")
            raw = rest or head
        message = str(raw) or message
    code = code or _DEFAULT_CODES.get(status, "ServerError" if status >= 500 else "GenericBadRequest")
    kind = ERROR_KINDS.get(code) or ErrorKind.from_status(status)
    return service_error(status, code, message, kind, parse_retry_after(headers.get("Retry-After")))


def job_not_found(job_id: str) -> JobServiceError:
    return JobServiceError(404, "JobNotFound", f"IoT Hub has no job {job_id!r}", kind=ErrorKind.NOT_FOUND)


def phase_of(status: str) -> JobPhase:
    return JOB_PHASES.get(status, JobPhase.UNKNOWN)


def progress_from_job(job: dict[str, Any]) -> JobProgress:
    """A scheduled job (``GET /jobs/v2/{id}``)."""
    stats = job.get("deviceJobStatistics") or {}
    status = str(job.get("status") or "unknown")
    return JobProgress(
        job_id=str(job.get("jobId")),
        status=status,
        phase=phase_of(status),
        targeted=int(stats.get("deviceCount") or 0),
        succeeded=int(stats.get("succeededCount") or 0),
        failed=int(stats.get("failedCount") or 0),
        running=int(stats.get("runningCount") or 0),
        pending=int(stats.get("pendingCount") or 0),
        job_type=job.get("type") or job.get("jobType"),
        failure_reason=job.get("failureReason") or job.get("statusMessage") or None,
    )


def progress_from_import_export(job: dict[str, Any]) -> JobProgress:
    """An import/export job is one unit of work: it is pending, running, succeeded or failed as a whole."""
    status = str(job.get("status") or "unknown")
    phase = phase_of(status)
    if phase is JobPhase.UNKNOWN:
        raise job_not_found(str(job.get("jobId")))
    return JobProgress(
        job_id=str(job.get("jobId")),
        status=status,
        phase=phase,
        targeted=1,
        succeeded=int(phase is JobPhase.COMPLETED),
        failed=int(phase in (JobPhase.FAILED, JobPhase.CANCELLED)),
        running=int(phase is JobPhase.RUNNING),
        pending=int(phase is JobPhase.PENDING),
        job_type=job.get("type"),
        failure_reason=job.get("failureReason") or None,
    )


def failure_from_row(row: dict[str, Any]) -> DeviceFailure:
    error = row.get("error") or {}
    response = (row.get("outcome") or {}).get("deviceMethodResponse") or {}
    code = error.get("code") or (f"MethodStatus{response['status']}" if response.get("status") else "Failed")
    description = error.get("description") or json.dumps(response.get("payload"))[:200]
    return DeviceFailure(str(row.get("deviceId")), str(code), str(description))


def device_jobs_query(job_id: str, device_status: str | None) -> str:
    query = f"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{quote_literal(job_id)}'"
    if device_status:
        query += f" AND devices.jobs.status = '{quote_literal(device_status)}'"
    return query


def count_query(query_condition: str) -> str:
    where = "" if query_condition.strip() == "*" else f" WHERE {query_condition}"
    return f"SELECT COUNT() AS numberOfDevices FROM devices{where}"


def quote_literal(value: str) -> str:
    return value.replace("'", "''")
