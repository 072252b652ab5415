"""Throttling, capacity and errors that can never succeed, in real DAG runs against each backend's emulator (the
IoT-Hub-only cases — import/export quota, twin etags, blob containers — are in tests/backends/iothub/).

* "busy" answers — 429 (with and without ``Retry-After``), ``ThrottlingMaxActiveJobCountExceeded``, import/export
  ``JobQuotaExceeded`` — make the launch wait and retry until the task's ``timeout``, logging why, and never
  start a second job;
* a 4xx that no retry can fix (unknown job, wrong key, an id taken by another job type, a container the emulator may
  not write to) fails the task at once, with the service's code and message;
* a create call is never re-sent blindly where that could start a second job (``reset-after``: the emulator applies
  the request, then the connection drops before the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from tests.dag_runs import run_dag
from tests.harness import BackendHarness
from tests.harness.reliability import held_emulator, record_jobs, when

pytestmark = pytest.mark.reliability

START = datetime(2026, 1, 1, tzinfo=UTC)


def one_task_dag(request: pytest.FixtureRequest, make_task, retries: int = 0) -> DAG:
    dag_id = "rel_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        make_task()
    return dag


def reboot(harness: BackendHarness, **overrides: Any) -> Callable[[], Any]:
    """A task factory: the harness's typical device job over every device."""
    options = {"task_id": "reboot", "devices": "*", "action": "reboot", "poll_interval": 0.3, **overrides}
    return lambda: harness.job_operator(**options)


def creates(harness: BackendHarness, emulator) -> list[int]:
    """The statuses of the create calls, in order."""
    return [s for m, p, s in harness.request_log(emulator) if harness.is_route("create", m, p)]


# ------------------------------------------------------------------------------------------------ 429 throttling


def test_429_burst_on_create_is_waited_out_honouring_retry_after(harness, make_emulator, request):
    emulator = make_emulator(
        devices=100, speed=50.0, offline_rate=0.0, fault_match=harness.fault_match("create"), fault_delay=0.05
    )
    harness.faults(emulator).script(
        "429", "429", "429", "slow"
    )  # Retry-After: 1, none, Retry-After: 1, the answer

    result = run_dag(one_task_dag(request, reboot(harness)))

    assert result.states == {"reboot": "success"}
    assert [f.kind for f in harness.faults(emulator).log] == ["429", "429", "429", "slow"]
    throttled = harness.codes["throttled_status"]
    assert creates(harness, emulator) == [throttled, throttled, throttled, 200]
    first, second, third, fourth = (f.at for f in harness.faults(emulator).log)
    assert second - first >= 0.95, "Retry-After: 1 was not honoured"
    assert fourth - third >= 0.95, "Retry-After: 1 was not honoured"
    assert second - first < 10 and third - second < 10, "backoff without Retry-After stays short"
    record_jobs(len(harness.remote_jobs(emulator)))
    assert len(harness.remote_jobs(emulator)) == 1


def test_persistent_429_fails_the_task_at_its_timeout_and_logs_why(harness, make_emulator, request, logs):
    emulator = make_emulator(
        devices=100, speed=50.0, fault_rate=1.0, fault_kinds="429", fault_match=harness.fault_match("create")
    )
    timeout = 6.0

    started = time.monotonic()
    result = run_dag(one_task_dag(request, reboot(harness, timeout=timeout)))
    elapsed = time.monotonic() - started
    text = logs()

    assert result.states == {"reboot": "failed"}
    assert elapsed >= timeout, "gave up before its timeout"
    assert elapsed < timeout + 40, "kept trying long after its timeout"
    puts = creates(harness, emulator)
    # A create call with a fixed id is re-sent by the hook (Retry-After honoured); where the service picks the ids
    # it is sent once per launch attempt, after a marker search, paced by the operator's backoff (2 s, 4 s, …, the
    # last one cut short so that the last attempt is made at the deadline)
    assert len(puts) >= (2 if harness.service_ids else 4)
    assert set(puts) == {harness.codes["throttled_status"]}
    assert harness.remote_jobs(emulator) == []
    assert "retrying in" in text and harness.codes["throttled"] in text, "the log must say why it waits"
    assert harness.codes["throttled_message"] in text


