"""The IoT Central DAG in the README, as written, against the emulator: a property job in batches with a
per-batch cancellation threshold succeeds on a healthy fleet, and ends ``cancelled`` with the task failed when a
batch fails past the threshold."""

from __future__ import annotations

from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag
from tests.readme_dags import readme_dag as readme_dag_after


def readme_dag(dag_id: str):
    return readme_dag_after("central-readme-dag", {'DAG("freezers_nightly"': f'DAG("{dag_id}"'})


def central_job(job_id: str) -> dict:
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    return IoTCentralHook().get_job(job_id)


def test_the_readme_dag_runs_a_property_job_in_batches(make_central):
    make_central(devices=400, offline_rate=0.0)
    result = run_dag(readme_dag("readme_central_ok"))

    assert result.state == "success", result.states
    xcom = result.xcoms["set_interval"]
    assert xcom["targeted"] > 0 and xcom["succeeded"] == xcom["targeted"]
    job = central_job(xcom["job_id"])
    assert job["batch"] == {"type": "percentage", "value": 10}
    assert job["cancellationThreshold"] == {"type": "percentage", "value": 5, "batch": True}
    assert job["data"][0]["path"] == "telemetryIntervalSeconds"


def test_a_batch_over_the_cancellation_threshold_cancels_the_job_and_fails_the_task(make_central, logs):
    make_central(devices=400, offline_rate=0.4)  # offline devices fail property jobs
    result = run_dag(readme_dag("readme_central_cancelled"))

    assert result.state == "failed" and result.states["set_interval"] == "failed"
    pushed = result.other_xcoms["set_interval"][FAILURE_XCOM_KEY]
    assert central_job(pushed["job_id"])["status"] == "cancelled"
    assert pushed["succeeded"] + pushed["failed"] < pushed["targeted"], "later batches never started"
    assert pushed["failed_devices"]
    assert "cancellation threshold was crossed" in logs()
