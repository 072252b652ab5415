"""Sensor for Azure IoT Central jobs."""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.backends import IOTCENTRAL
from airflow_iot_jobs.sensors.base import JobThresholdSensor


class IoTCentralJobSensor(JobThresholdSensor):
    """Waits on an IoT Central job until it crosses its thresholds (over ``progress {total, pending, completed,
    failed}``); a job its cancellation threshold cancelled is a failure that says so.

    :param job_id: the job to watch (templated).
    :param iotcentral_conn_id: an ``azure_iot_central`` connection (default ``azure_iot_central_default``).
    """

    backend = IOTCENTRAL
    template_fields = (*JobThresholdSensor.template_fields, "iotcentral_conn_id")

    def __init__(self, *, iotcentral_conn_id: str = IOTCENTRAL.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iotcentral_conn_id = iotcentral_conn_id
