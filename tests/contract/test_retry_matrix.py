"""Exactly-once launch: the retry matrix, for every backend's harness. Every case is a real DAG run (dag.test(),
in this process or in a child process that gets SIGKILLed) against the emulator, and ends by counting the jobs
the emulator holds for the task instance: exactly one, whatever happened to the worker, the triggerer or the task.

The emulator runs on a manual clock (``held_emulator``): a job it accepts stays queued until the test releases
it, so "the job is still running when the worker dies" is a fact of the test, not a race.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from tests.dag_runs import run_dag
from tests.harness import BackendHarness, harness_named
from tests.harness.reliability import DagProcess, held_emulator, record_jobs, wait_until, when

pytestmark = pytest.mark.reliability

START = datetime(2026, 1, 1, tzinfo=UTC)
FACTORY = "tests.contract.test_retry_matrix:reboot_dag"


def reboot_dag(dag_id: str, backend: str, **operator: Any) -> DAG:
    """One device job over every device, by the harness named ``backend``; ``operator`` overrides (deferrable,
    execution_timeout, …)."""
    retries = operator.pop("retries", 0)
    timeout = operator.pop("execution_timeout", None)
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        harness_named(backend).job_operator(
            task_id="reboot",
            devices="*",
            action="reboot",
            poll_interval=0.3,
            max_poll_interval=0.5,
            execution_timeout=None if timeout is None else timedelta(seconds=timeout),
            **operator,
        )
    return dag


def the_job(harness: BackendHarness, emulator, result_xcom: dict[str, Any] | None = None) -> str:
    """The emulator holds exactly one job (and it is the one the task reports)."""
    jobs = harness.remote_jobs(emulator)
    record_jobs(len(jobs))
    assert len(jobs) == 1, f"expected one job, the emulator holds {jobs}"
    if result_xcom is not None:
        assert result_xcom["job_id"] == jobs[0]
    return jobs[0]


def created(harness: BackendHarness, emulator) -> bool:
    return harness.requests(emulator, "create", 200) > 0


def reattached(harness: BackendHarness, emulator, before: int = 0) -> bool:
    """A launch met the job an earlier attempt created (an "already exists" answer; with ``service_ids``, a marker
    search that found it) since ``harness.reattaches`` was ``before``."""
    return harness.reattaches(emulator) > before


def progress_reads(harness: BackendHarness, emulator) -> int:
    return harness.requests(emulator, "progress")


# ---------------------------------------------------------------------------------------------------------- (a)


def test_a_first_try_dies_after_the_create_call_and_the_retry_reattaches(harness, make_emulator, request):
    """Try 1 creates the job, then ``execution_timeout`` kills it while it waits (no XCom pushed); try 2 gets
    "already exists" for the same derived id (with ``service_ids``: its marker search finds the job) and
    re-attaches instead of launching another job."""
    emulator = held_emulator(make_emulator)
    dag = reboot_dag(
        f"reliability_a_timeout_{harness.name}", harness.name, retries=1, execution_timeout=3, timeout=120
    )
    day = datetime(2026, 2, 1, tzinfo=UTC)
    first_create: list[float] = []

    def second_try_started() -> bool:
        """The retry re-attached, or (where a re-attach leaves no trace of its own) try 1's deadline passed."""
        if created(harness, emulator) and not first_create:
            first_create.append(time.monotonic())
        return reattached(harness, emulator) or bool(first_create and time.monotonic() - first_create[0] > 8)

    with when(second_try_started, lambda: harness.release(emulator)):
        result = run_dag(dag, logical_date=day, run_after=day)

    assert result.states == {"reboot": "success"}
    assert result.tries == {"reboot": 2}, "the first try must have died"
    job = the_job(harness, emulator, result.xcoms["reboot"])
    assert result.xcoms["reboot"]["succeeded"] == harness.matching(emulator)
    # created once, then refused once (already exists) — or, where the service picks the ids, found by the
    # retry's marker search without a second create call
    assert harness.requests(emulator, "create", suffix=job) == (1 if harness.service_ids else 2)
    if not harness.service_ids:  # with service-chosen ids the single create call above is the proof
        assert harness.reattaches(emulator) == 1


# ---------------------------------------------------------------------------------------------------------- (b)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["right-after-create", "mid-wait"])
def test_b_worker_sigkilled_then_the_task_instance_runs_again(harness, make_emulator, tmp_path, moment):
    """The worker process running the task is SIGKILLed — right after the emulator answered the create call (before
    any XCom), or while it waits on a half-done job — and the same task instance runs again in a new process."""
    emulator = held_emulator(make_emulator)
    day = datetime(2026, 2, 2, tzinfo=UTC)
    kwargs = {"dag_id": f"reliability_b_{moment.replace('-', '_')}_{harness.name}", "backend": harness.name}

    worker = DagProcess(FACTORY, kwargs, day, tmp_path / "worker-1.log")
    try:
        wait_until("the create call", lambda: created(harness, emulator))
        if moment == "mid-wait":
            harness.release(emulator, 2.5)  # the job starts and gets about half way
            polls = progress_reads(harness, emulator)
            wait_until("two more progress reads", lambda: progress_reads(harness, emulator) >= polls + 2)
            job = harness.remote_status(emulator, harness.remote_jobs(emulator)[0])
            assert job["phase"] == "running" and 0 < job["done"] < job["total"]
    finally:
        worker.kill()
    assert worker.popen.returncode == -9
    assert "RESULT" not in worker.output()

    before = harness.reattaches(emulator)
    again = DagProcess(FACTORY, kwargs, day, tmp_path / "worker-2.log")
    with when(lambda: reattached(harness, emulator, before), lambda: harness.release(emulator)):
        result = again.result()

    assert result["states"] == {"reboot": "success"}, again.output()[-3000:]
    the_job(harness, emulator, result["xcoms"]["reboot"])
    assert harness.requests(emulator, "create", 200) == 1
    assert result["xcoms"]["reboot"]["succeeded"] == harness.matching(emulator)


