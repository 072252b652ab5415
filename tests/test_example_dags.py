"""The example DAGs, run as they are (dag.test()) against the emulator."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dag_runs import run_dag

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def load_dag(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


@pytest.fixture
def fleet(make_hub):
    return make_hub(devices=2000, speed=40.0, offline_rate=0.02, failure_rate=0.0)


def test_weekly_maintenance_tags_reboots_and_waits(fleet):
    from airflow_iot_jobs.query.iothub import parse_condition

    result = run_dag(
        load_dag("iothub_weekly_maintenance"), logical_date=datetime(2026, 11, 22, 3, tzinfo=UTC)
    )

    assert result.state == "success", result.states
    site = fleet.state.count_devices(parse_condition("tags.site = 'ams'"))
    assert result.xcoms["tag_maintenance_window"]["succeeded"] == site > 0
    assert fleet.state.count_devices(parse_condition("tags.maintenance = '2026-11-22'")) == site
    wait = result.xcoms["wait_for_reboot"]
    assert wait["job_id"] == result.xcoms["reboot"]["job_id"]
    assert wait["targeted"] == site and wait["succeeded"] >= 0.95 * site
    assert len(fleet.state.jobs) == 2


def test_fleet_command_from_the_params_form(fleet):
    conf = {
        "query_condition": "tags.ring = 'early' AND tags.floor <= 2",
        "method_name": "firmwareUpdate",
        "payload": {"version": "2.1.0"},
        "success_threshold": "90%",
        "failure_threshold": "5%",
        "response_timeout": 60,
    }
    result = run_dag(load_dag("iothub_fleet_command"), run_conf=conf)

    assert result.state == "success", result.states
    xcom = result.xcoms["fleet_command"]
    job = fleet.state.get_job(xcom["job_id"])
    assert job["queryCondition"] == conf["query_condition"]
    assert job["cloudToDeviceMethod"]["payload"] == {"version": "2.1.0"}
    assert job["cloudToDeviceMethod"]["responseTimeoutInSeconds"] == 60
    assert xcom["status"] == "completed" and xcom["succeeded"] >= 0.9 * xcom["targeted"]


def test_fleet_command_with_a_typo_fails_before_any_request(fleet):
    result = run_dag(
        load_dag("iothub_fleet_command"),
        run_conf={"query_condition": "tags.ring = 'early' AND AND", "method_name": "ping"},
    )
    assert result.states["fleet_command"] == "failed"
    assert fleet.request_log == []
