"""DeviceManagementApiHook over HTTP against the emulator's Job API: every route of seed 003, each auth mode, the
Lambdas' quirks (no id on create, query-string ids, status required, expectedVersion, statusDetail) and errors."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_iot_jobs.emulator.aws.device_management_api import ROUTES
from airflow_iot_jobs.hooks.device_management_api import DeviceManagementApiHook
from airflow_iot_jobs.jobs import ErrorKind, JobPhase, JobServiceError
from tests.backends.device_management_api.conftest import arn

DOC = json.dumps({"operation": "reboot"})
FLEET = arn("thinggroup", "fleet")


def new_job(hook: DeviceManagementApiHook, marker: str, **options: Any) -> str:
    started = time.time()
    assert hook.create_job(
        targets=options.pop("targets", [FLEET]), document=DOC, description=marker, **options
    ) == {"created": True}
    job_id = hook.find_job(marker, since=started)
    assert job_id is not None
    return job_id


def routes_called(emulator: Any) -> set[tuple[str, str]]:
    """The Job API resources the emulator answered (its request log, paths mapped back to the resources)."""
    import re

    prefix = "/device-management/prod"
    seen = set()
    for method, path, _ in emulator.request_log:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :].split("?", 1)[0]
        for route in ROUTES:
            pattern = re.sub(r"\{\w+\}", "[^/]+", route.path)
            if route.method == method and re.fullmatch(pattern, rest):
                seen.add((route.method, route.path))
    return seen


@pytest.mark.parametrize("auth", ["none", "iam", "cognito"])
def test_every_route_of_the_job_api_through_the_hook(make_api: Any, auth: str) -> None:
    from airflow_iot_jobs.emulator.clock import ManualClock

    emulator = make_api(device_management_auth=auth, clock=ManualClock())  # the executions stay put
    hook = DeviceManagementApiHook()

    job_id = new_job(hook, "[route-test]")
    summaries = list(hook.list_jobs())
    assert job_id in [s["jobId"] for s in summaries]
    assert [s["jobId"] for s in hook.list_jobs(status="IN_PROGRESS", target_selection="SNAPSHOT")] == [job_id]
    assert hook.describe_job(job_id)["job"]["description"] == "[route-test]"
    assert hook.get_job_document(job_id) == DOC
    hook.update_job(job_id, "[route-test] renamed")
    assert hook.describe_job(job_id)["job"]["description"] == "[route-test] renamed"

    # executions: the list routes need a status (asked for each in turn without one) and read ids from the query
    executions = list(hook.list_job_executions_for_job(job_id))
    assert len(executions) == 30 and all("jobExecutionSummary" in row for row in executions)
    thing = executions[0]["thingArn"].rsplit("/", 1)[-1]
    assert [row["jobId"] for row in hook.list_job_executions_for_thing(thing)] == [job_id]
    execution = hook.describe_job_execution(job_id, thing)
    assert execution["thingArn"].endswith(f"/{thing}") and execution["jobId"] == job_id

    # a second job over one thing: cancel one execution (the hook sends its current version), delete it
    other = new_job(hook, "[route-test-2]", targets=[arn("thing", "thing-00003")])
    hook.cancel_job_execution(other, "thing-00003", force=True, status_details={"why": "test"})
    cancelled = hook.describe_job_execution(other, "thing-00003")
    assert cancelled["status"] == "CANCELED"
    hook.delete_job_execution(other, "thing-00003", cancelled["executionNumber"], force=True)
    with pytest.raises(JobServiceError) as gone:
        hook.describe_job_execution(other, "thing-00003")
    assert gone.value.kind is ErrorKind.NOT_FOUND

    # a CONTINUOUS job takes more targets
    continuous = new_job(hook, "[route-test-3]", target_selection="CONTINUOUS")
    hook.associate_targets_with_job(continuous, [arn("thing", "thing-00005")])
    assert arn("thing", "thing-00005") in hook.describe_job(continuous)["job"]["targets"]

    # cancel and delete the job
    progress = hook.cancel(continuous)
    assert progress.phase is JobPhase.CANCELLED
    hook.cancel_job(job_id, force=True, comment="done")
    hook.delete_job(job_id, force=True)

    # templates: created without an id answered, found by description
    assert hook.create_job_template(document=DOC, description="reboot template") == {"created": True}
    summary = hook.wait_for_job_template("reboot template")
    template = hook.describe_job_template(summary["jobTemplateId"])
    assert template["document"] == DOC and "$metadata" not in template
    assert summary["jobTemplateId"] in [t["jobTemplateId"] for t in hook.list_job_templates()]
    hook.delete_job_template(summary["jobTemplateId"])
    assert hook.find_job_template("reboot template") is None

    assert routes_called(emulator) == {(r.method, r.path) for r in ROUTES}


def test_progress_and_failed_devices_read_the_aws_job(make_api: Any) -> None:
    make_api(failure_rate=0.3, seed=3)
    hook = DeviceManagementApiHook()
    job_id = new_job(hook, "[failing]")
    deadline = time.time() + 30
    while (progress := hook.progress(job_id)).phase is not JobPhase.COMPLETED:
        assert time.time() < deadline, progress
        time.sleep(0.3)
    assert progress.targeted == 30 and progress.failed > 0
    assert asyncio.run(hook.aprogress(job_id)) == progress
    failures = hook.failed_devices(job_id)
    assert len(failures) == progress.failed
    assert all(f.code == "FAILED" and f.device_id.startswith("thing-") for f in failures)


def test_find_job_reads_only_jobs_created_since_and_remembers_foreign_ones(api: Any) -> None:
    hook = DeviceManagementApiHook()
    for i in range(3):
        new_job(hook, f"[someone-else-{i}]")
    mine = new_job(hook, "[airflow:mine]")
    before = len(api.request_log)
    assert hook.find_job("airflow:mine", since=time.time()) == mine
    reads = [p for m, p, _ in api.request_log[before:] if m == "GET"]
    assert len(reads) == 2  # the list, then the newest job: the marker is found at once
    assert hook.find_job("airflow:absent", since=time.time()) is None
    before = len(api.request_log)
    assert hook.find_job("airflow:absent", since=time.time()) is None
    assert len(api.request_log) - before == 1  # the jobs read once are not read again
    assert hook.find_job("airflow:absent", since=time.time() + 3600) is None  # nothing that recent


def test_errors_carry_the_service_code_and_kind(api: Any) -> None:
    hook = DeviceManagementApiHook()
    with pytest.raises(JobServiceError) as missing:
        hook.describe_job("no-such-job")
    assert (missing.value.status, missing.value.code, missing.value.kind) == (
        404,
        "ResourceNotFoundException",
        ErrorKind.NOT_FOUND,
    )
    with pytest.raises(JobServiceError) as invalid:
        hook.create_job(targets=[FLEET], document="", description="x")
    assert invalid.value.status == 422 and invalid.value.kind is ErrorKind.PERMANENT
    assert '"document" is not allowed to be empty' in str(invalid.value)
    with pytest.raises(JobServiceError) as unknown:
        hook.create_job(targets=[arn("thinggroup", "nope")], document=DOC, description="x")
    assert unknown.value.status == 500 and unknown.value.kind is ErrorKind.NOT_FOUND  # the Lambda never maps


def test_wrong_credentials_are_refused_without_leaking_them(make_api: Any, monkeypatch: Any) -> None:
    emulator = make_api(device_management_auth="cognito")
    conn = json.loads(emulator.info()["airflow_env"]["AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT"])
    forged = conn["password"][:-4] + "AAAA"
    monkeypatch.setenv(
        "AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT", json.dumps({**conn, "password": forged})
    )
    with pytest.raises(JobServiceError) as refused:
        DeviceManagementApiHook().describe_job("any")
    assert refused.value.status == 401 and refused.value.kind is ErrorKind.PERMANENT
    assert forged not in str(refused.value)


def test_count_devices_counts_thing_arns_and_groups_through_an_aws_connection(api: Any) -> None:
    things = [arn("thing", "thing-00001"), arn("thing", "thing-00002"), arn("thing", "thing-00001")]
    assert DeviceManagementApiHook().count_devices(things) == 2
    with pytest.raises(ValueError, match="aws_conn_id"):
        DeviceManagementApiHook().count_devices([FLEET])
    assert DeviceManagementApiHook(aws_conn_id="aws_default").count_devices([FLEET]) == 30
    assert DeviceManagementApiHook(aws_conn_id="aws_default").count_devices([FLEET], at_most=3) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"auth": "oauth"}, "extra 'auth' must be one of none, iam, cognito"),
        ({"auth": "cognito"}, "needs the Cognito ID token in Password"),
        ({"auth": "iam", "region": ""}, "signs for one region"),
    ],
)
def test_connection_rules_name_the_field(monkeypatch: Any, extra: dict, message: str) -> None:
    conn = {"conn_type": "iot_device_management_api", "host": "https://api.example.com/prod", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_BAD_API", json.dumps(conn))
    with pytest.raises(ValueError, match=message):
        DeviceManagementApiHook("bad_api").describe_job("x")


def test_the_region_comes_from_an_execute_api_host() -> None:
    from airflow_iot_jobs.hooks.device_management_api_settings import DeviceManagementApiSettings

    class Conn:
        conn_id = "c"
        host = "https://abc123.execute-api.eu-central-1.amazonaws.com/prod/"
        schema = login = password = None
        port = None

    settings = DeviceManagementApiSettings.from_connection(Conn(), {"auth": "iam"})
    assert settings.region == "eu-central-1"
    assert settings.endpoint == "https://abc123.execute-api.eu-central-1.amazonaws.com/prod"
