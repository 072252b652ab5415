"""Sensor for jobs scheduled through the IoTHub Manager service."""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.sensors.base import JobThresholdSensor


class IoTHubManagerJobSensor(JobThresholdSensor):
    """Waits on a job (``GET /v1/jobs/{id}``: ``ResultStatistics`` and its numeric status) until it crosses its
    thresholds.

    :param job_id: the job to watch (templated).
    :param iothub_manager_conn_id: an ``iothub_manager`` connection (default ``iothub_manager_default``).
    :param iothub_conn_id: an ``azure_iot_hub`` connection to the hub behind the service: needed for
        ``cancel_on_failure`` / ``cancel_on_kill`` (the service has no cancel route; refused at parse without it).
    """

    backend = IOTHUB_MANAGER
    template_fields = (*JobThresholdSensor.template_fields, "iothub_manager_conn_id", "iothub_conn_id")

    def __init__(
        self,
        *,
        iothub_manager_conn_id: str = IOTHUB_MANAGER.default_conn_id,
        iothub_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.iothub_conn_id = iothub_conn_id  # read by the cancel check in JobThresholdSensor.__init__
        super().__init__(**kwargs)
        self.iothub_manager_conn_id = iothub_manager_conn_id
