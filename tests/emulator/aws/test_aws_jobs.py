"""The job lifecycle on a clock the test moves: rollout rates, abort, timeouts, retries, scheduling, continuous
jobs, cancel / force-cancel, delete, the active-jobs limit, templates; jobProcessDetails always true to the
executions."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from tests.emulator.aws.helpers import arn, client, error_of, reboot

JOB_STATUSES = {"IN_PROGRESS", "CANCELED", "COMPLETED", "DELETION_IN_PROGRESS", "SCHEDULED"}
COUNTERS = {
    "QUEUED": "numberOfQueuedThings",
    "IN_PROGRESS": "numberOfInProgressThings",
    "SUCCEEDED": "numberOfSucceededThings",
    "FAILED": "numberOfFailedThings",
    "REJECTED": "numberOfRejectedThings",
    "TIMED_OUT": "numberOfTimedOutThings",
    "CANCELED": "numberOfCanceledThings",
    "REMOVED": "numberOfRemovedThings",
}


def statuses(iot: Any, job_id: str) -> Counter[str]:
    pages = iot.get_paginator("list_job_executions_for_job").paginate(jobId=job_id)
    return Counter(e["jobExecutionSummary"]["status"] for p in pages for e in p["executionSummaries"])


def job_of(iot: Any, job_id: str) -> dict[str, Any]:
    """DescribeJob, with its jobProcessDetails checked against the executions."""
    job = iot.describe_job(jobId=job_id)["job"]
    assert job["status"] in JOB_STATUSES
    counted = statuses(iot, job_id)
    details = job["jobProcessDetails"]
    assert {status: details[name] for status, name in COUNTERS.items() if details[name]} == dict(counted)
    return job


def sleep_doc(seconds: float) -> str:
    return json.dumps({"operation": "sleep", "seconds": seconds})


def minute(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M")


def test_a_snapshot_job_runs_on_its_group_and_completes(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=20)
    iot = client(aws)
    group = aws.registry.things_in("fleet", recursive=True)
    iot.create_job(
        jobId="snap", targets=[arn("thinggroup", "fleet")], document=reboot(), description="reboot all"
    )
    job = job_of(iot, "snap")
    assert job["status"] == "IN_PROGRESS" and job["targetSelection"] == "SNAPSHOT"
    assert sum(statuses(iot, "snap").values()) == len(group) == 20
    assert "completedAt" not in job and job["isConcurrent"] is True
    clock.advance(30)
    job = job_of(iot, "snap")
    assert job["status"] == "COMPLETED" and job["completedAt"] >= job["createdAt"]
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 20 and job["isConcurrent"] is False
    assert "processingTargets" not in job["jobProcessDetails"]
    execution = iot.describe_job_execution(jobId="snap", thingName="thing-00000")["execution"]
    assert execution["status"] == "SUCCEEDED" and execution["executionNumber"] == 1
    assert execution["versionNumber"] >= 2 and execution["startedAt"] <= execution["lastUpdatedAt"]
    for_thing = iot.list_job_executions_for_thing(thingName="thing-00000", status="SUCCEEDED")
    assert [e["jobId"] for e in for_thing["executionSummaries"]] == ["snap"]
    assert iot.get_job_document(jobId="snap")["document"] == reboot()


def test_offline_things_never_pick_their_execution_up(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=20, offline_rate=0.5)
    iot = client(aws)
    offline = sum(1 for d in aws.fleet.devices() if not d.online)
    assert 0 < offline < 20
    iot.create_job(jobId="some-offline", targets=[arn("thinggroup", "fleet")], document=reboot())
    clock.advance(3600)
    job = job_of(iot, "some-offline")
    assert job["status"] == "IN_PROGRESS"  # a SNAPSHOT job waits for every thing, as on AWS
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == offline
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 20 - offline


def test_maximum_per_minute_paces_the_rollout(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=20))
    iot.create_job(
        jobId="paced",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={"maximumPerMinute": 6},
    )
    clock.advance(30.5)  # things 0..3 notified at 0, 10, 20, 30 s
    counted = statuses(iot, "paced")
    assert counted["QUEUED"] == 16 and job_of(iot, "paced")["isConcurrent"] is True
    assert job_of(iot, "paced")["jobProcessDetails"]["processingTargets"] == [arn("thinggroup", "fleet")]
    clock.advance(200)
    assert statuses(iot, "paced") == {"SUCCEEDED": 20}


def test_exponential_rate_speeds_up_after_each_step(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=20))
    iot.create_job(
        jobId="exp",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={
            "exponentialRate": {
                "baseRatePerMinute": 6,
                "incrementFactor": 2,
                "rateIncreaseCriteria": {"numberOfNotifiedThings": 2},
            }
        },
    )
    # 6/min for 2 things (0, 10 s), 12/min for 2 (20, 25 s), 24/min for 2 (30, 32.5 s), ...
    clock.advance(31)
    assert statuses(iot, "exp")["QUEUED"] == 15
    clock.advance(2)
    assert statuses(iot, "exp")["QUEUED"] == 14


def test_abort_config_cancels_a_failing_job(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=20, failure_rate=1.0))
    iot.create_job(
        jobId="doomed",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={"maximumPerMinute": 60},
        abortConfig={
            "criteriaList": [
                {
                    "failureType": "FAILED",
                    "action": "CANCEL",
                    "thresholdPercentage": 50,
                    "minNumberOfExecutedThings": 3,
                }
            ]
        },
    )
    clock.advance(120)
    job = job_of(iot, "doomed")
    assert job["status"] == "CANCELED"
    assert job["reasonCode"] == "ABORTED_BY_ABORT_CONFIG" and "abortConfig" in job["comment"]
    details = job["jobProcessDetails"]
    assert details["numberOfFailedThings"] >= 3 and details["numberOfCanceledThings"] >= 10
    assert details["numberOfQueuedThings"] == details["numberOfInProgressThings"] == 0


def test_all_failure_types_count_for_an_all_criterion(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=10))
    iot.create_job(
        jobId="rejected",
        targets=[arn("thinggroup", "fleet")],
        document=json.dumps({"operation": "selfDestruct"}),  # no thing knows it: REJECTED
        jobExecutionsRolloutConfig={"maximumPerMinute": 60},
        abortConfig={
            "criteriaList": [
                {
                    "failureType": "ALL",
                    "action": "CANCEL",
                    "thresholdPercentage": 100,
                    "minNumberOfExecutedThings": 2,
                }
            ]
        },
    )
    clock.advance(60)
    job = job_of(iot, "rejected")
    assert job["status"] == "CANCELED" and job["jobProcessDetails"]["numberOfRejectedThings"] == 2


def test_in_progress_timeout_times_executions_out(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=5))
    iot.create_job(
        jobId="slow",
        targets=[arn("thinggroup", "fleet")],
        document=sleep_doc(600),
        timeoutConfig={"inProgressTimeoutInMinutes": 1},
    )
    clock.advance(20)
    execution = iot.describe_job_execution(jobId="slow", thingName="thing-00000")["execution"]
    assert execution["status"] == "IN_PROGRESS" and 35 <= execution["approximateSecondsBeforeTimedOut"] <= 40
    clock.advance(60)
    job = job_of(iot, "slow")
    assert job["status"] == "COMPLETED" and job["jobProcessDetails"]["numberOfTimedOutThings"] == 5


def test_retry_config_reruns_failed_executions_under_new_numbers(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=4, failure_rate=1.0))
    iot.create_job(
        jobId="retried",
        targets=[arn("thinggroup", "fleet")],
        document=sleep_doc(10),
        jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]},
    )
    clock.advance(15)
    running = iot.describe_job_execution(jobId="retried", thingName="thing-00000")["execution"]
    assert running["status"] == "IN_PROGRESS" and running["executionNumber"] == 2
    clock.advance(60)
    final = iot.describe_job_execution(jobId="retried", thingName="thing-00000")["execution"]
    assert final["status"] == "FAILED" and final["executionNumber"] == 3
    summary = iot.list_job_executions_for_job(jobId="retried")["executionSummaries"][0]["jobExecutionSummary"]
    assert summary["retryAttempt"] == 2
    assert job_of(iot, "retried")["status"] == "COMPLETED"


def test_a_scheduled_job_waits_for_its_start_time(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=6))
    start = clock.now() + 3600
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_job(
            jobId="too-soon",
            targets=[arn("thinggroup", "fleet")],
            document=reboot(),
            schedulingConfig={"startTime": minute(clock.now() + 600)},
        )
    iot.create_job(
        jobId="later",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        schedulingConfig={"startTime": minute(start)},
    )
    job = job_of(iot, "later")
    assert job["status"] == "SCHEDULED" and job["schedulingConfig"]["startTime"] == minute(start)
    assert statuses(iot, "later") == {}
    assert iot.list_jobs(status="SCHEDULED")["jobs"][0]["jobId"] == "later"
    clock.advance(3600)
    assert job_of(iot, "later")["status"] in ("IN_PROGRESS", "COMPLETED")
    clock.advance(60)
    assert job_of(iot, "later")["status"] == "COMPLETED"


def test_end_time_applies_the_end_behavior(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=40))  # at 1 a minute, the 31-minute window reaches about 32 of them
    start = clock.now() + 1860
    iot.create_job(
        jobId="windowed",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
        schedulingConfig={
            "startTime": minute(start),
            "endTime": minute(start + 1860),
            "endBehavior": "CANCEL",
        },
    )
    clock.advance(start + 3720 - clock.now())
    job = job_of(iot, "windowed")
    assert job["status"] == "CANCELED" and "endTime" in job["comment"]
    assert 0 < job["jobProcessDetails"]["numberOfSucceededThings"] < 40
    assert job["jobProcessDetails"]["numberOfCanceledThings"] > 0


def test_a_continuous_job_reaches_things_that_join_later(make_aws: Any, clock: ManualClock) -> None:
    aws = make_aws(things=12)
    iot = client(aws)
    members = aws.registry.things_in("site-ams", recursive=False)
    iot.create_job(
        jobId="cont", targets=[arn("thinggroup", "site-ams")], document=reboot(), targetSelection="CONTINUOUS"
    )
    clock.advance(30)
    assert statuses(iot, "cont") == {"SUCCEEDED": len(members)}
    assert job_of(iot, "cont")["status"] == "IN_PROGRESS"  # never completes on its own
    newcomer = next(n for n in sorted(aws.registry.things) if n not in members)
    iot.add_thing_to_thing_group(thingGroupName="site-ams", thingName=newcomer)
    clock.advance(30)
    assert iot.describe_job_execution(jobId="cont", thingName=newcomer)["execution"]["status"] == "SUCCEEDED"
    iot.create_thing(thingName="late-device")
    iot.add_thing_to_thing_group(
        thingGroupArn=arn("thinggroup", "site-ams"), thingArn=arn("thing", "late-device")
    )
    clock.advance(30)
    assert (
        iot.describe_job_execution(jobId="cont", thingName="late-device")["execution"]["status"] == "QUEUED"
    )
    iot.remove_thing_from_thing_group(thingGroupName="site-ams", thingName="late-device")
    assert (
        iot.describe_job_execution(jobId="cont", thingName="late-device")["execution"]["status"] == "REMOVED"
    )
    # More targets for a continuous job; a snapshot job takes none.
    iot.associate_targets_with_job(jobId="cont", targets=[arn("thinggroup", "site-sea")], comment="and sea")
    clock.advance(30)
    sea = aws.registry.things_in("site-sea", recursive=False)
    assert all(
        iot.describe_job_execution(jobId="cont", thingName=t)["execution"]["status"] == "SUCCEEDED"
        for t in sea
    )
    assert job_of(iot, "cont")["targets"] == [arn("thinggroup", "site-ams"), arn("thinggroup", "site-sea")]
    iot.create_job(jobId="snap-only", targets=[arn("thing", "thing-00001")], document=reboot())
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.associate_targets_with_job(jobId="snap-only", targets=[arn("thinggroup", "site-sea")])
    assert iot.list_jobs(targetSelection="CONTINUOUS")["jobs"][0]["jobId"] == "cont"
    assert [j["jobId"] for j in iot.list_jobs(thingGroupName="site-sea")["jobs"]] == ["cont"]


def test_cancel_leaves_in_progress_executions_unless_forced(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=10))
    for job_id in ("soft", "hard"):
        iot.create_job(
            jobId=job_id,
            targets=[arn("thinggroup", "fleet")],
            document=sleep_doc(120),
            jobExecutionsRolloutConfig={"maximumPerMinute": 6},
        )
    clock.advance(25)  # 3 things of each job in progress, 7 queued
    answer = iot.cancel_job(jobId="soft", reasonCode="OPERATOR_1", comment="enough")
    assert answer["jobId"] == "soft"
    job = job_of(iot, "soft")
    assert job["status"] == "CANCELED" and job["forceCanceled"] is False
    assert (job["reasonCode"], job["comment"]) == ("OPERATOR_1", "enough")
    assert statuses(iot, "soft") == {"IN_PROGRESS": 3, "CANCELED": 7}
    iot.cancel_job(jobId="hard", force=True)
    assert statuses(iot, "hard") == {"CANCELED": 10}
    forced = iot.describe_job_execution(jobId="hard", thingName="thing-00000")["execution"]
    assert forced["forceCanceled"] is True and job_of(iot, "hard")["forceCanceled"] is True
    clock.advance(300)
    assert statuses(iot, "soft") == {"SUCCEEDED": 3, "CANCELED": 7}  # they ran to their end
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.cancel_job(jobId="soft")


def test_cancel_and_delete_one_execution(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=6))
    iot.create_job(
        jobId="one",
        targets=[arn("thinggroup", "fleet")],
        document=sleep_doc(300),
        jobExecutionsRolloutConfig={"maximumPerMinute": 6},
    )
    clock.advance(5)  # thing 0 in progress, the rest queued
    queued = ["thing-00001", "thing-00002"]
    iot.cancel_job_execution(jobId="one", thingName=queued[0])
    assert iot.describe_job_execution(jobId="one", thingName=queued[0])["execution"]["status"] == "CANCELED"
    with pytest.raises(iot.exceptions.InvalidStateTransitionException) as caught:
        iot.cancel_job_execution(jobId="one", thingName="thing-00000")
    assert error_of(caught.value)[0] == 409
    version = iot.describe_job_execution(jobId="one", thingName="thing-00000")["execution"]["versionNumber"]
    with pytest.raises(iot.exceptions.VersionConflictException):
        iot.cancel_job_execution(
            jobId="one", thingName="thing-00000", force=True, expectedVersion=version + 5
        )
    iot.cancel_job_execution(jobId="one", thingName="thing-00000", force=True, expectedVersion=version)
    with pytest.raises(iot.exceptions.InvalidStateTransitionException):
        iot.cancel_job_execution(jobId="one", thingName="thing-00000", force=True)
    # Delete: only terminal executions unless forced; the execution number must be the execution's.
    with pytest.raises(iot.exceptions.InvalidStateTransitionException):
        iot.delete_job_execution(jobId="one", thingName=queued[1], executionNumber=1)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.delete_job_execution(jobId="one", thingName=queued[0], executionNumber=7)
    iot.delete_job_execution(jobId="one", thingName=queued[0], executionNumber=1)
    iot.delete_job_execution(jobId="one", thingName=queued[1], executionNumber=1, force=True)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job_execution(jobId="one", thingName=queued[0])
    assert sum(statuses(iot, "one").values()) == 4
    job_of(iot, "one")


def test_delete_needs_force_while_in_progress_then_the_job_is_gone(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=4))
    iot.create_job(jobId="gone", targets=[arn("thinggroup", "fleet")], document=sleep_doc(600))
    with pytest.raises(iot.exceptions.InvalidStateTransitionException) as caught:
        iot.delete_job(jobId="gone")
    assert error_of(caught.value)[0] == 409
    iot.delete_job(jobId="gone", force=True)
    assert job_of(iot, "gone")["status"] == "DELETION_IN_PROGRESS"
    clock.advance(10)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job(jobId="gone")
    assert iot.list_job_executions_for_thing(thingName="thing-00000")["executionSummaries"] == []
    iot.create_job(
        jobId="gone", targets=[arn("thing", "thing-00000")], document=reboot()
    )  # the id is free again
    clock.advance(10)
    iot.delete_job(jobId="gone")  # COMPLETED: no force needed


def test_the_active_jobs_limit_is_limit_exceeded(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=3, max_active_jobs=2))
    for job_id in ("a1", "a2"):
        iot.create_job(jobId=job_id, targets=[arn("thinggroup", "fleet")], document=sleep_doc(60))
    with pytest.raises(iot.exceptions.LimitExceededException) as caught:
        iot.create_job(jobId="a3", targets=[arn("thinggroup", "fleet")], document=reboot())
    assert error_of(caught.value)[:2] == (410, "LimitExceededException")
    clock.advance(120)  # both completed: no longer active
    iot.create_job(jobId="a3", targets=[arn("thinggroup", "fleet")], document=reboot())


def test_a_job_takes_at_most_100_targets(make_aws: Any) -> None:
    aws = make_aws(things=101)
    iot = client(aws)
    things = [arn("thing", name) for name in sorted(aws.registry.things)]
    with pytest.raises(iot.exceptions.LimitExceededException) as caught:
        iot.create_job(jobId="too-many", targets=things, document=reboot())
    assert error_of(caught.value) == (
        410,
        "LimitExceededException",
        "The total number of targets associated with a job must not exceed 100; got 101. Target a thing group "
        "instead.",
    )
    assert iot.list_jobs()["jobs"] == []
    iot.create_job(jobId="hundred", targets=things[:100], document=reboot())
    assert len(iot.describe_job(jobId="hundred")["job"]["targets"]) == 100


def test_templates_and_document_parameters(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=3))
    document = json.dumps({"operation": "firmwareUpdate", "version": "${aws:iot:parameter:version}"})
    iot.create_job_template(
        jobTemplateId="fw",
        description="firmware",
        document=document,
        timeoutConfig={"inProgressTimeoutInMinutes": 5},
    )
    with pytest.raises(iot.exceptions.ConflictException) as caught:
        iot.create_job_template(jobTemplateId="fw", description="again", document=document)
    assert error_of(caught.value)[0] == 409
    template = iot.describe_job_template(jobTemplateId="fw")
    assert template["document"] == document and template["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    iot.create_job(
        jobId="fw-2",
        targets=[arn("thinggroup", "fleet")],
        jobTemplateArn=template["jobTemplateArn"],
        documentParameters={"version": "2.0.0"},
    )
    assert json.loads(iot.get_job_document(jobId="fw-2")["document"])["version"] == "2.0.0"
    assert iot.get_job_document(jobId="fw-2", beforeSubstitution=True)["document"] == document
    assert job_of(iot, "fw-2")["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    clock.advance(30)
    assert statuses(iot, "fw-2") == {"SUCCEEDED": 3}
    assert iot.describe_thing(thingName="thing-00000")["attributes"]["firmware"] == "2.0.0"
    iot.delete_job_template(jobTemplateId="fw")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job_template(jobTemplateId="fw")


def test_update_job_changes_the_rollout_from_now_on(make_aws: Any, clock: ManualClock) -> None:
    iot = client(make_aws(things=20))
    iot.create_job(
        jobId="upd",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
    )
    clock.advance(30)
    assert statuses(iot, "upd")["QUEUED"] == 19
    iot.update_job(jobId="upd", description="faster", jobExecutionsRolloutConfig={"maximumPerMinute": 600})
    clock.advance(5)
    job = job_of(iot, "upd")
    assert job["description"] == "faster" and job["status"] == "COMPLETED"


def test_stop_rollout_at_end_time_completes_with_the_things_reached(
    make_aws: Any, clock: ManualClock
) -> None:
    iot = client(make_aws(things=40))
    start = clock.now() + 1860
    iot.create_job(
        jobId="stopped",
        targets=[arn("thinggroup", "fleet")],
        document=reboot(),
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
        schedulingConfig={
            "startTime": minute(start),
            "endTime": minute(start + 1860),
            "endBehavior": "STOP_ROLLOUT",
        },
    )
    clock.advance(start + 3720 - clock.now())
    job = job_of(iot, "stopped")
    assert job["status"] == "COMPLETED"
    reached = job["jobProcessDetails"]["numberOfSucceededThings"]
    assert 0 < reached < 40 and job["jobProcessDetails"]["numberOfCanceledThings"] == 40 - reached


def test_speed_accelerates_emulated_time() -> None:
    import time

    from airflow_iot_jobs.emulator.aws import AwsIoTEmulator

    with AwsIoTEmulator(things=5, offline_rate=0.0, speed=600) as aws:
        iot = client(aws)
        iot.create_job(jobId="fast", targets=[arn("thinggroup", "fleet")], document=sleep_doc(60))
        deadline = time.monotonic() + 10
        while iot.describe_job(jobId="fast")["job"]["status"] != "COMPLETED":
            assert time.monotonic() < deadline, "60 emulated seconds should take about 0.1 s at speed 600"
            time.sleep(0.05)
