"""Staged rollouts on every backend, as real DAG runs against its emulator: four waves over the whole fleet, each
device in exactly one wave; a breach in wave 2 cancels its job, skips waves 3–4 with the reason and fails the run
with one line; a rerun re-attaches every wave to its job; a dry run creates nothing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.rollouts import fleet_rollout
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
WAVES = ["10%", "40%", "70%", "100%"]
FAST = {"poll_interval": 0.3, "max_poll_interval": 0.5}


def rollout_dag(dag_id: str, harness: Any, **options: Any) -> DAG:
    job, kwargs = harness.rollout_job(devices="*", action="reboot", **FAST, **options.pop("job", {}))
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        fleet_rollout(
            group_id="firmware", job=job, job_kwargs=kwargs, waves=options.pop("waves", WAVES), **options
        )
    return dag


def sizes(devices: int) -> list[int]:
    """What WAVES gives a fleet of this size: cumulative shares, rounded up."""
    ends = [math.ceil(devices * share) for share in (0.1, 0.4, 0.7)] + [devices]
    return [end - start for start, end in zip([0, *ends], ends, strict=False)]


def plan_of(result: Any) -> dict[str, Any]:
    return result.xcoms["firmware.plan"]


def test_four_waves_reach_every_device_exactly_once(harness, make_emulator, request):
    emulator = make_emulator(devices=40, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    result = run_dag(rollout_dag(f"rollout_ok_{harness.name}", harness, soak=timedelta(seconds=0.5)))

    assert result.state == "success", result.states
    plan = plan_of(result)
    waves = [set(w["devices"]) for w in plan["waves"]]
    fleet = harness.matching(emulator)
    assert [len(w) for w in waves] == sizes(fleet)
    assert sum(len(w) for w in waves) == len(set().union(*waves)) == fleet
    assert set(result.states) >= {"firmware.wave_1", "firmware.soak_1", "firmware.wave_4", "firmware.verdict"}
    for i, wave in enumerate(plan["waves"], start=1):
        xcom = result.xcoms[f"firmware.wave_{i}"]
        assert xcom["targeted"] == xcom["succeeded"] == wave["count"]
    verdict = result.xcoms["firmware.verdict"]
    jobs = [w["job_id"] for w in verdict["waves"]]
    assert sorted(jobs) == sorted(harness.remote_jobs(emulator)) and len(set(jobs)) == 4

    same = run_dag(rollout_dag(f"rollout_ok_{harness.name}", harness, soak=timedelta(seconds=0.5)))
    assert [w["devices"] for w in plan_of(same)["waves"]] == [w["devices"] for w in plan["waves"]]


def test_a_breach_in_wave_two_cancels_it_and_stops_the_rollout(harness, make_emulator, logs):
    emulator = make_emulator(devices=40, speed=5.0, max_active_jobs=5, **harness.failing_fleet(0.5))
    thresholds = [{"success_threshold": 0}, {"failure_threshold": 0}, {}, {}]
    cancel = {"cancel_on_failure": True} if harness.supports_cancel else {}
    dag = rollout_dag(f"rollout_breach_{harness.name}", harness, wave_thresholds=thresholds, job=cancel)
    result = run_dag(dag)

    assert result.state == "failed"
    assert result.states["firmware.wave_1"] == "success"
    assert result.states["firmware.wave_2"] == "failed"
    assert result.states["firmware.wave_3"] == result.states["firmware.wave_4"] == "skipped"
    assert result.states["firmware.verdict"] == "failed"
    assert len(harness.remote_jobs(emulator)) == 2  # waves 3 and 4 created nothing
    text = logs()
    assert "rollout firmware stopped at wave 2 of 4 (40%): " in text and "devices failed" in text
    assert "not launched: wave 3 of 4 (70%), wave 4 of 4 (100%)" in text
    if harness.supports_cancel:
        wave_2 = result.other_xcoms["firmware.wave_2"]["job_result"]["job_id"]
        assert harness.remote_status(emulator, wave_2)["phase"] in (harness.cancelled_phase, "completed")


def test_a_rerun_reattaches_every_wave_and_a_dry_run_creates_nothing(harness, make_emulator):
    emulator = make_emulator(devices=40, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    day = datetime(2026, 2, 5, tzinfo=UTC)
    dry = run_dag(
        rollout_dag(f"rollout_dry_{harness.name}", harness, dry_run=True), logical_date=day, run_after=day
    )
    assert dry.state == "success"
    assert harness.requests(emulator, "create") == 0 and harness.remote_jobs(emulator) == []
    assert [w["count"] for w in plan_of(dry)["waves"]] == sizes(harness.matching(emulator))

    dag = rollout_dag(f"rollout_rerun_{harness.name}", harness)
    first = run_dag(dag, logical_date=day, run_after=day)
    second = run_dag(dag, logical_date=day, run_after=day)
    assert first.state == second.state == "success"
    assert len(harness.remote_jobs(emulator)) == 4
    for i in range(1, 5):
        assert first.xcoms[f"firmware.wave_{i}"]["job_id"] == second.xcoms[f"firmware.wave_{i}"]["job_id"]


def test_bad_rollouts_are_refused_at_parse_naming_the_field():
    from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

    job = IoTHubDeviceMethodJobOperator
    kwargs = {"method_name": "reboot"}
    cases = [
        ({"waves": []}, "waves: must be a non-empty list"),
        ({"waves": ["10%", "5%"]}, r"waves\[1\]: shares are cumulative and must rise"),
        ({"waves": [None, "10%"]}, r"waves\[0\]: None \(the rest of the fleet\) may only be the last wave"),
        ({"waves": ["ring0", "ring1"]}, r"waves\[0\]: 'ring0' is not a share"),
        ({"waves": ["10%", "100%"], "wave_thresholds": [{}]}, "wave_thresholds: one per wave"),
        ({"waves": ["100%"], "wave_thresholds": {"succes_threshold": 1}}, r"wave_thresholds\[0\]: only"),
    ]
    for options, message in cases:
        with DAG("bad_rollout", schedule=None, start_date=START), pytest.raises(ValueError, match=message):
            fleet_rollout(group_id="g", job=job, job_kwargs=kwargs, target="*", **options)
