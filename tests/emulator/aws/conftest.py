"""Fixtures for the AWS emulator tests: real emulators on 127.0.0.1, boto3 clients, a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator
from airflow_iot_jobs.emulator.clock import ManualClock
from tests.emulator.aws.helpers import client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_aws(clock: ManualClock) -> Iterator[Callable[..., AwsIoTEmulator]]:
    """Start an emulator on the test's clock (stopped at the end of the test)."""
    started: list[AwsIoTEmulator] = []

    def make(**kwargs: Any) -> AwsIoTEmulator:
        kwargs.setdefault("things", 20)
        kwargs.setdefault("seed", 3)
        kwargs.setdefault("offline_rate", 0.0)
        emulator = AwsIoTEmulator(clock=clock, **kwargs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="module")
def shared_aws() -> Iterator[AwsIoTEmulator]:
    """One emulator for a module whose tests do not interfere (own job ids, own things)."""
    with AwsIoTEmulator(things=30, seed=11, offline_rate=0.0, clock=ManualClock()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def iot(shared_aws: AwsIoTEmulator) -> Any:
    return client(shared_aws)


@pytest.fixture(scope="module")
def jobs_data(shared_aws: AwsIoTEmulator) -> Any:
    return client(shared_aws, "iot-jobs-data")
