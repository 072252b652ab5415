"""The IoTHub Manager wire, without a server: bodies, time spans, enums, statuses, errors, connection settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from airflow_iot_jobs.hooks.iothub_manager_settings import IoTHubManagerSettings
from airflow_iot_jobs.hooks.iothub_manager_wire import (
    error_from_response,
    failure_from_device,
    job_body,
    method_parameter,
    progress_from_job,
    timespan,
    update_twin,
)
from airflow_iot_jobs.jobs import ErrorKind, JobAlreadyExistsError, JobPhase

PREFIX = "Microsoft.Azure.IoTSolutions.IotHubManager.Services.Exceptions."


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00:00"), (30, "00:00:30"), (300, "00:05:00"), (3725, "01:02:05"), (90061, "1.01:01:01")],
)
def test_time_spans_are_newtonsoft_hh_mm_ss(seconds, text):
    assert timespan(seconds) == text


def test_a_method_job_body_is_pascal_case_with_start_and_max_execution_time_always_sent():
    body = job_body("j1", "tags.site = 'ams'", None, 3600)
    body["MethodParameter"] = method_parameter("reboot", {"delay": 5}, 30, 0)
    assert set(body) == {
        "JobId",
        "QueryCondition",
        "StartTimeUtc",
        "MaxExecutionTimeInSeconds",
        "MethodParameter",
    }
    assert body["MaxExecutionTimeInSeconds"] == 3600
    assert abs(datetime.fromisoformat(body["StartTimeUtc"]) - datetime.now(UTC)).total_seconds() < 5
    assert body["MethodParameter"] == {
        "Name": "reboot",
        "ResponseTimeout": "00:00:30",
        "ConnectionTimeout": "00:00:00",
        "JsonPayload": '{"delay":5}',
    }
    assert "JsonPayload" not in method_parameter("ping", None, 30, 30)
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert job_body("j", "*", start, 60)["StartTimeUtc"] == "2026-03-01T02:00:00Z"


def test_a_twin_body_carries_tags_desired_properties_and_etag():
    assert update_twin({"ring": "early"}, {"interval": 60}, "*") == {
        "ETag": "*",
        "Tags": {"ring": "early"},
        "Properties": {"Desired": {"interval": 60}},
    }
    assert update_twin(None, {"a": 1}, "AAAA") == {"ETag": "AAAA", "Properties": {"Desired": {"a": 1}}}


@pytest.mark.parametrize(
    ("status", "phase", "terminal"),
    [
        (0, JobPhase.UNKNOWN, False),
        (1, JobPhase.PENDING, False),
        (2, JobPhase.RUNNING, False),
        (3, JobPhase.COMPLETED, True),
        (4, JobPhase.FAILED, True),
        (5, JobPhase.CANCELLED, True),
        (6, JobPhase.PENDING, False),
        (7, JobPhase.PENDING, False),
    ],
)
def test_numeric_statuses_map_to_phases_once(status, phase, terminal):
    progress = progress_from_job({"JobId": "j", "Type": 3, "Status": status})
    assert progress.phase is phase and progress.terminal is terminal
    assert progress.job_type == "ScheduleDeviceMethod"


def test_progress_reads_result_statistics():
    job = {
        "JobId": "j",
        "Type": 4,
        "Status": 4,
        "FailureReason": "timed out",
        "ResultStatistics": {
            "DeviceCount": 10,
            "FailedCount": 2,
            "SucceededCount": 7,
            "RunningCount": 1,
            "PendingCount": 0,
        },
    }
    progress = progress_from_job(job)
    assert (progress.status, progress.job_type, progress.failure_reason) == (
        "Failed",
        "ScheduleUpdateTwin",
        "timed out",
    )
    assert (progress.targeted, progress.succeeded, progress.failed, progress.running, progress.pending) == (
        10,
        7,
        2,
        1,
        0,
    )


def test_a_failed_device_reads_its_error_or_its_outcome():
    row = {"DeviceId": "d1", "Status": 4, "Error": {"Code": "DeviceNotOnline", "Description": "offline"}}
    assert failure_from_device(row).to_dict() == {
        "device_id": "d1",
        "code": "DeviceNotOnline",
        "description": "offline",
    }
    bare = failure_from_device({"DeviceId": "d2", "Status": 4, "Outcome": {"status": 500}})
    assert (bare.code, bare.description) == ("Failed", 'outcome {"status":500}')


def _error(status, exception_type=None, message="boom", body=None):
    if body is None:
        body = {
            "Message": "An error has occurred.",
            "ExceptionMessage": message,
            "ExceptionType": exception_type,
        }
    return error_from_response(status, {}, json.dumps(body))


def test_errors_carry_the_exception_type_and_message_and_a_neutral_kind():
    conflict = _error(409, PREFIX + "ConflictingResourceException", "job j1 exists")
    assert isinstance(conflict, JobAlreadyExistsError) and conflict.code == "ConflictingResourceException"
    assert conflict.message == "job j1 exists" and conflict.kind is ErrorKind.ALREADY_EXISTS
    hub_dup = _error(500, "Microsoft.Azure.Devices.Common.Exceptions.JobAlreadyExistsException")
    assert hub_dup.kind is ErrorKind.ALREADY_EXISTS, "the hub's own exception passes through as a 500"
    assert _error(409, PREFIX + "ResourceOutOfDateException").kind is ErrorKind.PERMANENT
    assert _error(500, "System.NotSupportedException").kind is ErrorKind.PERMANENT
    assert _error(400, PREFIX + "InvalidInputException").kind is ErrorKind.PERMANENT
    assert _error(404, PREFIX + "ResourceNotFoundException").kind is ErrorKind.NOT_FOUND
    assert _error(500, "System.Exception").kind is ErrorKind.TRANSIENT
    assert _error(429, None, body={}).kind is ErrorKind.THROTTLED
    unauthorized = _error(401, body={"Error": "Authentication required"})
    assert (unauthorized.code, unauthorized.message, unauthorized.kind) == (
        "Unauthorized",
        "Authentication required",
        ErrorKind.PERMANENT,
    )
    assert _error(503, body={"Error": "Authentication service not available"}).transient
    assert _error(403, PREFIX + "NotAuthorizedException").permanent
    assert error_from_response(502, {}, "<html>bad gateway</html>").transient


def _conn(host, password=None, extra=None, schema=None, port=None):
    return SimpleNamespace(conn_id="c", host=host, password=password, schema=schema, port=port), extra or {}


@pytest.mark.parametrize(
    ("host", "schema", "port", "endpoint"),
    [
        ("http://remote-monitoring:9002", None, None, "http://remote-monitoring:9002"),
        ("https://pcs.example.net/iothubmanager/", None, None, "https://pcs.example.net/iothubmanager"),
        ("https://pcs.example.net/iothubmanager/v1", None, None, "https://pcs.example.net/iothubmanager"),
        ("remote-monitoring", "http", 9002, "http://remote-monitoring:9002"),
        ("pcs.example.net", None, None, "https://pcs.example.net"),
        ("http://127.0.0.1", None, 8080, "http://127.0.0.1:8080"),
    ],
)
def test_the_host_is_the_service_base_url(host, schema, port, endpoint):
    assert IoTHubManagerSettings.from_connection(*_conn(host, schema=schema, port=port)).endpoint == endpoint


def test_a_bearer_token_sends_x_source_and_authorization_and_is_a_secret():
    settings = IoTHubManagerSettings.from_connection(
        *_conn(
            "http://h:9002", "Bearer eyJ.canary.sig", {"headers": '{"X-Tenant": "t1", "Api-Key": "k-123"}'}
        )
    )
    assert settings.headers() == {
        "X-Tenant": "t1",
        "Api-Key": "k-123",
        "X-Source": "external",
        "Authorization": "Bearer eyJ.canary.sig",
    }
    assert set(settings.secrets) == {"eyJ.canary.sig", "k-123"}
    assert "eyJ" not in repr(settings) and "k-123" not in repr(settings)
    anonymous = IoTHubManagerSettings.from_connection(
        *_conn("http://h:9002", extra={"headers": {"X-Tenant": "t1"}})
    )
    assert anonymous.headers() == {"X-Tenant": "t1"} and anonymous.secrets == []
    custom = IoTHubManagerSettings.from_connection(*_conn("http://h", "tok", {"x_source": "airflow"}))
    assert custom.headers()["X-Source"] == "airflow"


@pytest.mark.parametrize(
    ("host", "extra"),
    [("", {}), ("ftp://h", {}), ("http://h", {"headers": "[1]"}), ("http://h", {"headers": "{bad"})],
)
def test_bad_connections_say_what_to_fix(host, extra):
    with pytest.raises(ValueError, match=r"^connection 'c': "):
        IoTHubManagerSettings.from_connection(*_conn(host, extra=extra))


def test_the_connection_form():
    from airflow_iot_jobs.backends import BACKENDS, IOTHUB_MANAGER
    from airflow_iot_jobs.provider_info import CONNECTION_FORMS

    form = CONNECTION_FORMS[IOTHUB_MANAGER.conn_type]
    assert form["ui-field-behaviour"]["relabeling"] == {
        "host": "Service base URL",
        "password": "Bearer token (JWT, optional)",
    }
    assert set(form["conn-fields"]) == {"headers", "x_source"}
    assert IOTHUB_MANAGER in BACKENDS
    from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook

    assert (
        IoTHubManagerHook.conn_type,
        IoTHubManagerHook.conn_name_attr,
        IoTHubManagerHook.default_conn_name,
    ) == (
        "iothub_manager",
        "iothub_manager_conn_id",
        "iothub_manager_default",
    )
