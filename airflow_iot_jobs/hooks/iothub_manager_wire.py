"""The IoTHub Manager service's wire vocabulary: PascalCase ``JobApiModel`` bodies, numeric enums, ``hh:mm:ss``
time spans, its error body, mapped onto the neutral :mod:`airflow_iot_jobs.jobs` types. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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
from airflow_iot_jobs.validation.iothub_manager import DEVICE_JOB_STATUSES, JOB_STATUSES, JOB_TYPES, name_of

#: job status (its name) -> neutral phase: the one place the service's statuses are read
JOB_PHASES: Mapping[str, JobPhase] = {
    "Enqueued": JobPhase.PENDING,
    "Queued": JobPhase.PENDING,
    "Scheduled": JobPhase.PENDING,
    "Running": JobPhase.RUNNING,
    "Completed": JobPhase.COMPLETED,
    "Failed": JobPhase.FAILED,
    "Cancelled": JobPhase.CANCELLED,
    "Unknown": JobPhase.UNKNOWN,
}
#: exception types (the last part of ``ExceptionType``) whose meaning the status code does not carry: the service
#: answers 500 for every exception its filter does not know, the hub's own ones included
EXCEPTION_KINDS: Mapping[str, ErrorKind] = {
    "JobAlreadyExistsException": ErrorKind.ALREADY_EXISTS,
    "ConflictingResourceException": ErrorKind.ALREADY_EXISTS,
    "ResourceOutOfDateException": ErrorKind.PERMANENT,  # 409 too, but an etag mismatch: no re-attach
    "ThrottlingException": ErrorKind.THROTTLED,
    "IotHubThrottledException": ErrorKind.THROTTLED,
    "ThrottlingBacklogTimeoutException": ErrorKind.THROTTLED,
    "JobQuotaExceededException": ErrorKind.BUSY,
    "IotHubSuspendedException": ErrorKind.TRANSIENT,
    "ServerBusyException": ErrorKind.TRANSIENT,
    "NotSupportedException": ErrorKind.PERMANENT,  # a body with neither a method nor a twin (answered 500)
    "ArgumentException": ErrorKind.PERMANENT,
    "ArgumentNullException": ErrorKind.PERMANENT,
    "InvalidInputException": ErrorKind.PERMANENT,
    "BadRequestException": ErrorKind.PERMANENT,
    "NotAuthorizedException": ErrorKind.PERMANENT,
    "ResourceNotFoundException": ErrorKind.NOT_FOUND,
    "JobNotFoundException": ErrorKind.NOT_FOUND,
}
UNKNOWN_JOB = "the service answers status Unknown for a job id the IoT Hub behind it does not know"


def get(doc: Mapping[str, Any], name: str) -> Any:
    """A PascalCase field (what the service sends), or its camelCase twin (what its docs show)."""
    value = doc.get(name)
    return doc.get(name[0].lower() + name[1:]) if value is None else value


def error_from_response(status: int, headers: Mapping[str, str], body: str) -> JobServiceError:
    """``{"Message", "ExceptionMessage", "ExceptionType"}`` (the exceptions filter) or ``{"Error": …}`` (auth)."""
    message = body.strip()[:500] or f"HTTP {status}"
    code = ""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict):
        exception_type = str(envelope.get("ExceptionType") or "")
        code = exception_type.rsplit(".", 1)[-1]
        message = str(
            envelope.get("ExceptionMessage") or envelope.get("Error") or envelope.get("Message") or message
        )
    code = code or {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 503: "ServiceUnavailable"}.get(
        status, f"HTTP{status}"
    )
    kind = hub_error_kind(message) or EXCEPTION_KINDS.get(code)
    if kind is None and "already exists" in message.lower():
        kind = ErrorKind.ALREADY_EXISTS
    if kind is None:
        kind = ErrorKind.PERMANENT if status in (401, 403) else ErrorKind.from_status(status)
    return service_error(status, code, message, kind, parse_retry_after(headers.get("Retry-After")))


def hub_error_kind(message: str) -> ErrorKind | None:
    """The IoT Hub's own error code, when the service passes the hub's message on (``ErrorCode:<code>;…``): read
    with the IoT Hub backend's one mapping (``ThrottlingMaxActiveJobCountExceeded`` is "busy", not a fault)."""
    if not message.startswith("ErrorCode:"):
        return None
    from airflow_iot_jobs.hooks.iothub_wire import ERROR_KINDS

    return ERROR_KINDS.get(message.removeprefix("ErrorCode:").partition(";")[0])


