"""AWS IoT Jobs' vocabulary mapped onto the neutral :mod:`airflow_iot_jobs.jobs` types: error codes, job and
execution statuses, ``jobProcessDetails``, an abort by the job's own abort config. Pure functions, no I/O and
no botocore import (the hook hands over the error code, message and HTTP status)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.jobs import (
    DeviceFailure,
    ErrorKind,
    JobPhase,
    JobProgress,
    JobServiceError,
    service_error,
)

JOB_PHASES: Mapping[str, JobPhase] = {
    "SCHEDULED": JobPhase.PENDING,  # waiting for schedulingConfig.startTime
    "IN_PROGRESS": JobPhase.RUNNING,
    "COMPLETED": JobPhase.COMPLETED,
    "CANCELED": JobPhase.CANCELLED,
    "DELETION_IN_PROGRESS": JobPhase.CANCELLED,  # being deleted: nothing more will run
}
#: execution statuses that count as a failed device (CANCELED depends on the job's state: see progress_from_job)
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "REJECTED", "REMOVED")
_COUNTERS = {
    "SUCCEEDED": "numberOfSucceededThings",
    "FAILED": "numberOfFailedThings",
    "TIMED_OUT": "numberOfTimedOutThings",
    "REJECTED": "numberOfRejectedThings",
    "REMOVED": "numberOfRemovedThings",
    "CANCELED": "numberOfCanceledThings",
    "IN_PROGRESS": "numberOfInProgressThings",
    "QUEUED": "numberOfQueuedThings",
}
#: the abort-config failure types and the execution statuses each one counts
ABORT_FAILURES = {
    "FAILED": ("FAILED",),
    "REJECTED": ("REJECTED",),
    "TIMED_OUT": ("TIMED_OUT",),
    "ALL": ("FAILED", "REJECTED", "TIMED_OUT"),
}
ERROR_KINDS: Mapping[str, ErrorKind] = {
    "ThrottlingException": ErrorKind.THROTTLED,
    "TooManyRequestsException": ErrorKind.THROTTLED,
    "LimitExceededException": ErrorKind.BUSY,  # the active-jobs / concurrency limit: a launch waits
    "ResourceNotFoundException": ErrorKind.NOT_FOUND,
    "ResourceAlreadyExistsException": ErrorKind.ALREADY_EXISTS,
    "ConflictException": ErrorKind.ALREADY_EXISTS,  # CreateJobTemplate: "a resource with the same name"
    "ServiceUnavailableException": ErrorKind.TRANSIENT,
    "InternalFailureException": ErrorKind.TRANSIENT,
    "InternalException": ErrorKind.TRANSIENT,
    "InternalServerException": ErrorKind.TRANSIENT,
}
JOB_TYPE = "AWS IoT"


def error_from_aws(
    code: str, message: str, status: int = 0, operation: str = "", retry_after: float | None = None
) -> JobServiceError:
    """One error per AWS answer, classified once: by AWS's code, else by HTTP status (5xx transient)."""
    kind = ERROR_KINDS.get(code)
    if kind is None:
        kind = ErrorKind.TRANSIENT if status >= 500 else ErrorKind.PERMANENT
    where = f" ({operation})" if operation else ""
    return service_error(
        status, code or f"HTTP{status}", f"{message or 'no message'}{where}", kind, retry_after
    )


def count(details: Mapping[str, Any], status: str) -> int:
    return int(details.get(_COUNTERS[status]) or 0)


def abort_reason(job: Mapping[str, Any]) -> str | None:
    """Why a CANCELED job was cancelled by its own abort config, or ``None`` (a user cancelled it).

    AWS records the cancel's ``reasonCode`` / ``comment``; an abort is recognised by either mentioning an abort,
    or by the job's counts crossing one of its ``abortConfig`` criteria.
    """
    if job.get("status") != "CANCELED":
        return None
    words = " ".join(str(job.get(k) or "") for k in ("reasonCode", "comment"))
    said = f" ({words.strip()})" if words.strip() else ""
    if "ABORT" in words.upper():
        return f"the job's abort config cancelled it{said}"
    details = job.get("jobProcessDetails") or {}
    executed = sum(count(details, s) for s in ("SUCCEEDED", *FAILED_STATUSES))
    for criterion in (job.get("abortConfig") or {}).get("criteriaList") or []:
        failures = sum(count(details, s) for s in ABORT_FAILURES.get(criterion.get("failureType"), ()))
        minimum = int(criterion.get("minNumberOfExecutedThings") or 1)
        share = float(criterion.get("thresholdPercentage") or 0)
        if executed >= minimum and executed and 100.0 * failures / executed >= share:
            return (
                f"the job's abort config cancelled it: {failures} of {executed} executed things "
                f"{criterion.get('failureType')} (abort at ≥ {share:g} % after {minimum} executed things){said}"
            )
    return None


