"""Exactly-once launch, IoT-Hub-only part of the retry matrix (the rest is tests/contract/test_retry_matrix.py):
a cleared twin job must not patch the twins twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iothub import IoTHubTwinUpdateJobOperator
from tests.dag_runs import run_dag
from tests.harness.reliability import record_jobs

pytestmark = pytest.mark.reliability

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_d_cleared_twin_job_does_not_patch_twins_twice(make_hub):
    """A twin patch with a date stamp is not idempotent in effect: rerunning the cleared task must not launch
    it again (one job, and the devices' twins were patched once)."""
    hub = make_hub(devices=150, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    with DAG("reliability_d_twin", schedule=None, start_date=START) as dag:
        IoTHubTwinUpdateJobOperator(
            task_id="tag", query_condition="*", tags={"window": "{{ ds }}"}, poll_interval=0.3
        )
    day = datetime(2026, 2, 5, tzinfo=UTC)
    for _ in range(2):
        result = run_dag(dag, logical_date=day, run_after=day)
        assert result.states == {"tag": "success"}
    jobs = list(hub.state.jobs)
    record_jobs(len(jobs))
    assert len(jobs) == 1, f"expected one job, the hub holds {jobs}"
    job = jobs[0]
    assert result.xcoms["tag"]["job_id"] == job
    rows = hub.state.device_job_rows(job)
    assert len(rows) == 150 and {row["status"] for row in rows} == {"completed"}
