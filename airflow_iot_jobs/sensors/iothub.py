"""Sensor for Azure IoT Hub scheduled jobs."""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.sensors.base import JobThresholdSensor


class IoTHubJobSensor(JobThresholdSensor):
    """Waits on an IoT Hub scheduled job (device method or twin update) until it crosses its thresholds.

    :param job_id: the job to watch (templated; e.g. ``{{ ti.xcom_pull('reboot')['job_id'] }}``).
    :param iothub_conn_id: an ``azure_iot_hub`` connection (default ``azure_iot_hub_default``).
    """

    hook_class = IoTHubHook
    trigger_path = "airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger"
    template_fields = (*JobThresholdSensor.template_fields, "iothub_conn_id")

    def __init__(self, *, iothub_conn_id: str = IoTHubHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id

    @property
    def conn_id(self) -> str:
        return self.iothub_conn_id
