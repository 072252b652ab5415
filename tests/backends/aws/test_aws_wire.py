"""AWS IoT Jobs' statuses, counters and errors mapped onto the neutral vocabulary (pure functions)."""

from __future__ import annotations

import pytest

from airflow_iot_jobs.hooks.aws_iot_wire import error_from_aws, failure_from_execution, progress_from_job
from airflow_iot_jobs.jobs import CompletionThresholds, ErrorKind, JobPhase, Verdict

COUNTS = {
    "numberOfSucceededThings": 80,
    "numberOfFailedThings": 3,
    "numberOfTimedOutThings": 2,
    "numberOfRejectedThings": 1,
    "numberOfRemovedThings": 1,
    "numberOfCanceledThings": 4,
    "numberOfInProgressThings": 5,
    "numberOfQueuedThings": 6,
}
ABORT = {
    "criteriaList": [
        {
            "failureType": "FAILED",
            "action": "CANCEL",
            "thresholdPercentage": 5,
            "minNumberOfExecutedThings": 10,
        }
    ]
}


def job(status: str, **extra):
    return {"jobId": "fw-1", "status": status, "jobProcessDetails": dict(COUNTS), **extra}


def test_counters_of_a_running_job():
    progress = progress_from_job(job("IN_PROGRESS"))
    assert progress.phase is JobPhase.RUNNING
    assert (progress.succeeded, progress.failed, progress.running, progress.pending) == (80, 7, 5, 6)
    assert progress.targeted == 98  # an execution cancelled on its own is left out while the job goes on
    assert not progress.aborted


def test_cancelled_executions_count_as_failed_when_the_job_was_cancelled():
    progress = progress_from_job(job("CANCELED", comment="stop the rollout", forceCanceled=True))
    assert progress.phase is JobPhase.CANCELLED
    assert progress.failed == 11 and progress.targeted == 102
    assert progress.failure_reason == "the job was cancelled (forced): comment 'stop the rollout'"
    assert not progress.aborted


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("SCHEDULED", JobPhase.PENDING),
        ("COMPLETED", JobPhase.COMPLETED),
        ("DELETION_IN_PROGRESS", JobPhase.CANCELLED),
        ("QUEUED", JobPhase.UNKNOWN),  # moto's job status: not in AWS's enum
    ],
)
def test_job_statuses(status, phase):
    assert progress_from_job(job(status)).phase is phase


def test_an_abort_is_recognised_by_its_words():
    progress = progress_from_job(
        job("CANCELED", reasonCode="JOB_ABORTED", comment="Job aborted by abort config")
    )
    assert progress.aborted and "abort config cancelled it" in progress.failure_reason


def test_an_abort_is_recognised_by_the_counts_crossing_a_criterion():
    details = {"numberOfSucceededThings": 18, "numberOfFailedThings": 2, "numberOfQueuedThings": 80}
    aborted = {"jobId": "fw", "status": "CANCELED", "abortConfig": ABORT, "jobProcessDetails": details}
    progress = progress_from_job(aborted)
    assert progress.aborted
    assert (
        "2 of 20 executed things FAILED (abort at ≥ 5 % after 10 executed things)" in progress.failure_reason
    )
    below = {**aborted, "jobProcessDetails": {**details, "numberOfSucceededThings": 98}}
    assert not progress_from_job(below).aborted  # 2 of 100: a user's cancel, not the abort config


def test_an_aborted_job_fails_the_wait_whatever_the_counts_and_says_so():
    details = {"numberOfSucceededThings": 18, "numberOfFailedThings": 2}
    progress = progress_from_job(
        {"jobId": "fw", "status": "CANCELED", "abortConfig": ABORT, "jobProcessDetails": details}
    )
    verdict, reason = CompletionThresholds.parse("50%", early_success=False).evaluate(progress)
    assert verdict is Verdict.FAILURE
    assert "job ended CANCELED" in reason and "abort config cancelled it" in reason


