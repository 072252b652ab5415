"""Shared by the reliability suites (tests/contract/ and their backend-only parts in tests/backends/<backend>/).

* ``FIGURES``: the numbers the issue asks for (cases run, duplicate jobs, fuzzed inputs, requests sent for invalid
  input, secret occurrences), printed at the end of the session by ``tests/harness/figures.py`` (loaded by
  ``tests/conftest.py``);
* ``held_emulator``: an emulator on a manual clock, so a job stays queued (or half done) until the test releases it;
* ``DagProcess``: a DAG run (dag.test()) in a child process that a test can SIGKILL, like a dying worker;
* ``run_like_a_worker``: a DAG run through Airflow's real task supervisor (task log files, masking) and triggers
  rebuilt from the metadata DB, for the secrets suite;
* ``python -m tests.harness.reliability run|work MODULE:FACTORY JSON_KWARGS ISO_DATE [DAG_REL_PATH]``: what the child
  process runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository: `python -m tests.harness.reliability` runs there


# -------------------------------------------------------------------------------------------------- figures


@dataclass
class Figures:
    outcomes: dict[str, int] = field(default_factory=dict)
    task_instances_checked: int = 0
    duplicate_jobs: int = 0
    fuzzed_inputs: int = 0
    invalid_inputs_checked: int = 0
    requests_for_invalid_input: int = 0
    requests_in_known_bugs: int = 0  # requests sent in the xfail cases of reported library bugs
    secret_places_scanned: int = 0
    secret_occurrences: int = 0
    fault_counts: dict[str, int] = field(default_factory=dict)

    def add_faults(self, counts: dict[str, int]) -> None:
        for kind, count in counts.items():
            self.fault_counts[kind] = self.fault_counts.get(kind, 0) + count


FIGURES = Figures()


def record_jobs(jobs: int) -> None:
    """One task instance checked: it must own exactly one remote job."""
    FIGURES.task_instances_checked += 1
    FIGURES.duplicate_jobs += max(jobs - 1, 0)


# -------------------------------------------------------------------------------------------------- emulator


def held_emulator(make_emulator: Callable[..., Any], **options: Any) -> Any:
    """An emulator whose clock only moves when the test says so (``release``): a job it accepts stays queued until
    then, so a test decides exactly when the job may progress. ``make_emulator``: a ``make_<backend>`` fixture."""
    from airflow_iot_jobs.emulator.clock import ManualClock

    options.setdefault("devices", 200)
    options.setdefault("offline_rate", 0.0)
    options.setdefault("failure_rate", 0.0)
    options.setdefault("max_active_jobs", 5)
    return make_emulator(clock=ManualClock(), **options)


def release(hub: Any, seconds: float = 600.0) -> None:
    """Let ``seconds`` of the hub's time pass at once (every job held so far runs to its end)."""
    hub.timeline.clock.advance(seconds)


@contextlib.contextmanager
def ticking(
    hub: Any, step: float = 2.0, interval: float = 0.1, enabled: Callable[[], bool] = lambda: True
) -> Iterator[None]:
    """Move a held hub's clock by ``step`` every ``interval`` real seconds (once ``enabled()``) during the block."""
    done = threading.Event()

    def tick() -> None:
        while not done.wait(interval):
            if enabled():
                release(hub, step)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def requests_matching(hub: Any, method: str, prefix: str, status: int | None = None) -> int:
    return sum(
        1
        for m, path, s in list(hub.request_log)
        if m == method and path.startswith(prefix) and (status is None or s == status)
    )


