"""Sensor for Azure IoT Hub jobs."""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.sensors.base import JobThresholdSensor


class IoTHubJobSensor(JobThresholdSensor):
    """Waits on an IoT Hub job (device method, twin update, import or export) until it crosses its thresholds.

    :param job_id: the job to watch (templated; e.g. ``{{ ti.xcom_pull('reboot')['job_id'] }}``).
    :param iothub_conn_id: an ``azure_iot_hub`` connection (default ``azure_iot_hub_default``).
    """

    backend = IOTHUB
    template_fields = (*JobThresholdSensor.template_fields, "iothub_conn_id")

    def __init__(self, *, iothub_conn_id: str = IOTHUB.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id
