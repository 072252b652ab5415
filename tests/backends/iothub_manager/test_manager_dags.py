"""IoTHub Manager jobs as real DAG runs (dag.test()) against the emulator: both job operators polling and
deferred, the sensor, the report, thresholds, cancel through the hub, re-attaching on a retry, the JWT kept out of
logs, XCom and trigger kwargs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook
from airflow_iot_jobs.operators.iothub_manager import (
    IoTHubManagerJobReportOperator,
    IoTHubManagerMethodJobOperator,
    IoTHubManagerTwinUpdateJobOperator,
)
from airflow_iot_jobs.sensors.iothub_manager import IoTHubManagerJobSensor
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3, "max_poll_interval": 1.0}
AMS = "tags.site = 'ams'"


def dag_named(request: pytest.FixtureRequest, **kwargs) -> DAG:
    name = request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    return DAG(dag_id=name, schedule=None, start_date=START, **kwargs)


def matching(emulator, condition: str) -> int:
    from airflow_iot_jobs.query.iothub import parse_condition

    return emulator.state.count_devices(parse_condition(condition))


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_a_method_job_meets_its_threshold(manager, request, deferrable):
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="reboot",
            query_condition=AMS,
            method_name="reboot",
            payload={"delay": 5},
            response_timeout=60,
            success_threshold="95%",
            failure_threshold="5%",
            deferrable=deferrable,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    xcom = result.xcoms["reboot"]
    assert xcom["targeted"] == matching(manager, AMS) > 0 and xcom["succeeded"] == xcom["targeted"]
    assert xcom["status"] == "Completed"
    job = manager.state.get_job(xcom["job_id"])
    assert job["type"] == "scheduleDeviceMethod" and job["cloudToDeviceMethod"]["payload"] == {"delay": 5}
    assert job["maxExecutionTimeInSeconds"] == 3600
    assert len(manager.state.jobs) == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_a_twin_job_over_device_ids(manager, request, deferrable):
    devices = sorted(d.device_id for d in manager.fleet.devices())[:7]
    with dag_named(request) as dag:
        IoTHubManagerTwinUpdateJobOperator(
            task_id="tag",
            device_ids=devices,
            tags={"maintenance": "2026-12-06"},
            desired_properties={"telemetryIntervalSeconds": 120},
            max_execution_time="PT30M",
            deferrable=deferrable,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["tag"]["targeted"] == result.xcoms["tag"]["succeeded"] == 7
    job = manager.state.get_job(result.xcoms["tag"]["job_id"])
    assert job["maxExecutionTimeInSeconds"] == 1800 and job["updateTwin"]["tags"] == {
        "maintenance": "2026-12-06"
    }
    assert matching(manager, "tags.maintenance = '2026-12-06'") == 7


def test_the_sensor_and_the_report_see_the_job(manager, request, tmp_path):
    output = tmp_path / "reports" / "jobs.jsonl"
    with dag_named(request) as dag:
        launch = IoTHubManagerMethodJobOperator(
            task_id="ping", query_condition="*", method_name="ping", wait_for_completion=False, **FAST
        )
        poke = IoTHubManagerJobSensor(
            task_id="wait_poke", job_id="{{ ti.xcom_pull('ping')['job_id'] }}", poke_interval=0.3, timeout=60
        )
        deferred = IoTHubManagerJobSensor(
            task_id="wait_deferred",
            job_id="{{ ti.xcom_pull('ping')['job_id'] }}",
            poke_interval=0.3,
            timeout=60,
            deferrable=True,
        )
        report = IoTHubManagerJobReportOperator(
            task_id="report", from_time="NOW-P30D", output_path=str(output) + "{{ '' }}"
        )
        filtered = IoTHubManagerJobReportOperator(
            task_id="report_twins", job_type="ScheduleUpdateTwin", job_status="completed"
        )
        launch >> [poke, deferred] >> report >> filtered
    result = run_dag(dag)

    assert result.state == "success", result.states
    job_id = result.xcoms["ping"]["job_id"]
    assert result.xcoms["wait_poke"]["job_id"] == result.xcoms["wait_deferred"]["job_id"] == job_id
    assert result.xcoms["wait_deferred"]["succeeded"] == 200
    assert result.xcoms["report"] == {
        "total": 1,
        "by_type": {"ScheduleDeviceMethod": 1},
        "by_status": {"Completed": 1},
        "failures": [],
    }
    assert result.xcoms["report_twins"] == {"total": 0, "by_type": {}, "by_status": {}, "failures": []}
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(row["JobId"], row["Type"], row["Status"]) for row in lines] == [(job_id, 3, 3)]


def test_the_report_lists_failures_and_logs_a_table(make_manager, request, logs):
    make_manager(devices=120, failure_rate=0.25)
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="flaky", query_condition="*", method_name="reboot", success_threshold="50%", **FAST
        )
        IoTHubManagerTwinUpdateJobOperator(task_id="tag", query_condition="*", tags={"audited": True}, **FAST)
        report = IoTHubManagerJobReportOperator(task_id="report", trigger_rule="all_done")
        dag.tasks[0] >> dag.tasks[1] >> report
    result = run_dag(dag)

    summary = result.xcoms["report"]
    assert summary["total"] == 2 and summary["by_type"] == {
        "ScheduleDeviceMethod": 1,
        "ScheduleUpdateTwin": 1,
    }
    assert sum(summary["by_status"].values()) == 2
    flaky = [f for f in summary["failures"] if f["job_id"] == result.xcoms["flaky"]["job_id"]]
    assert flaky and flaky[0]["type"] == "ScheduleDeviceMethod" and flaky[0]["failed"] > 0
    text = logs()
    assert "2 job(s) created NOW-P30D" in text
    assert "ScheduleDeviceMethod" in text and "failed: " + flaky[0]["job_id"] in text


def test_a_failure_threshold_fails_the_task_with_the_failed_devices(make_manager, request):
    make_manager(devices=100, failure_rate=0.3)
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="reboot", query_condition="*", method_name="reboot", failure_threshold="5%", **FAST
        )
    result = run_dag(dag)

    assert result.states["reboot"] == "failed"
    failed = result.other_xcoms["reboot"][FAILURE_XCOM_KEY]
    assert failed["failed"] > 5 and failed["failed_devices"] and failed["failed_devices"][0]["device_id"]


def test_cancel_on_failure_goes_through_the_hub_named_by_iothub_conn_id(make_manager, request):
    emulator = make_manager(devices=400, failure_rate=0.3, speed=2.0)
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="reboot",
            query_condition="*",
            method_name="reboot",
            failure_threshold=0,
            cancel_on_failure=True,
            iothub_conn_id="azure_iot_hub_default",
            max_devices=400,
            **FAST,
        )
    result = run_dag(dag)

    assert result.states["reboot"] == "failed"
    job_id = result.other_xcoms["reboot"][FAILURE_XCOM_KEY]["job_id"]
    assert emulator.state.get_job(job_id)["status"] == "cancelled"
    assert ("POST", f"/jobs/v2/{job_id}/cancel", 200) in [r[:3] for r in emulator.hub.request_log]


def test_max_devices_and_an_empty_target_are_checked_on_the_hub_before_the_launch(manager, request):
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="too_many",
            query_condition="*",
            method_name="reboot",
            max_devices=10,
            iothub_conn_id="azure_iot_hub_default",
            **FAST,
        )
        IoTHubManagerMethodJobOperator(
            task_id="nobody",
            query_condition="tags.site = 'nowhere'",
            method_name="reboot",
            iothub_conn_id="azure_iot_hub_default",
            **FAST,
        )
        IoTHubManagerMethodJobOperator(
            task_id="plan",
            query_condition=AMS,
            method_name="reboot",
            dry_run=True,
            iothub_conn_id="azure_iot_hub_default",
        )
    result = run_dag(dag)

    assert result.states == {"too_many": "failed", "nobody": "failed", "plan": "success"}
    assert result.xcoms["plan"]["devices"] == matching(manager, AMS)
    assert manager.state.jobs == {} and not [r for r in manager.request_log if r[0] == "POST"]


def test_without_the_hub_an_empty_target_fails_when_the_job_ends(manager, request):
    with dag_named(request) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="nobody", query_condition="tags.site = 'nowhere'", method_name="reboot", **FAST
        )
    result = run_dag(dag)

    assert result.states["nobody"] == "failed"
    assert result.other_xcoms["nobody"][FAILURE_XCOM_KEY]["targeted"] == 0


def _fail_first_try(context, result):
    if context["ti"].try_number == 1:
        raise RuntimeError("the worker died after the job was launched")


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_a_retry_reattaches_to_the_job_its_first_try_launched(manager, request, deferrable):
    with dag_named(request, default_args={"retries": 1, "retry_delay": timedelta(0)}) as dag:
        IoTHubManagerMethodJobOperator(
            task_id="reboot",
            query_condition="*",
            method_name="reboot",
            deferrable=deferrable,
            post_execute=_fail_first_try,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success" and result.tries["reboot"] == 2, result.states
    posts = [r[2] for r in manager.request_log if r[:2] == ("POST", "/v1/jobs")]
    assert posts == [200, 409], "try 2 sent the same JobId, got 409 and re-attached"
    assert list(manager.state.jobs) == [result.xcoms["reboot"]["job_id"]]


def test_a_job_id_taken_by_another_kind_of_job_is_refused(manager, request):
    IoTHubManagerHook().create_device_method_job("mgr-taken", "*", "ping")
    with dag_named(request) as dag:
        IoTHubManagerTwinUpdateJobOperator(
            task_id="tag", job_id="mgr-taken", query_condition="*", tags={"a": 1}
        )
        IoTHubManagerMethodJobOperator(
            task_id="same", job_id="mgr-taken", query_condition="*", method_name="ping"
        )
    result = run_dag(dag)

    assert result.states == {"tag": "failed", "same": "success"}
    assert len(manager.state.jobs) == 1


def test_the_jwt_never_reaches_logs_xcom_or_trigger_kwargs(manager, request, logs):
    token = manager.bearer_token
    with dag_named(request) as dag:
        op = IoTHubManagerMethodJobOperator(
            task_id="reboot", query_condition=AMS, method_name="reboot", deferrable=True, **FAST
        )
        IoTHubManagerJobReportOperator(task_id="report")
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert token and token not in logs()
    assert token not in json.dumps(result.xcoms) + json.dumps(result.other_xcoms, default=str)
    from airflow_iot_jobs.triggers.iothub_manager import IoTHubManagerJobTrigger

    trigger = IoTHubManagerJobTrigger(job_id="j", hook_params=op.hook_params, end_time=1.0)
    assert token not in json.dumps(trigger.serialize())
    assert trigger.serialize()[1]["hook_params"] == {
        "iothub_manager_conn_id": "iothub_manager_default",
        "iothub_conn_id": None,
    }
    assert token[:20] not in repr(IoTHubManagerHook().settings)
