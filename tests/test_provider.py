"""The package as Airflow sees it: provider discovery, connection form, light DAG-parse imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_iot_jobs.backends import BACKENDS

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
    assert all(b.name in packages["airflow-iot-jobs"]["description"] for b in BACKENDS)


#: the fields each connection form must offer (beyond host / password)
FORM_FIELDS = {
    "azure_iot_hub": {"connection_string", "endpoint_url", "tenant_id", "client_id", "client_secret"},
    "azure_iot_central": {"base_domain", "endpoint_url", "tenant_id", "client_id", "client_secret"},
    "iothub_manager": {"headers", "x_source"},
    "iot_device_management_api": {"auth", "region", "aws_conn_id", "headers"},
}


OWN_FORMS = [b for b in BACKENDS if b.registers_connection]


@pytest.mark.parametrize("backend", OWN_FORMS, ids=[b.conn_type for b in OWN_FORMS])
def test_connection_form_and_hook_are_registered(backend):
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks[backend.conn_type]
    assert hook.hook_class_name == backend.hook
    assert hook.connection_id_attribute_name == backend.conn_param
    assert hook.hook_name == backend.name
    behaviour = manager.field_behaviours[backend.conn_type]
    assert "password" in behaviour["relabeling"]
    widgets = {
        key.rsplit("__", 1)[-1]
        for key in manager.connection_form_widgets
        if key.startswith(f"extra__{backend.conn_type}__")
    }
    assert FORM_FIELDS[backend.conn_type] <= widgets


def test_a_backend_on_another_providers_connection_leaves_its_form_alone():
    """AWS IoT Jobs uses the Amazon provider's ``aws`` connection: its hook and form stay the Amazon provider's."""
    from airflow.providers_manager import ProvidersManager

    from airflow_iot_jobs import get_provider_info

    borrowed = [b for b in BACKENDS if not b.registers_connection]
    assert [b.conn_type for b in borrowed] == ["aws"]
    ours = {c["connection-type"] for c in get_provider_info()["connection-types"]}
    assert "aws" not in ours
    assert ProvidersManager().hooks["aws"].package_name == "apache-airflow-providers-amazon"


def test_provider_info_lists_every_backend_class():
    from airflow_iot_jobs import get_provider_info

    info = get_provider_info()
    modules = {
        kind: {m for entry in info[kind] for m in entry["python-modules"]}
        for kind in ("hooks", "operators", "sensors", "triggers")
    }
    for backend in BACKENDS:
        for kind, paths in backend.modules.items():
            assert set(paths) <= modules[kind], (backend.name, kind)
    assert set(info["extra-links"]) == {link for b in BACKENDS for link in b.extra_links}
    assert {
        "Azure IoT Hub",
        "Azure IoT Central",
        "AWS IoT Jobs",
        "Azure IoTHub Manager (Remote Monitoring)",
    } <= {i["integration-name"] for i in info["integrations"]}


def test_operator_and_sensor_modules_import_no_sdk_at_dag_parse():
    code = (
        "import sys, "
        + ", ".join(
            m for b in BACKENDS for kind in ("operators", "sensors", "triggers") for m in b.modules[kind]
        )
        + "; "
        f"print([m for m in {HEAVY!r} if any(k == m or k.startswith(m + '.') for k in sys.modules)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
