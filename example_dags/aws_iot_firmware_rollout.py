"""A firmware rollout over an AWS IoT thing group: trigger it from the Airflow UI and fill in the form.

No schedule. One AWS IoT job over the thing group (nested groups included) with the document
``{"operation": "firmwareUpdate", "version": …}``, an exponential rollout (AWS notifies ``base rate`` things a
minute, multiplied by ``increment factor`` each time as many things were notified), an abort config (AWS cancels
the job once the share of FAILED / TIMED_OUT / REJECTED executions crosses the threshold; the task then fails
saying the abort config stopped it) and an in-progress timeout per thing. The job is waited on in the triggerer
(``deferrable=True``) and judged with the success threshold. ``max_devices`` refuses a bigger blast radius; a dry
run only counts the things.

Against the emulator (its simulated things run ``firmwareUpdate``; ``--failure-rate 0.5`` shows the abort)::

    python -m airflow_iot_jobs.emulator aws --things 200 --speed 60 --offline-rate 0
    export AIRFLOW_CONN_AWS_DEFAULT='…'   # the second line the emulator prints
    # AIRFLOW_HOME and AIRFLOW__CORE__DAGS_FOLDER=example_dags as in the README's "Local set-up"
    IOT_JOBS_EXAMPLE_POLL_SECONDS=1 airflow dags test aws_iot_firmware_rollout \\
        -c '{"thing_group": "site-ams", "version": "2.1.0"}'

Real accounts: the Amazon provider's ``aws`` connection ``aws_default`` (keys, role assumption, ``region_name``).
Nothing of boto3 or the Amazon provider is imported when this file is parsed.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))
AMOUNT = r"^\d+(\.\d+)?%$|^\d+$"  # "95%" or a number of things

with DAG(
    dag_id="aws_iot_firmware_rollout",
    description="Roll out firmware to an AWS IoT thing group: exponential rollout, abort config, thresholds",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,  # numbers and flags keep their types in the job's configs
    params={
        "thing_group": Param(
            "fleet",
            type="string",
            pattern=r"^[a-zA-Z0-9:_-]+$",
            title="Thing group",
            description="The thing group to update (its child groups too), e.g. fleet, site-ams, ring-canary",
        ),
        "version": Param(
            "2.1.0",
            type="string",
            minLength=1,
            title="Firmware version",
            description="The version to install",
        ),
        "base_rate_per_minute": Param(
            10,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Rollout base rate (things a minute)",
            description="How many things AWS notifies a minute at first",
        ),
        "increment_factor": Param(
            2.0,
            type="number",
            minimum=1.1,
            maximum=5,
            title="Rollout increment factor",
            description="The rate is multiplied by this each time as many things as the base rate were notified",
        ),
        "abort_threshold_percentage": Param(
            10,
            type="number",
            exclusiveMinimum=0,
            maximum=100,
            title="Abort threshold (%)",
            description="AWS cancels the job once this share of executed things failed, timed out or rejected",
        ),
        "abort_min_executed_things": Param(
            10,
            type="integer",
            minimum=1,
            title="Abort after at least",
            description="Things that must have finished before the abort threshold applies",
        ),
        "in_progress_timeout_minutes": Param(
            30, type="integer", minimum=1, maximum=10080, title="Timeout per thing (minutes)"
        ),
        "success_threshold": Param(
            "95%",
            type="string",
            pattern=AMOUNT,
            title="Success threshold",
            description="Share ('95%') or count ('900') of things that must succeed",
        ),
        "max_devices": Param(
            1000, type=["null", "integer"], minimum=0, title="Max devices", description="Refuse more things"
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Only count the things"),
    },
    tags=["iot", "aws-iot", "firmware", "ad-hoc"],
) as dag:
    AwsIoTJobOperator(
        task_id="firmware_rollout",
        targets="thinggroup/{{ params.thing_group }}",
        # the job document the devices run: {"operation": "firmwareUpdate", "version": "2.1.0"} (one expression,
        # so the version stays a string even when it looks like a number, e.g. "2.1")
        document="{{ {'operation': 'firmwareUpdate', 'version': params.version} }}",
        description="firmware {{ params.version }} from Airflow ({{ run_id }})",
        job_executions_rollout_config={
            "exponentialRate": {
                "baseRatePerMinute": "{{ params.base_rate_per_minute }}",
                "incrementFactor": "{{ params.increment_factor }}",
                "rateIncreaseCriteria": {"numberOfNotifiedThings": "{{ params.base_rate_per_minute }}"},
            }
        },
        abort_config={
            "criteriaList": [
                {
                    "failureType": "ALL",  # FAILED, TIMED_OUT and REJECTED executions
                    "action": "CANCEL",
                    "thresholdPercentage": "{{ params.abort_threshold_percentage }}",
                    "minNumberOfExecutedThings": "{{ params.abort_min_executed_things }}",
                }
            ]
        },
        timeout_config={"inProgressTimeoutInMinutes": "{{ params.in_progress_timeout_minutes }}"},
        success_threshold="{{ params.success_threshold }}",
        max_devices="{{ params.max_devices }}",
        dry_run="{{ params.dry_run }}",
        aws_conn_id="aws_default",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=timedelta(hours=6),
    )

if __name__ == "__main__":
    dag.test()
