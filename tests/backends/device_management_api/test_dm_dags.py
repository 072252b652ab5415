"""The Device Management API operators, sensor and example DAG as real DAG runs (dag.test()) against the emulator's
Job API on 127.0.0.1; what happened is read back from the emulator's state (the AWS IoT job the REST call made)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.device_management_api import (
    DeviceManagementApiCancelJobOperator,
    DeviceManagementApiDeleteJobOperator,
    DeviceManagementApiJobOperator,
    DeviceManagementApiJobTemplateOperator,
)
from airflow_iot_jobs.sensors.device_management_api import DeviceManagementApiJobSensor
from tests.backends.device_management_api.conftest import arn, creates
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3, "max_poll_interval": 0.5}
EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"
NAME = "device_management_api_rollout"
FLEET = arn("thinggroup", "fleet")


def dag_named(request: pytest.FixtureRequest) -> DAG:
    return DAG(dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START)


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "0.5")
    spec = importlib.util.spec_from_file_location(NAME, EXAMPLES / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_status(emulator: Any, job_id: str) -> str:
    with emulator.lock:
        emulator.state.advance()
        return emulator.state.jobs[job_id].wire_status()


def templates(emulator: Any) -> list[str]:
    from airflow_iot_jobs.hooks.device_management_api import DeviceManagementApiHook

    return [t["description"] for t in DeviceManagementApiHook().list_job_templates()]


def test_the_example_dag_from_its_form_creates_the_template_once_and_meets_the_threshold(api, monkeypatch):
    dag = load_example(monkeypatch).dag
    conf = {"targets": [arn("thinggroup", "site-ams")], "version": "2.1", "success_threshold": "90%"}

    first = run_dag(dag, run_conf=conf)
    second = run_dag(dag, run_conf=conf)

    for result in (first, second):
        assert result.state == "success", result.states
        xcom = result.xcoms["rollout"]
        assert xcom["status"] == "COMPLETED" and xcom["succeeded"] == xcom["targeted"] > 0
    assert first.xcoms["rollout"]["job_id"] != second.xcoms["rollout"]["job_id"]  # two runs, two jobs
    assert templates(api) == ["firmware update (airflow example)"]  # the second run left it alone
    assert (
        first.xcoms["firmware_template"]["jobTemplateId"]
        == second.xcoms["firmware_template"]["jobTemplateId"]
    )
    ams = [t for t in api.registry.things.values() if t.attributes.get("site") == "ams"]
    assert {t.attributes["firmware"] for t in ams} == {"2.1"}


def test_the_example_dry_run_sends_no_create(api, monkeypatch):
    dag = load_example(monkeypatch).dag
    result = run_dag(dag, run_conf={"dry_run": True, "targets": [arn("thing", "thing-00001")]})

    assert result.state == "success"
    assert result.xcoms["rollout"] == {
        "dry_run": True,
        "job_id": None,
        "job_type": "AWS IoT",
        "target": f"targets {arn('thing', 'thing-00001')}",
        "devices": 1,
    }
    assert creates(api) == []


def test_cancel_then_delete_a_job_and_a_sensor_in_deferrable_mode(make_api, request):
    emulator = make_api(speed=0.5)  # the job runs slowly: it is still running when it is cancelled
    dag = dag_named(request)
    with dag:
        launch = DeviceManagementApiJobOperator(
            task_id="launch", targets=[FLEET], document={"operation": "reboot"}, wait_for_completion=False
        )
        cancel = DeviceManagementApiCancelJobOperator(
            task_id="cancel",
            job_id="{{ ti.xcom_pull('launch')['job_id'] }}",
            force=True,
            comment="maintenance",
        )
        delete = DeviceManagementApiDeleteJobOperator(
            task_id="delete", job_id="{{ ti.xcom_pull('launch')['job_id'] }}", force=True, poll_interval=0.2
        )
        launch >> cancel >> delete
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["cancel"]["status"] == "CANCELED"
    assert result.xcoms["delete"] == {"job_id": result.xcoms["launch"]["job_id"], "deleted": True}
    with emulator.lock:
        assert result.xcoms["launch"]["job_id"] not in emulator.state.jobs


def test_the_sensor_waits_deferred_for_a_job_made_elsewhere(api, request):
    from airflow_iot_jobs.hooks.device_management_api import DeviceManagementApiHook

    hook = DeviceManagementApiHook()
    hook.create_job(targets=[FLEET], document='{"operation": "ping"}', description="made by hand")
    job_id = hook.find_job("made by hand")
    dag = dag_named(request)
    with dag:
        DeviceManagementApiJobSensor(
            task_id="wait", job_id=job_id, deferrable=True, poke_interval=0.3, timeout=60
        )
    result = run_dag(dag)

    assert result.state == "success"
    assert result.xcoms["wait"]["succeeded"] == 30


def test_the_template_operator_refuses_to_change_a_template_and_removes_it(api, request, logs):
    dag = dag_named(request)
    with dag:
        DeviceManagementApiJobTemplateOperator(
            task_id="declare", description="reboot v1", document={"operation": "reboot"}
        ) >> DeviceManagementApiJobTemplateOperator(
            task_id="change", description="reboot v1", document={"operation": "reboot", "delay": 5}
        )
    result = run_dag(dag)
    assert result.states == {"declare": "success", "change": "failed"}
    text = logs()
    assert "document: template" in text and "cannot be changed" in text, text[-3000:]

    dag = DAG(dag_id=f"{dag.dag_id}_absent", schedule=None, start_date=START)
    with dag:
        DeviceManagementApiJobTemplateOperator(task_id="remove", description="reboot v1", state="absent")
    assert run_dag(dag).state == "success"
    assert templates(api) == []


def test_max_devices_counts_thing_arns_and_refuses_a_bigger_target(api, request):
    dag = dag_named(request)
    things = [arn("thing", f"thing-0000{i}") for i in range(4)]
    with dag:
        DeviceManagementApiJobOperator(
            task_id="too_many", targets=things, document={"operation": "reboot"}, max_devices=3, **FAST
        )
    result = run_dag(dag)
    assert result.states == {"too_many": "failed"}
    assert creates(api) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"targets": ["site-ams"]}, "targets[0]: the Device Management API takes thing and thing-group ARNs"),
        ({"document": None}, "document: required"),
        ({"job_id": "mine"}, "job_id: AWS IoT Jobs through the Device Management API"),
        (
            {"max_devices": 10},
            "max_devices: the Device Management API cannot list the things of a thing group",
        ),
        ({"target_selection": "ALL"}, "target_selection"),
        ({"target_selection": "CONTINUOUS"}, "continuous_min_executions"),
        ({"description": "x" * 2028}, "description"),
        (
            {"targets": [f"{FLEET.rsplit(':', 1)[0]}:thing/t{i}" for i in range(101)]},
            "targets: 101 things and thing groups; an AWS IoT job takes at most 100 targets",
        ),
    ],
)
def test_bad_input_is_refused_at_parse_naming_the_field(options, message):
    arguments = {"task_id": "bad", "targets": [FLEET], "document": {"operation": "reboot"}, **options}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DeviceManagementApiJobOperator(**arguments)