def job_not_found(job_id: str) -> JobServiceError:
    return JobServiceError(404, "JobNotFound", f"no job {job_id!r}: {UNKNOWN_JOB}", kind=ErrorKind.NOT_FOUND)


def status_name(job: Mapping[str, Any]) -> str:
    return name_of(get(job, "Status"), JOB_STATUSES)


def type_name(job: Mapping[str, Any]) -> str:
    return name_of(get(job, "Type"), JOB_TYPES)


def is_unknown_job(job: Mapping[str, Any]) -> bool:
    """What ``GET /v1/jobs/{id}`` answers for an id the hub does not know (never a 404)."""
    return status_name(job) == "Unknown" and type_name(job) == "Unknown"


def progress_from_job(job: Mapping[str, Any]) -> JobProgress:
    counts = get(job, "ResultStatistics") or {}
    status = status_name(job)
    phase = JOB_PHASES.get(status, JobPhase.UNKNOWN)
    reason = get(job, "FailureReason") or (get(job, "StatusMessage") if phase is JobPhase.FAILED else None)
    return JobProgress(
        job_id=str(get(job, "JobId")),
        status=status,
        phase=phase,
        targeted=int(get(counts, "DeviceCount") or 0),
        succeeded=int(get(counts, "SucceededCount") or 0),
        failed=int(get(counts, "FailedCount") or 0),
        running=int(get(counts, "RunningCount") or 0),
        pending=int(get(counts, "PendingCount") or 0),
        job_type=type_name(job),
        failure_reason=str(reason) if reason else None,
    )


def failure_from_device(row: Mapping[str, Any]) -> DeviceFailure:
    """One of ``Devices``: ``{DeviceId, Status, Error: {Code, Description}, Outcome: {…}}``."""
    error = get(row, "Error") or {}
    status = name_of(get(row, "Status"), DEVICE_JOB_STATUSES)
    code = str(get(error, "Code") or status)
    description = get(error, "Description")
    if not description and (outcome := get(row, "Outcome")):
        description = f"outcome {json.dumps(outcome, separators=(',', ':'))[:200]}"
    return DeviceFailure(str(get(row, "DeviceId")), code, str(description or f"device job status {status}"))


def timespan(seconds: int) -> str:
    """Newtonsoft's TimeSpan: ``hh:mm:ss`` (``d.hh:mm:ss`` from a day on)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}.{text}" if days else text


def _utc(moment: datetime | None) -> str:
    """``StartTimeUtc``, always explicit (the service's own default has varied: now, or a missing value)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_body(
    job_id: str, query_condition: str, start_time: datetime | None, max_execution_time: int
) -> dict[str, Any]:
    """What every ``POST /v1/jobs`` carries; ``MaxExecutionTimeInSeconds`` is always sent (the code defaults an
    absent one to 0, the docs to 3600)."""
    return {
        "JobId": job_id,
        "QueryCondition": query_condition,
        "StartTimeUtc": _utc(start_time),
        "MaxExecutionTimeInSeconds": int(max_execution_time),
    }


def method_parameter(
    method_name: str, payload: Any, response_timeout: int, connect_timeout: int
) -> dict[str, Any]:
    """``MethodParameter``: the payload travels as JSON text (``JsonPayload``)."""
    parameter: dict[str, Any] = {
        "Name": method_name,
        "ResponseTimeout": timespan(response_timeout),
        "ConnectionTimeout": timespan(connect_timeout),
    }
    if payload is not None:
        parameter["JsonPayload"] = json.dumps(payload, separators=(",", ":"))
    return parameter


def update_twin(
    tags: dict[str, Any] | None, desired_properties: dict[str, Any] | None, etag: str
) -> dict[str, Any]:
    """``UpdateTwin``: tags and/or desired properties, with the etag the patch requires."""
    twin: dict[str, Any] = {"ETag": etag}
    if tags:
        twin["Tags"] = tags
    if desired_properties:
        twin["Properties"] = {"Desired": desired_properties}
    return twin