@contextlib.contextmanager
def when(condition: Callable[[], bool], action: Callable[[], None], timeout: float = 120.0) -> Iterator[None]:
    """Run ``action`` once from a background thread as soon as ``condition`` holds (while the block runs)."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


# -------------------------------------------------------------------------------------------------- DAG runs in a child process


class DagProcess:
    """``dag.test()`` of ``factory(**kwargs)`` for ``logical_date`` in a child process (its own session, so a
    SIGKILL takes everything it started). The child inherits the environment: AIRFLOW_HOME, the metadata DB and
    the AIRFLOW_CONN_* variables that point at the emulator running in the test process."""

    def __init__(
        self,
        factory: str,
        kwargs: dict[str, Any],
        logical_date: datetime,
        log_path: Path,
        *,
        like_a_worker: tuple[Path, str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """``like_a_worker=(dags_folder, dag_rel_path)``: run it with :func:`run_like_a_worker` instead of
        dag.test(), with the dags folder (the ``dags-folder`` bundle) pointed at ``dags_folder``. ``extra_env``:
        variables for the child only (e.g. an AIRFLOW_HOME of its own)."""
        self.log_path = log_path
        self._log = log_path.open("wb")
        env = {**os.environ, **(extra_env or {})}
        command = [sys.executable, "-m", "tests.harness.reliability", "run", factory, json.dumps(kwargs)]
        command.append(logical_date.isoformat())
        if like_a_worker is not None:
            command[3] = "work"
            command.append(like_a_worker[1])
            env["AIRFLOW__CORE__DAGS_FOLDER"] = str(like_a_worker[0])
            env["AIRFLOW__CORE__TASK_SUCCESS_OVERTIME"] = "1"
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL, no warning: no finally blocks, no on_kill, no clean-up (a worker losing its node)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)
        self._log.close()

    def result(self, timeout: float = 180.0) -> dict[str, Any]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the DAG run did not end in {timeout:.0f} s:\n{self.output()[-4000:]}"
            ) from None
        self._log.close()
        for line in reversed(self.output().splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line.removeprefix("RESULT "))
        raise AssertionError(
            f"the DAG run printed no result (exit {self.popen.returncode}):\n{self.output()[-4000:]}"
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


# ------------------------------------------------------------------------------------------------ like a worker


def run_like_a_worker(dag: Any, logical_date: datetime, dag_rel_path: str) -> dict[str, Any]:
    """Run a DAG the way a deployment does, minus the scheduler: every task instance goes through Airflow's real
    task supervisor (``supervise_task``: a forked task process, the task log file under AIRFLOW_HOME/logs, secrets
    masked, as a LocalExecutor worker runs it); a deferred task's trigger is rebuilt from its row in the ``trigger``
    table and run in a fresh event loop, as the triggerer does, and its event resumes the task through
    ``Trigger.submit_event``. The execution API runs in this process (Airflow's InProcessExecutionAPI).

    ``dag_rel_path``: the DAG's file, relative to the dags folder (the ``dags-folder`` bundle)."""
    import asyncio
    from uuid import UUID

    from airflow.models.dagrun import DagRun, get_or_create_dagrun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.sdk.api.datamodels._generated import BundleInfo
    from airflow.sdk.api.datamodels._generated import TaskInstance as WorkloadTI
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor, supervise_task
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    from airflow_iot_jobs.jobs import IoTJobsError
    from tests.dag_runs import register

    register(dag)
    home = Path(os.environ["AIRFLOW_HOME"])
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    run_id = DagRun.generate_run_id(
        run_type=DagRunType.MANUAL, logical_date=logical_date, run_after=logical_date
    )
    with create_session() as session:
        get_or_create_dagrun(
            dag=scheduler_dag,
            run_id=run_id,
            logical_date=logical_date,
            data_interval=(logical_date, logical_date),
            run_after=logical_date,
            conf=None,
            triggered_by=DagRunTriggeredByType.TEST,
            triggering_user_name="reliability",
            start_date=logical_date,
            session=session,
        )

    def the_ti(session: Any, ti_id: Any) -> Any:
        return session.scalars(select(TaskInstance).where(TaskInstance.id == ti_id)).one()

    def supervised(ti_id: Any) -> None:
        with create_session() as session:
            ti = the_ti(session, ti_id)
            ti.state = TaskInstanceState.QUEUED
            workload = WorkloadTI(
                id=UUID(str(ti.id)),
                task_id=ti.task_id,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                try_number=ti.try_number,
                map_index=ti.map_index,
                dag_version_id=UUID(str(ti.dag_version_id)),
            )
        log_path = (
            home
            / "logs"
            / f"dag_id={workload.dag_id}"
            / f"run_id={workload.run_id}"
            / f"task_id={workload.task_id}"
        ) / f"attempt={workload.try_number}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        supervise_task(
            ti=workload,
            bundle_info=BundleInfo(name="dags-folder"),
            dag_rel_path=dag_rel_path,
            token="",
            client=InProcessTestSupervisor._api_client(dag),
            log_path=str(log_path),
        )

    def triggered(ti_id: Any) -> None:
        """What the triggerer does for a deferred task instance, in a fresh event loop."""
        with create_session() as session:
            ti = the_ti(session, ti_id)
            trigger = session.scalars(select(Trigger).where(Trigger.id == ti.trigger_id)).one()
            trigger_id, classpath, encrypted = trigger.id, trigger.classpath, trigger.encrypted_kwargs
        import importlib

        module, _, name = classpath.rpartition(".")
        kwargs = {k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(encrypted).items()}
        instance = getattr(importlib.import_module(module), name)(**kwargs)

        async def first_event() -> Any:
            async for event in instance.run():
                return event
            raise IoTJobsError("the trigger ended without an event")

        event = asyncio.run(first_event())
        Trigger.submit_event(trigger_id, TriggerEvent(event.payload))

    deferred: list[str] = []
    while True:
        with create_session() as session:
            run = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)
            ).one()
            if run.state != DagRunState.RUNNING:
                break
            run.dag = scheduler_dag
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            ready = sorted(
                run.get_task_instances(state=[TaskInstanceState.SCHEDULED], session=session),
                key=lambda ti: (-ti.priority_weight, ti.task_id),
            )
            ready = [ti.id for ti in ready[:1]]  # one worker slot: the most urgent first, then look again
        if not ready:
            time.sleep(0.2)
        for ti_id in ready:
            supervised(ti_id)
            while True:
                with create_session() as session:
                    ti = the_ti(session, ti_id)
                    state, task_id = ti.state, ti.task_id
                if state != TaskInstanceState.DEFERRED:
                    break
                deferred.append(task_id)
                triggered(ti_id)
                supervised(ti_id)

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)
        ).one()
        tis = run.get_task_instances(session=session)
        return {
            "state": str(run.state),
            "states": {ti.task_id: str(ti.state) for ti in tis},
            "tries": {ti.task_id: ti.try_number for ti in tis},
            "deferred": deferred,
        }


def _main(argv: list[str]) -> int:
    if len(argv) not in (4, 5) or argv[0] not in ("run", "work"):
        print(
            "usage: python -m tests.harness.reliability run|work MODULE:FACTORY JSON_KWARGS ISO_DATE [DAG_REL_PATH]",
            file=sys.stderr,
        )
        return 2
    import importlib

    from tests.dag_runs import run_dag

    module_name, _, factory_name = argv[1].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    dag = factory(**json.loads(argv[2]))
    logical_date = datetime.fromisoformat(argv[3])
    if argv[0] == "work":
        outcome = run_like_a_worker(dag, logical_date, argv[4])
    else:
        outcome = run_dag(dag, logical_date=logical_date, run_after=logical_date).__dict__
    print("RESULT " + json.dumps(outcome, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
