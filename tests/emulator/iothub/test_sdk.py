"""azure-iot-hub's own IoTHubJobManager against the emulator (contract §2.2, §2.5)."""

from __future__ import annotations

import base64

import pytest
from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import CloudToDeviceMethod, JobRequest, Twin
from msrest.exceptions import DeserializationError, HttpOperationError

from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from tests.emulator.iothub.helpers import HubClient


def _manager(hub: IoTHubEmulator, connection_string: str | None = None) -> IoTHubJobManager:
    manager = IoTHubJobManager.from_connection_string(connection_string or hub.connection_string)
    manager.protocol.config.base_url = hub.endpoint
    return manager


def _method_request(job_id: str) -> JobRequest:
    return JobRequest(
        job_id=job_id,
        type="scheduleDeviceMethod",
        cloud_to_device_method=CloudToDeviceMethod(
            method_name="reboot", payload={}, response_timeout_in_seconds=30, connect_timeout_in_seconds=15
        ),
        start_time="2999-01-01T00:00:00.000Z",
        max_execution_time_in_seconds=60,
        query_condition="*",
    )


def test_sdk_creates_gets_and_cancels_a_method_job(hub: IoTHubEmulator) -> None:
    manager = _manager(hub)
    created = manager.create_scheduled_job("sdk-job", _method_request("sdk-job"))
    assert (created.job_id, created.type, created.status) == ("sdk-job", "scheduleDeviceMethod", "queued")

    job = manager.get_scheduled_job("sdk-job")
    assert job.job_id == "sdk-job"
    assert job.query_condition == "*"
    assert job.max_execution_time_in_seconds == 60
    assert job.cloud_to_device_method.method_name == "reboot"
    assert job.created_time is not None and job.start_time.year == 2999
    assert job.device_job_statistics.device_count == 0

    cancelled = manager.cancel_scheduled_job("sdk-job")
    assert cancelled.status == "cancelled"
    assert cancelled.end_time is not None
    assert [entry[:2] for entry in hub.request_log] == [
        ("PUT", "/jobs/v2/sdk-job"),
        ("GET", "/jobs/v2/sdk-job"),
        ("POST", "/jobs/v2/sdk-job/cancel"),
    ]


def test_sdk_creates_a_twin_job(hub: IoTHubEmulator) -> None:
    manager = _manager(hub)
    request = JobRequest(
        job_id="sdk-twin",
        type="scheduleUpdateTwin",
        update_twin=Twin(etag="*", tags={"ring": "pilot"}),
        query_condition="tags.site = 'ams'",
        max_execution_time_in_seconds=60,
    )
    assert manager.create_scheduled_job("sdk-twin", request).status == "queued"
    job = manager.get_scheduled_job("sdk-twin")
    assert job.update_twin.etag == "*"
    assert job.update_twin.tags == {"ring": "pilot"}


def test_sdk_sees_unknown_jobs_as_status_unknown(hub: IoTHubEmulator) -> None:
    job = _manager(hub).get_scheduled_job("never-created")
    assert (job.type, job.status) == ("unknown", "unknown")


def test_sdk_errors_are_http_operation_errors(hub: IoTHubEmulator) -> None:
    manager = _manager(hub)
    with pytest.raises(HttpOperationError) as info:
        manager.cancel_scheduled_job("missing")
    assert info.value.response.status_code == 404
    assert info.value.response.headers["iothub-errorcode"] == "JobNotFound"
    manager.create_scheduled_job("dup", _method_request("dup"))
    with pytest.raises(HttpOperationError) as info:
        manager.create_scheduled_job("dup", _method_request("dup"))
    assert info.value.response.status_code == 409


def test_sdk_with_a_wrong_key_is_refused_with_401(hub: IoTHubEmulator) -> None:
    wrong_key = base64.b64encode(b"not the hub key, 32 bytes long!!").decode()
    connection_string = f"HostName={hub.hostname};SharedAccessKeyName=iothubowner;SharedAccessKey={wrong_key}"
    with pytest.raises(HttpOperationError) as info:
        _manager(hub, connection_string).get_scheduled_job("anything")
    assert info.value.response.status_code == 401
    assert info.value.response.headers["iothub-errorcode"] == "IotHubUnauthorizedAccess"


def test_sdk_query_scheduled_jobs_breaks_on_the_real_array_body(hub: IoTHubEmulator) -> None:
    """Documents the quirk of contract §0.2: the service (and so the emulator) answers a JSON array, which
    azure-iot-hub 2.7.0 tries to read as the spec's QueryResult object and fails."""
    manager = _manager(hub)
    manager.create_scheduled_job("listed", _method_request("listed"))
    with pytest.raises(DeserializationError, match="'list' object has no attribute 'get'"):
        manager.query_scheduled_jobs(job_type="scheduleDeviceMethod", job_status=None)
    # The body itself is fine; read it with a plain HTTP client instead.
    response = HubClient(hub).request("GET", "/jobs/v2/query", params={"jobType": "scheduleDeviceMethod"})
    assert response.status_code == 200
    assert [job["jobId"] for job in response.json()] == ["listed"]
