"""A test acting as a device: a thing made by CreateThing runs its executions only through iot-jobs-data."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_iot_jobs.emulator.clock import ManualClock
from tests.emulator.aws.helpers import arn, client, error_of


def test_a_created_thing_runs_its_job_through_the_data_plane(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=2)
    iot, device = client(aws), client(aws, "iot-jobs-data")
    iot.create_thing(thingName="bench-1", attributePayload={"attributes": {"site": "lab"}})
    document = json.dumps({"operation": "firmwareUpdate", "version": "9.9"})
    iot.create_job(jobId="bench-job", targets=[arn("thing", "bench-1")], document=document)
    clock.advance(600)  # nothing simulates this thing: its execution waits
    assert (
        iot.describe_job_execution(jobId="bench-job", thingName="bench-1")["execution"]["status"] == "QUEUED"
    )

    pending = device.get_pending_job_executions(thingName="bench-1")
    assert pending["inProgressJobs"] == [] and [j["jobId"] for j in pending["queuedJobs"]] == ["bench-job"]
    queued_at = pending["queuedJobs"][0]["queuedAt"]
    assert abs(queued_at / 1000 - time.time()) < 3600 * 24  # epoch milliseconds

    started = device.start_next_pending_job_execution(thingName="bench-1", statusDetails={"step": "download"})
    execution = started["execution"]
    assert (execution["jobId"], execution["status"], execution["jobDocument"]) == (
        "bench-job",
        "IN_PROGRESS",
        document,
    )
    assert execution["statusDetails"] == {"step": "download"} and execution["thingName"] == "bench-1"
    version = execution["versionNumber"]
    # Starting again hands back the execution already in progress.
    assert (
        device.start_next_pending_job_execution(thingName="bench-1")["execution"]["versionNumber"] == version
    )

    with pytest.raises(ClientError) as caught:
        device.update_job_execution(
            thingName="bench-1", jobId="bench-job", status="SUCCEEDED", expectedVersion=version - 1
        )
    assert error_of(caught.value)[:2] == (409, "VersionConflictException")

    answer = device.update_job_execution(
        thingName="bench-1",
        jobId="bench-job",
        status="IN_PROGRESS",
        statusDetails={"step": "install"},
        expectedVersion=version,
        includeJobExecutionState=True,
    )
    assert answer["executionState"]["versionNumber"] == version + 1
    assert answer["executionState"]["statusDetails"] == {"step": "install"}
    described = device.describe_job_execution(thingName="bench-1", jobId="bench-job", includeJobDocument=True)
    assert (
        described["execution"]["status"] == "IN_PROGRESS"
        and described["execution"]["jobDocument"] == document
    )
    assert (
        device.describe_job_execution(thingName="bench-1", jobId="$next")["execution"]["jobId"] == "bench-job"
    )
    assert iot.describe_job(jobId="bench-job")["job"]["jobProcessDetails"]["numberOfInProgressThings"] == 1

    done = device.update_job_execution(
        thingName="bench-1",
        jobId="bench-job",
        status="SUCCEEDED",
        expectedVersion=version + 1,
        includeJobDocument=True,
    )
    assert done["jobDocument"] == document
    job = iot.describe_job(jobId="bench-job")["job"]
    assert job["status"] == "COMPLETED" and job["jobProcessDetails"]["numberOfSucceededThings"] == 1
    with pytest.raises(ClientError) as caught:
        device.update_job_execution(thingName="bench-1", jobId="bench-job", status="IN_PROGRESS")
    assert error_of(caught.value)[:2] == (409, "InvalidStateTransitionException")
    assert device.start_next_pending_job_execution(thingName="bench-1").get("execution") is None
    with pytest.raises(ClientError) as caught:
        device.describe_job_execution(thingName="bench-1", jobId="$next")
    assert error_of(caught.value)[:2] == (404, "ResourceNotFoundException")


def test_a_device_cannot_report_statuses_only_the_service_sets(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=1)
    iot, device = client(aws), client(aws, "iot-jobs-data")
    iot.create_thing(thingName="bench-2")
    iot.create_job(jobId="b2", targets=[arn("thing", "bench-2")], document="{}")
    for status in ("CANCELED", "TIMED_OUT", "QUEUED", "REMOVED"):
        with pytest.raises(ClientError) as caught:
            device.update_job_execution(thingName="bench-2", jobId="b2", status=status)
        assert error_of(caught.value)[:2] == (400, "InvalidRequestException")
    device.update_job_execution(thingName="bench-2", jobId="b2", status="REJECTED")
    assert iot.describe_job(jobId="b2")["job"]["jobProcessDetails"]["numberOfRejectedThings"] == 1
    with pytest.raises(ClientError) as caught:
        device.get_pending_job_executions(thingName="nobody")
    assert error_of(caught.value)[:2] == (404, "ResourceNotFoundException")


def test_step_timeout_and_retry_for_a_device_driven_execution(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=1)
    iot, device = client(aws), client(aws, "iot-jobs-data")
    iot.create_thing(thingName="bench-3")
    iot.create_job(
        jobId="b3",
        targets=[arn("thing", "bench-3")],
        document="{}",
        jobExecutionsRetryConfig={"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]},
    )
    first = device.start_next_pending_job_execution(thingName="bench-3", stepTimeoutInMinutes=2)["execution"]
    assert first["executionNumber"] == 1 and first["approximateSecondsBeforeTimedOut"] == 120
    clock.advance(121)
    # timed out, then queued again under a new execution number
    again = device.get_pending_job_executions(thingName="bench-3")["queuedJobs"][0]
    assert again["executionNumber"] == 2
    device.start_next_pending_job_execution(thingName="bench-3", stepTimeoutInMinutes=1)
    clock.advance(61)
    execution = iot.describe_job_execution(jobId="b3", thingName="bench-3")["execution"]
    assert (execution["status"], execution["executionNumber"]) == ("TIMED_OUT", 2)
    assert iot.describe_job(jobId="b3")["job"]["status"] == "COMPLETED"


def test_a_client_may_take_over_a_simulated_things_execution(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=2)
    iot, device = client(aws), client(aws, "iot-jobs-data")
    iot.create_job(
        jobId="takeover",
        targets=[arn("thing", "thing-00000")],
        document=json.dumps({"operation": "sleep", "seconds": 60}),
    )
    clock.advance(1)
    assert (
        device.describe_job_execution(thingName="thing-00000", jobId="takeover")["execution"]["status"]
        == "IN_PROGRESS"
    )
    device.update_job_execution(thingName="thing-00000", jobId="takeover", status="FAILED")
    clock.advance(120)  # the simulator's own plan no longer applies
    assert (
        iot.describe_job_execution(jobId="takeover", thingName="thing-00000")["execution"]["status"]
        == "FAILED"
    )
    assert iot.describe_job(jobId="takeover")["job"]["jobProcessDetails"]["numberOfFailedThings"] == 1
