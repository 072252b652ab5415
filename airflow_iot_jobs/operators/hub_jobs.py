"""The IoT Hub job shape — a device selection, a start and a time limit, then a direct method or a twin patch —
shared by every service that schedules IoT Hub jobs (the hub itself, the Remote Monitoring IoTHub Manager).

A backend operator combines one of these with its own base (its ``backend``, connection keyword and links), e.g.
``class IoTHubDeviceMethodJobOperator(HubDeviceMethodJobOperator, IoTHubBaseJobOperator)``; the parameters, their
rules (``validation/iothub.py``) and the request they build are written once, here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.validation.iothub import (
    check_target_choice,
    check_twin_choice,
    device_method_request,
    scheduled_job_request,
    twin_update_request,
)


class HubScheduledJobOperator(BaseJobOperator):
    """The devices and timing of an IoT Hub job.

    :param query_condition: the WHERE clause selecting devices (``"tags.site = 'ams'"``; ``"*"`` for all), or
    :param device_ids: a list of device ids instead (sent as ``deviceId IN [...]``, within the 8,192-character
        query limit).
    :param start_time: when the job starts (ISO 8601 string or aware datetime; default now).
    :param max_execution_time: the job's own time limit (seconds, timedelta or ISO 8601 duration; default 1 h).
    """

    hub_job_template_fields: ClassVar[tuple[str, ...]] = (
        "query_condition",
        "device_ids",
        "start_time",
        "max_execution_time",
    )

    def __init__(
        self,
        *,
        query_condition: str | None = None,
        device_ids: list[str] | None = None,
        start_time: str | Any | None = None,
        max_execution_time: int | str | timedelta = 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target_choice(query_condition, device_ids)
        self.query_condition = query_condition
        self.device_ids = device_ids
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


class HubDeviceMethodJobOperator(HubScheduledJobOperator):
    """Invokes a direct method on every selected device, as one job.

    :param method_name: the direct method, e.g. ``reboot``.
    :param payload: JSON payload (dict, list, scalar, or a JSON string), at most 128 KB.
    :param response_timeout: seconds the hub waits for each device's answer (5–300, default 30).
    :param connect_timeout: seconds the hub waits for an offline device to connect (0–300, default 30).
    """

    method_template_fields: ClassVar[tuple[str, ...]] = (
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


class HubTwinUpdateJobOperator(HubScheduledJobOperator):
    """Patches the twin (tags and/or desired properties) of every selected device, as one job.

    :param tags: tags to merge (``None`` values delete a tag), at most 8 KB.
    :param desired_properties: desired properties to merge, at most 32 KB.
    :param etag: the twin etag the patch requires (default ``"*"``: any).
    """

    twin_template_fields: ClassVar[tuple[str, ...]] = ("tags", "desired_properties", "etag")
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
