"""An ad-hoc fleet command: trigger it from the Airflow UI and fill in the form.

No schedule. The params form asks for the devices (a query condition), the direct method and its payload, and
the thresholds; the job waits in the triggerer and fails (cancelling the job) when too many devices fail.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
# "false": wait in the worker (poke mode), as the scale benchmark's comparison runs it; waits in the triggerer else
DEFERRABLE = os.getenv("IOT_JOBS_EXAMPLE_DEFERRABLE", "true").lower() not in ("0", "false", "no")

with DAG(
    dag_id="iothub_fleet_command",
    description="Run one direct method on the devices you choose, with success/failure thresholds",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,  # payload stays a JSON object, thresholds keep their types
    params={
        "query_condition": Param(
            "tags.ring = 'canary'",
            type="string",
            minLength=1,
            title="Devices",
            description="IoT Hub query condition (the WHERE clause), e.g. tags.site = 'ams'; '*' for all devices",
        ),
        "method_name": Param(
            "ping",
            type="string",
            title="Direct method",
            examples=["reboot", "ping", "firmwareUpdate"],
            description="Name of the direct method the devices implement",
        ),
        "payload": Param({}, type="object", title="Payload", description="JSON payload (at most 128 KB)"),
        "success_threshold": Param(
            "95%",
            type="string",
            pattern=r"^\d+(\.\d+)?%$|^\d+$",
            title="Success threshold",
            description="Share ('95%') or count ('900') of devices that must succeed",
        ),
        "failure_threshold": Param(
            "5%",
            type=["null", "string"],
            title="Failure threshold",
            description="Fail and cancel as soon as more than this share or count failed; empty for none",
        ),
        "response_timeout": Param(30, type="integer", minimum=5, maximum=300, title="Response timeout (s)"),
    },
    tags=["iot", "azure-iot-hub", "ad-hoc"],
) as dag:
    IoTHubDeviceMethodJobOperator(
        task_id="fleet_command",
        query_condition="{{ params.query_condition }}",
        method_name="{{ params.method_name }}",
        payload="{{ params.payload }}",
        response_timeout="{{ params.response_timeout }}",
        success_threshold="{{ params.success_threshold }}",
        failure_threshold="{{ params.failure_threshold or None }}",
        cancel_on_failure=True,
        deferrable=DEFERRABLE,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=2),
    )


if __name__ == "__main__":
    dag.test()
