"""Fixtures for the IoTHub Manager emulator tests: real emulators on 127.0.0.1, time moved by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator
from tests.emulator.iothub.helpers import HubClient


@pytest.fixture
def clock() -> ManualClock:
    # A whole second: the wire's 7-digit times round to the microsecond, so a job created "now" and a bound of
    # NOW compare equal only when now has no sub-microsecond part.
    return ManualClock(float(int(time.time())))


@pytest.fixture
def manager(clock: ManualClock) -> Iterator[IoTHubManagerEmulator]:
    with IoTHubManagerEmulator(
        devices=30, seed=7, clock=clock, max_active_jobs=10, offline_rate=0.1
    ) as emulator:
        yield emulator


@pytest.fixture
def authed(clock: ManualClock) -> Iterator[IoTHubManagerEmulator]:
    with IoTHubManagerEmulator(devices=5, seed=1, clock=clock, auth=True) as emulator:
        yield emulator


@pytest.fixture
def hub_client(manager: IoTHubManagerEmulator) -> HubClient:
    return HubClient(manager.hub)


class Api:
    """requests against the manager's endpoint."""

    def __init__(self, emulator: IoTHubManagerEmulator) -> None:
        self.base = emulator.endpoint
        self.session = requests.Session()

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=10)

    def post(self, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + "/v1/jobs", json=body, timeout=10, **kwargs)

    def method_job(self, job_id: str, condition: str = "*", **extra: Any) -> requests.Response:
        body = {"JobId": job_id, "QueryCondition": condition, "MethodParameter": {"Name": "reboot"}, **extra}
        return self.post(body)

    def twin_job(
        self, job_id: str, tags: dict[str, Any], condition: str = "*", **extra: Any
    ) -> requests.Response:
        return self.post(
            {"JobId": job_id, "QueryCondition": condition, "UpdateTwin": {"Tags": tags}, **extra}
        )


@pytest.fixture
def api(manager: IoTHubManagerEmulator) -> Api:
    return Api(manager)
