"""The IoT Central emulator on 127.0.0.1, with the default ``azure_iot_central_default`` connection pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def make_central(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start IoT Central emulators (seed 5, speed 50, no offline devices unless asked), stopped after the test."""
    from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

    started = []

    def start(**options):
        options.setdefault("seed", 5)
        options.setdefault("speed", 50.0)
        options.setdefault("offline_rate", 0.0)
        app = IoTCentralEmulator(**options).start()
        started.append(app)
        for name, value in app.info()["airflow_env"].items():
            monkeypatch.setenv(name, value)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def central(make_central):
    """An app of 300 devices."""
    return make_central(devices=300)
