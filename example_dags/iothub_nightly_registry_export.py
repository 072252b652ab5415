"""Nightly device-registry backup, a summary computed by streaming the export, and a device-list import.

Two DAGs:
- ``iothub_nightly_registry_export``: every night, export all identities (keys excluded) to the
  ``registry-exports`` container, then summarise devices by status and reported firmware by streaming the file.
- ``iothub_registry_import``: trigger it with a list of device records (params form) to create, update or delete
  identities in bulk; failed lines are reported by line number.

Connections: ``azure_iot_hub_default`` (the hub) and ``iot_registry_storage`` (a ``wasb``-style storage
connection: a connection string in extra ``connection_string``, or account name/key in Login/Password).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator, IoTHubImportDevicesOperator

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
STORAGE_CONN_ID = "iot_registry_storage"

with DAG(
    dag_id="iothub_nightly_registry_export",
    description="Back up the device registry every night and summarise it",
    schedule="0 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["iot", "azure-iot-hub", "registry"],
) as dag:
    export = IoTHubExportDevicesOperator(
        task_id="export_registry",
        wasb_conn_id=STORAGE_CONN_ID,
        container="registry-exports",
        blob_name="exports/{{ ds }}/devices.txt",
        exclude_keys=True,
        poll_interval=POLL_SECONDS,
    )

    @task
    def summarise(exported: dict[str, Any]) -> dict[str, Any]:
        """Devices by status and by reported firmware, streaming the export (bounded memory)."""
        from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage

        storage = DeviceBlobStorage(wasb_conn_id=STORAGE_CONN_ID)
        container = exported["container_url"].rstrip("/").rsplit("/", 1)[-1]
        location = BlobLocation(storage.container_uri(container, "rl"), exported["blob_name"])
        by_status: Counter[str] = Counter()
        by_firmware: Counter[str] = Counter()
        for device in storage.iter_records(location):
            by_status[device.get("status", "unknown")] += 1
            reported = (device.get("properties") or {}).get("reported") or {}
            by_firmware[str(reported.get("firmware", "unknown"))] += 1
        return {
            "devices": sum(by_status.values()),
            "by_status": dict(by_status),
            "by_firmware": dict(by_firmware.most_common()),
        }

    summarise(export.output)


with DAG(
    dag_id="iothub_registry_import",
    description="Create, update or delete device identities in bulk from a list of records",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "devices": Param(
            [{"id": "new-gateway-001", "importMode": "create", "status": "enabled", "tags": {"site": "ams"}}],
            type="array",
            title="Device records",
            description="IoT Hub import records: each needs 'id' and 'importMode' (create, update, delete, "
            "createOrUpdate, updateTwin, …)",
        ),
        "failure_threshold": Param(0, type="integer", minimum=0, title="Failed lines tolerated"),
    },
    tags=["iot", "azure-iot-hub", "registry"],
) as import_dag:
    IoTHubImportDevicesOperator(
        task_id="import_devices",
        wasb_conn_id=STORAGE_CONN_ID,
        input_container="registry-imports",
        devices="{{ params.devices }}",
        success_threshold="0%",
        failure_threshold="{{ params.failure_threshold }}",
        poll_interval=POLL_SECONDS,
    )
