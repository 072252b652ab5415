"""An ad-hoc IoT Central command job: trigger it from the Airflow UI and fill in the form.

No schedule. The params form asks for the devices (a Central filter, or an existing device group), the command,
its payload, the batch size, the cancellation threshold IoT Central applies (per batch or over the job), the
success threshold and a blast-radius limit; a dry run only counts the devices. The job waits in the triggerer.

Against the emulator (``--failure-rate 0.5`` shows a batch crossing the cancellation threshold)::

    python -m airflow_iot_jobs.emulator iotcentral --devices 1000 --speed 20 --offline-rate 0
    export AIRFLOW_CONN_AZURE_IOT_CENTRAL_DEFAULT='…'   # the line the emulator prints
    # AIRFLOW_HOME and AIRFLOW__CORE__DAGS_FOLDER=example_dags as in the README's "Local set-up"
    IOT_JOBS_EXAMPLE_POLL_SECONDS=1 airflow dags test iotcentral_fleet_command \\
        -c '{"command": "firmwareUpdate", "payload": {"version": "2.1.0"}}'

Real apps: an ``azure_iot_central`` connection ``azure_iot_central_default``.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
# "false": wait in the worker (poke mode), as the scale benchmark's comparison runs it; waits in the triggerer else
DEFERRABLE = os.getenv("IOT_JOBS_EXAMPLE_DEFERRABLE", "true").lower() not in ("0", "false", "no")

TEMPLATES = [
    "dtmi:airflowIotJobs:gateway100;1",
    "dtmi:airflowIotJobs:gateway200;1",
    "dtmi:airflowIotJobs:sensorX;1",
]
AMOUNT = r"^\d+(\.\d+)?%$|^\d+$"  # "10%" or a number of devices

with DAG(
    dag_id="iotcentral_fleet_command",
    description="Run one command on the devices you choose, in batches, with thresholds",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,  # payload stays a JSON object, numbers and flags keep their types
    params={
        "device_filter": Param(
            f'SELECT * FROM devices WHERE $template = "{TEMPLATES[0]}" AND $provisioned = true',
            type=["null", "string"],
            title="Device filter",
            description='A Central filter, e.g. SELECT * FROM devices WHERE site = "ams"; empty to use a group',
        ),
        "device_group_id": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-zA-Z0-9_-]+$",
            title="Device group",
            description="Id of an existing device group; empty to use the filter (fill in exactly one)",
        ),
        "device_template": Param(
            TEMPLATES[0],
            type="string",
            title="Device template",
            examples=TEMPLATES,
            description="Template (DTMI) that defines the command; devices of another template fail",
        ),
        "command": Param(
            "ping",
            type="string",
            enum=["ping", "reboot", "firmwareUpdate"],
            title="Command",
            description='The command to run (firmwareUpdate needs {"version": …})',
        ),
        "payload": Param({}, type="object", title="Payload", description="The command's JSON request"),
        "batch": Param(
            "10%", type=["null", "string"], pattern=AMOUNT, title="Batch", description="'10%' or '50' devices"
        ),
        "cancellation_threshold": Param(
            5,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=100,
            title="Cancellation threshold (%)",
            description="IoT Central cancels the job once this share of devices failed; empty for none",
        ),
        "cancel_per_batch": Param(True, type="boolean", title="Cancellation threshold per batch"),
        "success_threshold": Param(
            "95%",
            type="string",
            pattern=AMOUNT,
            title="Success threshold",
            description="Share ('95%') or count ('900') of devices that must succeed",
        ),
        "max_devices": Param(
            1000, type=["null", "integer"], minimum=0, title="Max devices", description="Refuse more devices"
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Only count the devices"),
    },
    tags=["iot", "azure-iot-central", "ad-hoc"],
) as dag:
    IoTCentralJobOperator(
        task_id="command",
        device_filter="{{ params.device_filter or '' }}",  # fill in exactly one of the two: checked at run time
        device_group_id="{{ params.device_group_id or '' }}",
        data=[
            {
                "type": "command",
                "target": "{{ params.device_template }}",
                "path": "{{ params.command }}",
                "value": "{{ params.payload }}",
            }
        ],
        batch="{{ params.batch or None }}",
        cancellation_threshold=(
            "{{ {'type': 'percentage', 'value': params.cancellation_threshold, 'batch': params.cancel_per_batch}"
            " if params.cancellation_threshold else None }}"
        ),
        success_threshold="{{ params.success_threshold }}",
        max_devices="{{ params.max_devices }}",
        dry_run="{{ params.dry_run }}",
        display_name="{{ params.command }} from Airflow ({{ run_id }})",
        deferrable=DEFERRABLE,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=2),
    )

if __name__ == "__main__":
    dag.test()
