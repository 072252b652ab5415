"""The README's rollout DAG as written (three waves on the IoT Hub emulator; the grid shows one task per wave) and the
example DAG ``fleet_firmware_rollout.py`` from its params form."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.dag_runs import run_dag
from tests.harness import emulator_fixture, harness_named
from tests.readme_dags import readme_dag

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "fleet_firmware_rollout.py"


@pytest.fixture
def make_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    yield from emulator_fixture(harness_named("iothub"), monkeypatch)


@pytest.fixture
def make_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    yield from emulator_fixture(harness_named("aws"), monkeypatch)


def test_the_readme_rollout_runs_three_waves_one_task_each(make_hub):
    emulator = make_hub(devices=120, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    dag = readme_dag(
        "rollout-readme-dag",
        {
            'DAG("gateway_firmware_waves"': 'DAG("readme_rollout"',
            "soak=timedelta(minutes=15)": "soak=timedelta(seconds=0.5)",
            '"deferrable": True,': '"deferrable": True, "poll_interval": 0.3, "max_poll_interval": 0.5,',
        },
    )
    assert sorted(dag.task_ids) == [
        "firmware.plan",
        "firmware.soak_1",
        "firmware.soak_2",
        "firmware.verdict",
        "firmware.wave_1",
        "firmware.wave_2",
        "firmware.wave_3",
    ]

    result = run_dag(dag)

    assert result.state == "success", result.states
    ams = harness_named("iothub").matching(emulator, {"site": "ams"})
    plan = result.xcoms["firmware.plan"]
    waves = [set(w["devices"]) for w in plan["waves"]]
    assert sum(map(len, waves)) == len(set().union(*waves)) == ams > 0
    assert [w["selection"] for w in plan["waves"]] == ["5%", "30%", "100%"]
    summary = result.xcoms["firmware.verdict"]["waves"]
    assert [w["succeeded"] for w in summary] == [len(w) for w in waves]


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "0.3")
    monkeypatch.setenv("IOT_JOBS_EXAMPLE_SOAK_SECONDS", "0.2")
    spec = importlib.util.spec_from_file_location("fleet_firmware_rollout", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_form_runs_the_chosen_backend_and_skips_the_others(make_aws, monkeypatch):
    emulator = make_aws(devices=30, speed=50.0, offline_rate=0.0, max_active_jobs=5)
    dag = load_example(monkeypatch).dag
    conf = {"backend": "aws", "waves": ["10%", "20%", "60", "rest"], "success_threshold": "90%"}

    result = run_dag(dag, run_conf=conf)

    assert result.state == "success", {k: v for k, v in result.states.items() if k.startswith("aws")}
    assert result.states["aws.verdict"] == "success" and result.states["iothub.verdict"] == "skipped"
    plan = result.xcoms["aws.plan"]
    assert [w["count"] for w in plan["waves"]] == [3, 3, 24, 0]
    assert len(harness_named("aws").remote_jobs(emulator)) == 3  # the empty last wave launches nothing
    assert result.xcoms["aws.wave_4"]["job_id"] is None
