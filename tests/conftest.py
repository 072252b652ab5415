"""Test harness: an isolated Airflow home on SQLite, and IoT Hub emulators on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads its configuration at import: isolate it before anything imports airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-iot-jobs-tests-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("IOT_JOBS_EXAMPLE_POLL_SECONDS", "0.5")

pytest_plugins = ["tests.azurite"]

CONN_ID = "azure_iot_hub_default"


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Path:
    """A migrated SQLite metadata DB, once per session (dag.test() needs one)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


def connection_json(hub, **extra: object) -> str:
    """The Airflow connection (AIRFLOW_CONN_* JSON) a user would write for this emulator."""
    return json.dumps(
        {
            "conn_type": "azure_iot_hub",
            "password": hub.connection_string,
            "extra": {"endpoint_url": hub.endpoint, **extra},
        }
    )


def use_hub(monkeypatch: pytest.MonkeyPatch, hub, conn_id: str = CONN_ID) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(hub))


@pytest.fixture
def make_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start an emulator with the given options and point the default connection at it."""
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    started = []

    def start(**options: object):
        options.setdefault("seed", 7)
        hub = IoTHubEmulator(**options)
        hub.start()
        started.append(hub)
        use_hub(monkeypatch, hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def hub(make_hub):
    """A 300-device fleet, fast clock, no random failures, no offline devices."""
    return make_hub(devices=300, speed=50.0, offline_rate=0.0, failure_rate=0.0, max_active_jobs=5)
