"""An IoT Central wave is a device group whose filter names its devices; a wave too large for one filter is refused
by the plan, naming the wave and the way out, before any job or device group is created."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.rollouts import fleet_rollout
from tests.dag_runs import run_dag
from tests.harness import emulator_fixture, harness_named

CENTRAL = harness_named("iotcentral")


@pytest.fixture
def central(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make: Callable[..., Any]
    for make in emulator_fixture(CENTRAL, monkeypatch):
        yield make(devices=2000, speed=50.0, offline_rate=0.0)


def test_a_wave_too_large_for_one_device_filter_is_refused_by_the_plan(central, logs):
    job, kwargs = CENTRAL.rollout_job(devices="*", action="reboot")
    with DAG("central_large", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        fleet_rollout(group_id="fw", job=job, job_kwargs=kwargs, waves=["10%", "100%"])
    assert CENTRAL.matching(central) > 400  # about 25 filter characters per device: far over one filter
    result = run_dag(dag)

    assert result.states["fw.plan"] == "failed" and result.state == "failed"
    assert result.tries["fw.plan"] == 1
    assert CENTRAL.remote_jobs(central) == [] and CENTRAL.requests(central, "create") == 0
    text = logs()
    assert (
        "waves: wave 2 of 2 has " in text
        and "an IoT Central wave selects its devices by a device filter" in text
    )
    assert "use smaller waves" in text and "no job was created" in text
