"""Operators for the Azure IoT Remote Monitoring "IoTHub Manager" service: device-method and twin-update jobs
through ``POST /v1/jobs`` (the same parameters as the IoT Hub operators, checked by the same rules), and a report
of the jobs in a time window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.operators.iothub_manager_report import IoTHubManagerJobReportOperator
from airflow_iot_jobs.validation.iothub import (
    check_target_choice,
    check_twin_choice,
    device_method_request,
    scheduled_job_request,
    twin_update_request,
)


class IoTHubManagerBaseJobOperator(BaseJobOperator):
    """Shared parameters of jobs scheduled through the IoTHub Manager service.

    :param query_condition: the IoT Hub WHERE clause selecting devices (``"tags.site = 'ams'"``; ``"*"``: all), or
    :param device_ids: a list of device ids instead (sent as ``deviceId IN [...]``).
    :param iothub_manager_conn_id: an ``iothub_manager`` connection (default ``iothub_manager_default``).
    :param iothub_conn_id: an ``azure_iot_hub`` connection to the hub behind the service, optional. The service
        can neither cancel a job nor count devices: ``cancel_on_failure`` / ``cancel_on_kill`` and ``max_devices``
        need it (refused at DAG parse without it), and with it an empty target fails before the launch.
    :param start_time: when the job starts (ISO 8601 string or aware datetime; default now, sent explicitly).
    :param max_execution_time: the job's own time limit (seconds, timedelta or ISO 8601 duration; default 1 h,
        sent explicitly).
    """

    backend = IOTHUB_MANAGER
    manager_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iothub_manager_conn_id",
        "iothub_conn_id",
        "query_condition",
        "device_ids",
        "start_time",
        "max_execution_time",
    )
    template_fields: Sequence[str] = manager_template_fields

    def __init__(
        self,
        *,
        query_condition: str | None = None,
        device_ids: list[str] | None = None,
        iothub_manager_conn_id: str = IOTHUB_MANAGER.default_conn_id,
        iothub_conn_id: str | None = None,
        start_time: str | Any | None = None,
        max_execution_time: int | str | timedelta = 3600,
        **kwargs: Any,
    ) -> None:
        self.iothub_conn_id = iothub_conn_id  # read by the cancel check in BaseJobOperator.__init__
        super().__init__(**kwargs)
        check_target_choice(query_condition, device_ids)
        if self.max_devices is not None and iothub_conn_id is None:
            raise ValueError(
                "max_devices: the IoTHub Manager service cannot count devices; name iothub_conn_id (the IoT Hub "
                "behind it) to count them before the launch, or leave max_devices unset"
            )
        self.query_condition = query_condition
        self.device_ids = device_ids
        self.iothub_manager_conn_id = iothub_manager_conn_id
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


class IoTHubManagerMethodJobOperator(IoTHubManagerBaseJobOperator):
    """Invokes a direct method on every device matching ``query_condition``, as one job scheduled through the
    IoTHub Manager service.

    :param method_name: the direct method, e.g. ``reboot``.
    :param payload: JSON payload (dict, list, scalar, or a JSON string), at most 128 KB.
    :param response_timeout: seconds the hub waits for each device's answer (5–300, default 30).
    :param connect_timeout: seconds the hub waits for an offline device to connect (0–300, default 30).
    """

    job_type = "ScheduleDeviceMethod"
    template_fields: Sequence[str] = (
        *IoTHubManagerBaseJobOperator.manager_template_fields,
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


class IoTHubManagerTwinUpdateJobOperator(IoTHubManagerBaseJobOperator):
    """Patches the twin (tags and/or desired properties) of every device matching ``query_condition``, as one
    job scheduled through the IoTHub Manager service.

    :param tags: tags to merge (``None`` values delete a tag), at most 8 KB.
    :param desired_properties: desired properties to merge, at most 32 KB.
    :param etag: the twin etag the patch requires (default ``"*"``: any).
    """

    job_type = "ScheduleUpdateTwin"
    template_fields: Sequence[str] = (
        *IoTHubManagerBaseJobOperator.manager_template_fields,
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


__all__ = [
    "IoTHubManagerBaseJobOperator",
    "IoTHubManagerJobReportOperator",
    "IoTHubManagerMethodJobOperator",
    "IoTHubManagerTwinUpdateJobOperator",
]
