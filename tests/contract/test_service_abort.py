"""A job the service aborts by its own criteria (AWS IoT: the job's ``abortConfig``), for every harness whose
backend has them (``harness.abort_overrides``): the task fails, and its failure message says the service aborted
the job — also when the devices the abort cancelled are what crossed the task's ``failure_threshold``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.jobs import JobPhase
from tests.dag_runs import run_dag
from tests.harness import BackendHarness

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def failing(harness: BackendHarness, make_emulator):
    if harness.abort_overrides is None:
        pytest.skip(f"{harness.backend.name} has no abort criteria of its own that the hook reports")
    return make_emulator(devices=200, speed=50.0, max_active_jobs=5, **harness.failing_fleet(0.5))


@pytest.mark.parametrize(
    "failure_threshold", [None, "30%"], ids=["no-failure-threshold", "failure-threshold"]
)
def test_a_job_the_service_aborts_fails_the_task_saying_so(
    harness: BackendHarness, failing, request, logs, failure_threshold
):
    dag_id = "abort_" + request.node.callspec.id.replace("-", "_")
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        harness.job_operator(
            task_id="fw",
            devices="*",
            action="reboot",
            failure_threshold=failure_threshold,
            poll_interval=0.3,
            max_poll_interval=0.5,
            timeout=120,
            **harness.abort_overrides,
        )

    result = run_dag(dag)
    text = logs()

    assert result.states == {"fw": "failed"}
    (job_id,) = harness.remote_jobs(failing)
    progress = harness.hook().progress(job_id)
    assert progress.phase is JobPhase.CANCELLED and progress.aborted
    assert "abort" in (progress.failure_reason or "").lower()
    message = next((line for line in text.splitlines() if f"job {job_id} failed: " in line), "")
    assert message, "the task's failure message is not in the log"
    if failure_threshold is not None:
        assert f"above failure_threshold {failure_threshold.replace('%', ' %')}" in message
    assert progress.failure_reason in message, (
        f"the failure message does not say the job was aborted: {message}"
    )
