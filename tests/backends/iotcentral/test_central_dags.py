"""IoT Central jobs as real DAG runs (dag.test()) and hook calls against the IoT Central emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iotcentral import (
    IoTCentralDeviceGroupOperator,
    IoTCentralJobOperator,
    IoTCentralRerunJobOperator,
    IoTCentralResumeJobOperator,
    IoTCentralStopJobOperator,
    filter_group_id,
)
from airflow_iot_jobs.sensors.iotcentral import IoTCentralJobSensor
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3, "max_poll_interval": 1.0}
GATEWAYS = 'SELECT * FROM devices WHERE $template = "dtmi:airflowIotJobs:gateway100;1"'
SET_INTERVAL = [
    {"type": "property", "target": "dtmi:airflowIotJobs:gateway100;1", "path": "interval", "value": 60}
]


def dag_named(request: pytest.FixtureRequest) -> DAG:
    return DAG(dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START)


def gateways(app) -> list[str]:
    from airflow_iot_jobs.emulator.iotcentral.devices import filter_record
    from airflow_iot_jobs.query.iotcentral import matcher

    condition = matcher(GATEWAYS)
    return [d.device_id for d in app.fleet.devices() if condition.matches(filter_record(d.doc))]


def app_jobs(app) -> list[dict]:
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    return list(IoTCentralHook().list_jobs())


def test_a_property_job_over_a_filter_in_batches_succeeds(make_central, request):
    central = make_central(devices=300, page_size=25)  # the group spans pages: its count stops at the first
    with dag_named(request) as dag:
        IoTCentralJobOperator(
            task_id="settings",
            device_filter=GATEWAYS,
            data=[{**SET_INTERVAL[0], "type": "PropertyJobData"}],  # the docs' spelling
            batch="25%",
            cancellation_threshold="5%",
            success_threshold="95%",
            display_name="Nightly settings",
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    xcom = result.xcoms["settings"]
    expected = gateways(central)
    assert 0 < xcom["targeted"] == len(expected) and xcom["succeeded"] >= 0.95 * len(expected)
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    hook = IoTCentralHook()
    group = filter_group_id(GATEWAYS)
    assert hook.get_device_group(group)["filter"] == GATEWAYS
    group_puts = [r for r in central.request_log if r[0] == "PUT" and r[1].startswith("/api/deviceGroups/")]
    assert len(group_puts) == 1, "the filter's group is written once per launch"
    device_pages = [r for r in central.request_log if r[1].startswith(f"/api/deviceGroups/{group}/devices")]
    assert len(device_pages) == 1, "without max_devices, the launch only checks that the group has a device"
    job = hook.get_job(xcom["job_id"])
    assert job["data"][0]["type"] == "property"  # sent in the spec's spelling
    assert job["batch"] == {"type": "percentage", "value": 25}
    assert job["cancellationThreshold"] == {"type": "percentage", "value": 5, "batch": False}


def test_a_batch_failing_past_the_cancellation_threshold_cancels_the_job_and_fails_the_task(
    make_central, request
):
    app = make_central(devices=300, failure_rate=0.5)
    with dag_named(request) as dag:
        IoTCentralJobOperator(
            task_id="reboot",
            device_group_id="everything",
            data=[{"type": "command", "target": "dtmi:airflowIotJobs:gateway100;1", "path": "reboot"}],
            batch=20,
            cancellation_threshold={"type": "percentage", "value": 10, "batch": True},
            allow_no_devices=False,
            **FAST,
        )
        (
            IoTCentralDeviceGroupOperator(
                task_id="group", device_group_id="everything", filter="SELECT * FROM devices"
            )
            >> dag.task_dict["reboot"]
        )
    result = run_dag(dag)

    assert result.states["group"] == "success"
    assert result.state == "failed" and result.states["reboot"] == "failed"
    pushed = result.other_xcoms["reboot"][FAILURE_XCOM_KEY]
    assert pushed["status"].lower() in ("cancelled", "canceled")
    assert pushed["failed"] > 0 and pushed["failed_devices"]
    assert pushed["targeted"] == 300 and pushed["succeeded"] + pushed["failed"] < 300, (
        "later batches never ran"
    )
    assert app.state is not None


def test_a_cleared_job_task_reattaches_to_its_job(central, request):
    with dag_named(request) as dag:
        IoTCentralJobOperator(
            task_id="settings", device_filter=GATEWAYS, data=SET_INTERVAL, success_threshold="90%", **FAST
        )
    day = datetime(2026, 2, 1, tzinfo=UTC)
    first = run_dag(dag, logical_date=day, run_after=day)
    second = run_dag(dag, logical_date=day, run_after=day)

    assert first.states == second.states == {"settings": "success"}
    assert first.xcoms["settings"]["job_id"] == second.xcoms["settings"]["job_id"]
    creates = [r for r in central.request_log if r[0] == "PUT" and r[1].startswith("/api/jobs/")]
    assert [status for _, _, status in creates] == [200, 409]


def test_deferrable_job_and_sensor_wait_in_the_triggerer(central, request):
    with dag_named(request) as dag:
        launch = IoTCentralJobOperator(
            task_id="settings", device_filter=GATEWAYS, data=SET_INTERVAL, wait_for_completion=False, **FAST
        )
        wait = IoTCentralJobSensor(
            task_id="wait",
            job_id="{{ ti.xcom_pull('settings')['job_id'] }}",
            success_threshold="90%",
            deferrable=True,
            poke_interval=0.3,
            timeout=120,
        )
        launch >> wait
    result = run_dag(dag)

    assert result.states == {"settings": "success", "wait": "success"}, result.states
    assert result.xcoms["wait"]["succeeded"] >= 0.9 * result.xcoms["wait"]["targeted"] > 0


def test_stop_then_resume_then_rerun_the_failed_devices(make_central, request):
    app = make_central(devices=200, failure_rate=0.2, speed=5.0)
    with dag_named(request) as dag:
        launch = IoTCentralJobOperator(
            task_id="reboot",
            device_group_id="all",
            data=[{"type": "command", "target": "dtmi:airflowIotJobs:sensorX;1", "path": "reboot"}],
            batch=20,
            wait_for_completion=False,
            **FAST,
        )
        stop = IoTCentralStopJobOperator(task_id="stop", job_id="{{ ti.xcom_pull('reboot')['job_id'] }}")
        resume = IoTCentralResumeJobOperator(
            task_id="resume", job_id="{{ ti.xcom_pull('reboot')['job_id'] }}", success_threshold="50%", **FAST
        )
        rerun = IoTCentralRerunJobOperator(
            task_id="rerun",
            job_id="{{ ti.xcom_pull('reboot')['job_id'] }}",
            success_threshold=0,
            trigger_rule="all_done",
            **FAST,
        )
        group = IoTCentralDeviceGroupOperator(
            task_id="group",
            device_group_id="all",
            filter='SELECT * FROM devices WHERE $template = "dtmi:airflowIotJobs:sensorX;1"',
        )
        group >> launch >> stop >> resume >> rerun
    result = run_dag(dag)

    assert result.states["stop"] == "success", result.states
    assert result.xcoms["stop"]["status"].lower() == "stopped"
    assert result.states["resume"] == "success", result.states
    resumed = result.xcoms["resume"]
    assert resumed["failed"] > 0
    assert result.states["rerun"] == "success", result.states
    assert result.xcoms["rerun"]["targeted"] == resumed["failed"]
    assert result.xcoms["rerun"]["job_id"] != resumed["job_id"]
    assert len(app_jobs(app)) == 2  # the job and its rerun


def test_device_group_operator_creates_replaces_and_deletes(central, request):
    with dag_named(request) as dag:
        first = IoTCentralDeviceGroupOperator(task_id="create", device_group_id="g1", filter=GATEWAYS)
        gone = IoTCentralDeviceGroupOperator(task_id="delete", device_group_id="g1", state="absent")
        again = IoTCentralDeviceGroupOperator(task_id="delete_again", device_group_id="g1", state="absent")
        first >> gone >> again
    result = run_dag(dag)

    assert result.states == {"create": "success", "delete": "success", "delete_again": "success"}
    assert result.xcoms["create"]["filter"] == GATEWAYS


def test_hook_contract_over_http(central, request):
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    hook = IoTCentralHook()
    hook.put_device_group("gw", {"displayName": "gateways", "filter": GATEWAYS})
    assert hook.count_devices("gw") == len(gateways(central)) > 0
    hook.create_job("contract-1", {"group": "gw", "data": SET_INTERVAL})
    progress = hook.progress("contract-1")
    assert progress.job_id == "contract-1" and progress.targeted in (0, len(gateways(central)))

    async def read_and_stop():
        async_hook = IoTCentralHook()
        try:
            return await async_hook.aprogress("contract-1"), await async_hook.acancel("contract-1")
        finally:
            await async_hook.aclose()

    read, stopped = asyncio.run(read_and_stop())
    assert read.job_id == "contract-1"
    assert stopped.status.lower() in ("stopped", "complete", "completed")
    assert [job["id"] for job in hook.list_jobs()] == ["contract-1"]
