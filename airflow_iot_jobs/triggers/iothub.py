"""Deferrable waiting on an Azure IoT Hub scheduled job."""

from __future__ import annotations

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class IoTHubJobTrigger(JobThresholdTrigger):
    """Polls ``GET /jobs/v2/{id}`` asynchronously until the job meets or fails its thresholds or the absolute
    deadline ``end_time`` (epoch seconds) passes. ``conn_id`` is an ``azure_iot_hub`` connection id."""

    hook_class = IoTHubHook
