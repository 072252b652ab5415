"""Deferrable waiting on an Azure IoT Hub job."""

from __future__ import annotations

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class IoTHubJobTrigger(JobThresholdTrigger):
    """Polls the job asynchronously until it meets or fails its thresholds or the absolute deadline
    ``end_time`` (epoch seconds) passes. ``hook_params`` holds the ``iothub_conn_id``."""

    backend = IOTHUB
