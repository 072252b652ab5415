"""Fault injection in the emulators, for every backend's harness (the IoT-Hub-only part — the error envelope, the
CLI, every example DAG reaching its right end state through 20 % faults — is tests/backends/iothub/).

The emulator's ``fault_rate`` / ``fault_kinds`` (CLI ``--fault-rate`` / ``--fault-kinds``) make a share of the
authenticated requests answer 500 ``ServerError``, 503 ``ServiceUnavailable`` or 429 ``ThrottlingException`` (every
other one with ``Retry-After: 1``), drop the connection before applying the request (``reset``) or after
(``reset-after``), or answer late (``slow``) — deterministically for the emulator's seed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_iot_jobs.emulator.faults import FAULT_KINDS, FaultInjector, parse_fault_kinds
from airflow_iot_jobs.emulator.http import Request
from tests.harness import BackendHarness

pytestmark = pytest.mark.reliability

EVERY_KIND = ("500", "503", "429", "reset", "reset-after", "slow")


def fake_request(method: str = "GET", path: str = "/jobs/x") -> Request:
    return Request(method=method, path=path, query={}, headers={})


# ---------------------------------------------------------------------------------------------- the injector


def decisions(injector: FaultInjector, n: int = 400) -> list[str | None]:
    out = []
    for i in range(n):
        fault = injector.decide(fake_request(path=f"/jobs/j{i}"))
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
def faulty(harness: BackendHarness) -> Iterator[Any]:
    emulator = harness.start(devices=20, seed=5, speed=50.0, fault_delay=0.3)
    try:
        yield emulator
    finally:
        harness.stop(emulator)


def test_reset_drops_the_connection_and_does_not_apply_the_request(harness, faulty):
    harness.faults(faulty).script("reset")
    with pytest.raises(requests.ConnectionError):
        harness.raw_create(faulty, "dropped")
    assert harness.jobs_named(faulty, "dropped") == []
    assert [(m, s) for m, _p, s in harness.request_log(faulty)] == [(harness.routes["create"][0], 0)]
    assert harness.requests(faulty, "create", 0, suffix="dropped") == 1


def test_reset_after_applies_the_request_then_drops_the_answer(harness, faulty):
    harness.faults(faulty).script("reset-after")
    with pytest.raises(requests.ConnectionError):
        harness.raw_create(faulty, "applied")
    assert len(harness.jobs_named(faulty, "applied")) == 1, "reset-after must apply the request"
    assert [(m, s) for m, _p, s in harness.request_log(faulty)] == [(harness.routes["create"][0], 0)]
    assert harness.requests(faulty, "create", 0, suffix="applied") == 1
    # what a blind retry meets: "already exists" — or, where the service picks the ids, a second job (which is
    # why the operators search for their marker before any create call)
    blind = harness.raw_create(faulty, "applied")
    if harness.service_ids:
        assert blind.status_code == 200 and len(harness.jobs_named(faulty, "applied")) == 2
    else:
        assert blind.status_code == harness.codes["already_exists_status"]


def test_slow_answers_correctly_after_the_delay(harness, faulty):
    harness.faults(faulty).script("slow")
    started = time.monotonic()
    response = harness.raw_create(faulty, "late")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert harness.service_ids or "late" in response.text  # (a service that picks the id does not answer it)
    assert (
        harness.remote_jobs(faulty) == harness.jobs_named(faulty, "late")
        and len(harness.remote_jobs(faulty)) == 1
    )
    assert [(m, s) for m, _p, s in harness.request_log(faulty)] == [(harness.routes["create"][0], 200)]
    assert harness.requests(faulty, "create", 200, suffix="late") == 1


def test_faults_never_hit_requests_that_fail_authentication(harness, faulty):
    harness.faults(faulty).configure(rate=1.0, kinds="500")
    response = harness.raw_get(faulty, "x", authorized=False)
    assert response.status_code == harness.codes["unauthorized_status"]
    assert harness.faults(faulty).log == []
    assert harness.raw_get(faulty, "x").status_code == 500
