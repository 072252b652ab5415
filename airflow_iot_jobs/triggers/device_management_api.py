"""Deferrable waiting on an AWS IoT job through the Device Management API."""

from __future__ import annotations

from airflow_iot_jobs.backends import DEVICE_MANAGEMENT_API
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class DeviceManagementApiJobTrigger(JobThresholdTrigger):
    """Polls ``GET /jobs/{jobId}`` (httpx, async; the connection read with ``aget_connection``) until the job meets
    or fails its thresholds, its abort config cancels it, or the absolute deadline ``end_time`` passes.
    ``hook_params`` holds ``device_management_api_conn_id`` and ``aws_conn_id`` — connection ids, no secret."""

    backend = DEVICE_MANAGEMENT_API
