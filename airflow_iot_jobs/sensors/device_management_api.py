"""Sensor for AWS IoT jobs read through the Device Management API."""

from __future__ import annotations

from airflow_iot_jobs.operators.device_management_api_base import DeviceManagementApiConnectionMixin
from airflow_iot_jobs.sensors.aws_jobs import AwsJobSensorBase


class DeviceManagementApiJobSensor(DeviceManagementApiConnectionMixin, AwsJobSensorBase):
    """Waits on an AWS IoT job (``GET /jobs/{jobId}``: its ``jobProcessDetails``) until it crosses its thresholds;
    a job its abort config cancelled is a failure that says so.

    :param job_id: the job to watch (templated; the uuid the API gave it).
    :param continuous_min_executions: for a CONTINUOUS job: judge once at least this many things finished it.
    Plus ``device_management_api_conn_id`` and every threshold / mode parameter of the shared sensor.
    """

    template_fields = (
        *AwsJobSensorBase.template_fields,
        *DeviceManagementApiConnectionMixin.connection_template_fields,
    )
