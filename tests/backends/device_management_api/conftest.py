"""The AWS emulator with its Device Management Job API on 127.0.0.1; ``iot_device_management_api_default`` and
``aws_default`` point at the last one started (the emulator's own ``airflow_env``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

REGION = "us-east-1"
ACCOUNT = "123456789012"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:{kind}/{name}"


@pytest.fixture
def make_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    from airflow_iot_jobs.emulator.aws import AwsIoTEmulator

    started: list[Any] = []
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)

    def start(**options: Any) -> Any:
        options.setdefault("things", 30)
        options.setdefault("seed", 7)
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
def api(make_api: Callable[..., Any]) -> Any:
    return make_api()


def creates(emulator: Any) -> list[int]:
    """The statuses of the ``POST /jobs`` calls the Job API answered."""
    return [
        status
        for method, path, status in emulator.request_log
        if method == "POST" and path == "/device-management/prod/jobs"
    ]
