"""A staged firmware rollout on any backend: trigger it from the Airflow UI, pick the backend, the devices, the waves
and the thresholds.

No schedule. One rollout task group per backend; ``choose_backend`` runs the chosen one and skips the others. In the
grid each rollout shows ``plan`` (the wave plan, also in XCom), ``wave_1`` … ``wave_4`` (one job each, waited on in
the triggerer), a ``soak_<n>`` after each wave but the last, and ``verdict``. A wave that crosses its failure
threshold cancels its job; the later waves are skipped with the reason, and ``verdict`` fails the run with one line
naming the wave and the devices that failed. ``dry_run`` plans without creating any job.

Against the emulators (``make demo`` style: start the backend's emulator, export the ``airflow_env`` of its first
line, run ``airflow dags test fleet_firmware_rollout -c '{"backend": "iothub"}'``). Nothing of a backend's SDK is
imported when this file is parsed.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator
from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiJobOperator
from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator
from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator
from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerMethodJobOperator
from airflow_iot_jobs.rollouts import fleet_rollout

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
SOAK_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_SOAK_SECONDS", "300"))
WAVES = 4
AMOUNT = r"^\d+(\.\d+)?%$|^\d+$"
CENTRAL_TEMPLATE = "dtmi:airflowIotJobs:gateway100;1"
FIRMWARE = {"version": "{{ params.version }}"}
CENTRAL_FLEET = f'SELECT * FROM devices WHERE $template = "{CENTRAL_TEMPLATE}" AND $provisioned = true'


def devices(fleet: object) -> str:
    """The form's target, or this backend's whole fleet when it is left empty."""
    return "{{ params.target or " + repr(fleet) + " }}"


#: each backend: its job operator and the job's keywords, its target included
BACKENDS = {
    "iothub": (
        IoTHubDeviceMethodJobOperator,
        {"method_name": "firmwareUpdate", "payload": FIRMWARE, "query_condition": devices("*")},
    ),
    "iotcentral": (
        IoTCentralJobOperator,
        {
            "data": [
                {"type": "command", "target": CENTRAL_TEMPLATE, "path": "firmwareUpdate", "value": FIRMWARE}
            ],
            "device_filter": devices(CENTRAL_FLEET),
        },
    ),
    "aws": (
        AwsIoTJobOperator,
        {"document": {"operation": "firmwareUpdate", **FIRMWARE}, "targets": devices(["fleet"])},
    ),
    "iothub_manager": (
        IoTHubManagerMethodJobOperator,
        {
            "method_name": "firmwareUpdate",
            "payload": FIRMWARE,
            "query_condition": devices("*"),
            "iothub_conn_id": "azure_iot_hub_default",
        },
    ),
    "device_management_api": (
        DeviceManagementApiJobOperator,
        {
            "document": {"operation": "firmwareUpdate", **FIRMWARE},
            "targets": devices(["arn:aws:iot:us-east-1:123456789012:thinggroup/fleet"]),
            "aws_conn_id": "aws_default",
        },
    ),
}

with DAG(
    dag_id="fleet_firmware_rollout",
    description="Roll firmware out in waves with a gate per wave, on the backend you choose",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,  # lists and numbers from the form keep their types
    params={
        "backend": Param("iothub", enum=list(BACKENDS), title="Backend"),
        "target": Param(
            None,
            type=["null", "string"],
            title="Devices (empty: the whole fleet)",
            description="IoT Hub / IoTHub Manager: a query condition; IoT Central: a device group id or a "
            "SELECT * FROM devices WHERE … filter; AWS: a thing group; Device Management API: a thing-group ARN",
        ),
        "version": Param("2.1.0", type="string", minLength=1, title="Firmware version"),
        "waves": Param(
            ["1%", "10%", "50%", "100%"],
            type="array",
            minItems=WAVES,
            maxItems=WAVES,
            title=f"Waves ({WAVES})",
            description="Cumulative shares ('10%'), device counts (100) or 'rest' for the remaining devices",
        ),
        "success_threshold": Param("95%", type="string", pattern=AMOUNT, title="Success threshold per wave"),
        "failure_threshold": Param(
            "2%", type="string", pattern=AMOUNT, title="Failure threshold per wave (breach stops the rollout)"
        ),
        "dry_run": Param(False, type="boolean", title="Dry run: plan the waves, launch nothing"),
    },
    tags=["iot", "rollout"],
) as dag:
    choose = BranchPythonOperator(
        task_id="choose_backend",
        python_callable=lambda params: f"{params['backend']}.plan",
    )
    for name, (job, job_kwargs) in BACKENDS.items():
        rollout = fleet_rollout(
            group_id=name,
            job=job,
            job_kwargs={
                **job_kwargs,
                "cancel_on_failure": True,
                "deferrable": True,
                "poll_interval": POLL_SECONDS,
                "max_poll_interval": max(POLL_SECONDS, 120),
            },
            waves="{{ params.waves }}",
            wave_count=WAVES,
            wave_thresholds={
                "success_threshold": "{{ params.success_threshold }}",
                "failure_threshold": "{{ params.failure_threshold }}",
            },
            soak=timedelta(seconds=SOAK_SECONDS),
            dry_run="{{ params.dry_run }}",
        )
        choose >> rollout
