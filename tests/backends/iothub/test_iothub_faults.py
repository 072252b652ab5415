"""Fault injection, IoT-Hub-only part (the rest is tests/contract/test_faults.py): the IoT Hub error envelope,
the CLI's fault options, and every example DAG reaching its right end state through 20 % faults."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
from airflow_iot_jobs.query.iothub import parse_condition
from tests.contract.test_faults import EVERY_KIND
from tests.dag_runs import run_dag
from tests.harness.iothub import API, IOTHUB_HARNESS, sas
from tests.harness.reliability import FIGURES, record_jobs

pytestmark = pytest.mark.reliability

EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"


def put_job(hub: IoTHubEmulator, job_id: str) -> requests.Response:
    return IOTHUB_HARNESS.raw_create(hub, job_id)


@pytest.fixture
def faulty() -> Iterator[IoTHubEmulator]:
    with IoTHubEmulator(devices=20, seed=5, speed=50.0, fault_delay=0.3) as hub:
        yield hub


@pytest.mark.parametrize(
    "kind, status, code",
    [("500", 500, "ServerError"), ("503", 503, "ServiceUnavailable"), ("429", 429, "ThrottlingException")],
)
def test_error_faults_answer_in_the_iot_hub_envelope_and_apply_nothing(faulty, kind, status, code):
    faulty.faults.script(kind)
    response = put_job(faulty, "never")
    assert response.status_code == status
    assert response.headers["iothub-errorcode"] == code
    assert response.json()["Message"].startswith(f"ErrorCode:{code};")
    assert "Tracking ID:" in response.json()["ExceptionMessage"]
    assert response.headers.get("Retry-After") == ("1" if kind == "429" else None)
    assert faulty.state.get_job("never") is None
    assert faulty.request_log == [("PUT", "/jobs/v2/never", status)]


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_iot_jobs.emulator",
            "iothub",
            "--port",
            "0",
            "--devices",
            "10",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_fault_options_are_deterministic_by_seed_like_the_library():
    process = _cli(
        "--seed", "9", "--fault-rate", "0.5", "--fault-kinds", "500,503,429", "--key", "a2V5a2V5a2V5"
    )
    try:
        info = json.loads(process.stdout.readline())
        assert info["fault_rate"] == 0.5 and info["fault_kinds"] == ["500", "503", "429"]
        parts = dict(p.split("=", 1) for p in info["connection_string"].split(";"))
        from azure.iot.hub.auth import SasToken

        token = str(SasToken(info["hostname"], parts["SharedAccessKey"], "iothubowner"))
        seen = [
            requests.get(
                f"{info['endpoint']}/jobs/v2/j{i}", params=API, headers={"Authorization": token}, timeout=10
            ).status_code
            for i in range(30)
        ]
    finally:
        process.terminate()
        process.wait(10)
    with IoTHubEmulator(
        devices=10, seed=9, fault_rate=0.5, fault_kinds="500,503,429", key="a2V5a2V5a2V5"
    ) as hub:
        expected = [
            requests.get(f"{hub.endpoint}/jobs/v2/j{i}", params=API, headers=sas(hub), timeout=10).status_code
            for i in range(30)
        ]
    assert seen == expected
    assert set(seen) == {200, 500, 503, 429}


@pytest.mark.parametrize(
    "args, message",
    [
        (("--fault-rate", "2"), "must be within [0, 1]"),
        (("--fault-kinds", "500,boom"), "unknown fault kind 'boom'"),
        (("--fault-delay", "-1"), "must be >= 0"),
        (("--fault-match", "("), "not a valid regular expression"),
    ],
)
def test_cli_refuses_bad_fault_options(args, message):
    process = _cli(*args)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert message in err


# ---------------------------------------------------------------------------------------------- example DAGs, 20 % faults


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def faulty_hub(make_hub, seed: int, **options: Any) -> IoTHubEmulator:
    """20 % faults of every kind, never more than two in a row (every client call makes 4 attempts or more: a
    longer burst is an outage, which fails the try and is the retry matrix's business); the first eight requests
    meet one of each kind, so every run sees them all."""
    hub = make_hub(
        seed=seed, fault_rate=0.2, fault_kinds="all", fault_delay=0.3, fault_max_consecutive=2, **options
    )
    hub.faults.script("500", "503", None, "429", "reset", None, "reset-after", "slow")
    return hub


def account(hub: IoTHubEmulator) -> None:
    counts = hub.faults.counts()
    FIGURES.add_faults(counts)
    assert set(counts) == set(EVERY_KIND), f"not every kind was injected: {counts}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_weekly_maintenance_reaches_success_through_faults(make_hub, seed):
    hub = faulty_hub(make_hub, seed, devices=1500, speed=40.0, offline_rate=0.02, failure_rate=0.0)
    day = datetime(2026, 11, 22, 3, tzinfo=UTC)

    result = run_dag(load("iothub_weekly_maintenance").dag, logical_date=day, run_after=day)

    assert result.state == "success", result.states
    site = hub.state.count_devices(parse_condition("tags.site = 'ams'"))
    assert result.xcoms["tag_maintenance_window"]["succeeded"] == site > 0
    assert hub.state.count_devices(parse_condition("tags.maintenance = '2026-11-22'")) == site
    wait = result.xcoms["wait_for_reboot"]
    assert wait["job_id"] == result.xcoms["reboot"]["job_id"] and wait["succeeded"] >= 0.95 * site
    jobs = list(hub.state.jobs)
    for task in ("tag_maintenance_window", "reboot"):
        record_jobs(sum(job.startswith(task.replace("_", "-")) for job in jobs))
    assert len(jobs) == 2, jobs
    account(hub)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4])
def test_fleet_command_reaches_success_through_faults(make_hub, seed):
    hub = faulty_hub(make_hub, seed, devices=1500, speed=8.0, offline_rate=0.02, failure_rate=0.0)
    conf = {
        "query_condition": "tags.ring = 'early' AND tags.floor <= 2",
        "method_name": "firmwareUpdate",
        "payload": {"version": "2.1.0"},
        "success_threshold": "90%",
        "failure_threshold": "5%",
        "response_timeout": 60,
    }

    result = run_dag(load("iothub_fleet_command").dag, run_conf=conf)

    assert result.state == "success", result.states
    xcom = result.xcoms["fleet_command"]
    record_jobs(len(hub.state.jobs))
    assert list(hub.state.jobs) == [xcom["job_id"]]
    job = hub.state.get_job(xcom["job_id"])
    assert job["queryCondition"] == conf["query_condition"]
    assert xcom["status"] == "completed" and xcom["succeeded"] >= 0.9 * xcom["targeted"]
    account(hub)


def test_fleet_command_failure_path_still_fails_and_cancels_through_faults(make_hub):
    """Faults must not turn a bad rollout into a success: too many failures still fail and cancel the job."""
    hub = faulty_hub(make_hub, 5, devices=1000, speed=1.0, offline_rate=0.0, failure_rate=0.4)
    conf = {
        "query_condition": "*",
        "method_name": "reboot",
        "success_threshold": "95%",
        "failure_threshold": "5%",
    }

    result = run_dag(load("iothub_fleet_command").dag, run_conf=conf)

    assert result.states == {"fleet_command": "failed"}
    (job_id,) = hub.state.jobs
    record_jobs(1)
    assert hub.state.get_job(job_id)["status"] == "cancelled"
    FIGURES.add_faults(hub.faults.counts())


def _storage_connection(monkeypatch, azurite) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_IOT_REGISTRY_STORAGE",
        json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string}}),
    )


@pytest.mark.slow
def test_nightly_registry_export_reaches_success_through_faults(make_hub, azurite_or_skip, monkeypatch):
    hub = faulty_hub(make_hub, 6, devices=400, speed=40.0)
    _storage_connection(monkeypatch, azurite_or_skip)
    day = datetime(2026, 11, 23, 1, tzinfo=UTC)

    result = run_dag(load("iothub_nightly_registry_export").dag, logical_date=day, run_after=day)

    assert result.state == "success", result.states
    assert result.xcoms["summarise"]["devices"] == 400
    exports = [job for job in hub.import_export.jobs.values() if job.spec.job_type == "export"]
    record_jobs(len(exports))
    assert len(exports) == 1 and exports[0].job_id == result.xcoms["export_registry"]["job_id"]
    account(hub)


@pytest.mark.slow
def test_registry_import_reaches_success_through_faults(make_hub, azurite_or_skip, monkeypatch):
    hub = faulty_hub(make_hub, 7, devices=100, speed=40.0)
    _storage_connection(monkeypatch, azurite_or_skip)
    records = [
        {"id": f"faulty-gw-{i:03d}", "importMode": "create", "status": "enabled", "tags": {"site": "ams"}}
        for i in range(25)
    ]

    result = run_dag(load("iothub_nightly_registry_export").import_dag, run_conf={"devices": records})

    assert result.state == "success", result.states
    xcom = result.xcoms["import_devices"]
    assert (xcom["lines"], xcom["failed_lines"]) == (25, 0)
    imports = [job for job in hub.import_export.jobs.values() if job.spec.job_type == "import"]
    record_jobs(len(imports))
    assert len(imports) == 1 and imports[0].job_id == xcom["job_id"]
    assert all(f"faulty-gw-{i:03d}" in hub.fleet for i in range(25))
    account(hub)
