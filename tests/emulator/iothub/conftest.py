"""Fixtures for the emulator tests: real emulators on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from tests.emulator.iothub.helpers import HubClient


@pytest.fixture
def hub() -> Iterator[IoTHubEmulator]:
    with IoTHubEmulator(devices=100, seed=7, speed=20.0) as emulator:
        yield emulator


@pytest.fixture
def client(hub: IoTHubEmulator) -> HubClient:
    return HubClient(hub)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_hub(clock: ManualClock) -> Iterator[IoTHubEmulator]:
    """A hub whose time only moves when the test advances ``clock`` (speed 1)."""
    with IoTHubEmulator(devices=60, seed=3, clock=clock, offline_rate=0.1) as emulator:
        yield emulator


@pytest.fixture
def manual_client(manual_hub: IoTHubEmulator) -> HubClient:
    return HubClient(manual_hub)