def progress_from_job(job: Mapping[str, Any]) -> JobProgress:
    """``describe_job``'s ``job``: SUCCEEDED counts as succeeded; FAILED, TIMED_OUT, REJECTED and REMOVED as
    failed; IN_PROGRESS as running and QUEUED as pending. CANCELED executions count as failed when the job itself
    was cancelled (by a user or its abort config); an execution cancelled on its own while the job goes on is
    left out of ``targeted`` (someone took that thing out of the job)."""
    status = str(job.get("status") or "UNKNOWN")
    phase = JOB_PHASES.get(status, JobPhase.UNKNOWN)
    details = job.get("jobProcessDetails") or {}
    failed = sum(count(details, s) for s in FAILED_STATUSES)
    job_ended_by_cancel = phase is JobPhase.CANCELLED
    if job_ended_by_cancel:
        failed += count(details, "CANCELED")
    succeeded = count(details, "SUCCEEDED")
    running = count(details, "IN_PROGRESS")
    pending = count(details, "QUEUED")
    reason = aborted = None
    if status == "CANCELED":
        aborted = abort_reason(job)
        reason = aborted or _cancel_reason(job)
    elif status == "DELETION_IN_PROGRESS":
        reason = "the job is being deleted"
    return JobProgress(
        job_id=str(job.get("jobId")),
        status=status,
        phase=phase,
        targeted=succeeded + failed + running + pending,
        succeeded=succeeded,
        failed=failed,
        running=running,
        pending=pending,
        job_type=JOB_TYPE,
        failure_reason=reason,
        aborted=aborted is not None,
    )


def _cancel_reason(job: Mapping[str, Any]) -> str:
    forced = " (forced)" if job.get("forceCanceled") else ""
    said = ", ".join(f"{k} {job[k]!r}" for k in ("reasonCode", "comment") if job.get(k))
    return f"the job was cancelled{forced}" + (f": {said}" if said else "")


def failure_from_execution(
    thing_name: str, status: str, execution: Mapping[str, Any] | None
) -> DeviceFailure:
    """A failed execution, with its ``statusDetails`` (what the device reported) when it has any."""
    details = ((execution or {}).get("statusDetails") or {}).get("detailsMap") or {}
    text = ", ".join(f"{k}={v}" for k, v in sorted(details.items())) or f"job execution {status}"
    return DeviceFailure(thing_name, status, text)


def thing_name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class ExecutionFailures:
    """``failed_devices`` for a hook that reads AWS IoT job executions (boto3, or the Device Management API):
    FAILED, TIMED_OUT, REJECTED and REMOVED executions — and CANCELED ones when the job was cancelled — each with
    the ``statusDetails`` its device reported. The hook supplies ``progress``, ``list_job_executions_for_job``
    and ``describe_job_execution``."""

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        hook: Any = self
        statuses = [*FAILED_STATUSES]
        if hook.progress(job_id).phase is JobPhase.CANCELLED:
            statuses.append("CANCELED")
        failures: list[DeviceFailure] = []
        for status in statuses:
            for row in hook.list_job_executions_for_job(job_id, status=status):
                thing = thing_name_from_arn(row.get("thingArn") or "")
                try:
                    execution = hook.describe_job_execution(job_id, thing)
                except JobServiceError:
                    execution = None  # deleted since: report the status alone
                failures.append(failure_from_execution(thing, status, execution))
                if len(failures) >= limit:
                    return failures
        return failures


def console_url(region: str, partition: str = "aws", job_id: str | None = None) -> str:
    """A job's page in the AWS IoT console (the jobs hub without an id)."""
    host = {"aws-cn": "console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        partition, f"{region}.console.aws.amazon.com"
    )
    page = f"#/job/{job_id}" if job_id else "#/jobhub"
    return f"https://{host}/iot/home?region={region}{page}"
