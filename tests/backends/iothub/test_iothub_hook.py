"""IoTHubHook over real HTTP against the emulator: paging, raw device rows, counts, errors, async calls."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.jobs import JobAlreadyExistsError, JobServiceError
from airflow_iot_jobs.query.iothub import parse_condition


@pytest.fixture
def busy_hub(make_hub):
    return make_hub(devices=250, speed=50.0, offline_rate=0.1, max_active_jobs=50)


def wait_terminal(hook: IoTHubHook, job_id: str) -> None:
    import time

    for _ in range(400):
        if hook.progress(job_id).terminal:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def test_create_get_cancel_and_already_exists(busy_hub):
    hook = IoTHubHook()
    created = hook.create_device_method_job("job-a", "tags.site = 'ams'", "reboot", payload={"x": 1})
    assert created == {"jobId": "job-a", "type": "scheduleDeviceMethod", "status": "queued"}
    with pytest.raises(JobAlreadyExistsError) as err:
        hook.create_device_method_job("job-a", "*", "reboot")
    assert err.value.status == 409 and err.value.code == "JobAlreadyExists"
    assert hook.get_job("job-a")["queryCondition"] == "tags.site = 'ams'"
    assert hook.cancel_job("job-a")["status"] == "cancelled"
    assert hook.progress("job-a").terminal


def test_query_jobs_follows_continuation_and_filters(busy_hub):
    hook = IoTHubHook()
    for i in range(7):
        hook.create_twin_update_job(f"twin-{i}", "tags.floor = 1", tags={"n": i})
    hook.create_device_method_job("method-0", "*", "ping")

    jobs = list(hook.query_jobs(page_size=3))
    assert [j["jobId"] for j in jobs] == ["method-0"] + [f"twin-{i}" for i in reversed(range(7))]
    pages = [path for method, path, _ in busy_hub.request_log if path.startswith("/jobs/v2/query")]
    assert len(pages) == 3, "8 jobs in pages of 3"
    twins = list(hook.query_jobs(job_type="scheduleUpdateTwin"))
    assert {j["type"] for j in twins} == {"scheduleUpdateTwin"} and len(twins) == 7


def test_device_job_rows_are_raw_paged_and_filtered(busy_hub):
    hook = IoTHubHook()
    hook.create_device_method_job("rows", "*", "ping", connect_timeout=5)
    wait_terminal(hook, "rows")

    rows = list(hook.iter_device_job_rows("rows", page_size=40))
    assert len(rows) == 250
    assert {"deviceId", "jobId", "jobType", "status", "startTimeUtc", "endTimeUtc"} <= set(rows[0])
    assert rows[0]["jobId"] == "rows" and rows[0]["jobType"] == "scheduleDeviceMethod"
    offline = busy_hub.state.count_devices(parse_condition("connectionState = 'Disconnected'"))
    failed = list(hook.iter_device_job_rows("rows", device_status="failed"))
    assert len(failed) == offline > 0
    assert all(row["status"] == "failed" for row in failed)
    failures = hook.failed_devices("rows", limit=5)
    assert len(failures) == min(5, offline) and failures[0].code == "DeviceNotOnline"
    progress = hook.progress("rows")
    assert (progress.targeted, progress.failed, progress.succeeded) == (250, offline, 250 - offline)


def test_count_devices(busy_hub):
    hook = IoTHubHook()
    assert hook.count_devices("*") == 250
    expected = busy_hub.state.count_devices(
        parse_condition("tags.site IN ['ams', 'sea'] AND tags.floor >= 3")
    )
    assert hook.count_devices("tags.site IN ['ams', 'sea'] AND tags.floor >= 3") == expected > 0


def test_service_errors_carry_code_and_message(busy_hub):
    hook = IoTHubHook()
    with pytest.raises(JobServiceError) as err:
        hook.count_devices("tags.site = ")
    assert err.value.status == 400 and err.value.code
    with pytest.raises(JobServiceError) as err:
        hook.cancel_job("nope")
    assert (err.value.status, err.value.code) == (404, "JobNotFound")
    with pytest.raises(JobServiceError) as err:
        hook.progress("nope")
    assert err.value.code == "JobNotFound"


def test_wrong_key_is_refused_without_leaking_it(busy_hub, monkeypatch):
    wrong = busy_hub.connection_string.split("SharedAccessKey=")[0] + "SharedAccessKey=" + "A" * 43 + "="
    monkeypatch.setenv(
        "AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT",
        json.dumps(
            {"conn_type": "azure_iot_hub", "password": wrong, "extra": {"endpoint_url": busy_hub.endpoint}}
        ),
    )
    with pytest.raises(JobServiceError) as err:
        IoTHubHook().get_job("x")
    assert err.value.status == 401 and err.value.code == "IotHubUnauthorizedAccess"
    assert "AAAA" not in str(err.value)


def test_connection_string_in_extra_and_async_calls(busy_hub, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_VIA_EXTRA",
        json.dumps(
            {
                "conn_type": "azure_iot_hub",
                "extra": {"connection_string": busy_hub.connection_string, "endpoint_url": busy_hub.endpoint},
            }
        ),
    )
    hook = IoTHubHook(iothub_conn_id="hub_via_extra")
    hook.create_twin_update_job("async-1", "tags.ring = 'canary'", desired_properties={"mode": "eco"})

    async def read() -> tuple:
        async_hook = IoTHubHook(iothub_conn_id="hub_via_extra")
        progress = await async_hook.aprogress("async-1")
        cancelled = await async_hook.acancel("async-1")
        await async_hook.aclose()
        return progress, cancelled

    progress, cancelled = asyncio.run(read())
    assert progress.job_id == "async-1" and progress.job_type == "scheduleUpdateTwin"
    # cancelled, unless the fast hub finished the job first (the service then answers with the job as it is)
    assert (
        cancelled.job_id == "async-1"
        and cancelled.status in ("cancelled", "completed")
        and cancelled.terminal
    )


def test_missing_connection_details_are_explained(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_HUB", json.dumps({"conn_type": "azure_iot_hub"}))
    with pytest.raises(ValueError, match="connection string"):
        IoTHubHook(iothub_conn_id="empty_hub").settings  # noqa: B018
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_HUB",
        json.dumps(
            {"conn_type": "azure_iot_hub", "password": "HostName=x.azure-devices.net;SharedAccessKey=abc"}
        ),
    )
    with pytest.raises(ValueError, match="SharedAccessKeyName") as err:
        IoTHubHook(iothub_conn_id="bad_hub").settings  # noqa: B018
    assert "abc" not in str(err.value)


def test_device_job_report_streams_json_lines(busy_hub, tmp_path):
    hook = IoTHubHook()
    hook.create_device_method_job("report", "*", "ping", connect_timeout=5)
    wait_terminal(hook, "report")
    path = tmp_path / "rows.jsonl"
    assert hook.write_device_job_report("report", path) == 250
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({row["deviceId"] for row in rows}) == 250 and all(row["jobId"] == "report" for row in rows)
    failed = hook.write_device_job_report("report", str(tmp_path / "failed.jsonl"), device_status="failed")
    assert failed == hook.progress("report").failed


def test_twin_tags_are_read_and_updated_one_device_at_a_time(busy_hub):
    hook = IoTHubHook()
    device = next(iter(hook.query_devices("SELECT * FROM devices")))["deviceId"]
    before = hook.get_twin(device)
    after = hook.update_twin_tags(device, {"rollout": {"fw": 42}})
    assert after["tags"]["rollout"] == {"fw": 42} and after["version"] == before["version"] + 1
    assert after["etag"] != before["etag"]
    assert hook.get_twin(device)["tags"] == after["tags"]
    rows = list(
        hook.query_devices("SELECT * FROM devices WHERE tags.rollout.fw >= 40 AND tags.rollout.fw < 43")
    )
    assert [row["deviceId"] for row in rows] == [device]

    hook.update_twin_tags(device, {"rollout": None})
    assert "rollout" not in hook.get_twin(device)["tags"]
    with pytest.raises(JobServiceError) as stale:
        hook.update_twin_tags(device, {"x": 1}, etag=before["etag"])
    assert stale.value.status == 412 and stale.value.code == "PreconditionFailed"
    with pytest.raises(JobServiceError) as missing:
        hook.update_twin_tags("no-such-device", {"x": 1})
    assert missing.value.status == 404 and missing.value.code == "DeviceNotFound"
