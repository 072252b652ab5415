"""Rollout gates on the IoT Hub emulator: a health check that says no after the soak stops the rollout; a total
max_devices refuses it in the plan; ring tags make the waves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator
from airflow_iot_jobs.rollouts import fleet_rollout
from tests.dag_runs import run_dag
from tests.harness import emulator_fixture, harness_named

START = datetime(2026, 1, 1, tzinfo=UTC)
JOB = {"method_name": "reboot", "poll_interval": 0.3, "max_poll_interval": 0.5}
HUB = harness_named("iothub")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make: Callable[..., Any]
    for make in emulator_fixture(HUB, monkeypatch):
        yield make(devices=60, speed=50.0, offline_rate=0.0, max_active_jobs=5)


def no_second_wave(context: Any, wave: dict[str, Any]) -> bool:
    return wave["succeeded"] < 0  # the devices came back unhealthy, whatever the job said


def test_a_health_check_that_says_no_after_the_soak_stops_the_rollout(hub, logs):
    with DAG("rollout_health", schedule=None, start_date=START) as dag:
        fleet_rollout(
            group_id="fw",
            job=IoTHubDeviceMethodJobOperator,
            job_kwargs=JOB,
            target="*",
            waves=["10%", "50%", "100%"],
            soak=timedelta(seconds=0.3),
            health_check=no_second_wave,
        )
    result = run_dag(dag)

    assert result.states["fw.wave_1"] == "success" and result.states["fw.soak_1"] == "failed"
    assert result.states["fw.wave_2"] == result.states["fw.wave_3"] == "skipped"
    assert len(HUB.remote_jobs(hub)) == 1
    text = logs()
    assert "rollout fw stopped at wave 1 of 3 (10%), its soak: its health check answered False" in text
    assert "not launched: wave 2 of 3 (50%), wave 3 of 3 (100%)" in text


def test_max_devices_in_total_refuses_the_rollout_in_its_plan(hub, logs):
    with DAG("rollout_too_big", schedule=None, start_date=START) as dag:
        fleet_rollout(
            group_id="fw", job=IoTHubDeviceMethodJobOperator, job_kwargs=JOB, target="*", max_devices=50
        )
    result = run_dag(dag)

    assert result.states["fw.plan"] == "failed" and result.state == "failed"
    assert HUB.remote_jobs(hub) == []
    assert (
        "max_devices: rollout fw would touch 60 devices, more than max_devices=50; no job was created"
        in logs()
    )


def test_ring_tags_make_the_waves(hub):
    with DAG("rollout_rings", schedule=None, start_date=START) as dag:
        fleet_rollout(
            group_id="fw",
            job=IoTHubDeviceMethodJobOperator,
            job_kwargs=JOB,
            target="*",
            waves=["canary", "early", None],
            wave_tag="ring",
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    plan = result.xcoms["fw.plan"]
    rings = {d.doc["deviceId"]: d.doc["tags"]["ring"] for d in hub.fleet.devices()}
    assert {rings[d] for d in plan["waves"][0]["devices"]} == {"canary"}
    assert {rings[d] for d in plan["waves"][1]["devices"]} == {"early"}
    assert "canary" not in {rings[d] for d in plan["waves"][2]["devices"]}
    assert sum(w["count"] for w in plan["waves"]) == 60
