"""The Azure IoT Remote Monitoring "IoTHub Manager" service: ``/v1/jobs`` and ``/v1/deviceProperties``.

Plain HTTP (httpx, sync and async through the shared flows), PascalCase bodies, numeric enums, ``hh:mm:ss`` time
spans. The service schedules IoT Hub jobs on the hub behind it, so job ids and the job parameters follow the
hub's rules. It cannot cancel a job and cannot count devices; a hook given ``iothub_conn_id`` (the hub itself)
does both through :class:`~airflow_iot_jobs.hooks.iothub.IoTHubHook`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.hooks.http_base import Call, ConnectionHttpJobsHook, Flow, Reply
from airflow_iot_jobs.hooks.iothub_manager_settings import IoTHubManagerSettings
from airflow_iot_jobs.hooks.iothub_manager_wire import (
    error_from_response,
    failure_from_device,
    get,
    is_unknown_job,
    job_body,
    job_not_found,
    method_parameter,
    progress_from_job,
    update_twin,
)
from airflow_iot_jobs.jobs import DeviceFailure, ErrorKind, JobProgress, JobServiceError
from airflow_iot_jobs.validation.iothub import JOB_ID_PATTERN, JOB_ID_RULE, MAX_JOB_ID_LENGTH
from airflow_iot_jobs.validation.iothub_manager import (
    DEVICE_JOB_STATUSES,
    JOB_STATUSES,
    JOB_TYPES,
    enum_name,
    time_window,
    validate_page_size,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

JOBS = "/v1/jobs"


def _job_path(job_id: str) -> str:
    return f"{JOBS}/{quote(job_id, safe='')}"


def job_params(include_device_details: bool = False, device_job_status: object = None) -> dict[str, str]:
    params = (
        {"includeDeviceDetails": "true"} if include_device_details or device_job_status is not None else {}
    )
    if device_job_status is not None:
        params["deviceJobStatus"] = enum_name(device_job_status, "device_job_status", DEVICE_JOB_STATUSES)
    return params


def progress_flow(job_id: str) -> Flow[JobProgress]:
    job = (yield Call("GET", _job_path(job_id))).json()
    if is_unknown_job(job):
        raise job_not_found(job_id)
    return progress_from_job(job)


def create_flow(body: dict[str, Any]) -> Flow[dict[str, Any]]:
    # Safe to re-send after a fault: the JobId is ours, so the hub refuses a second job with it.
    return (yield Call("POST", JOBS, json=body)).json()


def no_cancel() -> JobServiceError:
    return JobServiceError(
        405,
        "NoCancelRoute",
        "the IoTHub Manager service has no cancel route; name iothub_conn_id (the IoT Hub behind it) to cancel "
        "through the hub",
        kind=ErrorKind.PERMANENT,
    )


class IoTHubManagerHook(ConnectionHttpJobsHook):
    """Talks to one IoTHub Manager service (connection type ``iothub_manager``).

    Host: the service's base URL (``http://remote-monitoring:9002``, or the reverse proxy's
    ``https://…/iothubmanager``); Password: a bearer JWT, optional (with one the hook sends ``X-Source`` and
    ``Authorization: Bearer …`` as the reverse proxy does); extras ``headers`` (a JSON object of extra headers)
    and ``x_source`` (the ``X-Source`` value, default ``external``).

    :param iothub_conn_id: an ``azure_iot_hub`` connection to the hub behind the service, optional: then
        ``cancel`` / ``acancel`` and ``count_devices`` go to the hub (the service has neither).
    """

    backend = IOTHUB_MANAGER
    service_label = "the IoTHub Manager service"
    job_id_pattern: ClassVar = JOB_ID_PATTERN  # the hub's rule: the service passes the id on
    job_id_rule: ClassVar[str] = JOB_ID_RULE
    max_job_id_length: ClassVar[int] = MAX_JOB_ID_LENGTH
    settings_class = IoTHubManagerSettings

    def __init__(
        self,
        iothub_manager_conn_id: str = IOTHUB_MANAGER.default_conn_id,
        iothub_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.iothub_manager_conn_id = iothub_manager_conn_id
        self.iothub_conn_id = iothub_conn_id
        self._hub: IoTHubHook | None = None

    # ---------------------------------------------------------------- auth and errors

    def auth_headers(self) -> dict[str, str]:
        return self.settings.headers()

    async def aauth_headers(self) -> dict[str, str]:
        return (await self.asettings()).headers()

    def error_from_reply(self, reply: Reply) -> JobServiceError:
        return error_from_response(reply.status, reply.headers, reply.text)

    # ---------------------------------------------------------------- the JobsHook contract

    @property
    def supports_cancel(self) -> bool:
        return self.iothub_conn_id is not None

    @property
    def supports_count(self) -> bool:
        return self.iothub_conn_id is not None

    def hub(self) -> IoTHubHook:
        """The hub behind the service (``iothub_conn_id``): what cancels and counts."""
        if self.iothub_conn_id is None:
            raise no_cancel()
        if self._hub is None:
            from airflow_iot_jobs.hooks.iothub import IoTHubHook

            self._hub = IoTHubHook(iothub_conn_id=self.iothub_conn_id)
        return self._hub

    def progress_flow(self, job_id: str) -> Flow[JobProgress]:
        return progress_flow(job_id)

    def cancel(self, job_id: str) -> JobProgress:
        """Through the hub (``POST /jobs/v2/{id}/cancel``); the job's progress as the service sees it after."""
        self.hub().cancel(job_id)
        return self.progress(job_id)

    async def acancel(self, job_id: str) -> JobProgress:
        await self.hub().acancel(job_id)
        return await self.aprogress(job_id)

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        job = self.get_job(job_id, include_device_details=True, device_job_status="Failed")
        return [failure_from_device(row) for row in (get(job, "Devices") or [])[:limit]]

    def count_devices(self, target: str, at_most: int | None = None) -> int:
        """Devices matching a query condition, counted on the hub (``iothub_conn_id``): the service has no count."""
        if self.iothub_conn_id is None:
            raise JobServiceError(
                405,
                "NoCountRoute",
                "the IoTHub Manager service cannot count devices; name iothub_conn_id to count them on the hub",
                kind=ErrorKind.PERMANENT,
            )
        return self.hub().count_devices(target, at_most=at_most)

    async def aactive_jobs(self) -> int | None:
        """Counted on the hub (``iothub_conn_id``), whose active-jobs limit the service passes on; ``None``
        without it."""
        if self.iothub_conn_id is None:
            return None
        return await self.hub().aactive_jobs()

    async def aclose(self) -> None:
        await super().aclose()
        if self._hub is not None:
            await self._hub.aclose()

    # ---------------------------------------------------------------- jobs

    def create_device_method_job(
        self,
        job_id: str,
        query_condition: str,
        method_name: str,
        payload: Any = None,
        response_timeout: int = 30,
        connect_timeout: int = 30,
        start_time: datetime | None = None,
        max_execution_time: int = 3600,
    ) -> dict[str, Any]:
        """``POST /v1/jobs`` with a ``MethodParameter``; the job as the service answers it."""
        body = job_body(self.validate_job_id(job_id), query_condition, start_time, max_execution_time)
        body["MethodParameter"] = method_parameter(method_name, payload, response_timeout, connect_timeout)
        return self.run(create_flow(body))

    def create_twin_update_job(
        self,
        job_id: str,
        query_condition: str,
        tags: dict[str, Any] | None = None,
        desired_properties: dict[str, Any] | None = None,
        etag: str = "*",
        start_time: datetime | None = None,
        max_execution_time: int = 3600,
    ) -> dict[str, Any]:
        """``POST /v1/jobs`` with an ``UpdateTwin``; the job as the service answers it."""
        body = job_body(self.validate_job_id(job_id), query_condition, start_time, max_execution_time)
        body["UpdateTwin"] = update_twin(tags, desired_properties, etag)
        return self.run(create_flow(body))

    def get_job(
        self, job_id: str, include_device_details: bool = False, device_job_status: object = None
    ) -> dict[str, Any]:
        """``GET /v1/jobs/{id}``; ``Devices`` with ``include_device_details`` (only those in ``device_job_status``,
        a name or number of Pending 0 … Canceled 5, when given). An unknown id answers status Unknown, not 404."""
        params = job_params(include_device_details, device_job_status)
        return self.send(Call("GET", _job_path(self.validate_job_id(job_id)), params=params)).json()

    def list_jobs(
        self,
        job_type: object = None,
        job_status: object = None,
        page_size: object = None,
        from_time: object = None,
        to_time: object = None,
    ) -> list[dict[str, Any]]:
        """``GET /v1/jobs``: every job (one unpaged array) of a type and status (names or numbers) created in
        ``[from_time, to_time]`` (``NOW``, ``NOW-P30D``, a date-time); ``page_size`` is the service's page size
        when it reads the hub, not a limit."""
        start, end = time_window(from_time, to_time)
        params = {
            "jobType": None if job_type is None else enum_name(job_type, "job_type", JOB_TYPES),
            "jobStatus": None if job_status is None else enum_name(job_status, "job_status", JOB_STATUSES),
            "pageSize": None if page_size is None else str(validate_page_size(page_size)),
            "from": start,
            "to": end,
        }
        reply = self.send(Call("GET", JOBS, params={k: v for k, v in params.items() if v is not None}))
        return list(reply.json() or [])

    def device_properties(self) -> dict[str, Any]:
        """``GET /v1/deviceProperties``: the tag and reported property names the service knows."""
        return self.send(Call("GET", "/v1/deviceProperties")).json()
