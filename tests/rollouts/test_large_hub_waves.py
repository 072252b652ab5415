"""IoT Hub rollouts whose waves are too large for ``deviceId IN [...]`` (the hub allows 8,192 characters per query):
each device gets its place in the rollout order in a twin tag, once, and each wave's job selects a range of it.
Real DAG runs against the IoT Hub emulator (directly, and behind the IoTHub Manager) over 1,000 devices: every device is reached exactly once per run, the
tags are written on the first run only, a device that joins mid-rollout is in the last wave, a dry run writes
nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.rollouts import fleet_rollout
from airflow_iot_jobs.rollouts.targeting import ORDER_TAG, order_tag_name
from tests.dag_runs import run_dag
from tests.harness import emulator_fixture, harness_named

START = datetime(2026, 1, 1, tzinfo=UTC)
WAVES = ["2%", "30%", "100%"]
FLEET = 1000
JOINED = ["late-gw-1", "late-gw-2", "late-gw-3"]


@pytest.fixture(params=["iothub", "iothub_manager"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """(harness, emulator) with 1,000 devices: the IoT Hub emulator, or the IoTHub Manager and the hub behind it."""
    harness = harness_named(request.param)
    make: Callable[..., Any]
    for make in emulator_fixture(harness, monkeypatch):
        yield harness, make(devices=FLEET, speed=200.0, offline_rate=0.0, max_active_jobs=5)


def hub_of(emulator: Any) -> Any:
    return getattr(emulator, "hub", emulator)


def rollout(harness: Any, dag_id: str, **options: Any) -> DAG:
    job, kwargs = harness.rollout_job(devices="*", action="reboot", poll_interval=0.3, max_poll_interval=0.5)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        fleet_rollout(group_id="fw", job=job, job_kwargs=kwargs, waves=WAVES, **options)
    return dag


def reached(job_ids: list[str]) -> Counter[str]:
    """How many of these jobs reached each device (one devices.jobs row per device and job)."""
    hook = IoTHubHook()
    return Counter(row["deviceId"] for job in job_ids for row in hook.iter_device_job_rows(job))


def wave_jobs(result: Any) -> list[str]:
    return [result.xcoms[f"fw.wave_{i}"]["job_id"] for i in range(1, len(WAVES) + 1)]


def tag_writes(emulator: Any) -> int:
    log = hub_of(emulator).request_log
    return sum(1 for method, path, _ in log if method == "PATCH" and path.startswith("/twins/"))


def test_large_waves_select_ranges_of_an_order_tag_written_once(backend):
    harness, emulator = backend
    first = run_dag(rollout(harness, "large_waves"), logical_date=START, run_after=START)
    assert first.state == "success", first.states

    plan = first.xcoms["fw.plan"]
    name = order_tag_name("large_waves.fw")
    assert plan["targeting"]["order_tag"] == name and len(plan["targeting"]["untagged"]) == FLEET
    counts = [wave["count"] for wave in plan["waves"]]
    assert sum(counts) == FLEET and counts[2] > 400  # far beyond what deviceId IN [...] can hold
    jobs = wave_jobs(first)
    conditions = [IoTHubHook().get_job(job)["queryCondition"] for job in jobs]
    assert all(
        f"tags.{ORDER_TAG}.{name}" in condition and "deviceId" not in condition for condition in conditions
    )

    per_device = reached(jobs)
    assert len(per_device) == FLEET and set(per_device.values()) == {1}
    for job, wave in zip(jobs, plan["waves"], strict=True):
        assert set(reached([job])) == set(wave["devices"])
    assert tag_writes(emulator) == FLEET

    later = START + timedelta(days=7)
    second = run_dag(rollout(harness, "large_waves"), logical_date=later, run_after=later)
    assert second.state == "success"
    assert second.xcoms["fw.plan"]["targeting"]["untagged"] == []
    assert tag_writes(emulator) == FLEET, "the tags stay: the second run writes none"
    again = reached(wave_jobs(second))
    assert len(again) == FLEET and set(again.values()) == {1}


def add_devices_after_the_second_wave(emulator: Any) -> Callable[[Any, dict[str, Any]], bool]:
    hub = hub_of(emulator)

    def health_check(context: Any, wave: dict[str, Any]) -> bool:
        if context["ti"].task_id == "fw.soak_2":
            with hub.state.lock:
                for device in JOINED:
                    hub.fleet.add_device(device, online=True)
        return True

    return health_check


def test_a_device_that_joins_mid_rollout_is_in_the_last_wave_only(backend):
    harness, emulator = backend
    dag = rollout(
        harness,
        "large_waves_join",
        soak=timedelta(seconds=0.1),
        health_check=add_devices_after_the_second_wave(emulator),
    )
    result = run_dag(dag)

    assert result.state == "success", result.states
    per_device = reached(wave_jobs(result))
    assert len(per_device) == FLEET + len(JOINED) and set(per_device.values()) == {1}
    assert set(JOINED) <= set(reached([wave_jobs(result)[2]]))


def test_a_dry_run_writes_no_tag_and_creates_no_job(backend):
    harness, emulator = backend
    result = run_dag(rollout(harness, "large_waves_dry", dry_run=True))

    assert result.state == "success"
    assert result.xcoms["fw.plan"]["targeting"]["order_tag"]
    assert tag_writes(emulator) == 0 and harness.requests(emulator, "create") == 0
