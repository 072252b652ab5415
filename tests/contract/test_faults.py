"""Fault injection in the emulator, and every example DAG reaching its right end state through 20 % faults.

The emulator's ``fault_rate`` / ``fault_kinds`` (CLI ``--fault-rate`` / ``--fault-kinds``) make a share of the
authenticated requests answer 500 ``ServerError``, 503 ``ServiceUnavailable`` or 429 ``ThrottlingException`` (every
other one with ``Retry-After: 1``), drop the connection before applying the request (``reset``) or after
(``reset-after``), or answer late (``slow``) — deterministically for the emulator's seed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_iot_jobs.emulator.faults import FAULT_KINDS, FaultInjector, parse_fault_kinds
from airflow_iot_jobs.emulator.http import Request
from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
from airflow_iot_jobs.query.iothub import parse_condition
from tests.dag_runs import run_dag
from tests.reliability import FIGURES, record_jobs

pytest_plugins = ["tests.reliability_plugin"]

API = {"api-version": "2021-04-12"}
EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"
EVERY_KIND = ("500", "503", "429", "reset", "reset-after", "slow")


def sas(hub: IoTHubEmulator) -> dict[str, str]:
    from azure.iot.hub.auth import SasToken

    return {"Authorization": str(SasToken(hub.hostname, hub.policy_keys["iothubowner"], "iothubowner"))}


def put_job(hub: IoTHubEmulator, job_id: str) -> requests.Response:
    body = {
        "jobId": job_id,
        "type": "scheduleUpdateTwin",
        "queryCondition": "*",
        "updateTwin": {"etag": "*", "tags": {"a": 1}},
    }
    return requests.put(
        f"{hub.endpoint}/jobs/v2/{job_id}", params=API, json=body, headers=sas(hub), timeout=10
    )


def fake_request(method: str = "GET", path: str = "/jobs/v2/x") -> Request:
    return Request(method=method, path=path, query={}, headers={})


# ---------------------------------------------------------------------------------------------- the injector


def decisions(injector: FaultInjector, n: int = 400) -> list[str | None]:
    out = []
    for i in range(n):
        fault = injector.decide(fake_request(path=f"/jobs/v2/j{i}"))
        out.append(None if fault is None else fault.kind)
    return out


def test_faults_are_deterministic_for_a_seed_and_differ_between_seeds():
    one = decisions(FaultInjector(0.2, "all", seed=11))
    again = decisions(FaultInjector(0.2, "all", seed=11))
    other = decisions(FaultInjector(0.2, "all", seed=12))
    assert one == again
    assert one != other
    share = sum(k is not None for k in one) / len(one)
    assert 0.13 < share < 0.27
    assert {k for k in one if k} == set(EVERY_KIND)


def test_rate_zero_never_faults_rate_one_always_and_only_the_chosen_kinds():
    assert set(decisions(FaultInjector(0.0, "all", seed=1), 100)) == {None}
    assert set(decisions(FaultInjector(1.0, "503,reset", seed=1), 100)) == {"503", "reset"}
    assert parse_fault_kinds("all") == FAULT_KINDS
    assert parse_fault_kinds(" 429 , slow,429") == ("429", "slow")
    assert FaultInjector().kinds == ("500", "503", "429", "reset", "slow")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"rate": 1.5}, "within \\[0, 1\\]"),
        ({"rate": -0.1}, "within \\[0, 1\\]"),
        ({"kinds": "500,teapot"}, "unknown fault kind 'teapot'"),
        ({"kinds": ""}, "at least one kind"),
        ({"delay": -1}, ">= 0"),
    ],
)
def test_bad_fault_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        FaultInjector(**options)


def test_every_other_429_carries_retry_after_and_scripts_come_first():
    injector = FaultInjector(0.0, seed=3).script("429", None, "429", "429", "reset-after")
    faults = [injector.decide(fake_request()) for _ in range(6)]
    assert [f and f.kind for f in faults] == ["429", None, "429", "429", "reset-after", None]
    assert [f.retry_after for f in faults if f and f.kind == "429"] == [1, None, 1]


def test_max_consecutive_caps_the_bursts():
    capped = decisions(FaultInjector(0.6, "all", seed=4, max_consecutive=2), 600)
    streak = longest = 0
    for kind in capped:
        streak = streak + 1 if kind else 0
        longest = max(longest, streak)
    assert longest == 2
    assert decisions(FaultInjector(0.6, "all", seed=4, max_consecutive=2), 600) == capped


def test_match_limits_faults_to_the_requests_it_names():
    injector = FaultInjector(1.0, "500", seed=3, match=r"^POST /jobs/create$")
    assert injector.decide(fake_request("GET", "/jobs")) is None
    assert injector.decide(fake_request("POST", "/jobs/create")).kind == "500"
    assert [(f.method, f.path, f.kind) for f in injector.log] == [("POST", "/jobs/create", "500")]


# ---------------------------------------------------------------------------------------------- over HTTP


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


def test_reset_drops_the_connection_and_does_not_apply_the_request(faulty):
    faulty.faults.script("reset")
    with pytest.raises(requests.ConnectionError):
        put_job(faulty, "dropped")
    assert faulty.state.get_job("dropped") is None
    assert faulty.request_log == [("PUT", "/jobs/v2/dropped", 0)]


def test_reset_after_applies_the_request_then_drops_the_answer(faulty):
    faulty.faults.script("reset-after")
    with pytest.raises(requests.ConnectionError):
        put_job(faulty, "applied")
    assert faulty.state.get_job("applied") is not None, "reset-after must apply the request"
    assert faulty.request_log == [("PUT", "/jobs/v2/applied", 0)]
    assert put_job(faulty, "applied").status_code == 409  # what a blind retry meets


def test_slow_answers_correctly_after_the_delay(faulty):
    faulty.faults.script("slow")
    started = time.monotonic()
    response = put_job(faulty, "late")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json()["jobId"] == "late"
    assert faulty.request_log == [("PUT", "/jobs/v2/late", 200)]


def test_faults_never_hit_requests_that_fail_authentication(faulty):
    faulty.faults.configure(rate=1.0, kinds="500")
    response = requests.get(
        f"{faulty.endpoint}/jobs/v2/x", params=API, headers={"Authorization": "nope"}, timeout=10
    )
    assert response.status_code == 401
    assert faulty.faults.log == []
    assert (
        requests.get(f"{faulty.endpoint}/jobs/v2/x", params=API, headers=sas(faulty), timeout=10).status_code
        == 500
    )


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
