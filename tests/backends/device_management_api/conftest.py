"""The AWS emulator with its Device Management Job API on 127.0.0.1; ``iot_device_management_api_default`` and
``aws_default`` point at the last one started (the emulator's own ``airflow_env``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from tests.backends.aws.conftest import make_aws  # noqa: F401, F811 - the fixture, reused

REGION = "us-east-1"
ACCOUNT = "123456789012"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:{kind}/{name}"


@pytest.fixture
def make_api(make_aws: Callable[..., Any]) -> Callable[..., Any]:  # noqa: F811
    """The AWS backend's emulator fixture (its ``airflow_env`` holds this API's connection), 30 things, seed 7."""
    return functools.partial(make_aws, things=30, seed=7)


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
