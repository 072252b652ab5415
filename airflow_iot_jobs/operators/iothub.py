"""Operators for Azure IoT Hub scheduled jobs: direct methods and twin updates on every matching device."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.links import IoTHubJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator
from airflow_iot_jobs.validation.iothub import (
    check_target_choice,
    check_twin_choice,
    device_method_request,
    scheduled_job_request,
    twin_update_request,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.operators.iothub_import_export import (
        IoTHubExportDevicesOperator,
        IoTHubImportDevicesOperator,
    )


class IoTHubBaseJobOperator(BaseJobOperator):
    """Shared parameters of IoT Hub scheduled jobs.

    :param query_condition: the WHERE clause selecting devices (``"tags.site = 'ams'"``; ``"*"`` for all), or
    :param device_ids: a list of device ids instead (sent as ``deviceId IN [...]``, within the 8,192-character
        query limit).
    :param iothub_conn_id: an ``azure_iot_hub`` connection (default ``azure_iot_hub_default``).
    :param start_time: when the job starts (ISO 8601 string or aware datetime; default now).
    :param max_execution_time: the job's own time limit (seconds, timedelta or ISO 8601 duration; default 1 h).
    """

    backend = IOTHUB
    operator_extra_links = (IoTHubJobLink(),)
    iothub_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iothub_conn_id",
        "query_condition",
        "device_ids",
        "start_time",
        "max_execution_time",
    )
    template_fields: Sequence[str] = iothub_template_fields

    def __init__(
        self,
        *,
        query_condition: str | None = None,
        device_ids: list[str] | None = None,
        iothub_conn_id: str = IOTHUB.default_conn_id,
        start_time: str | Any | None = None,
        max_execution_time: int | str | timedelta = 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target_choice(query_condition, device_ids)
        self.query_condition = query_condition
        self.device_ids = device_ids
        self.iothub_conn_id = iothub_conn_id
        self.start_time = start_time
        self.max_execution_time = max_execution_time

    def common_request(self) -> dict[str, Any]:
        return scheduled_job_request(
            self.query_condition, self.device_ids, self.start_time, self.max_execution_time
        )

    def target(self, request: dict[str, Any]) -> str:
        return request["query_condition"]

    def describe_target(self, request: dict[str, Any]) -> str:
        return f"query condition {request['query_condition']!r}"


class IoTHubDeviceMethodJobOperator(IoTHubBaseJobOperator):
    """Invokes a direct method on every device matching ``query_condition`` as one scheduled job.

    :param method_name: the direct method, e.g. ``reboot``.
    :param payload: JSON payload (dict, list, scalar, or a JSON string), at most 128 KB.
    :param response_timeout: seconds the hub waits for each device's answer (5–300, default 30).
    :param connect_timeout: seconds the hub waits for an offline device to connect (0–300, default 30).
    """

    job_type = "scheduleDeviceMethod"
    template_fields: Sequence[str] = (
        *IoTHubBaseJobOperator.iothub_template_fields,
        "method_name",
        "payload",
        "response_timeout",
        "connect_timeout",
    )
    template_fields_renderers = {"payload": "json"}

    def __init__(
        self,
        *,
        method_name: str,
        payload: Any = None,
        response_timeout: int = 30,
        connect_timeout: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.method_name = method_name
        self.payload = payload
        self.response_timeout = response_timeout
        self.connect_timeout = connect_timeout

    def build_request(self) -> dict[str, Any]:
        return {
            **self.common_request(),
            **device_method_request(
                self.method_name, self.payload, self.response_timeout, self.connect_timeout
            ),
        }

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        self.hook.create_device_method_job(job_id, **request)
        return job_id


class IoTHubTwinUpdateJobOperator(IoTHubBaseJobOperator):
    """Patches the twin (tags and/or desired properties) of every device matching ``query_condition``.

    :param tags: tags to merge (``None`` values delete a tag), at most 8 KB.
    :param desired_properties: desired properties to merge, at most 32 KB.
    :param etag: the twin etag the patch requires (default ``"*"``: any).
    """

    job_type = "scheduleUpdateTwin"
    template_fields: Sequence[str] = (
        *IoTHubBaseJobOperator.iothub_template_fields,
        "tags",
        "desired_properties",
        "etag",
    )
    template_fields_renderers = {"tags": "json", "desired_properties": "json"}

    def __init__(
        self,
        *,
        tags: dict[str, Any] | None = None,
        desired_properties: dict[str, Any] | None = None,
        etag: str = "*",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_twin_choice(tags, desired_properties)
        self.tags = tags
        self.desired_properties = desired_properties
        self.etag = etag

    def build_request(self) -> dict[str, Any]:
        return {
            **self.common_request(),
            **twin_update_request(self.tags, self.desired_properties, self.etag),
        }

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        self.hook.create_twin_update_job(job_id, **request)
        return job_id


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
