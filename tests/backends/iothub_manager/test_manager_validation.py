"""IoTHub Manager input rules: every bad value is a ValueError naming its field, raised before any request
(DAG parse for literals, execute for rendered templates)."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_iot_jobs.hooks.http_base import HttpJobsHook
from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook
from airflow_iot_jobs.operators.iothub_manager import (
    IoTHubManagerJobReportOperator,
    IoTHubManagerMethodJobOperator,
    IoTHubManagerTwinUpdateJobOperator,
)
from airflow_iot_jobs.sensors.iothub_manager import IoTHubManagerJobSensor

CONN = '{"conn_type": "iothub_manager", "host": "http://127.0.0.1:9"}'  # nothing listens: no call may be made


@pytest.fixture
def sent(monkeypatch):
    """Every request the hooks would send (none, in these tests)."""
    calls = []
    monkeypatch.setenv("AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT", CONN)
    monkeypatch.setattr(HttpJobsHook, "_send_once", lambda self, call: calls.append(call))
    return calls


def method(**overrides):
    options = {"task_id": "m", "query_condition": "tags.site = 'ams'", "method_name": "reboot", **overrides}
    return IoTHubManagerMethodJobOperator(**options)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: method(cancel_on_failure=True), "cancel_on_failure"),
        (lambda: method(cancel_on_kill=True), "cancel_on_kill"),
        (lambda: method(max_devices=100), "max_devices"),
        (lambda: method(query_condition=None), "query_condition / device_ids"),
        (lambda: method(device_ids=["a"]), "query_condition / device_ids"),
        (lambda: method(success_threshold="150%"), "success_threshold"),
        (lambda: method(failure_threshold="-1"), "failure_threshold"),
        (lambda: method(poll_interval=0), "poll_interval"),
        (lambda: method(dry_run="maybe"), "dry_run"),
        (
            lambda: IoTHubManagerTwinUpdateJobOperator(task_id="t", query_condition="*"),
            "tags / desired_properties",
        ),
        (
            lambda: IoTHubManagerJobSensor(task_id="s", job_id="j", cancel_on_failure=True),
            "cancel_on_failure",
        ),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", from_time="NOW-30D"), "from_time"),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", from_time="last month"), "from_time"),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", to_time="NOW-P1M"), "to_time"),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", to_time="2026-01-01T00:00:00"), "to_time"),
        (
            lambda: IoTHubManagerJobReportOperator(task_id="r", from_time="NOW", to_time="NOW-P1D"),
            "from_time",
        ),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", job_type="Reboot"), "job_type"),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", job_status=9), "job_status"),
        (lambda: IoTHubManagerJobReportOperator(task_id="r", page_size=0), "page_size"),
    ],
)
def test_bad_literals_fail_at_dag_parse_naming_the_field(build, field, sent):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        build()
    assert sent == []


def test_the_cancel_refusal_says_why_and_what_to_do():
    with pytest.raises(ValueError) as err:
        method(cancel_on_failure=True)
    assert "no cancel route" in str(err.value) and "iothub_conn_id" in str(err.value)


def test_cancel_and_max_devices_are_allowed_with_the_hub_behind_the_service(sent):
    operator = method(cancel_on_failure=True, cancel_on_kill=True, max_devices=10, iothub_conn_id="hub")
    assert operator.hook_params == {
        "iothub_manager_conn_id": "iothub_manager_default",
        "iothub_conn_id": "hub",
    }
    assert operator.hook.supports_cancel and operator.hook.supports_count
    sensor = IoTHubManagerJobSensor(task_id="s", job_id="j", cancel_on_failure=True, iothub_conn_id="hub")
    assert sensor.hook_params["iothub_conn_id"] == "hub"
    assert not method().hook.supports_cancel and not method().hook.supports_count
    assert sent == []


def test_templated_values_wait_for_rendering():
    method(cancel_on_failure=False, success_threshold="{{ params.s }}", payload="{{ params.p }}")
    IoTHubManagerJobReportOperator(task_id="r", from_time="{{ params.since }}", job_type="{{ params.t }}")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"query_condition": "tags.site = "}, "query_condition"),
        ({"method_name": "re boot"}, "method_name"),
        ({"payload": "{not json"}, "payload"),
        ({"payload": {"blob": "x" * (128 * 1024)}}, "payload"),
        ({"response_timeout": 3}, "response_timeout"),
        ({"connect_timeout": 301}, "connect_timeout"),
        ({"start_time": "2026-01-01T00:00:00"}, "start_time"),
        ({"max_execution_time": "P30D"}, "max_execution_time"),
        ({"job_id": "bad id!"}, "job_id"),
        ({"job_id": "x" * 129}, "job_id"),
        ({"success_threshold": "95 percent"}, "success_threshold"),
    ],
)
def test_bad_rendered_method_inputs_fail_before_any_request(overrides, field, sent):
    operator = method(job_id="job-1")
    for name, value in overrides.items():
        setattr(operator, name, value)
    with pytest.raises(ValueError, match=rf"^{field}: "):
        operator.execute({})
    assert sent == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tags": {"a.b": 1}}, "tags"),
        (
            {
                "desired_properties": {
                    "l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": {"l8": {"l9": {"l10": {}}}}}}}}}}
                }
            },
            "desired_properties",
        ),
        ({"tags": {}, "desired_properties": {}}, "tags / desired_properties"),
        ({"etag": ""}, "etag"),
        ({"device_ids": ["ok", "bad id"], "query_condition": None}, "device_ids"),
    ],
)
def test_bad_rendered_twin_inputs_fail_before_any_request(overrides, field, sent):
    operator = IoTHubManagerTwinUpdateJobOperator(
        task_id="t", job_id="job-1", query_condition="*", tags={"a": 1}
    )
    for name, value in overrides.items():
        setattr(operator, name, value)
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        operator.execute({})
    assert sent == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.list_jobs(job_type="Reboot"), "job_type"),
        (lambda h: h.list_jobs(job_status="done"), "job_status"),
        (lambda h: h.list_jobs(page_size=-1), "page_size"),
        (lambda h: h.list_jobs(from_time="NOW-P1W"), "from_time"),
        (lambda h: h.list_jobs(to_time=datetime(2026, 1, 1)), "to_time"),
        (lambda h: h.get_job("j", device_job_status="Exploded"), "device_job_status"),
        (lambda h: h.get_job("j/../x"), "job_id"),
        (lambda h: h.create_device_method_job("", "*", "reboot"), "job_id"),
    ],
)
def test_the_hook_checks_its_arguments_before_any_request(call, field, sent):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        call(IoTHubManagerHook())
    assert sent == []


def test_the_report_checks_rendered_filters_before_any_request(sent):
    report = IoTHubManagerJobReportOperator(task_id="r", from_time="{{ params.since }}")
    report.from_time = "NOW-30D"  # what the seed's own example says; the service would ignore it silently
    with pytest.raises(ValueError, match=r"^from_time: 'NOW-30D' needs an ISO 8601 duration"):
        report.execute({})
    assert sent == []
