"""Fixtures for the IoT Central emulator tests: real emulators on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from tests.emulator.iotcentral.helpers import CentralClient


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def central(clock: ManualClock) -> Iterator[IoTCentralEmulator]:
    """An app whose time only moves when the test advances ``clock``; small pages to exercise paging."""
    with IoTCentralEmulator(devices=60, seed=5, clock=clock, page_size=7, offline_rate=0.1) as app:
        yield app


@pytest.fixture
def client(central: IoTCentralEmulator) -> CentralClient:
    return CentralClient(central)
