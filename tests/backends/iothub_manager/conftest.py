"""The IoTHub Manager emulator on 127.0.0.1 (with the IoT Hub it fronts), and the default connections
(``iothub_manager_default``, ``azure_iot_hub_default``) pointing at them, as its ``info()["airflow_env"]`` says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def make_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start IoTHub Manager emulators (seed 5, speed 50, no offline devices unless asked), stopped after the test."""
    from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator

    started = []

    def start(**options):
        options.setdefault("seed", 5)
        options.setdefault("speed", 50.0)
        options.setdefault("offline_rate", 0.0)
        emulator = IoTHubManagerEmulator(**options).start()
        started.append(emulator)
        for name, value in emulator.info()["airflow_env"].items():
            monkeypatch.setenv(name, value)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def manager(make_manager):
    """A service in front of a hub of 200 devices, with auth on (the connection carries the bearer token)."""
    return make_manager(devices=200, auth=True)


@pytest.fixture
def sent_requests():
    """Attach to a hook: every request its sync client sends, as httpx.Request objects."""

    def attach(hook) -> list:
        seen: list = []
        hook.client().event_hooks["request"].append(seen.append)
        return seen

    return attach
