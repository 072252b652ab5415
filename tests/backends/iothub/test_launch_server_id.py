"""Exactly-once launch with a server-chosen id (identity export): the retry matrix's cases for the strategy where
the hub picks the job id and the task instance owns only a marker (its blob name). Each case ends by counting the
export jobs the hub holds: exactly one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator
from tests.dag_runs import run_dag
from tests.harness.reliability import held_emulator, record_jobs, ticking

pytestmark = pytest.mark.reliability

STORAGE = "iot_registry_storage"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def storage(azurite, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{STORAGE.upper()}",
        json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string}}),
    )


def export_dag(dag_id: str, **operator) -> DAG:
    retries = operator.pop("retries", 0)
    timeout = operator.pop("execution_timeout", None)
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        IoTHubExportDevicesOperator(
            task_id="export",
            wasb_conn_id=STORAGE,
            container="matrix",
            count_devices=False,
            poll_interval=0.3,
            max_poll_interval=0.5,
            execution_timeout=None if timeout is None else timedelta(seconds=timeout),
            **operator,
        )
    return dag


def posts(hub) -> int:
    return sum(
        1 for method, path, status in list(hub.request_log) if method == "POST" and path == "/jobs/create"
    )


def lookups(hub) -> int:
    return sum(1 for method, path, status in list(hub.request_log) if method == "GET" and path == "/jobs")


def the_export(hub, xcom: dict | None = None) -> str:
    jobs = [job for job in hub.import_export.list() if job["type"] == "export"]
    record_jobs(len(jobs))
    assert len(jobs) == 1, f"expected one export job, the hub holds {jobs}"
    if xcom is not None:
        assert xcom["job_id"] == jobs[0]["jobId"]
    return jobs[0]["jobId"]


def test_a_first_try_dies_after_the_create_call_and_the_retry_finds_its_job(make_hub, storage):
    """Try 1 creates the export, then ``execution_timeout`` kills it while the job is held; try 2 looks for the
    job its blob name marks (``GET /jobs``), finds it and waits for it — it never sends a second create."""
    hub = held_emulator(make_hub, devices=60)
    dag = export_dag("matrix_server_id_a", retries=1, execution_timeout=3)
    day = datetime(2026, 2, 1, tzinfo=UTC)
    # the hub's clock stands still until the retry has looked for its job, then moves on
    with ticking(hub, step=5.0, interval=0.05, enabled=lambda: posts(hub) == 1 and lookups(hub) >= 2):
        result = run_dag(dag, logical_date=day, run_after=day)

    assert result.states == {"export": "success"}
    assert result.tries == {"export": 2}, "the first try must have died"
    the_export(hub, result.xcoms["export"])
    assert posts(hub) == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_d_cleared_task_rerun_finds_its_job(make_hub, storage, deferrable):
    """The user clears the export task and it runs again: the rerun finds the job of the first run by its blob
    name and returns the same result; no second export job."""
    hub = make_hub(devices=60, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    dag = export_dag(f"matrix_server_id_d_{deferrable}", deferrable=deferrable)
    day = datetime(2026, 2, 4, tzinfo=UTC)

    first = run_dag(dag, logical_date=day, run_after=day)
    second = run_dag(dag, logical_date=day, run_after=day)

    assert first.states == second.states == {"export": "success"}
    assert first.xcoms["export"] == second.xcoms["export"]
    assert first.xcoms["export"]["blob_url"].endswith("/matrix/" + first.xcoms["export"]["blob_name"])
    the_export(hub, second.xcoms["export"])
    assert posts(hub) == 1


def test_a_job_id_is_refused_where_the_service_chooses_it():
    with pytest.raises(ValueError, match=r"^job_id: Azure IoT Hub chooses the ids of these jobs"):
        IoTHubExportDevicesOperator(task_id="export", container="c", job_id="mine")
