"""The Device Management API connection parameters, shared by its operators and its sensor (the hook is built
from them when a task runs; nothing is imported at DAG parse)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_iot_jobs.backends import DEVICE_MANAGEMENT_API
from airflow_iot_jobs.links import DeviceManagementApiJobLink
from airflow_iot_jobs.waiting import BackendTask


class DeviceManagementApiConnectionMixin(BackendTask, BaseOperator):
    """:param device_management_api_conn_id: an ``iot_device_management_api`` connection (default
        ``iot_device_management_api_default``).
    :param aws_conn_id: optional ``aws`` connection allowed to read thing groups (``iot:ListThingsInThingGroup``),
        used only to count a thing group's things before a launch (the Job API cannot list them).
    """

    backend = DEVICE_MANAGEMENT_API
    operator_extra_links = (DeviceManagementApiJobLink(),)
    connection_template_fields: ClassVar[tuple[str, ...]] = ("device_management_api_conn_id", "aws_conn_id")

    def __init__(
        self,
        *,
        device_management_api_conn_id: str = DEVICE_MANAGEMENT_API.default_conn_id,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device_management_api_conn_id = device_management_api_conn_id
        self.aws_conn_id = aws_conn_id
