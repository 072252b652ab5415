"""AWS rollout waves above 100 things (an AWS IoT job takes at most 100 targets), as real DAG runs against the AWS
emulator, through boto3 and through the Device Management API: the wave's job targets one static thing group whose
members are exactly the wave's things; every thing runs once per DAG run; a rerun re-attaches to the same jobs; a run
after the fleet changed keeps the membership exact; a dry run changes no group; the Device Management API without
``aws_conn_id`` refuses the large wave before its job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.rollouts import fleet_rollout
from airflow_iot_jobs.rollouts.targeting import wave_group_name
from tests.dag_runs import run_dag
from tests.harness import emulator_fixture, harness_named

START = datetime(2026, 1, 1, tzinfo=UTC)
WAVES = ["10%", "100%"]
FAST = {"poll_interval": 0.3, "max_poll_interval": 0.5}
KEY = "large-aws-waves.firmware"
THINGS = 250


@pytest.fixture(params=["aws", "device_management_api"])
def fleet(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    harness = harness_named(request.param)
    for make in emulator_fixture(harness, monkeypatch):
        yield harness, make(devices=THINGS, speed=50.0, offline_rate=0.0, max_active_jobs=5)


def rollout_dag(dag_id: str, harness: Any, target: Any = None, **job: Any) -> DAG:
    """A two-wave rollout over the fleet group; every DAG here shares one rollout key, so one set of wave groups."""
    dry_run = job.pop("dry_run", False)
    job_class, kwargs = harness.rollout_job(devices="*", action="reboot", **FAST, **job)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        fleet_rollout(
            group_id="firmware",
            job=job_class,
            job_kwargs=kwargs,
            target=target,
            waves=WAVES,
            rollout_key=KEY,
            dry_run=dry_run,
        )
    return dag


def members(emulator: Any, group: str) -> set[str] | None:
    """The group's direct members, read from the emulator's state (None: no such group)."""
    with emulator.lock:
        if group not in emulator.registry.groups:
            return None
        return set(emulator.registry.things_in(group, recursive=False))


def job_targets(emulator: Any, job_id: str) -> list[str]:
    with emulator.lock:
        return list(emulator.state.jobs[job_id].fields["targets"])


def executions_per_thing(emulator: Any, job_ids: list[str]) -> Counter[str]:
    with emulator.lock:
        return Counter(thing for job_id in job_ids for thing in emulator.state.jobs[job_id].executions)


def fleet_things(emulator: Any) -> set[str]:
    with emulator.lock:
        return set(emulator.registry.things_in("fleet", recursive=True))


def groups(emulator: Any) -> dict[str, set[str]]:
    with emulator.lock:
        return {name: set(group.things) for name, group in emulator.registry.groups.items()}


def check_run(emulator: Any, result: Any) -> list[str]:
    """A run that reached the whole fleet: wave 1 by thing ARNs, wave 2 by its group holding exactly its things,
    every thing of the fleet once. Returns the run's job ids."""
    assert result.state == "success", result.states
    plan = result.xcoms["firmware.plan"]
    first, second = (wave["devices"] for wave in plan["waves"])
    group = wave_group_name(KEY, 2)
    assert len(first) <= 100 < len(second)
    assert plan["targeting"]["wave_groups"] == [None, group]
    jobs = [result.xcoms[f"firmware.wave_{i}"]["job_id"] for i in (1, 2)]
    with emulator.lock:
        group_arn = emulator.registry.arn("thinggroup", group)
        thing_arns = sorted(emulator.registry.arn("thing", thing) for thing in first)
    assert sorted(job_targets(emulator, jobs[0])) == thing_arns
    assert job_targets(emulator, jobs[1]) == [group_arn]
    assert members(emulator, group) == set(second)
    reached = executions_per_thing(emulator, jobs)
    assert set(reached) == fleet_things(emulator) == set(first) | set(second)
    assert set(reached.values()) == {1}
    for i, wave in enumerate(plan["waves"], start=1):
        xcom = result.xcoms[f"firmware.wave_{i}"]
        assert xcom["targeted"] == xcom["succeeded"] == wave["count"]
    return jobs


