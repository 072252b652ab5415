"""Deferrable waiting on an Azure IoT Central job."""

from __future__ import annotations

from airflow_iot_jobs.backends import IOTCENTRAL
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class IoTCentralJobTrigger(JobThresholdTrigger):
    """Polls ``GET /api/jobs/{id}`` asynchronously until the job meets or fails its thresholds or the absolute
    deadline ``end_time`` passes. ``hook_params`` holds the ``iotcentral_conn_id``."""

    backend = IOTCENTRAL
