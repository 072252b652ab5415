"""AwsIoTJobsHook against our AWS IoT emulator on 127.0.0.1: what moto cannot serve (nested thing groups,
``list_jobs`` paging, ``AssociateTargetsWithJob``, executions that really run and fail with ``statusDetails``,
aborts by the abort config, DELETION_IN_PROGRESS) runs here for real, over HTTP, signed with SigV4."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_iot_jobs.jobs import DeviceFailure, ErrorKind, JobPhase, JobServiceError
from tests.backends.aws.conftest import emulator_client
from tests.backends.aws.off_the_loop import assert_nothing_blocked_the_loop, run_watching_threads

ABORT_FAILED = {
    "criteriaList": [
        {
            "failureType": "FAILED",
            "action": "CANCEL",
            "thresholdPercentage": 20,
            "minNumberOfExecutedThings": 3,
        }
    ]
}


def wait_until_ended(hook, job_id: str, seconds: float = 30.0):
    deadline = time.time() + seconds
    while True:
        progress = hook.progress(job_id)
        if progress.terminal or time.time() > deadline:
            return progress
        time.sleep(0.2)


@pytest.fixture
def devices(aws, aws_hook):
    """Things made with CreateThing (not simulated: their executions wait for a device client), in a group
    ``bench`` > ``bench-eu``: ``dev-0``, ``dev-1`` in ``bench``, ``dev-2`` in ``bench-eu``, ``dev-3`` in none."""
    iot = emulator_client(aws)
    iot.create_thing_group(thingGroupName="bench")
    iot.create_thing_group(thingGroupName="bench-eu", parentGroupName="bench")
    arns = {f"dev-{i}": iot.create_thing(thingName=f"dev-{i}")["thingArn"] for i in range(4)}
    for name, group in (("dev-0", "bench"), ("dev-1", "bench"), ("dev-2", "bench-eu")):
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
    return {"things": arns, "bench": aws_hook.thing_group_arn("bench"), "iot": iot}


def test_count_devices_expands_nested_groups_as_the_registry_holds_them(aws, aws_hook, devices):
    fleet = aws_hook.thing_group_arn("fleet")  # no thing of its own: every thing is in a child site group
    assert aws_hook.count_devices([fleet]) == 40 == len(aws.registry.things) - 4
    sites = [aws_hook.thing_group_arn(f"site-{s}") for s in ("ams", "sea", "sgp", "fra")]
    assert aws_hook.count_devices(sites) == 40
    assert aws_hook.count_devices([fleet, *sites]) == 40  # deduplicated
    assert aws_hook.count_devices([devices["bench"], devices["things"]["dev-3"]]) == 4  # bench-eu's dev-2 too
    assert aws_hook.count_devices([fleet], at_most=5) == 5  # the bounded count stops reading


def test_list_jobs_pages_through_every_job(aws_hook, devices):
    for i in range(5):
        aws_hook.create_job(jobId=f"j-{i}", targets=[devices["things"]["dev-3"]], document="{}")
    paged = [j["jobId"] for j in aws_hook.pages("list_jobs", "jobs", maxResults=2)]
    assert sorted(paged) == [f"j-{i}" for i in range(5)] and len(paged) == 5
    assert sorted(j["jobId"] for j in aws_hook.list_jobs(status="IN_PROGRESS")) == sorted(paged)


def test_a_job_over_a_group_runs_to_completed_on_simulated_things(aws_hook):
    site = aws_hook.thing_group_arn("site-ams")
    aws_hook.create_job(
        jobId="fw-ams",
        targets=[site],
        document=json.dumps({"operation": "firmwareUpdate", "version": "2.0.0"}),
    )
    progress = wait_until_ended(aws_hook, "fw-ams")
    assert progress.status == "COMPLETED" and progress.phase is JobPhase.COMPLETED
    assert progress.targeted == progress.succeeded == aws_hook.count_devices([site]) == 12
    assert progress.failed == progress.pending == progress.running == 0
    assert aws_hook.failed_devices("fw-ams") == []
    thing = next(aws_hook.things_in_group("site-ams"))
    assert aws_hook.call("describe_thing", thingName=thing)["attributes"]["firmware"] == "2.0.0"


def test_failed_devices_carry_their_status_details(aws, aws_hook, devices):
    """A test acting as the devices, through the ``iot-jobs-data`` client: one fails with details, one succeeds."""
    aws_hook.create_job(jobId="fw-bench", targets=[devices["bench"]], document='{"operation": "reboot"}')
    data = emulator_client(aws, "iot-jobs-data")
    outcomes = {
        "dev-0": ("FAILED", {"reason": "flash write error", "step": "verify"}),
        "dev-1": ("SUCCEEDED", {"took": "3s"}),
        "dev-2": ("REJECTED", {}),
    }
    for thing, (status, details) in outcomes.items():
        started = data.start_next_pending_job_execution(thingName=thing)["execution"]
        assert started["jobId"] == "fw-bench" and started["status"] == "IN_PROGRESS"
        assert json.loads(started["jobDocument"]) == {"operation": "reboot"}
        data.update_job_execution(
            jobId="fw-bench",
            thingName=thing,
            status=status,
            statusDetails=details,
            expectedVersion=started["versionNumber"],
        )

    progress = aws_hook.progress("fw-bench")
    assert (progress.status, progress.succeeded, progress.failed) == ("COMPLETED", 1, 2)
    assert sorted(aws_hook.failed_devices("fw-bench"), key=lambda f: f.device_id) == [
        DeviceFailure("dev-0", "FAILED", "reason=flash write error, step=verify"),
        DeviceFailure("dev-2", "REJECTED", "job execution REJECTED"),
    ]


def test_an_abort_config_cancels_the_job_and_progress_says_so(make_aws):
    make_aws(failure_rate=0.9)
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    hook = AwsIoTJobsHook()
    hook.create_job(
        jobId="fw-bad",
        targets=[hook.thing_group_arn("fleet")],
        document=json.dumps({"operation": "firmwareUpdate", "version": "9.9.9"}),
        jobExecutionsRolloutConfig={"maximumPerMinute": 60},
        abortConfig=ABORT_FAILED,
    )
    progress = wait_until_ended(hook, "fw-bad")
    job = hook.describe_job("fw-bad")["job"]
    assert job["status"] == "CANCELED" and job["reasonCode"] == "ABORTED_BY_ABORT_CONFIG"
    assert progress.phase is JobPhase.CANCELLED and progress.aborted
    assert progress.failure_reason.startswith("the job's abort config cancelled it")
    assert progress.succeeded < progress.targeted == 40
    codes = {f.code for f in hook.failed_devices("fw-bad")}
    assert "FAILED" in codes and codes <= {"FAILED", "CANCELED"}


def test_cancel_keeps_running_executions_unless_forced(aws_hook, devices, aws):
    aws_hook.create_job(jobId="fw-c", targets=[devices["bench"]], document="{}")
    data = emulator_client(aws, "iot-jobs-data")
    data.start_next_pending_job_execution(thingName="dev-0")
    aws_hook.cancel_job("fw-c", comment="bad batch", reason_code="OPERATOR_STOP")
    assert aws_hook.describe_job_execution("fw-c", "dev-0")["status"] == "IN_PROGRESS"
    assert aws_hook.describe_job_execution("fw-c", "dev-1")["status"] == "CANCELED"
    progress = aws_hook.progress("fw-c")
    assert progress.phase is JobPhase.CANCELLED and not progress.aborted
    assert progress.failure_reason == "the job was cancelled: reasonCode 'OPERATOR_STOP', comment 'bad batch'"
    aws_hook.cancel_job("fw-c", force=True)
    assert aws_hook.describe_job_execution("fw-c", "dev-0")["status"] == "CANCELED"


def test_associate_targets_with_a_continuous_job(aws, aws_hook, devices):
    things = devices["things"]
    aws_hook.create_job(jobId="c-1", targets=[devices["bench"]], document="{}", targetSelection="CONTINUOUS")
    answer = aws_hook.associate_targets_with_job("c-1", [things["dev-3"]], comment="late joiner")
    assert answer["jobId"] == "c-1"
    assert things["dev-3"] in aws_hook.describe_job("c-1")["job"]["targets"]
    assert aws_hook.describe_job_execution("c-1", "dev-3")["status"] == "QUEUED"
    assert [r["jobId"] for r in aws_hook.list_job_executions_for_thing("dev-3")] == ["c-1"]

    aws_hook.create_job(jobId="s-1", targets=[devices["bench"]], document="{}")  # SNAPSHOT
    with pytest.raises(JobServiceError) as caught:
        aws_hook.associate_targets_with_job("s-1", [things["dev-3"]])
    assert caught.value.code == "InvalidRequestException" and caught.value.kind is not ErrorKind.TRANSIENT


def test_delete_job_shows_deletion_in_progress_then_is_gone(aws_hook, devices):
    aws_hook.create_job(jobId="gone", targets=[devices["bench"]], document="{}")
    with pytest.raises(JobServiceError) as caught:
        aws_hook.delete_job("gone")  # an active job needs force, as on AWS
    assert caught.value.code == "InvalidStateTransitionException"
    aws_hook.delete_job("gone", force=True)
    statuses = []
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            statuses.append(aws_hook.describe_job("gone")["job"]["status"])
        except JobServiceError as err:
            assert err.kind is ErrorKind.NOT_FOUND
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"job still there: {statuses[-3:]}")
    assert statuses and set(statuses) == {"DELETION_IN_PROGRESS"}


def test_a_duplicate_job_id_is_refused_as_aws_does(aws_hook, devices):
    aws_hook.create_job(jobId="dup", targets=[devices["bench"]], document="{}")
    with pytest.raises(JobServiceError) as caught:
        aws_hook.create_job(jobId="dup", targets=[devices["bench"]], document="{}")
    assert caught.value.kind is ErrorKind.ALREADY_EXISTS and caught.value.status == 409


def test_executions_describe_cancel_with_version_and_delete(aws, aws_hook, devices):
    aws_hook.create_job(jobId="ex-1", targets=[devices["things"]["dev-3"]], document="{}")
    execution = aws_hook.describe_job_execution("ex-1", "dev-3")
    assert execution["status"] == "QUEUED"
    with pytest.raises(JobServiceError) as caught:
        aws_hook.cancel_job_execution("ex-1", "dev-3", expected_version=execution["versionNumber"] + 5)
    assert caught.value.code == "VersionConflictException"
    aws_hook.cancel_job_execution(
        "ex-1", "dev-3", expected_version=execution["versionNumber"], status_details={"why": "test"}
    )
    cancelled = aws_hook.describe_job_execution("ex-1", "dev-3")
    assert cancelled["status"] == "CANCELED"
    aws_hook.delete_job_execution("ex-1", "dev-3", cancelled["executionNumber"])
    with pytest.raises(JobServiceError) as caught:
        aws_hook.describe_job_execution("ex-1", "dev-3")
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_job_templates_and_a_job_from_one(aws_hook, devices):
    for i in range(3):
        aws_hook.create_job_template(f"tpl-{i}", description=f"template {i}", document='{"operation":"ping"}')
    assert sorted(
        t["jobTemplateId"] for t in aws_hook.pages("list_job_templates", "jobTemplates", maxResults=2)
    ) == [
        "tpl-0",
        "tpl-1",
        "tpl-2",
    ]
    arn = aws_hook.job_template_arn("tpl-1")
    aws_hook.create_job(jobId="from-tpl", targets=[devices["bench"]], jobTemplateArn=arn)
    assert json.loads(aws_hook.get_job_document("from-tpl")) == {"operation": "ping"}
    aws_hook.delete_job_template("tpl-0")
    with pytest.raises(JobServiceError) as caught:
        aws_hook.describe_job_template("tpl-0")
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_async_progress_never_blocks_the_event_loop(aws_hook, devices, monkeypatch):
    """aget_connection for the connection, boto3 in a worker thread: no session, client build or request runs on
    the event loop's thread."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    aws_hook.create_job(jobId="fw-7", targets=[devices["bench"]], document="{}")
    fresh = AwsIoTJobsHook()  # nothing cached: the async path reads the connection and builds the client

    async def main():
        progress = await fresh.aprogress("fw-7")
        cancelled = await fresh.acancel("fw-7")
        await fresh.aclose()  # the client's pool is released with the wait
        return progress, cancelled

    (progress, cancelled), seen, loop_thread = run_watching_threads(monkeypatch, main)
    assert progress.job_id == "fw-7" and progress.targeted == 3 and progress.pending == 3
    assert cancelled.phase is JobPhase.CANCELLED and cancelled.failed == 3
    assert_nothing_blocked_the_loop(seen, loop_thread, expect=("client build", "HTTP request"))


def test_triggers_of_one_process_share_a_client_per_connection(aws, monkeypatch):
    """A boto3 session parses the service model anew (~12 MB each): 1,000 deferred waits on one connection hold
    one client; another connection (here: another region) gets its own."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    async def clients(*hooks):
        built = [await hook.aclient() for hook in hooks]
        for hook in hooks:
            await hook.aclose()
        return built

    first, second, other_region = asyncio.run(
        clients(AwsIoTJobsHook(), AwsIoTJobsHook(), AwsIoTJobsHook(region_name="eu-west-1"))
    )
    assert first is second
    assert other_region is not first and other_region.meta.region_name == "eu-west-1"
    (again,) = asyncio.run(clients(AwsIoTJobsHook()))
    assert again is first, "aclose lets go of the client without closing what other triggers use"
    assert again.list_jobs()["jobs"] is not None
