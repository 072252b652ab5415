"""Two AWS IoT endpoints on 127.0.0.1, each with ``aws_default`` pointing at it.

* Our AWS IoT emulator (``make_aws``, ``aws``, ``aws_hook``): what the operators, sensor and trigger run against.
* moto in server mode (``moto``, ``hook``, ``fleet``): a third-party AWS endpoint for the hook's cross-check.
  moto's known gaps (reference §2: executions stay QUEUED, no jobs data plane, ``list_jobs`` paging loops, a
  duplicate ``jobId`` silently replaces the job, thing groups are not expanded) are skipped by name in the tests
  that would need them, with the reason; those behaviours are tested on the emulator.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``python -m moto.server`` on a free loopback port for the session; stopped (by its pid) afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def aws_connection(endpoint: str, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": REGION, "endpoint_url": endpoint, **extra},
        }
    )


@pytest.fixture
def moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh moto state and ``aws_default`` pointing at it (no real AWS credentials can leak in)."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(moto_endpoint))
    return moto_endpoint


@pytest.fixture
def hook(moto: str):
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    return AwsIoTJobsHook()


@pytest.fixture
def fleet(hook) -> dict[str, Any]:
    """Things ``sensor-0``…``sensor-4``; group ``fleet`` holds 0–2, its child group ``fleet-eu`` holds 3."""
    client = hook.conn
    client.create_thing_group(thingGroupName="fleet")
    client.create_thing_group(thingGroupName="fleet-eu", parentGroupName="fleet")
    arns = {}
    for i in range(5):
        arns[f"sensor-{i}"] = client.create_thing(thingName=f"sensor-{i}")["thingArn"]
    for i in range(3):
        client.add_thing_to_thing_group(thingGroupName="fleet", thingName=f"sensor-{i}")
    client.add_thing_to_thing_group(thingGroupName="fleet-eu", thingName="sensor-3")
    return {
        "things": arns,
        "fleet": hook.thing_group_arn("fleet"),
        "fleet-eu": hook.thing_group_arn("fleet-eu"),
    }


# ------------------------------------------------------------------------------------- our AWS IoT emulator


@pytest.fixture
def make_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start AWS IoT emulators on 127.0.0.1 (seed 5, speed 60, no offline things unless asked), with
    ``aws_default`` (``AIRFLOW_CONN_AWS_DEFAULT``) pointing at the last one started; stopped after the test."""
    from airflow_iot_jobs.emulator.aws import AwsIoTEmulator

    started: list[Any] = []
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)

    def start(**options: Any) -> Any:
        options.setdefault("things", 40)
        options.setdefault("seed", 5)
        options.setdefault("speed", 60.0)
        options.setdefault("offline_rate", 0.0)
        emulator = AwsIoTEmulator(**options).start()
        started.append(emulator)
        for name, value in emulator.info()["airflow_env"].items():
            monkeypatch.setenv(name, value)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def aws(make_aws: Any) -> Any:
    """An emulated account with 40 simulated things (groups ``fleet`` > ``site-*``, ``model-*``, ``ring-*``)."""
    return make_aws()


@pytest.fixture
def aws_hook(aws: Any) -> Any:
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    return AwsIoTJobsHook()


def emulator_client(emulator: Any, service: str = "iot") -> Any:
    """A plain boto3 client on the emulator (``iot`` or ``iot-jobs-data``: a device's side), no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=emulator.region,
        endpoint_url=emulator.endpoint,
        aws_access_key_id=emulator.aws_access_key_id,
        aws_secret_access_key=emulator.aws_secret_access_key,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
