"""IoTHubManagerHook over HTTP against the IoTHub Manager emulator: every route and parameter, the JobsHook
contract (sync and async), errors, auth, and cancel / count through the hub."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook
from airflow_iot_jobs.jobs import ErrorKind, JobAlreadyExistsError, JobPhase, JobServiceError


def wait_until_terminal(hook: IoTHubManagerHook, job_id: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        progress = hook.progress(job_id)
        if progress.terminal or time.monotonic() > deadline:
            return progress
        time.sleep(0.1)


def test_a_method_job_goes_to_the_hub_as_the_service_would_send_it(manager, sent_requests):
    hook = IoTHubManagerHook()
    requests = sent_requests(hook)
    start = datetime.now(UTC) + timedelta(seconds=1)
    answer = hook.create_device_method_job(
        "mgr-method-1",
        "tags.site = 'ams'",
        "firmwareUpdate",
        {"version": "2.1.0"},
        response_timeout=60,
        connect_timeout=10,
        start_time=start,
        max_execution_time=1800,
    )
    assert answer == {"JobId": "mgr-method-1", "Type": 3, "Status": 7}  # Queued, as the integration test saw
    sent = requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/v1/jobs")
    assert (
        sent.headers["X-Source"] == "external"
        and sent.headers["Authorization"] == f"Bearer {manager.bearer_token}"
    )
    job = manager.state.get_job("mgr-method-1")
    assert job["queryCondition"] == "tags.site = 'ams'"
    assert job["maxExecutionTimeInSeconds"] == 1800
    assert abs(datetime.fromisoformat(job["startTime"]) - start) < timedelta(seconds=1)
    method = job["cloudToDeviceMethod"]
    assert method["methodName"] == "firmwareUpdate" and method["payload"] == {"version": "2.1.0"}
    assert (method["responseTimeoutInSeconds"], method["connectTimeoutInSeconds"]) == (60, 10)

    done = hook.get_job("mgr-method-1")
    assert done["MethodParameter"] == {
        "Name": "firmwareUpdate",
        "ResponseTimeout": "00:01:00",
        "ConnectionTimeout": "00:00:10",
        "JsonPayload": '{"version":"2.1.0"}',
    }


def test_a_twin_job_carries_tags_desired_properties_and_etag(manager):
    hook = IoTHubManagerHook()
    answer = hook.create_twin_update_job(
        "mgr-twin-1",
        "tags.ring = 'early'",
        tags={"maintenance": "2026-12"},
        desired_properties={"interval": 60},
    )
    assert answer["Type"] == 4
    twin = manager.state.get_job("mgr-twin-1")["updateTwin"]
    assert twin["tags"] == {"maintenance": "2026-12"} and twin["properties"]["desired"] == {"interval": 60}
    assert twin["etag"] == "*"
    progress = wait_until_terminal(hook, "mgr-twin-1")
    assert progress.phase is JobPhase.COMPLETED and progress.job_type == "ScheduleUpdateTwin"
    assert progress.succeeded == progress.targeted > 0


def test_progress_failed_devices_and_device_details(make_manager):
    make_manager(devices=150, failure_rate=0.2)
    hook = IoTHubManagerHook()
    hook.create_device_method_job("mgr-failing", "*", "reboot")
    progress = wait_until_terminal(hook, "mgr-failing")
    assert progress.terminal and progress.targeted == 150 and progress.failed > 0
    assert progress.succeeded + progress.failed == 150

    everything = hook.get_job("mgr-failing", include_device_details=True)["Devices"]
    assert len(everything) == 150
    for status in ("failed", "Failed", 4, "4"):
        failed = hook.get_job("mgr-failing", device_job_status=status)["Devices"]
        assert len(failed) == progress.failed and {row["Status"] for row in failed} == {4}
    completed = hook.get_job("mgr-failing", include_device_details=True, device_job_status="completed")
    assert len(completed["Devices"]) == progress.succeeded
    assert "Devices" not in hook.get_job("mgr-failing")

    failures = hook.failed_devices("mgr-failing", limit=5)
    assert len(failures) == 5 and all(f.device_id for f in failures)
    assert len(hook.failed_devices("mgr-failing")) == min(progress.failed, 100)


def test_aprogress_matches_progress(manager):
    hook = IoTHubManagerHook()
    hook.create_device_method_job("mgr-async", "*", "ping")
    final = wait_until_terminal(hook, "mgr-async")

    async def read():
        async_hook = IoTHubManagerHook()
        try:
            return await async_hook.aprogress("mgr-async")
        finally:
            await async_hook.aclose()

    assert asyncio.run(read()) == final


def test_list_jobs_by_type_status_page_size_and_window(manager, sent_requests):
    hook = IoTHubManagerHook()
    hook.create_device_method_job("mgr-list-m", "*", "ping")
    wait_until_terminal(hook, "mgr-list-m")  # one active job at a time (the hub's S1 default)
    hook.create_twin_update_job("mgr-list-t", "*", tags={"a": 1})
    wait_until_terminal(hook, "mgr-list-t")
    requests = sent_requests(hook)

    def ids(**filters):
        return sorted(job["JobId"] for job in hook.list_jobs(**filters))

    assert ids() == ["mgr-list-m", "mgr-list-t"]
    assert (
        ids(job_type="ScheduleDeviceMethod")
        == ids(job_type=3)
        == ids(job_type="scheduledevicemethod")
        == ["mgr-list-m"]
    )
    assert ids(job_type="ScheduleUpdateTwin") == ids(job_type="4") == ["mgr-list-t"]
    assert ids(job_status="completed") == ids(job_status=3) == ["mgr-list-m", "mgr-list-t"]
    assert ids(job_status="Running") == ids(job_status="failed") == []
    assert ids(page_size=1) == ["mgr-list-m", "mgr-list-t"], (
        "the service reads every page: no paging on the wire"
    )
    assert (
        ids(from_time="NOW-P30D") == ids(from_time="NOW-PT1H", to_time="NOW") == ["mgr-list-m", "mgr-list-t"]
    )
    assert ids(from_time="NOW+P1D") == ids(to_time="NOW-P1D") == []
    created = datetime.fromisoformat(hook.get_job("mgr-list-m")["CreatedTimeUtc"])
    assert ids(
        from_time=created - timedelta(minutes=1), to_time=(created + timedelta(minutes=1)).isoformat()
    ) == [
        "mgr-list-m",
        "mgr-list-t",
    ]
    assert ids(to_time=created - timedelta(minutes=1)) == []
    assert ids(job_type=4, job_status="Completed", page_size=5, from_time="NOW-P1D", to_time="NOW+PT1H") == [
        "mgr-list-t"
    ]

    query = dict(requests[-1].url.params)
    assert query == {
        "jobType": "ScheduleUpdateTwin",
        "jobStatus": "Completed",
        "pageSize": "5",
        "from": "NOW-P1D",
        "to": "NOW+PT1H",
    }
    assert "NOW%2BPT1H" in str(requests[-1].url), "a '+' in a bound is escaped (else it reads as a space)"


def test_device_properties(manager):
    properties = IoTHubManagerHook().device_properties()
    assert "IsSimulated" in properties["Tags"] and "SupportedMethods" in properties["Reported"]
    assert properties["$metadata"]["$url"] == "/v1/deviceProperties"


def test_an_unknown_job_is_not_found_although_the_service_answers_200(manager):
    hook = IoTHubManagerHook()
    assert hook.get_job("never-created") == {"JobId": "never-created", "Type": 0, "Status": 0}
    with pytest.raises(JobServiceError) as err:
        hook.progress("never-created")
    assert err.value.kind is ErrorKind.NOT_FOUND


def test_a_second_post_of_the_same_job_id_is_already_exists(manager):
    hook = IoTHubManagerHook()
    hook.create_device_method_job("mgr-twice", "*", "ping")
    with pytest.raises(JobAlreadyExistsError) as err:
        hook.create_device_method_job("mgr-twice", "*", "ping")
    assert (err.value.status, err.value.code) == (409, "ConflictingResourceException")
    assert "already exists" in err.value.message
    assert len(manager.state.jobs) == 1


def test_a_second_active_job_is_busy_not_a_fault(manager):
    hook = IoTHubManagerHook()
    hook.create_device_method_job("mgr-slow", "*", "ping", start_time=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(JobServiceError) as err:
        hook.create_device_method_job("mgr-second", "*", "ping")
    assert err.value.busy and err.value.code == "IotHubThrottledException"
    assert hook.progress("mgr-slow").phase is JobPhase.PENDING


def test_a_body_the_service_cannot_schedule_is_a_permanent_error(manager):
    from airflow_iot_jobs.hooks.http_base import Call

    hook = IoTHubManagerHook()
    with pytest.raises(JobServiceError) as err:
        hook.send(Call("POST", "/v1/jobs", json={"JobId": "neither", "QueryCondition": "*"}))
    assert (err.value.status, err.value.code, err.value.kind) == (
        500,
        "NotSupportedException",
        ErrorKind.PERMANENT,
    )


def test_a_bad_or_missing_token_is_refused_and_never_repeated_in_the_error(manager, monkeypatch):
    import json

    wrong = manager.issue_token(lifetime=-600)
    conn = {"conn_type": "iothub_manager", "host": manager.endpoint, "password": wrong}
    monkeypatch.setenv("AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT", json.dumps(conn))
    with pytest.raises(JobServiceError) as err:
        IoTHubManagerHook().list_jobs()
    assert (err.value.status, err.value.message, err.value.kind) == (
        401,
        "Authentication required",
        ErrorKind.PERMANENT,
    )
    assert wrong not in str(err.value) and wrong not in repr(err.value.__dict__)

    read_only = manager.issue_token(roles=("readOnly",))
    monkeypatch.setenv("AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT", json.dumps({**conn, "password": read_only}))
    hook = IoTHubManagerHook()
    assert hook.list_jobs() == []
    with pytest.raises(JobServiceError) as err:
        hook.create_device_method_job("mgr-ro", "*", "ping")
    assert (err.value.status, err.value.code) == (403, "NotAuthorizedException") and err.value.permanent

    no_token = {"conn_type": "iothub_manager", "host": manager.endpoint}
    monkeypatch.setenv("AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT", json.dumps(no_token))
    assert IoTHubManagerHook().list_jobs() == [], "without a token no X-Source is sent: service-to-service"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["cancel", "acancel"])
def test_cancel_and_count_go_through_the_hub_when_iothub_conn_id_is_named(make_manager, asynchronous):
    make_manager(devices=300, speed=0.5)
    hook = IoTHubManagerHook(iothub_conn_id="azure_iot_hub_default")
    assert hook.supports_cancel and hook.supports_count
    assert hook.count_devices("*") == 300 and 0 < hook.count_devices("tags.site = 'ams'") < 300
    hook.create_device_method_job("mgr-cancel", "*", "reboot")

    if asynchronous:

        async def cancel():
            async_hook = IoTHubManagerHook(iothub_conn_id="azure_iot_hub_default")
            try:
                return await async_hook.acancel("mgr-cancel")
            finally:
                await async_hook.aclose()

        progress = asyncio.run(cancel())
    else:
        progress = hook.cancel("mgr-cancel")
    assert progress.phase is JobPhase.CANCELLED and progress.status == "Cancelled"
    assert hook.progress("mgr-cancel").status == "Cancelled"


def test_without_the_hub_there_is_no_cancel_and_no_count(manager):
    hook = IoTHubManagerHook()
    assert not hook.supports_cancel and not hook.supports_count
    for call in (lambda: hook.cancel("j"), lambda: hook.count_devices("*")):
        with pytest.raises(JobServiceError) as err:
            call()
        assert err.value.permanent and "iothub_conn_id" in str(err.value)
    assert manager.request_log == []