# ------------------------------------------------------------------------------------------------ max active jobs


def test_max_active_jobs_makes_the_launch_wait_until_a_slot_frees(harness, make_emulator, request, logs):
    emulator = held_emulator(make_emulator, max_active_jobs=1)
    blocker = harness.launch(emulator, "blocker")  # held: stays active until released

    def free_the_slot() -> None:
        harness.cancel_remote(emulator, blocker)

    with (
        when(
            lambda: harness.requests(emulator, "create", harness.codes["busy_status"], suffix="reboot-") >= 2,
            free_the_slot,
        ),
        when(
            lambda: harness.requests(emulator, "create", 200, suffix="reboot-") >= 1,
            lambda: harness.release(emulator),
        ),
    ):
        result = run_dag(one_task_dag(request, reboot(harness, timeout=120)))
    text = logs()

    assert result.states == {"reboot": "success"}
    assert sorted(harness.remote_jobs(emulator)) == sorted([blocker, result.xcoms["reboot"]["job_id"]])
    record_jobs(len(harness.remote_jobs(emulator)) - 1)
    assert harness.codes["busy"].split()[-1] in text and "service busy" in text


def test_max_active_jobs_until_the_timeout_fails_with_the_service_code(harness, make_emulator, request, logs):
    emulator = held_emulator(make_emulator, max_active_jobs=1)
    blocker = harness.launch(emulator, "blocker")

    timeout = 5.0

    started = time.monotonic()
    result = run_dag(one_task_dag(request, reboot(harness, timeout=timeout)))
    elapsed = time.monotonic() - started
    text = logs()

    assert result.states == {"reboot": "failed"}
    # the last backoff is cut short, so that the last try is made at the deadline
    assert elapsed >= timeout, "gave up before its timeout"
    assert harness.remote_jobs(emulator) == [blocker]
    assert harness.requests(emulator, "create", harness.codes["busy_status"], suffix="reboot-") >= 2
    assert harness.codes["busy"] in text
    assert harness.codes["busy_message"] in text


def test_deferrable_operator_defers_while_the_hub_has_no_free_slot(
    harness, make_emulator, request, airflow_db, logs
):
    emulator = held_emulator(make_emulator, max_active_jobs=1)
    blocker = harness.launch(emulator, "blocker")
    db = f"file:{airflow_db / 'airflow.db'}?mode=ro"

    def newest_trigger() -> int:
        with contextlib.closing(sqlite3.connect(db, uri=True, timeout=5)) as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM trigger").fetchone()[0]

    before = newest_trigger()  # other tests' trigger rows do not count

    def deferred_before_launch() -> bool:
        if harness.requests(emulator, "create", 200, suffix="reboot-"):
            return False
        return newest_trigger() > before

    seen: list[bool] = []

    def free() -> None:
        seen.append(True)
        harness.cancel_remote(emulator, blocker)

    with (
        when(deferred_before_launch, free),
        when(
            lambda: harness.requests(emulator, "create", 200, suffix="reboot-") >= 1,
            lambda: harness.release(emulator),  # the launched job may run now
        ),
    ):
        result = run_dag(one_task_dag(request, reboot(harness, timeout=30, deferrable=True)))
    text = logs()

    assert seen, "the task never deferred while the emulator was busy"
    assert result.states == {"reboot": "success"}
    assert "deferring until a launch slot is free" in text
    # the trigger waits for the active-job count to drop where the hook can count (JobsHook.aactive_jobs), else
    # it lets the task try again after a backoff interval
    from airflow_iot_jobs.hooks.base import JobsHook

    counts = harness.backend.hook_class().aactive_jobs is not JobsHook.aactive_jobs
    waited = "active job(s) hold its launch slots" if counts else "trying again in"
    assert waited in text
    # exactly once across the deferral: one create call succeeded, one job besides the blocker
    assert harness.requests(emulator, "create", 200, suffix="reboot-") == 1
    assert harness.requests(emulator, "create", harness.codes["busy_status"], suffix="reboot-") >= 1
    record_jobs(len(harness.remote_jobs(emulator)) - 1)
    assert sorted(harness.remote_jobs(emulator)) == sorted([blocker, result.xcoms["reboot"]["job_id"]])


