"""Fixtures of the IoT-Central-only tests: emulators on 127.0.0.1 the default connection points at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def make_central(monkeypatch: pytest.MonkeyPatch) -> Iterator:
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
    return make_central(devices=300)
