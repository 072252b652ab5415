"""A firmware rollout through the Device Management API (``@softchef/cdk-iot-device-management``): for teams whose
tooling calls that REST API instead of AWS IoT. Trigger it from the Airflow UI and fill in the form.

No schedule. A job template as code (created once, found again by its description), then one AWS IoT job over a
thing group (or things), created with ``POST /jobs`` and waited on in the triggerer (``deferrable=True``): it
succeeds when the success threshold of things SUCCEEDED, and fails — cancelling the job — as soon as more than the
failure threshold failed. The API answers no job id; the task finds its job by the marker it puts in the job's
description, so a retry after a crash re-attaches instead of launching a second job. A dry run launches nothing.

Against the emulator (the ``aws`` emulator serves the Job API too; its first line's ``airflow_env`` holds the
connection ``iot_device_management_api_default``)::

    python -m airflow_iot_jobs.emulator aws --things 200 --speed 60 --offline-rate 0
    export AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT='…'   # from the emulator's first line
    IOT_JOBS_EXAMPLE_POLL_SECONDS=1 airflow dags test device_management_api_rollout \\
        -c '{"targets": ["arn:aws:iot:us-east-1:123456789012:thinggroup/site-ams"], "version": "2.1.0"}'

Real APIs: Host = the API's base URL with its stage; extra ``auth`` none / iam / cognito (see the README).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.device_management_api import (
    DeviceManagementApiJobOperator,
    DeviceManagementApiJobTemplateOperator,
)

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
AMOUNT = r"^\d+(\.\d+)?%$|^\d+$"  # "95%" or a number of things
ARN = r"^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:(thing|thinggroup)/[a-zA-Z0-9:_-]+$"

with DAG(
    dag_id="device_management_api_rollout",
    description="Roll out firmware through the Device Management Job API: thresholds, exactly one job per run",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,  # lists and flags keep their types
    params={
        "targets": Param(
            ["arn:aws:iot:us-east-1:123456789012:thinggroup/fleet"],
            type="array",
            items={"type": "string", "pattern": ARN},
            minItems=1,
            title="Targets (thing / thing-group ARNs)",
            description="One ARN a line: arn:aws:iot:<region>:<account>:thinggroup/<name> or …:thing/<name>",
        ),
        "version": Param("2.1.0", type="string", minLength=1, title="Firmware version"),
        "success_threshold": Param("95%", type="string", pattern=AMOUNT, title="Success threshold"),
        "failure_threshold": Param(
            "5%",
            type="string",
            pattern=AMOUNT,
            title="Failure threshold",
            description="Fail and cancel the job as soon as more than this failed",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Check the input, launch nothing"
        ),
    },
) as dag:
    template = DeviceManagementApiJobTemplateOperator(
        task_id="firmware_template",
        description="firmware update (airflow example)",
        document={"operation": "firmwareUpdate"},
    )
    rollout = DeviceManagementApiJobOperator(
        task_id="rollout",
        targets="{{ params.targets }}",
        # one expression, so the version stays a string even when it looks like a number ("2.1")
        document="{{ {'operation': 'firmwareUpdate', 'version': params.version} }}",
        description="firmware {{ params.version }} from Airflow",
        success_threshold="{{ params.success_threshold }}",
        failure_threshold="{{ params.failure_threshold }}",
        cancel_on_failure=True,
        dry_run="{{ params.dry_run }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_poll_interval=max(POLL_SECONDS, 120),
    )
    template >> rollout