# ---------------------------------------------------------------------------------------------------------- (c)


def _stored_trigger(db: str, job_ids: set[str]) -> tuple[int, str, dict[str, Any]] | None:
    """The ``trigger`` row (id, classpath, kwargs as the triggerer decodes them) that watches one of ``job_ids``;
    other tests' rows are ignored."""
    from airflow.models.trigger import Trigger
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        rows = conn.execute("SELECT id, classpath, kwargs FROM trigger").fetchall()
    for trigger_id, classpath, encrypted in rows:
        kwargs = {k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(encrypted).items()}
        if kwargs.get("job_id") in job_ids:
            return trigger_id, classpath, kwargs
    return None


@pytest.mark.slow
def test_c_trigger_rebuilt_from_its_stored_kwargs_in_a_fresh_event_loop(
    harness, make_emulator, tmp_path, airflow_db
):
    """The process hosting the trigger dies mid-wait (SIGKILL). The trigger is rebuilt from the row the
    execution API stored in the ``trigger`` table — decrypted and decoded as the triggerer does — and run in a
    fresh event loop; its event resumes the task instance through Airflow's Trigger.submit_event. The rebuilt
    trigger watches the same job: nothing is launched again."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    emulator = held_emulator(make_emulator)
    day = datetime(2026, 2, 3, tzinfo=UTC)
    dag_id = f"reliability_c_triggerer_restart_{harness.name}"
    kwargs = {"dag_id": dag_id, "backend": harness.name, "deferrable": True, "timeout": 600}
    db = str(airflow_db / "airflow.db")

    host = DagProcess(FACTORY, kwargs, day, tmp_path / "triggerer-1.log")
    try:
        wait_until("the create call", lambda: created(harness, emulator))
        row = wait_until(
            "the stored trigger", lambda: _stored_trigger(db, set(harness.remote_jobs(emulator))), timeout=60
        )
        polls = progress_reads(harness, emulator)
        wait_until("the trigger's progress reads", lambda: progress_reads(harness, emulator) >= polls + 2)
    finally:
        host.kill()
    trigger_id, classpath, stored = row
    assert classpath == harness.backend.trigger

    # What the triggerer does with a trigger row (TriggerRunner.create_triggers: decrypt, decode, instantiate),
    # in a fresh event loop.
    trigger = harness.backend.trigger_class()(**stored)
    job_id = harness.remote_jobs(emulator)[0]
    assert stored["job_id"] == job_id

    async def first_event() -> dict[str, Any]:
        return (await anext(trigger.run())).payload

    with when(lambda: True, lambda: harness.release(emulator)):
        payload = asyncio.run(first_event())
    assert payload["status"] == "success"

    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "reboot")
        ).one()
        # dag.test() parks the task instance in QUEUED while its inline trigger runs; a real deployment keeps
        # it DEFERRED, which is what the triggerer's submit_event expects.
        ti.state = TaskInstanceState.DEFERRED
        ti.trigger_id = trigger_id
    Trigger.submit_event(trigger_id, TriggerEvent(payload))

    result = _resume(dag_id, "reboot", reboot_dag(**kwargs))
    assert result["state"] == "success"
    the_job(harness, emulator, result["xcom"])
    assert harness.requests(emulator, "create") == 1


def _resume(dag_id: str, task_id: str, dag: DAG) -> dict[str, Any]:
    """Run the resumed task instance (state SCHEDULED, next_method execute_complete) the way dag.test() runs
    one: through the in-process execution API."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
        ).one()
        assert ti.state == TaskInstanceState.SCHEDULED and ti.next_method == "execute_complete"
        session.expunge(ti)
    _run_task(ti=ti, task=dag.task_dict[task_id])
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
        ).one()
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.task_id == task_id, XComModel.key == "return_value"
            )
        ).one_or_none()
        return {"state": str(ti.state), "xcom": None if row is None else XComModel.deserialize_value(row)}


# ---------------------------------------------------------------------------------------------------------- (d)


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_d_cleared_task_rerun_reattaches_to_its_job(harness, make_emulator, deferrable):
    """The user clears the task and it runs again (dag.test() for the same logical date and run id clears the
    task instances and runs them): the rerun finds the job its first run launched and returns its verdict."""
    emulator = make_emulator(devices=200, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    mode = "deferrable" if deferrable else "polling"
    dag = reboot_dag(f"reliability_d_{mode}_{harness.name}", harness.name, deferrable=deferrable)
    day = datetime(2026, 2, 4, tzinfo=UTC)

    first = run_dag(dag, logical_date=day, run_after=day)
    second = run_dag(dag, logical_date=day, run_after=day)

    assert first.states == second.states == {"reboot": "success"}
    assert first.xcoms["reboot"] == second.xcoms["reboot"]
    the_job(harness, emulator, second.xcoms["reboot"])
    assert harness.requests(emulator, "create", 200) == 1
    assert harness.reattaches(emulator) == 1
