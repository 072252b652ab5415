"""Operators for the Azure IoT Remote Monitoring "IoTHub Manager" service: device-method and twin-update jobs
through ``POST /v1/jobs`` (the same parameters as the IoT Hub operators, checked by the same rules), and a report
of the jobs in a time window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.operators.hub_jobs import (
    HubDeviceMethodJobOperator,
    HubScheduledJobOperator,
    HubTwinUpdateJobOperator,
)
from airflow_iot_jobs.operators.iothub_manager_report import IoTHubManagerJobReportOperator


class IoTHubManagerBaseJobOperator(HubScheduledJobOperator):
    """Shared parameters of jobs scheduled through the IoTHub Manager service (the devices and timing:
    :class:`HubScheduledJobOperator`; ``start_time`` and ``max_execution_time`` are always sent).

    :param iothub_manager_conn_id: an ``iothub_manager`` connection (default ``iothub_manager_default``).
    :param iothub_conn_id: an ``azure_iot_hub`` connection to the hub behind the service, optional. The service
        can neither cancel a job nor count devices: ``cancel_on_failure`` / ``cancel_on_kill`` and ``max_devices``
        need it (refused at DAG parse without it), and with it an empty target fails before the launch.
    """

    backend = IOTHUB_MANAGER
    manager_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iothub_manager_conn_id",
        "iothub_conn_id",
        *HubScheduledJobOperator.hub_job_template_fields,
    )
    template_fields: Sequence[str] = manager_template_fields

    def __init__(
        self,
        *,
        iothub_manager_conn_id: str = IOTHUB_MANAGER.default_conn_id,
        iothub_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.iothub_conn_id = iothub_conn_id  # read by the cancel check in BaseJobOperator.__init__
        super().__init__(**kwargs)
        if self.max_devices is not None and iothub_conn_id is None:
            raise ValueError(
                "max_devices: the IoTHub Manager service cannot count devices; name iothub_conn_id (the IoT Hub "
                "behind it) to count them before the launch, or leave max_devices unset"
            )
        self.iothub_manager_conn_id = iothub_manager_conn_id


class IoTHubManagerMethodJobOperator(HubDeviceMethodJobOperator, IoTHubManagerBaseJobOperator):
    """Invokes a direct method on every device matching ``query_condition``, as one job scheduled through the
    IoTHub Manager service (parameters: :class:`HubDeviceMethodJobOperator`)."""

    job_type = "ScheduleDeviceMethod"
    template_fields: Sequence[str] = (
        *IoTHubManagerBaseJobOperator.manager_template_fields,
        *HubDeviceMethodJobOperator.method_template_fields,
    )


class IoTHubManagerTwinUpdateJobOperator(HubTwinUpdateJobOperator, IoTHubManagerBaseJobOperator):
    """Patches the twin (tags and/or desired properties) of every device matching ``query_condition``, as one
    job scheduled through the IoTHub Manager service (parameters: :class:`HubTwinUpdateJobOperator`)."""

    job_type = "ScheduleUpdateTwin"
    template_fields: Sequence[str] = (
        *IoTHubManagerBaseJobOperator.manager_template_fields,
        *HubTwinUpdateJobOperator.twin_template_fields,
    )


__all__ = [
    "IoTHubManagerBaseJobOperator",
    "IoTHubManagerJobReportOperator",
    "IoTHubManagerMethodJobOperator",
    "IoTHubManagerTwinUpdateJobOperator",
]
