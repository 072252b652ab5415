"""Operators for Azure IoT Hub scheduled jobs: direct methods and twin updates on every matching device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.links import IoTHubJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator
from airflow_iot_jobs.operators.hub_jobs import (
    HubDeviceMethodJobOperator,
    HubScheduledJobOperator,
    HubTwinUpdateJobOperator,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.operators.iothub_import_export import (
        IoTHubExportDevicesOperator,
        IoTHubImportDevicesOperator,
    )


class IoTHubBaseJobOperator(HubScheduledJobOperator):
    """Shared parameters of IoT Hub scheduled jobs (the devices and timing: :class:`HubScheduledJobOperator`).

    :param iothub_conn_id: an ``azure_iot_hub`` connection (default ``azure_iot_hub_default``).
    """

    backend = IOTHUB
    operator_extra_links = (IoTHubJobLink(),)
    iothub_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iothub_conn_id",
        *HubScheduledJobOperator.hub_job_template_fields,
    )
    template_fields: Sequence[str] = iothub_template_fields

    def __init__(self, *, iothub_conn_id: str = IOTHUB.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id


class IoTHubDeviceMethodJobOperator(HubDeviceMethodJobOperator, IoTHubBaseJobOperator):
    """Invokes a direct method on every device matching ``query_condition`` as one scheduled job (parameters:
    :class:`HubDeviceMethodJobOperator`)."""

    job_type = "scheduleDeviceMethod"
    template_fields: Sequence[str] = (
        *IoTHubBaseJobOperator.iothub_template_fields,
        *HubDeviceMethodJobOperator.method_template_fields,
    )


class IoTHubTwinUpdateJobOperator(HubTwinUpdateJobOperator, IoTHubBaseJobOperator):
    """Patches the twin (tags and/or desired properties) of every device matching ``query_condition`` (parameters:
    :class:`HubTwinUpdateJobOperator`)."""

    job_type = "scheduleUpdateTwin"
    template_fields: Sequence[str] = (
        *IoTHubBaseJobOperator.iothub_template_fields,
        *HubTwinUpdateJobOperator.twin_template_fields,
    )


class IoTHubCancelJobOperator(JobCancelOperator):
    """Cancels a scheduled job (queued, scheduled or running) or an import/export job; returns its progress
    dict after the cancel.

    :param job_id: the job to cancel (templated).
    :param iothub_conn_id: an ``azure_iot_hub`` connection (default ``azure_iot_hub_default``).
    """

    backend = IOTHUB
    operator_extra_links = (IoTHubJobLink(),)
    template_fields: Sequence[str] = ("job_id", "iothub_conn_id")

    def __init__(self, *, iothub_conn_id: str = IOTHUB.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id


# Identity import/export operators live in their own module; they are part of this module's public surface,
# imported on first use so DAGs that only run scheduled jobs don't pay for them at parse time.
_IMPORT_EXPORT = ("IoTHubExportDevicesOperator", "IoTHubImportDevicesOperator")


def __getattr__(name: str) -> Any:
    if name in _IMPORT_EXPORT:
        from airflow_iot_jobs.operators import iothub_import_export

        return getattr(iothub_import_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IoTHubCancelJobOperator",
    "IoTHubDeviceMethodJobOperator",
    "IoTHubExportDevicesOperator",
    "IoTHubImportDevicesOperator",
    "IoTHubTwinUpdateJobOperator",
]
