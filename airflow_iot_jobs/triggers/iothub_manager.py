"""Deferrable waiting on a job scheduled through the IoTHub Manager service."""

from __future__ import annotations

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class IoTHubManagerJobTrigger(JobThresholdTrigger):
    """Polls ``GET /v1/jobs/{id}`` asynchronously until the job meets or fails its thresholds or the absolute
    deadline ``end_time`` passes. ``hook_params`` holds ``iothub_manager_conn_id`` and ``iothub_conn_id`` (ids,
    never the bearer token)."""

    backend = IOTHUB_MANAGER
