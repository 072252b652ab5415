"""The package as Airflow sees it: provider discovery, connection form, light DAG-parse imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "azure.iot.hub",
    "azure.identity",
    "msrest",
    "uamqp",
    "lark",
    "requests",
    "airflow_iot_jobs.emulator",
)


def test_providers_list_shows_the_package():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    ).stdout
    packages = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert "airflow-iot-jobs" in packages


def test_connection_form_and_hook_are_registered():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks["azure_iot_hub"]
    assert hook.hook_class_name == "airflow_iot_jobs.hooks.iothub.IoTHubHook"
    assert hook.connection_id_attribute_name == "iothub_conn_id"
    behaviour = manager.field_behaviours["azure_iot_hub"]
    assert "password" in behaviour["relabeling"]
    widgets = {key.rsplit("__", 1)[-1] for key in manager.connection_form_widgets}
    assert {"connection_string", "endpoint_url", "tenant_id", "client_id", "client_secret"} <= widgets


def test_operator_and_sensor_modules_import_no_sdk_at_dag_parse():
    code = (
        "import sys, airflow_iot_jobs.operators.iothub, airflow_iot_jobs.sensors.iothub, "
        "airflow_iot_jobs.triggers.iothub; "
        f"print([m for m in {HEAVY!r} if any(k == m or k.startswith(m + '.') for k in sys.modules)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
