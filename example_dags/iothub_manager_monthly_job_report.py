"""A monthly report of the device jobs run through the Remote Monitoring IoTHub Manager service.

On the first of every month: list the jobs created in the last 30 days (``from=NOW-P30D``, as the service reads
it), log them as a table by type and status, return ``{"total", "by_type", "by_status", "failures"}`` (XCom) and
keep every job as JSON lines under ``IOT_JOBS_REPORT_DIR``. A second task turns the failures into a warning.

Connection: ``iothub_manager_default`` (type ``iothub_manager``: Host = the service's base URL, Password = a
bearer JWT if the service sits behind the solution's reverse proxy).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerJobReportOperator

REPORT_DIR = os.getenv("IOT_JOBS_REPORT_DIR", "/tmp/iothub-manager-reports")

with DAG(
    dag_id="iothub_manager_monthly_job_report",
    description="What device jobs ran in the last 30 days, and how they ended",
    schedule="@monthly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["iot", "iothub-manager", "report"],
) as dag:
    report = IoTHubManagerJobReportOperator(
        task_id="job_report",
        from_time="NOW-P30D",
        output_path=REPORT_DIR + "/jobs-{{ ds }}.jsonl",
    )

    @task
    def flag_failures(summary: dict[str, Any]) -> int:
        """Say which jobs failed (or had failed devices); the count is the task's XCom."""
        import logging

        log = logging.getLogger("airflow.task")
        for failure in summary["failures"]:
            log.warning(
                "job %s (%s) ended %s: %s of %s devices failed",
                failure["job_id"],
                failure["type"],
                failure["status"],
                failure["failed"],
                failure["devices"],
            )
        return len(summary["failures"])

    flag_failures(report.output)


if __name__ == "__main__":
    dag.test()
