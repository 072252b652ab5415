"""The example DAGs on a real Airflow 3 deployment: REST-created connection, REST-triggered runs with params,
deferrable tasks handed to and resumed from the real triggerer process.

What this catches that ``dag.test()`` cannot: ``dag.test()`` runs triggers inline in the task's own process and
sees environment connections, while here the trigger runs in the triggerer, which must look the connection up in
the metadata DB (through the API server) and be importable and serialisable across processes.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CONN_ID, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TRIGGER_CLASS = "airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger"
PROGRESS_KEYS = {"job_id", "status", "targeted", "succeeded", "failed", "running", "pending"}


def unpause(deployment: Deployment, dag_id: str) -> dict:
    dag = deployment.airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    assert dag["is_paused"] is False
    return dag


def assert_resumed_by_triggerer(deployment: Deployment, watch, task_id: str) -> None:
    """The task instance was seen ``deferred`` on a trigger of ours held by a running TriggererJob, and its log
    has the lines the triggerer process wrote while the trigger polled the hub."""
    assert "deferred" in watch.states[task_id], f"{task_id} never deferred: {watch.states[task_id]}"
    assert watch.triggers[task_id]["classpath"] == TRIGGER_CLASS
    assert watch.triggers[task_id]["triggerer_id"] is not None
    assert watch.triggerer_jobs[task_id]["job_type"] == "TriggererJob"
    # After the trigger fired, the task ran again on a worker and finished there.
    assert watch.states[task_id][-1] == "success"
    assert watch.states[task_id].index("deferred") < len(watch.states[task_id]) - 1

    events = deployment.airflow.task_log(watch.dag_id, watch.run_id, task_id)
    text = [str(e.get("event", "")) for e in events]
    assert any(".trigger." in line for line in text), "no triggerer log file was read for the task"
    assert any("Pausing task as DEFERRED" in line for line in text)
    polls = [e for e in events if e.get("logger") == TRIGGER_CLASS]
    assert polls, f"no line from {TRIGGER_CLASS} in the task log"
    assert any(line.startswith("Trigger fired event") for line in text)


def test_hub_connection_lives_in_the_metadata_db_only(deployment: Deployment):
    airflow = deployment.airflow
    assert not [k for k in airflow.env if k.startswith("AIRFLOW_CONN_")]
    conn = airflow.api("GET", f"/connections/{CONN_ID}")
    assert conn["conn_type"] == "azure_iot_hub"
    assert conn["extra"] and deployment.emulator.endpoint in conn["extra"]


def test_fleet_command_defers_to_the_real_triggerer(deployment: Deployment):
    airflow = deployment.airflow
    dag_id = "iothub_fleet_command"
    unpause(deployment, dag_id)
    conf = {
        "query_condition": "tags.site = 'fra'",
        "method_name": "firmwareUpdate",
        "payload": {"version": "9.9.9-e2e"},
        "success_threshold": "95%",
        "failure_threshold": "3%",
        "response_timeout": 20,
    }
    run_id = airflow.trigger(dag_id, conf)

    watch = airflow.watch_run(dag_id, run_id, timeout=180)

    assert watch.state == "success", watch.states
    assert_resumed_by_triggerer(deployment, watch, "fleet_command")
    result = airflow.xcom(dag_id, run_id, "fleet_command")
    assert set(result) >= PROGRESS_KEYS, result
    expected = deployment.expected_devices(conf["query_condition"])
    assert expected > 1000
    assert result["targeted"] == expected  # the form's query condition reached the hub
    assert result["status"] == "completed"  # operators judge when the job ends
    assert result["running"] == result["pending"] == 0
    assert result["succeeded"] + result["failed"] == expected
    assert result["succeeded"] >= 0.95 * expected
    assert 0 < result["failed"] <= 0.03 * expected  # the offline devices
    assert {d["code"] for d in result["failed_devices"]} == {"DeviceNotOnline"}
    # The payload reached the devices: every device that answered now reports the new firmware.
    updated = "tags.site = 'fra' AND properties.reported.firmware = '9.9.9-e2e'"
    assert deployment.hub_count(updated) == result["succeeded"]


def test_weekly_maintenance_sensor_defers_to_the_real_triggerer(deployment: Deployment):
    airflow = deployment.airflow
    dag_id = "iothub_weekly_maintenance"
    dag = airflow.api("GET", f"/dags/{dag_id}")
    # The run the scheduler would create on unpausing (catchup=False: the latest interval). Triggering that
    # logical date first makes the scheduler skip it ("run already exists"), so exactly one run does the work.
    logical_date = dag["next_dagrun_logical_date"]
    assert logical_date, dag
    run_id = airflow.trigger(dag_id, {"site": "ams"}, logical_date=logical_date)
    unpause(deployment, dag_id)
    try:
        watch = airflow.watch_run(dag_id, run_id, timeout=200)
    finally:
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    assert watch.state == "success", watch.states
    assert {task: states[-1] for task, states in watch.states.items()} == {
        "tag_maintenance_window": "success",
        "reboot": "success",
        "wait_for_reboot": "success",
    }
    assert_resumed_by_triggerer(deployment, watch, "wait_for_reboot")
    site = deployment.expected_devices("tags.site = 'ams'")
    tagged = airflow.xcom(dag_id, run_id, "tag_maintenance_window")
    launched = airflow.xcom(dag_id, run_id, "reboot")
    waited = airflow.xcom(dag_id, run_id, "wait_for_reboot")
    assert tagged["targeted"] == tagged["succeeded"] == site
    assert launched["status"] in ("queued", "scheduled", "running")  # wait_for_completion=False
    assert set(waited) >= PROGRESS_KEYS
    assert waited["job_id"] == launched["job_id"]
    # The reboot selects the devices tagged with this run's {{ ds }}: every device of the site.
    assert waited["targeted"] == site
    assert waited["succeeded"] >= 0.95 * site  # the sensor's success threshold
    runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
    assert [r["dag_run_id"] for r in runs] == [run_id]