def test_deferrable_launch_past_its_timeout_fails_with_the_service_code(
    harness, make_emulator, request, logs
):
    emulator = held_emulator(make_emulator, max_active_jobs=1)
    blocker = harness.launch(emulator, "blocker")

    timeout = 4.0

    started = time.monotonic()
    result = run_dag(one_task_dag(request, reboot(harness, timeout=timeout, deferrable=True)))
    elapsed = time.monotonic() - started
    text = logs()

    assert result.states == {"reboot": "failed"}
    assert elapsed >= timeout, "gave up before its timeout"
    assert harness.remote_jobs(emulator) == [blocker]
    assert "deferring until a launch slot is free" in text
    assert harness.codes["busy"] in text
    assert harness.codes["busy_message"] in text


def test_waits_for_one_service_share_their_active_job_counts(harness, make_emulator):
    """Twelve tasks waiting for one hub's launch slot in one triggerer read its active-job count together, not twelve
    times over (the count is a query, and a throttled hub allows few); all twelve see the slot free up."""
    from airflow_iot_jobs.hooks.base import JobsHook
    from airflow_iot_jobs.triggers.launch_slot import LaunchSlotTrigger

    if harness.backend.hook_class().aactive_jobs is JobsHook.aactive_jobs:
        pytest.skip(
            f"{harness.name} cannot count its active jobs: its waits retry on a backoff, reading nothing"
        )
    emulator = held_emulator(make_emulator, max_active_jobs=1)
    blocker = harness.launch(emulator, "blocker")
    hook_params = harness.job_operator(task_id="t", deferrable=True).hook_params
    waits, rounds = (
        12,
        4,
    )  # each wait reads at 0, 0.2, 0.6 and 1.4 s (its backoff doubles) before the slot frees

    async def main() -> tuple[list[str], int, int]:
        triggers = [
            LaunchSlotTrigger(
                backend=harness.backend.name,
                hook_params=hook_params,
                end_time=time.time() + 60,
                what=f"job {n}",
                poll_interval=0.2,
            )
            for n in range(waits)
        ]
        before = len(harness.request_log(emulator))
        assert await triggers[0]._count() == 1
        per_read = len(harness.request_log(emulator)) - before  # what one count costs on this backend
        before += per_read
        tasks = [asyncio.ensure_future(anext(trigger.run())) for trigger in triggers]
        await asyncio.sleep(1.6)
        reads = len(harness.request_log(emulator)) - before
        await asyncio.to_thread(harness.cancel_remote, emulator, blocker)
        events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        return [event.payload["status"] for event in events], reads, per_read

    statuses, reads, per_read = asyncio.run(main())

    assert statuses == ["slot_free"] * waits
    assert per_read >= 1
    assert per_read <= reads <= per_read * (rounds + 2), (
        f"{waits} waits sent {reads} requests ({per_read} a count)"
    )


def test_the_launch_slot_trigger_serialises_no_secret(harness, make_emulator):
    from airflow_iot_jobs.triggers.launch_slot import LaunchSlotTrigger

    emulator = make_emulator(devices=10, speed=50.0)
    operator = harness.job_operator(task_id="t", deferrable=True)
    trigger = LaunchSlotTrigger(
        backend=harness.backend.name,
        hook_params=operator.hook_params,
        end_time=time.time() + 60,
        what="job t",
        busy={
            "status": harness.codes["busy_status"],
            "code": "Busy",
            "message": harness.codes["busy_message"],
        },
    )
    classpath, kwargs = trigger.serialize()

    assert classpath == "airflow_iot_jobs.triggers.launch_slot.LaunchSlotTrigger"
    assert kwargs["hook_params"] == operator.hook_params
    assert kwargs["hook_params"][harness.backend.conn_param] == harness.conn_id
    dumped = json.dumps(kwargs)
    secrets = [*harness.canaries.values(), *harness.env(emulator).values()]
    for value in secrets:
        for part in re.findall(r"[A-Za-z0-9+/=]{16,}", value):  # keys, tokens, passwords of the connection
            assert part not in dumped, "a secret of the connection is in the trigger's kwargs"
    assert type(trigger)(**kwargs).serialize() == (classpath, kwargs)  # what the triggerer rebuilds


