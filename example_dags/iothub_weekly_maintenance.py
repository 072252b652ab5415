"""Weekly maintenance on one site's gateways: tag them, reboot them in one scheduled job, wait with thresholds.

Runs against a real hub or the emulator (`python -m airflow_iot_jobs.emulator iothub`) through the
`azure_iot_hub_default` connection.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator, IoTHubTwinUpdateJobOperator
from airflow_iot_jobs.sensors.iothub import IoTHubJobSensor

# Real hubs: poll every 30 s. The demo shortens it against the fast emulator.
POLL_SECONDS = float(os.getenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "30"))

SITE_DEVICES = "tags.site = '{{ params.site }}'"

with DAG(
    dag_id="iothub_weekly_maintenance",
    description="Tag a site's devices, reboot them with thresholds, wait in the triggerer",
    schedule="0 3 * * SUN",
    start_date=datetime(2026, 1, 4),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={"site": Param("ams", type="string", description="Site whose devices are maintained")},
    tags=["iot", "azure-iot-hub", "maintenance"],
) as dag:
    tag_window = IoTHubTwinUpdateJobOperator(
        task_id="tag_maintenance_window",
        query_condition=SITE_DEVICES,
        tags={"maintenance": "{{ ds }}"},
        poll_interval=POLL_SECONDS,
    )

    reboot = IoTHubDeviceMethodJobOperator(
        task_id="reboot",
        query_condition=SITE_DEVICES + " AND tags.maintenance = '{{ ds }}'",
        method_name="reboot",
        payload={"delaySeconds": 5},
        response_timeout=60,
        connect_timeout=30,
        max_execution_time=timedelta(hours=2),
        wait_for_completion=False,  # the deferrable sensor below does the waiting
    )

    wait_for_reboot = IoTHubJobSensor(
        task_id="wait_for_reboot",
        job_id="{{ ti.xcom_pull(task_ids='reboot')['job_id'] }}",
        success_threshold="95%",
        failure_threshold="5%",
        cancel_on_failure=True,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=3),
    )

    tag_window >> reboot >> wait_for_reboot


if __name__ == "__main__":
    dag.test()
