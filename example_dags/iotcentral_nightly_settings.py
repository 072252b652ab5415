"""Every night at 02:00: set a writable property on every device of the Freezers group, 10 % of them per batch.

IoT Central stops the job itself when more than 5 % of a batch fails (the job's cancellation threshold), and the
task fails when under 95 % of the devices succeeded. The Freezers group is kept as code from a Central filter;
the property is the emulator's writable ``telemetryIntervalSeconds`` on the ``sensorX`` template (on your own
app, your template and property, e.g. ``targetTemperature``).

Against the emulator::

    python -m airflow_iot_jobs.emulator iotcentral --devices 1000 --speed 20 --offline-rate 0
    export AIRFLOW_CONN_AZURE_IOT_CENTRAL_DEFAULT='…'   # the line the emulator prints
    # AIRFLOW_HOME and AIRFLOW__CORE__DAGS_FOLDER=example_dags as in the README's "Local set-up"
    IOT_JOBS_EXAMPLE_POLL_SECONDS=1 airflow dags test iotcentral_nightly_settings

(with the default ``--offline-rate 0.02`` an offline device or two can push a batch past 5 %: the job is then
cancelled and the task fails, which is the threshold doing its job.) Real apps: an ``azure_iot_central``
connection ``azure_iot_central_default`` (app subdomain and API token, or Entra ID).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.iotcentral import IoTCentralDeviceGroupOperator, IoTCentralJobOperator

# Real apps: poll every 30 s. Tests shorten it against the fast emulator.
POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))

FREEZER_TEMPLATE = "dtmi:airflowIotJobs:sensorX;1"
FREEZERS = f'SELECT * FROM devices WHERE $template = "{FREEZER_TEMPLATE}" AND $provisioned = true'

with DAG(
    dag_id="iotcentral_nightly_settings",
    description="Set a writable property on the Freezers group, in batches, with a cancellation threshold",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    render_template_as_native_obj=True,  # the property value stays a number
    params={
        "telemetry_interval_seconds": Param(
            300, type="integer", minimum=10, maximum=3600, description="Value written to every device"
        )
    },
    tags=["iot", "azure-iot-central", "settings"],
) as dag:
    freezers = IoTCentralDeviceGroupOperator(
        task_id="ensure_freezers_group",
        device_group_id="freezers",
        filter=FREEZERS,
        display_name="Freezers",
        description="Kept by the iotcentral_nightly_settings DAG",
    )

    settings = IoTCentralJobOperator(
        task_id="set_telemetry_interval",
        device_group_id="freezers",
        data=[
            {
                "type": "property",
                "target": FREEZER_TEMPLATE,
                "path": "telemetryIntervalSeconds",
                "value": "{{ params.telemetry_interval_seconds }}",
            }
        ],
        batch="10%",
        cancellation_threshold={"type": "percentage", "value": 5, "batch": True},  # per batch
        success_threshold="95%",
        display_name="Nightly settings {{ ds }}",
        description="telemetryIntervalSeconds = {{ params.telemetry_interval_seconds }} on the Freezers group",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=3),
    )

    freezers >> settings


if __name__ == "__main__":
    dag.test()
