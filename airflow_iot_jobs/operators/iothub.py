"""Operators for Azure IoT Hub scheduled jobs: direct methods and twin updates on every matching device."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.links import IoTHubJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator
from airflow_iot_jobs.validation.common import (
    parse_duration_seconds,
    parse_start_time,
    validate_timeout_seconds,
)
from airflow_iot_jobs.validation.iothub import (
    MAX_DESIRED_BYTES,
    MAX_TAGS_BYTES,
    device_ids_condition,
    validate_method_name,
    validate_method_payload,
    validate_twin_section,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.operators.iothub_import_export import (
        IoTHubExportDevicesOperator,
        IoTHubImportDevicesOperator,
    )

# The service's own ceiling for a job's run time is not documented; the CLI defaults to 3600 s.
MAX_EXECUTION_TIME_LIMIT = 7 * 24 * 3600


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
        if (query_condition is None) == (device_ids is None):
            raise ValueError("query_condition / device_ids: give exactly one of them to select the devices")
        self.query_condition = query_condition
        self.device_ids = device_ids
        self.iothub_conn_id = iothub_conn_id
        self.start_time = start_time
        self.max_execution_time = max_execution_time

    def common_request(self) -> dict[str, Any]:
        from airflow_iot_jobs.query.iothub import validate_query_condition

        if self.device_ids is not None:
            condition = device_ids_condition(self.device_ids)
        else:
            validate_query_condition(self.query_condition, "query_condition")
            condition = str(self.query_condition).strip()
        seconds = parse_duration_seconds(self.max_execution_time, "max_execution_time")
        if seconds > MAX_EXECUTION_TIME_LIMIT:
            raise ValueError(
                f"max_execution_time: must be at most {MAX_EXECUTION_TIME_LIMIT} seconds (7 days)"
            )
        return {
            "query_condition": condition,
            "start_time": parse_start_time(self.start_time, "start_time"),
            "max_execution_time": int(seconds),
        }

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
            "method_name": validate_method_name(self.method_name),
            "payload": validate_method_payload(self.payload),
            "response_timeout": validate_timeout_seconds(self.response_timeout, "response_timeout", 5, 300),
            "connect_timeout": validate_timeout_seconds(self.connect_timeout, "connect_timeout", 0, 300),
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
        if tags is None and desired_properties is None:
            raise ValueError("tags / desired_properties: give at least one of them to update")
        self.tags = tags
        self.desired_properties = desired_properties
        self.etag = etag

    def build_request(self) -> dict[str, Any]:
        tags = None if self.tags is None else validate_twin_section(self.tags, "tags", MAX_TAGS_BYTES)
        desired = (
            None
            if self.desired_properties is None
            else validate_twin_section(self.desired_properties, "desired_properties", MAX_DESIRED_BYTES)
        )
        if not tags and not desired:
            raise ValueError("tags / desired_properties: the patch is empty; give at least one key to update")
        if not isinstance(self.etag, str) or not self.etag:
            raise ValueError(f"etag: must be a non-empty string ('*' matches any twin), got {self.etag!r}")
        return {**self.common_request(), "tags": tags, "desired_properties": desired, "etag": self.etag}

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
