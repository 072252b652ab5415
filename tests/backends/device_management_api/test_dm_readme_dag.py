"""The Device Management API DAG in the README, as written, against the emulator's Job API on 127.0.0.1: it meets
its threshold on a healthy fleet; it fails and cancels the job past its failure threshold; and a worker SIGKILLed
right after its ``POST /jobs`` leaves, after the task instance runs again, exactly one job in the emulator.

Only the dag id and the deferred wait's poll interval are changed (the README keeps the 30 s default)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.backends.device_management_api.conftest import creates
from tests.dag_runs import run_dag
from tests.harness.reliability import DagProcess, wait_until
from tests.readme_dags import readme_dag as readme_dag_after


def readme_dag(dag_id: str) -> Any:
    return readme_dag_after(
        "device-management-readme-dag",
        {
            'DAG("firmware_via_job_api"': f'DAG("{dag_id}"',
            "deferrable=True,": "deferrable=True, poll_interval=0.3, max_poll_interval=0.5,",
        },
    )


def ams(emulator: Any) -> list[Any]:
    return [t for t in emulator.registry.things.values() if t.attributes.get("site") == "ams"]


def jobs(emulator: Any) -> list[str]:
    with emulator.lock:
        return list(emulator.state.jobs)


def test_the_readme_dag_runs_a_job_through_the_rest_api_and_meets_its_threshold(make_api: Any) -> None:
    emulator = make_api(things=60)
    result = run_dag(readme_dag("readme_dm_ok"))

    assert result.state == "success", result.states
    xcom = result.xcoms["firmware"]
    assert xcom["status"] == "COMPLETED" and xcom["succeeded"] == xcom["targeted"] == len(ams(emulator)) > 0
    assert {t.attributes["firmware"] for t in ams(emulator)} == {"2.1.0"}
    assert jobs(emulator) == [xcom["job_id"]] and creates(emulator) == [200]
    with emulator.lock:
        description = emulator.state.jobs[xcom["job_id"]].fields["description"]
    assert description.startswith("firmware 2.1.0 [airflow:firmware-")


def test_past_the_failure_threshold_the_job_is_cancelled_and_the_task_fails(make_api: Any, logs: Any) -> None:
    emulator = make_api(
        things=120, failure_rate=0.5, speed=1.0
    )  # slow: the job still runs when it is cancelled
    result = run_dag(readme_dag("readme_dm_failing"))

    assert result.state == "failed" and result.states["firmware"] == "failed"
    pushed = result.other_xcoms["firmware"][FAILURE_XCOM_KEY]
    assert pushed["failed"] > 0 and pushed["failed_devices"]
    with emulator.lock:
        assert emulator.state.jobs[pushed["job_id"]].wire_status() == "CANCELED"
    assert "above failure_threshold 10 %" in logs()


def factory(dag_id: str) -> Any:
    return readme_dag(dag_id)


def test_a_worker_killed_after_its_post_leaves_exactly_one_job(make_api: Any, tmp_path: Any) -> None:
    from airflow_iot_jobs.emulator.clock import ManualClock

    clock = ManualClock()
    emulator = make_api(things=60, clock=clock)  # the job stays queued until the test moves the clock
    day = datetime(2026, 3, 1, tzinfo=UTC)
    kwargs = {"dag_id": "readme_dm_killed"}
    target = "tests.backends.device_management_api.test_dm_readme_dag:factory"

    worker = DagProcess(target, kwargs, day, tmp_path / "worker-1.log")
    try:
        wait_until("the POST /jobs", lambda: creates(emulator) == [200])
    finally:
        worker.kill()
    assert worker.popen.returncode == -9 and len(jobs(emulator)) == 1

    again = DagProcess(target, kwargs, day, tmp_path / "worker-2.log")
    wait_until(
        "the second try's progress reads", lambda: emulator.request_log and _progress_reads(emulator) > 0
    )
    clock.advance(3600)
    result = again.result()

    assert result["states"] == {"firmware": "success"}, again.output()[-3000:]
    assert jobs(emulator) == [result["xcoms"]["firmware"]["job_id"]]
    assert creates(emulator) == [200], "the second try must re-attach, not POST again"


def _progress_reads(emulator: Any) -> int:
    job_ids = jobs(emulator)
    return sum(
        1
        for method, path, _ in emulator.request_log
        if method == "GET" and any(path.endswith(f"/jobs/{job}") for job in job_ids)
    )
