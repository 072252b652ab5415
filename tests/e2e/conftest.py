"""One real Airflow 3 deployment (api-server, scheduler, DAG processor, triggerer) plus the IoT Hub emulator for
the whole e2e package, with the hub connection created through the REST API as a user does in the UI."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from tests.e2e.stack import Airflow, Emulator, running_stack

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CONN_ID = "azure_iot_hub_default"  # what both example DAGs use

# The emulator starts about 100 device rows per emulated second, so a job over N devices takes roughly
# N / (100 x SPEED) seconds. 20,000 devices at speed 5 give ~5,000 devices per site and ~10 s per job: short,
# yet long enough that the weekly DAG's reboot job is still running when its sensor pokes first (a few seconds
# after the launch, in a fresh task process) and so really defers. Offline devices (1 %) time out after the
# 30 s connect timeout, i.e. 6 s at this speed.
FLEET = {"devices": 20000, "seed": 11, "speed": 5, "offline_rate": 0.01, "max_active_jobs": 10}


class Deployment:
    def __init__(self, airflow: Airflow, emulator: Emulator) -> None:
        self.airflow = airflow
        self.emulator = emulator

    def expected_devices(self, query_condition: str) -> int:
        """How many devices the emulator's fleet (deterministic for a seed) has for a query condition."""
        from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
        from airflow_iot_jobs.query.iothub import parse_condition

        fleet = IoTHubEmulator(
            devices=FLEET["devices"], seed=FLEET["seed"], offline_rate=FLEET["offline_rate"]
        )
        return fleet.state.count_devices(parse_condition(query_condition))

    def hub_count(self, query_condition: str) -> int:
        """``SELECT COUNT()`` on the running emulator now, through the hook of this test process (an
        environment connection of its own: the Airflow processes never see it)."""
        from airflow_iot_jobs.hooks.iothub import IoTHubHook

        conn = {
            "conn_type": "azure_iot_hub",
            "password": self.emulator.connection_string,
            "extra": {"endpoint_url": self.emulator.endpoint},
        }
        with mock.patch.dict(os.environ, {"AIRFLOW_CONN_E2E_HUB_CHECK": json.dumps(conn)}):
            return IoTHubHook(iothub_conn_id="e2e_hub_check").count_devices(query_condition)


@pytest.fixture(scope="package")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("airflow-e2e")
    try:
        with running_stack(home, **FLEET) as (airflow, emulator):
            created = airflow.api(
                "POST",
                "/connections",
                expect=(201,),
                json={
                    "connection_id": CONN_ID,
                    "conn_type": "azure_iot_hub",
                    "description": "IoT Hub emulator, created through the REST API by the e2e tests",
                    "password": emulator.connection_string,
                    "extra": json.dumps({"endpoint_url": emulator.endpoint}),
                },
            )
            assert created["conn_type"] == "azure_iot_hub"
            assert created["password"] == "***"  # the API masks it; the DB has it
            yield Deployment(airflow, emulator)
    finally:
        _keep_logs(home)


def _keep_logs(home: Path) -> None:
    """Copy the component and task logs to tests/e2e/artifacts/airflow-logs, for a look after a failure."""
    target = ARTIFACTS / "airflow-logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    for name, source in (("components", home / "stack-logs"), ("tasks", home / "logs")):
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