def leave_fleet(emulator: Any, things: list[str]) -> None:
    """Take things out of the fleet (out of their site groups), as a user would through AWS IoT."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    hook = AwsIoTJobsHook(aws_conn_id="aws_default")
    for thing in things:
        with emulator.lock:
            held = [g for g in emulator.registry.memberships.get(thing, ()) if g.startswith("site-")]
        for group in held:
            hook.call("remove_thing_from_thing_group", thingGroupName=group, thingName=thing)


def test_a_wave_above_100_things_targets_its_thing_group_kept_exact(fleet):
    harness, emulator = fleet
    name = harness.name
    group = wave_group_name(KEY, 2)
    before = groups(emulator)

    dry = run_dag(rollout_dag(f"large_dry_{name}", harness, dry_run=True))
    assert dry.state == "success", dry.states
    assert groups(emulator) == before and members(emulator, group) is None
    assert harness.remote_jobs(emulator) == []

    day = datetime(2026, 2, 5, tzinfo=UTC)
    dag = rollout_dag(f"large_{name}", harness)
    first = run_dag(dag, logical_date=day, run_after=day)
    jobs = check_run(emulator, first)
    planned = first.xcoms["firmware.plan"]["waves"]

    again = run_dag(dag, logical_date=day, run_after=day)  # the same DAG run again: every wave re-attaches
    assert check_run(emulator, again) == jobs
    assert sorted(harness.remote_jobs(emulator)) == sorted(jobs)

    # the fleet changes: 10 things of wave 1 and 20 of wave 2 leave it, so wave 1 (10 %) takes things of wave 2
    leave_fleet(emulator, planned[0]["devices"][:10] + planned[1]["devices"][-20:])
    dry = run_dag(rollout_dag(f"large_dry_{name}", harness, dry_run=True))
    assert dry.state == "success", dry.states
    assert members(emulator, group) == set(planned[1]["devices"])  # a dry run changes no group
    assert sorted(harness.remote_jobs(emulator)) == sorted(jobs)

    later = datetime(2026, 2, 12, tzinfo=UTC)
    second = run_dag(dag, logical_date=later, run_after=later)
    new_jobs = check_run(emulator, second)
    assert not set(new_jobs) & set(jobs) and len(harness.remote_jobs(emulator)) == 4
    moved = set(planned[1]["devices"]) & set(second.xcoms["firmware.plan"]["waves"][0]["devices"])
    assert moved and not moved & members(emulator, group)  # they moved to wave 1: no longer in wave 2's group
    assert not set(planned[1]["devices"][-20:]) & members(emulator, group)  # they left the fleet


def test_the_device_management_api_needs_aws_conn_id_for_a_large_wave(monkeypatch, logs):
    harness = harness_named("device_management_api")
    for make in emulator_fixture(harness, monkeypatch):
        emulator = make(devices=THINGS, speed=50.0, offline_rate=0.0, max_active_jobs=5)
        with emulator.lock:
            things = sorted(
                emulator.registry.arn("thing", t) for t in emulator.registry.things_in("fleet", True)
            )
        # thing ARNs need no aws connection to plan: only the wave above 100 things does
        dag = rollout_dag("large_dm_no_aws", harness, target=things, aws_conn_id=None)
        result = run_dag(dag)
        assert result.states["firmware.wave_1"] == "success"
        assert result.states["firmware.wave_2"] == "failed"
        assert len(harness.remote_jobs(emulator)) == 1  # wave 2 created no job
        assert members(emulator, wave_group_name(KEY, 2)) is None
        assert "aws_conn_id: a wave of more than 100 things targets a static thing group" in logs()
