"""Tiered throttling (issue 15): off by default; with ``tier=`` each backend answers its service's throttling error
past the tier's rate, refills continuously, and applies the tier's concurrent-job limit. Real HTTP on 127.0.0.1;
time moves only when the test advances the emulator's :class:`ManualClock`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator
from airflow_iot_jobs.emulator.cli import build_parser
from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator
from airflow_iot_jobs.emulator.throttle import TokenBucket
from tests.emulator.aws.helpers import arn, client, error_of, reboot
from tests.emulator.iotcentral.helpers import CentralClient, command_job
from tests.emulator.iothub.helpers import HubClient, method_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(float(int(__import__("time").time())))


@pytest.fixture
def started() -> Iterator[list[Any]]:
    emulators: list[Any] = []
    yield emulators
    for emulator in emulators:
        emulator.stop()


def _start(started: list[Any], emulator: Any) -> Any:
    started.append(emulator.start())
    return emulator


# -- the bucket ---------------------------------------------------------------------------------------------------


def test_bucket_takes_its_capacity_then_waits_for_continuous_refill(clock: ManualClock) -> None:
    bucket = TokenBucket(100, 100 / 60, clock.now)
    assert [bucket.take() for _ in range(100)] == [None] * 100
    assert bucket.take() == pytest.approx(0.6)  # one token per 0.6 s
    clock.advance(0.3)
    assert bucket.take() == pytest.approx(0.3)  # half a token is not a token
    clock.advance(0.3)
    assert bucket.take() is None
    clock.advance(3600)
    assert bucket.tokens == 100  # never more than its capacity


# -- IoT Hub ------------------------------------------------------------------------------------------------------


def _hub(started: list[Any], clock: ManualClock, **options: Any) -> HubClient:
    return HubClient(_start(started, IoTHubEmulator(devices=10, seed=1, clock=clock, **options)))


def _assert_hub_throttled(response: requests.Response, retry_after: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["iothub-errorcode"] == "ThrottlingException"
    assert response.headers["Retry-After"] == retry_after
    assert response.json()["Message"].startswith("ErrorCode:ThrottlingException;")


def test_hub_without_a_tier_never_throttles(started: list[Any], clock: ManualClock) -> None:
    client = _hub(started, clock)
    assert {client.get_job("nope").status_code for _ in range(130)} == {200}
    assert {client.query("SELECT * FROM devices").status_code for _ in range(30)} == {200}
    assert client.hub.info()["tier"] is None and client.hub.state.max_active_jobs == 1


def test_hub_s1_jobs_operations_100_per_minute_then_429_and_refill(
    started: list[Any], clock: ManualClock
) -> None:
    client = _hub(started, clock, tier="S1")
    assert {client.get_job("nope").status_code for _ in range(100)} == {200}
    _assert_hub_throttled(client.get_job("nope"), "1")  # 100/min: the next token in 0.6 s
    _assert_hub_throttled(client.put_job("j1", method_job("j1")), "1")  # create is a jobs operation too
    assert client.query("SELECT * FROM devices").status_code == 200  # queries have their own bucket
    clock.advance(0.6)
    assert client.get_job("nope").status_code == 200
    assert client.get_job("nope").status_code == 429
    clock.advance(60)
    assert {client.get_job("nope").status_code for _ in range(100)} == {200}
    assert client.get_job("nope").status_code == 429


def test_hub_s1_queries_20_per_minute_and_units_scale_them(started: list[Any], clock: ManualClock) -> None:
    client = _hub(started, clock, tier="S1")
    assert {client.query("SELECT * FROM devices").status_code for _ in range(20)} == {200}
    _assert_hub_throttled(client.query("SELECT * FROM devices"), "3")  # 20/min: a token every 3 s
    _assert_hub_throttled(client.request("GET", "/jobs/v2/query"), "3")
    clock.advance(3)
    assert client.query("SELECT * FROM devices").status_code == 200

    two = _hub(started, clock, tier="S1", units=2)
    assert {two.query("SELECT * FROM devices").status_code for _ in range(40)} == {200}
    _assert_hub_throttled(two.query("SELECT * FROM devices"), "2")  # 40/min: 1.5 s, rounded up


def test_hub_twin_updates_50_per_second_on_s1_and_per_unit_on_s3(
    started: list[Any], clock: ManualClock
) -> None:
    client = _hub(started, clock, tier="S1", units=4)  # S1: 50/s whatever the units
    device = client.query_all("SELECT * FROM devices")[0]["deviceId"]

    def patch(hub: HubClient) -> requests.Response:
        return hub.request("PATCH", f"/twins/{device}", json={"tags": {"n": 1}})

    assert {patch(client).status_code for _ in range(50)} == {200}
    _assert_hub_throttled(patch(client), "1")
    assert client.request("GET", f"/twins/{device}").status_code == 200  # reads have their own bucket (100/s)
    assert client.query("SELECT * FROM devices").status_code == 200
    clock.advance(1)
    assert patch(client).status_code == 200

    s3 = _hub(started, clock, tier="S3", units=2)  # 250/s per unit
    assert {patch(s3).status_code for _ in range(500)} == {200}
    _assert_hub_throttled(patch(s3), "1")


def test_hub_unauthenticated_requests_spend_no_token(started: list[Any], clock: ManualClock) -> None:
    client = _hub(started, clock, tier="S1")
    stranger = requests.Session()
    for _ in range(25):
        assert stranger.get(client.base + "/jobs/v2/x?api-version=2021-04-12").status_code == 401
    assert {client.query("SELECT * FROM devices").status_code for _ in range(20)} == {200}


@pytest.mark.parametrize(("tier", "limit"), [("F1", 1), ("S1", 1), ("S2", 5), ("S3", 10)])
def test_hub_concurrent_jobs_per_tier(started: list[Any], clock: ManualClock, tier: str, limit: int) -> None:
    client = _hub(started, clock, tier=tier)
    for n in range(limit):
        assert client.put_job(f"job-{n}", method_job(f"job-{n}")).status_code == 200
    extra = client.put_job("one-more", method_job("one-more"))
    assert extra.status_code == 429
    assert extra.headers["iothub-errorcode"] == "ThrottlingMaxActiveJobCountExceeded"
    info = client.hub.info()
    assert (info["tier"], info["max_active_jobs"]) == (tier, limit)


def test_hub_tier_settings_are_checked_and_an_explicit_limit_wins(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="F1 hub has at most 1 unit"):
        IoTHubEmulator(devices=1, tier="F1", units=2)
    with pytest.raises(ValueError, match="tier must be one of"):
        IoTHubEmulator(devices=1, tier="S9")
    hub = IoTHubEmulator(devices=1, clock=clock, tier="s3", units=2, max_active_jobs=3)
    assert (hub.tier.name, hub.state.max_active_jobs) == ("S3", 3)
    assert hub.app.throttle.limits["jobs"].count == 10000


# -- IoTHub Manager: the hub's tier, the hub's buckets ------------------------------------------------------------


def test_manager_spends_the_hubs_throttle(started: list[Any], clock: ManualClock) -> None:
    manager = _start(started, IoTHubManagerEmulator(devices=5, seed=1, clock=clock, tier="S2"))
    assert manager.info()["tier"] == "S2" and manager.state.max_active_jobs == 5
    session = requests.Session()
    assert {session.get(manager.endpoint + "/v1/jobs").status_code for _ in range(20)} == {200}
    throttled = session.get(manager.endpoint + "/v1/jobs")
    assert throttled.status_code == 500  # the service's exception filter has no throttling branch
    assert throttled.json()["ExceptionType"].endswith("IotHubThrottledException")
    hub = HubClient(manager.hub)
    _assert_hub_throttled(hub.query("SELECT * FROM devices"), "3")  # one bucket for both APIs
    assert hub.get_job("x").status_code == 200  # jobs operations are a separate bucket


def test_manager_without_a_tier_never_throttles(started: list[Any], clock: ManualClock) -> None:
    manager = _start(started, IoTHubManagerEmulator(devices=5, seed=1, clock=clock))
    session = requests.Session()
    assert {session.get(manager.endpoint + "/v1/jobs").status_code for _ in range(30)} == {200}
    assert manager.info()["tier"] is None and manager.state.max_active_jobs == 1


# -- IoT Central --------------------------------------------------------------------------------------------------


def test_central_20_requests_per_second_then_429_too_many_requests(
    started: list[Any], clock: ManualClock
) -> None:
    app = CentralClient(_start(started, IoTCentralEmulator(devices=10, seed=1, clock=clock, tier="S1")))
    assert {app.call("GET", "/jobs").status_code for _ in range(20)} == {200}
    throttled = app.session.get(app.app.endpoint + "/api/jobs", params={"api-version": "2022-07-31"})
    assert throttled.status_code == 429
    assert throttled.headers["x-ms-error-code"] == "TooManyRequests"
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    clock.advance(0.05)  # 20/s: one token every 50 ms
    assert app.call("GET", "/jobs").status_code == 200
    assert (
        app.session.get(app.app.endpoint + "/api/jobs", params={"api-version": "2022-07-31"}).status_code
        == 429
    )
    clock.advance(1)
    assert {app.call("GET", "/jobs").status_code for _ in range(20)} == {200}


def test_central_tier_keeps_five_running_jobs(started: list[Any], clock: ManualClock) -> None:
    app = CentralClient(_start(started, IoTCentralEmulator(devices=10, seed=1, clock=clock, tier="S3")))
    assert app.app.info()["tier"] == "S3"
    app.group("all")
    for n in range(5):
        assert app.job(f"job-{n}", command_job("all")).status_code == 200
    sixth = app.job("job-5", command_job("all"))
    assert (sixth.status_code, sixth.headers["x-ms-error-code"]) == (429, "TooManyJobs")


def test_central_without_a_tier_never_throttles(started: list[Any], clock: ManualClock) -> None:
    app = CentralClient(_start(started, IoTCentralEmulator(devices=10, seed=1, clock=clock)))
    assert {app.call("GET", "/jobs").status_code for _ in range(40)} == {200}
    assert app.app.info()["tier"] is None


# -- AWS IoT Jobs -------------------------------------------------------------------------------------------------


def test_aws_10_tps_per_jobs_api_then_throttling_exception(started: list[Any], clock: ManualClock) -> None:
    aws = _start(started, AwsIoTEmulator(things=5, seed=1, clock=clock, offline_rate=0.0, tier="S1"))
    iot = client(aws)
    for _ in range(10):
        iot.list_jobs()
    with pytest.raises(ClientError) as caught:
        iot.list_jobs()
    assert error_of(caught.value)[:2] == (400, "ThrottlingException")  # iot's model: 400
    iot.create_job(jobId="j1", targets=[arn("thing", "thing-00000")], document=reboot())  # its own bucket
    clock.advance(0.1)
    iot.list_jobs()
    with pytest.raises(ClientError):
        iot.list_jobs()
    iot.list_things()  # not a jobs API: not throttled


def test_aws_tier_active_jobs_limit(started: list[Any], clock: ManualClock) -> None:
    aws = _start(started, AwsIoTEmulator(things=2, seed=1, clock=clock, offline_rate=0.0, tier="S2"))
    assert (aws.info()["tier"], aws.state.max_active_jobs) == ("S2", 100)
    iot = client(aws)
    iot.create_thing(thingName="manual")  # not simulated: its executions stay QUEUED, its jobs IN_PROGRESS
    for n in range(100):
        if n % 10 == 0:
            clock.advance(1)  # keep under CreateJob's 10 TPS
        iot.create_job(jobId=f"j{n}", targets=[arn("thing", "manual")], document=reboot())
    clock.advance(1)
    with pytest.raises(ClientError) as caught:
        iot.create_job(jobId="j100", targets=[arn("thing", "manual")], document=reboot())
    assert error_of(caught.value)[:2] == (410, "LimitExceededException")


def test_aws_without_a_tier_never_throttles(started: list[Any], clock: ManualClock) -> None:
    aws = _start(started, AwsIoTEmulator(things=2, seed=1, clock=clock))
    iot = client(aws)
    for _ in range(25):
        iot.list_jobs()
    assert aws.info()["tier"] is None and aws.state.max_active_jobs == 1000


# -- the shared harnesses (what tests/conftest.py's fixtures start) ------------------------------------------------


def test_every_harness_starts_a_tiered_emulator() -> None:
    from tests.harness import HARNESSES

    for harness in HARNESSES:
        emulator = harness.start(devices=3, tier="S2")
        try:
            assert emulator.info()["tier"] == "S2", harness
        finally:
            emulator.stop()


# -- the command line ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["iothub", "iothub-manager", "iotcentral", "aws"])
def test_every_backend_takes_tier(backend: str) -> None:
    parser = build_parser()
    assert parser.parse_args([backend]).tier is None
    assert parser.parse_args([backend, "--tier", "s2"]).tier == "S2"
    with pytest.raises(SystemExit):
        parser.parse_args([backend, "--tier", "S4"])


def test_cli_first_line_carries_the_tier() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_iot_jobs.emulator",
            "iothub",
            "--devices",
            "5",
            "--tier",
            "S3",
            "--units",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        info = json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (info["tier"], info["units"], info["max_active_jobs"]) == ("S3", 2, 10)
    assert info["throttles"]["jobs"] == {"count": 10000, "per_seconds": 60.0}
    assert info["throttles"]["queries"] == {"count": 2000, "per_seconds": 60.0}


@pytest.mark.parametrize(
    ("backend", "default"), [("iothub", 1), ("iothub-manager", 1), ("iotcentral", 5), ("aws", 1000)]
)
def test_cli_max_active_jobs_default_gives_way_to_the_tier(backend: str, default: int) -> None:
    from airflow_iot_jobs.emulator.cli import max_active_jobs

    parser = build_parser()
    assert max_active_jobs(parser.parse_args([backend])) == default
    assert max_active_jobs(parser.parse_args([backend, "--tier", "S2"])) is None  # the tier's
    assert max_active_jobs(parser.parse_args([backend, "--tier", "S2", "--max-active-jobs", "7"])) == 7
