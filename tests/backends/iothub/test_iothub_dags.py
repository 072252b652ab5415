"""Real DAG runs (dag.test()) against the IoT Hub emulator on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iothub import (
    IoTHubCancelJobOperator,
    IoTHubDeviceMethodJobOperator,
    IoTHubTwinUpdateJobOperator,
)
from airflow_iot_jobs.sensors.iothub import IoTHubJobSensor
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3}


def dag_named(request: pytest.FixtureRequest, **kwargs) -> DAG:
    return DAG(
        dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START, **kwargs
    )


def matching(hub, condition: str) -> int:
    from airflow_iot_jobs.query.iothub import parse_condition

    where = parse_condition(condition)
    return hub.state.count_devices(where)


def test_method_job_meets_its_threshold(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.site = 'ams'",
            method_name="reboot",
            payload={"delay": 1},
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success"
    xcom = result.xcoms["reboot"]
    assert set(xcom) >= {"job_id", "status", "targeted", "succeeded", "failed", "running", "pending"}
    assert xcom["job_id"].startswith("reboot-")
    assert xcom["targeted"] == matching(hub, "tags.site = 'ams'") > 0
    assert xcom["succeeded"] == xcom["targeted"] and xcom["failed"] == 0
    assert list(hub.state.jobs) == [xcom["job_id"]]
    job = hub.state.get_job(xcom["job_id"])
    assert job["type"] == "scheduleDeviceMethod"
    assert job["cloudToDeviceMethod"]["methodName"] == "reboot"
    assert job["cloudToDeviceMethod"]["payload"] == {"delay": 1}


def test_twin_job_changes_the_twins_a_later_job_targets(hub, request):
    with dag_named(request) as dag:
        tag = IoTHubTwinUpdateJobOperator(
            task_id="tag",
            query_condition="tags.site = 'sea' AND tags.floor = 2",
            tags={"maintenance": "{{ ds }}"},
            desired_properties={"telemetryInterval": 60},
            **FAST,
        )
        ping = IoTHubDeviceMethodJobOperator(
            task_id="ping_tagged",
            query_condition="tags.maintenance = '{{ ds }}'",
            method_name="ping",
            **FAST,
        )
        tag >> ping
    result = run_dag(dag, logical_date=datetime(2026, 3, 1, tzinfo=UTC))

    assert result.state == "success", result.states
    expected = matching(hub, "tags.site = 'sea' AND tags.floor = 2")
    assert expected > 0
    assert result.xcoms["tag"]["succeeded"] == expected
    assert result.xcoms["ping_tagged"]["targeted"] == expected
    assert (
        matching(hub, "tags.maintenance = '2026-03-01' AND properties.desired.telemetryInterval = 60")
        == expected
    )


def test_failure_threshold_fails_the_task_and_cancels_the_job(make_hub, request):
    hub = make_hub(devices=400, speed=4.0, failure_rate=0.3, offline_rate=0.0)
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="firmware",
            query_condition="*",
            method_name="firmwareUpdate",
            payload={"version": "2.0.0"},
            failure_threshold="5%",
            cancel_on_failure=True,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "failed"
    assert result.states["firmware"] == "failed"
    (job_id,) = hub.state.jobs
    job = hub.state.get_job(job_id)
    assert job["status"] == "cancelled"
    stats = job["deviceJobStatistics"]
    assert stats["failedCount"] > 0.05 * stats["deviceCount"]
    assert stats["succeededCount"] + stats["failedCount"] < stats["deviceCount"], "cancelled mid-way"


def test_offline_devices_are_reported_with_their_error_code(make_hub, request):
    hub = make_hub(devices=300, speed=50.0, offline_rate=0.1, failure_rate=0.0)
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="ping", query_condition="*", method_name="ping", success_threshold="80%", **FAST
        )
    result = run_dag(dag)

    assert result.state == "success"
    xcom = result.xcoms["ping"]
    offline = matching(hub, "connectionState = 'Disconnected'")
    assert xcom["failed"] == offline > 0
    assert len(xcom["failed_devices"]) == min(offline, 100)
    assert {f["code"] for f in xcom["failed_devices"]} == {"DeviceNotOnline"}


def test_success_threshold_not_met_fails_the_task(make_hub, request):
    make_hub(devices=200, speed=50.0, offline_rate=0.2)
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(task_id="reboot", query_condition="*", method_name="reboot", **FAST)
    result = run_dag(dag)
    assert result.states["reboot"] == "failed"


def test_deferrable_operator_waits_in_the_trigger(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.ring = 'canary'",
            method_name="reboot",
            deferrable=True,
            success_threshold="95%",
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success"
    xcom = result.xcoms["reboot"]
    assert xcom["targeted"] == matching(hub, "tags.ring = 'canary'")
    assert xcom["succeeded"] >= 0.95 * xcom["targeted"]


def test_deferrable_sensor_fails_and_cancels_on_failure_threshold(make_hub, request):
    hub = make_hub(devices=400, speed=4.0, failure_rate=0.4, offline_rate=0.0)
    with dag_named(request) as dag:
        launch = IoTHubDeviceMethodJobOperator(
            task_id="launch", query_condition="*", method_name="reboot", wait_for_completion=False
        )
        wait = IoTHubJobSensor(
            task_id="wait",
            job_id="{{ ti.xcom_pull(task_ids='launch')['job_id'] }}",
            failure_threshold="10%",
            cancel_on_failure=True,
            deferrable=True,
            poke_interval=0.3,
            timeout=120,
        )
        launch >> wait
    result = run_dag(dag)

    assert result.states == {"launch": "success", "wait": "failed"}
    (job_id,) = hub.state.jobs
    assert hub.state.get_job(job_id)["status"] == "cancelled"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_modes_wait_for_the_threshold(hub, request, mode):
    with dag_named(request) as dag:
        launch = IoTHubTwinUpdateJobOperator(
            task_id="launch",
            query_condition="tags.model = 'gw-100'",
            tags={"wave": 1},
            wait_for_completion=False,
        )
        wait = IoTHubJobSensor(
            task_id="wait",
            job_id="{{ ti.xcom_pull(task_ids='launch')['job_id'] }}",
            success_threshold="100%",
            mode=mode,
            poke_interval=1,
            timeout=120,
        )
        launch >> wait
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["wait"]["succeeded"] == matching(hub, "tags.model = 'gw-100'")
    assert result.xcoms["wait"]["job_id"] == result.xcoms["launch"]["job_id"]


def test_future_start_time_is_scheduled_then_cancelled(hub, request):
    start = (datetime.now().astimezone() + timedelta(hours=6)).isoformat()
    with dag_named(request) as dag:
        launch = IoTHubDeviceMethodJobOperator(
            task_id="launch",
            query_condition="*",
            method_name="ping",
            start_time=start,
            wait_for_completion=False,
        )
        cancel = IoTHubCancelJobOperator(
            task_id="cancel", job_id="{{ ti.xcom_pull(task_ids='launch')['job_id'] }}"
        )
        launch >> cancel
    result = run_dag(dag)

    assert result.state == "success"
    assert result.xcoms["launch"]["status"] in {"queued", "scheduled"}
    assert result.xcoms["cancel"]["status"] == "cancelled"


def _context(dag_id: str, task_id: str, run_id: str) -> dict:
    pushed: dict = {}
    ti = SimpleNamespace(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=-1,
        xcom_push=lambda key, value: pushed.update({key: value}),
    )
    return {"ti": ti, "pushed": pushed}


def test_execute_twice_for_one_task_instance_launches_one_job(hub):
    operator = IoTHubDeviceMethodJobOperator(
        task_id="reboot", query_condition="tags.site = 'fra'", method_name="reboot", **FAST
    )
    first = operator.execute(_context("maintenance", "reboot", "scheduled__2026-11-22"))
    again = IoTHubDeviceMethodJobOperator(
        task_id="reboot", query_condition="tags.site = 'fra'", method_name="reboot", **FAST
    ).execute(_context("maintenance", "reboot", "scheduled__2026-11-22"))

    assert first["job_id"] == again["job_id"]
    assert list(hub.state.jobs) == [first["job_id"]]
    assert again["succeeded"] == first["succeeded"] == matching(hub, "tags.site = 'fra'")

    other_run = IoTHubDeviceMethodJobOperator(
        task_id="reboot", query_condition="tags.site = 'fra'", method_name="reboot", **FAST
    ).execute(_context("maintenance", "reboot", "scheduled__2026-11-29"))
    assert other_run["job_id"] != first["job_id"] and len(hub.state.jobs) == 2


def test_busy_hub_makes_the_launch_wait_for_a_slot(make_hub, request):
    hub = make_hub(devices=400, speed=1.0, offline_rate=0.0, max_active_jobs=1)  # the first job lasts seconds
    with dag_named(request) as dag:
        first = IoTHubDeviceMethodJobOperator(
            task_id="first", query_condition="*", method_name="ping", wait_for_completion=False
        )
        second = IoTHubDeviceMethodJobOperator(
            task_id="second", query_condition="*", method_name="reboot", **FAST
        )
        first >> second
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert len(hub.state.jobs) == 2
    assert ("PUT", 429) in {(method, status) for method, _path, status in hub.request_log}


def test_invalid_input_fails_before_any_request(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="bad", query_condition="tags.site = 'ams' AND", method_name="reboot", **FAST
        )
    result = run_dag(dag)

    assert result.states["bad"] == "failed"
    assert hub.request_log == []


def test_max_devices_refuses_a_job_over_too_many_devices(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="too_many", query_condition="*", method_name="reboot", max_devices=100, **FAST
        )
        IoTHubDeviceMethodJobOperator(
            task_id="few_enough",
            query_condition="tags.site = 'ams'",
            method_name="reboot",
            max_devices=100,
            **FAST,
        )
    result = run_dag(dag)

    assert result.states == {"too_many": "failed", "few_enough": "success"}
    (job_id,) = hub.state.jobs
    assert job_id.startswith("few-enough-")
    assert result.xcoms["few_enough"]["targeted"] == matching(hub, "tags.site = 'ams'") <= 100