# ------------------------------------------------------------------------------------------------ never re-sent blindly


def test_reset_after_on_the_create_call_reattaches_to_the_one_job(harness, make_emulator, request):
    emulator = make_emulator(
        devices=100, speed=50.0, offline_rate=0.0, fault_match=harness.fault_match("create")
    )
    harness.faults(emulator).script("reset-after", "reset-after")

    result = run_dag(one_task_dag(request, reboot(harness)))

    assert result.states == {"reboot": "success"}
    if harness.service_ids:
        # the dropped answer makes the operator search for its marker before anything else: it finds the job
        assert creates(harness, emulator) == [0]
    else:
        assert creates(harness, emulator) == [0, 0, harness.codes["already_exists_status"]]
    record_jobs(len(harness.remote_jobs(emulator)))
    assert harness.remote_jobs(emulator) == [result.xcoms["reboot"]["job_id"]]


# ------------------------------------------------------------------------------------------------ 4xx: fail at once


def never_succeeds(harness: BackendHarness, case: str) -> tuple[Callable[[], Any], str, str]:
    """(task factory, service code, message) of a call no retry can fix."""
    not_found = harness.codes["not_found_message"].format(job_id="never-launched")
    if case == "unknown-job-sensor":
        return (
            lambda: harness.sensor(task_id="t", job_id="never-launched", poke_interval=0.3, timeout=30),
            harness.codes["not_found"],
            not_found,
        )
    if case == "unknown-job-cancel":
        if not harness.has_cancel_operator:
            pytest.skip(f"{harness.backend.name} has no cancel operator (its API has no cancel route)")
        return (
            lambda: harness.cancel_operator(task_id="t", job_id="never-launched"),
            harness.codes["not_found"],
            not_found,
        )
    assert case == "wrong-key", case
    return reboot(harness, task_id="t"), harness.codes["unauthorized"], ""


def use_a_wrong_key(harness: BackendHarness, monkeypatch: pytest.MonkeyPatch, emulator) -> None:
    for name, value in harness.env(emulator, key="B" * 43 + "=").items():
        monkeypatch.setenv(name, value)


def fails_at_once(
    harness: BackendHarness, emulator, request, logs, make_task, code: str, message: str
) -> None:
    """The task fails within seconds with the service's code and message; no 4xx call is repeated."""
    before = harness.request_log(emulator)

    started = time.monotonic()
    result = run_dag(one_task_dag(request, make_task))
    text = logs()

    assert result.states == {"t": "failed"}
    assert time.monotonic() - started < 15
    assert code in text and message in text
    sent = harness.request_log(emulator)[len(before) :]
    failing = [entry for entry in sent if 400 <= entry[2] < 500]
    assert len(failing) == len({(m, p) for m, p, _s in failing}), f"a 4xx call was repeated: {sent}"


@pytest.mark.parametrize("case", ["unknown-job-sensor", "unknown-job-cancel", "wrong-key"])
def test_a_4xx_that_can_never_succeed_fails_at_once_with_the_service_code(
    harness, make_emulator, request, monkeypatch, logs, case
):
    emulator = make_emulator(devices=50, speed=50.0)
    if case == "wrong-key":
        use_a_wrong_key(harness, monkeypatch, emulator)
    make_task, code, message = never_succeeds(harness, case)
    fails_at_once(harness, emulator, request, logs, make_task, code, message)


@pytest.mark.parametrize("case", ["unknown-job-cancel", "wrong-key"])
def test_a_4xx_that_can_never_succeed_is_not_retried_by_airflow(
    harness, make_emulator, request, monkeypatch, case
):
    emulator = make_emulator(devices=50, speed=50.0)
    if case == "wrong-key":
        use_a_wrong_key(harness, monkeypatch, emulator)
    make_task, _code, _message = never_succeeds(harness, case)

    result = run_dag(one_task_dag(request, make_task, retries=2))

    assert result.states == {"t": "failed"}
    assert result.tries == {"t": 1}