def test_a_continuous_job_is_judged_over_its_finished_executions_after_the_minimum():
    thresholds = CompletionThresholds.parse("90%", "5%", early_success=False, settle_after=20)
    few = progress_from_job(
        {
            "jobId": "c",
            "status": "IN_PROGRESS",
            "jobProcessDetails": {"numberOfSucceededThings": 15, "numberOfQueuedThings": 500},
        }
    )
    assert thresholds.evaluate(few)[0] is Verdict.WAIT
    enough = progress_from_job(
        {
            "jobId": "c",
            "status": "IN_PROGRESS",
            "jobProcessDetails": {
                "numberOfSucceededThings": 19,
                "numberOfFailedThings": 1,
                "numberOfQueuedThings": 500,
            },
        }
    )
    verdict, reason = thresholds.evaluate(enough)
    assert verdict is Verdict.SUCCESS and "19 of 20 devices succeeded" in reason and "keeps running" in reason
    bad = progress_from_job(
        {
            "jobId": "c",
            "status": "IN_PROGRESS",
            "jobProcessDetails": {
                "numberOfSucceededThings": 18,
                "numberOfFailedThings": 2,
                "numberOfQueuedThings": 500,
            },
        }
    )
    verdict, reason = thresholds.evaluate(bad)
    assert verdict is Verdict.FAILURE and "2 of 20 devices failed, above failure_threshold 5 %" in reason


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 429, ErrorKind.THROTTLED),
        ("LimitExceededException", 410, ErrorKind.BUSY),
        ("ResourceNotFoundException", 404, ErrorKind.NOT_FOUND),
        ("ResourceAlreadyExistsException", 409, ErrorKind.ALREADY_EXISTS),
        ("ServiceUnavailableException", 503, ErrorKind.TRANSIENT),
        ("InternalFailureException", 500, ErrorKind.TRANSIENT),
        ("", 502, ErrorKind.TRANSIENT),
        ("InvalidRequestException", 400, ErrorKind.PERMANENT),
        ("UnauthorizedException", 401, ErrorKind.PERMANENT),
        ("InvalidStateTransitionException", 409, ErrorKind.PERMANENT),
        ("VersionConflictException", 409, ErrorKind.PERMANENT),
    ],
)
def test_errors_are_classified_by_awss_code(code, status, kind):
    err = error_from_aws(code, "what AWS said", status, "create_job")
    assert err.kind is kind
    assert "what AWS said (create_job)" in str(err)
    assert err.code == (code or f"HTTP{status}")


def test_botocore_errors_become_one_service_error_without_a_botocore_traceback():
    import botocore.exceptions

    from airflow_iot_jobs.hooks.aws_iot import aws_errors
    from airflow_iot_jobs.jobs import JobServiceError

    client_error = botocore.exceptions.ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "DescribeJob",
    )
    with pytest.raises(JobServiceError) as caught, aws_errors("describe_job"):
        raise client_error
    assert caught.value.kind is ErrorKind.THROTTLED and caught.value.code == "ThrottlingException"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(JobServiceError) as caught, aws_errors("describe_job"):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://iot.us-east-1.amazonaws.com")
    assert caught.value.kind is ErrorKind.TRANSIENT
    with pytest.raises(JobServiceError) as caught, aws_errors("create_job"):
        raise botocore.exceptions.NoCredentialsError()
    assert caught.value.permanent and "no AWS credentials" in str(caught.value)


def test_a_failed_execution_carries_what_the_device_reported():
    failure = failure_from_execution(
        "sensor-1", "FAILED", {"statusDetails": {"detailsMap": {"reason": "flash", "step": "3"}}}
    )
    assert failure.to_dict() == {
        "device_id": "sensor-1",
        "code": "FAILED",
        "description": "reason=flash, step=3",
    }
    assert failure_from_execution("sensor-2", "TIMED_OUT", None).description == "job execution TIMED_OUT"
