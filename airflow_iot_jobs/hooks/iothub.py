"""Azure IoT Hub service API: scheduled device-method and twin-update jobs, their per-device results, and
identity import/export jobs.

Every request flow is written once (a generator of :class:`~airflow_iot_jobs.hooks.http_base.Call`) and run
by the sync driver in operators and sensors or the async driver in triggers, over httpx. azure-iot-hub is used
where it is sound: SAS tokens and the request models (``JobRequest``, ``JobProperties``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.hooks.azure_base import AzureJobsHook
from airflow_iot_jobs.hooks.http_base import Call, Flow, Reply
from airflow_iot_jobs.hooks.iothub_settings import IoTHubSettings
from airflow_iot_jobs.hooks.iothub_wire import (
    count_query,
    device_jobs_query,
    error_from_response,
    failure_from_row,
    job_not_found,
    progress_from_import_export,
    progress_from_job,
)
from airflow_iot_jobs.jobs import DeviceFailure, ErrorKind, JobProgress, JobServiceError
from airflow_iot_jobs.validation.iothub import JOB_ID_PATTERN, JOB_ID_RULE, MAX_JOB_ID_LENGTH

API_VERSION = "2021-04-12"
ENTRA_SCOPE = "https://iothubs.azure.net/.default"
MAX_PAGE_SIZE = 100
TOKEN_REUSE_SECONDS = 45 * 60


def _job_path(job_id: str, prefix: str = "/jobs/v2") -> str:
    return f"{prefix}/{quote(job_id, safe='')}"


def _isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# ------------------------------------------------------------------ request flows (sans I/O)


def progress_flow(job_id: str) -> Flow[JobProgress]:
    """A scheduled job's progress, or an import/export job's (the v2 API answers "unknown" for those, so fall
    back on ``GET /jobs/{id}`` as the az CLI does)."""
    job = (yield Call("GET", _job_path(job_id))).json()
    if job.get("status") != "unknown":
        return progress_from_job(job)
    try:
        other = (yield Call("GET", _job_path(job_id, "/jobs"))).json()
    except JobServiceError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise job_not_found(job_id) from None  # neither API knows it
        raise
    return progress_from_import_export(other)


def cancel_flow(job_id: str) -> Flow[JobProgress]:
    """Cancel a scheduled job, or an import/export job (which the v2 API does not know)."""
    try:
        job = (yield Call("POST", _job_path(job_id) + "/cancel")).json()
        return progress_from_job(job)
    except JobServiceError as err:
        if err.kind is not ErrorKind.NOT_FOUND:
            raise
    try:  # the service answers DELETE of an unknown id with a bare 500: look first
        yield Call("GET", _job_path(job_id, "/jobs"))
    except JobServiceError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            raise job_not_found(job_id) from None
        raise
    yield Call("DELETE", _job_path(job_id, "/jobs"))
    return progress_from_import_export((yield Call("GET", _job_path(job_id, "/jobs"))).json())


def create_flow(job_id: str, body: dict[str, Any]) -> Flow[dict[str, Any]]:
    # PUT with a fixed id is idempotent (a duplicate answers 409 JobAlreadyExists): safe to repeat.
    return (yield Call("PUT", _job_path(job_id), json=body)).json()


#: the statuses of a job that holds one of the hub's launch slots (scheduled jobs; import/export jobs)
ACTIVE_JOB_STATUSES = ("queued", "scheduled", "running")
ACTIVE_REGISTRY_JOB_STATUSES = frozenset({"queued", "enqueued", "running"})


def active_jobs_flow() -> Flow[int]:
    """How many jobs are active: scheduled jobs by status (``GET /jobs/v2/query``, every page), and the
    import/export jobs (``GET /jobs``) — what "too many active jobs" and "JobQuotaExceeded" count."""
    active = 0
    for status in ACTIVE_JOB_STATUSES:
        continuation: str | None = None
        while True:
            headers = {"x-ms-max-item-count": str(MAX_PAGE_SIZE)}
            if continuation:
                headers["x-ms-continuation"] = continuation
            reply = yield Call("GET", "/jobs/v2/query", params={"jobStatus": status}, headers=headers)
            page = reply.json() or []
            active += len(page.get("items") or [] if isinstance(page, dict) else page)
            continuation = reply.headers.get("x-ms-continuation")
            if not continuation:
                break
    registry = (yield Call("GET", "/jobs")).json() or []
    return active + sum(1 for job in registry if job.get("status") in ACTIVE_REGISTRY_JOB_STATUSES)


class IoTHubHook(AzureJobsHook):
    """Talks to one Azure IoT Hub (connection type ``azure_iot_hub``).

    Auth: an IoT Hub connection string (Password, or extra ``connection_string``), or Microsoft Entra ID with
    the hub host name in Host (extras ``tenant_id``/``client_id``/``client_secret``, else
    DefaultAzureCredential; needs the ``entra`` extra). Extra ``endpoint_url`` replaces ``https://<HostName>``.
    """

    backend = IOTHUB
    service_label = "IoT Hub"
    job_id_pattern: ClassVar = JOB_ID_PATTERN
    job_id_rule: ClassVar[str] = JOB_ID_RULE
    max_job_id_length: ClassVar[int] = MAX_JOB_ID_LENGTH

    settings_class = IoTHubSettings
    entra_scope = ENTRA_SCOPE
    api_version = API_VERSION

    def __init__(self, iothub_conn_id: str = IOTHUB.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id
        self._sas: tuple[str, float] | None = None

    # ---------------------------------------------------------------- auth

    def _reusable_sas(self) -> str | None:
        if self._sas and time.monotonic() - self._sas[1] < TOKEN_REUSE_SECONDS:
            return self._sas[0]
        return None

    def auth_headers(self) -> dict[str, str]:
        settings = self.settings
        if not settings.shared_access_key:
            return {"Authorization": self.entra(settings).header()}
        if (token := self._reusable_sas()) is None:
            token = sas_token(settings)
            self._sas = (token, time.monotonic())
        return {"Authorization": token}

    async def aauth_headers(self) -> dict[str, str]:
        settings = await self.asettings()
        if not settings.shared_access_key:
            return {"Authorization": await self.entra(settings).aheader()}
        if (token := self._reusable_sas()) is None:
            # A SAS token lives an hour: mint one (in a thread: the SDK import blocks) and reuse it for 45 min.
            token = await asyncio.to_thread(sas_token, settings)
            self._sas = (token, time.monotonic())
        return {"Authorization": token}

    def error_from_reply(self, reply: Reply) -> JobServiceError:
        return error_from_response(reply.status, reply.headers, reply.text)

    # ---------------------------------------------------------------- the JobsHook contract

    def progress_flow(self, job_id: str) -> Flow[JobProgress]:
        return progress_flow(job_id)

    def cancel_flow(self, job_id: str) -> Flow[JobProgress]:
        return cancel_flow(job_id)

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        failures: list[DeviceFailure] = []
        for row in self.iter_device_job_rows(
            job_id, device_status="failed", page_size=min(limit, MAX_PAGE_SIZE)
        ):
            failures.append(failure_from_row(row))
            if len(failures) >= limit:
                break
        return failures

    def count_devices(self, target: str, at_most: int | None = None) -> int:
        """Devices matching a query condition (``"*"``: all): ``SELECT COUNT() FROM devices WHERE …``."""
        rows = list(self.query_devices(count_query(target)))
        return int(rows[0].get("numberOfDevices", 0)) if rows else 0

    async def aactive_jobs(self) -> int | None:
        return await self.arun(active_jobs_flow())

    def portal_url(self, job_id: str | None = None) -> str:
        return hub_portal_url(self.settings)

    # ---------------------------------------------------------------- scheduled jobs

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
        from azure.iot.hub.models import CloudToDeviceMethod, JobRequest

        request = JobRequest(
            job_id=job_id,
            type="scheduleDeviceMethod",
            cloud_to_device_method=CloudToDeviceMethod(
                method_name=method_name,
                payload=payload,
                response_timeout_in_seconds=response_timeout,
                connect_timeout_in_seconds=connect_timeout,
            ),
            query_condition=query_condition,
            start_time=_isoformat(start_time),
            max_execution_time_in_seconds=max_execution_time,
        )
        return self.run(create_flow(job_id, request.serialize()))

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
        from azure.iot.hub.models import JobRequest, Twin, TwinProperties

        twin = Twin(
            tags=tags or None,
            properties=TwinProperties(desired=desired_properties) if desired_properties else None,
            etag=etag,
        )
        request = JobRequest(
            job_id=job_id,
            type="scheduleUpdateTwin",
            update_twin=twin,
            query_condition=query_condition,
            start_time=_isoformat(start_time),
            max_execution_time_in_seconds=max_execution_time,
        )
        return self.run(create_flow(job_id, request.serialize()))

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.send(Call("GET", _job_path(job_id))).json()

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """``POST /jobs/v2/{id}/cancel``: the job document the service answers."""
        return self.send(Call("POST", _job_path(job_id) + "/cancel")).json()

    # ---------------------------------------------------------------- twins

    def get_twin(self, device_id: str) -> dict[str, Any]:
        """``GET /twins/{id}``: the device's twin."""
        return self.send(Call("GET", "/twins/" + quote(device_id, safe=""))).json()

    def update_twin_tags(self, device_id: str, tags: dict[str, Any], etag: str = "*") -> dict[str, Any]:
        """``PATCH /twins/{id}``: merge ``tags`` into the twin's tags (``None`` removes a key); ``etag`` other
        than ``*`` makes the update conditional. Repeatable: the same patch twice leaves the same tags."""
        call = Call(
            "PATCH", "/twins/" + quote(device_id, safe=""), json={"tags": tags}, headers={"If-Match": etag}
        )
        return self.send(call).json()

    # ---------------------------------------------------------------- import / export jobs

    def create_import_export_job(self, properties: dict[str, Any]) -> dict[str, Any]:
        """``POST /jobs/create``. Never re-sent on failure: the service picks the job id, so a blind retry could
        start a second job; callers look for their job with ``find_import_export_job`` first."""
        from azure.iot.hub.protocol.models import JobProperties

        body = JobProperties.from_dict(properties).serialize()
        return self.send(Call("POST", "/jobs/create", json=body, repeatable=False)).json()

    def get_import_export_job(self, job_id: str) -> dict[str, Any]:
        return self.send(Call("GET", _job_path(job_id, "/jobs"))).json()

    def list_import_export_jobs(self) -> list[dict[str, Any]]:
        return self.send(Call("GET", "/jobs")).json() or []

    def cancel_import_export_job(self, job_id: str) -> dict[str, Any]:
        return self.send(Call("DELETE", _job_path(job_id, "/jobs"))).json()

    def find_import_export_job(self, job_type: str, blob_name: str) -> dict[str, Any] | None:
        """The newest job of this type whose input/output blob is ``blob_name`` (how a retried task finds the
        job an earlier try created)."""
        key = "outputBlobName" if job_type == "export" else "inputBlobName"
        matches = [
            job
            for job in self.list_import_export_jobs()
            if job.get("type") == job_type and job.get(key) == blob_name
        ]
        return max(matches, key=lambda job: job.get("startTimeUtc") or "", default=None)

    # ---------------------------------------------------------------- queries (paged, sync: reports)

    def _paged(
        self, method: str, path: str, body: Any, page_size: int, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        for page in self._pages(method, path, body, page_size, params):
            yield from page

    def _pages(
        self,
        method: str,
        path: str,
        body: Any,
        page_size: int = MAX_PAGE_SIZE,
        params: dict[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Follow ``x-ms-continuation`` until the service stops sending it; one list of items per page."""
        continuation: str | None = None
        while True:
            headers = {"x-ms-max-item-count": str(min(page_size, MAX_PAGE_SIZE))}
            if continuation:
                headers["x-ms-continuation"] = continuation
            reply = self.send(Call(method, path, json=body, params=params or {}, headers=headers))
            yield reply.json() or []
            continuation = reply.headers.get("x-ms-continuation")
            if not continuation:
                return

    def query_jobs(
        self, job_type: str | None = None, job_status: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Scheduled jobs, newest first. The service answers a JSON array plus a continuation header (the
        spec's QueryResult object is wrong), which is why the SDK's ``query_scheduled_jobs`` cannot be used."""
        params = {name: value for name, value in (("jobType", job_type), ("jobStatus", job_status)) if value}
        return self._paged("GET", "/jobs/v2/query", None, page_size, params)

    def iter_device_job_rows(
        self, job_id: str, device_status: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Raw ``devices.jobs`` rows of one job (the SDK's ``query_iot_hub`` drops the job fields), paged,
        optionally filtered server-side by device job status (pending, running, completed, failed, canceled)."""
        return self._paged(
            "POST", "/devices/query", {"query": device_jobs_query(job_id, device_status)}, page_size
        )

    def query_devices(self, query: str, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        return self._paged("POST", "/devices/query", {"query": query}, page_size)

    def write_device_job_report(
        self, job_id: str, destination: str | os.PathLike[str] | Any, device_status: str | None = None
    ) -> int:
        """Stream every ``devices.jobs`` row of a job as JSON lines to a local path or an object-storage path
        (anything with ``.open("w")``, e.g. ``ObjectStoragePath``); memory stays flat. Returns the row count."""
        target = destination if hasattr(destination, "open") else Path(destination)
        encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per row
        count = 0
        with target.open("w") as out:
            for page in self._pages(
                "POST", "/devices/query", {"query": device_jobs_query(job_id, device_status)}
            ):
                if page:
                    out.write("\n".join(map(encode, page)) + "\n")
                    count += len(page)
        return count


def hub_portal_url(settings: IoTHubSettings) -> str:
    """The most specific portal page there is for a hub's jobs: the hub's own page when the connection names
    its subscription and resource group (the portal has no page per job), else a search for the hub."""
    if settings.subscription_id and settings.resource_group:
        return (
            f"https://portal.azure.com/#resource/subscriptions/{settings.subscription_id}/resourceGroups/"
            f"{settings.resource_group}/providers/Microsoft.Devices/IotHubs/{settings.hub_name}/jobs"
        )
    return f"https://portal.azure.com/#browse/Microsoft.Devices%2FIotHubs/search/{settings.hub_name}"


def sas_token(settings: IoTHubSettings) -> str:
    """A one-hour SAS token for the hub, signed by azure-iot-hub."""
    from azure.iot.hub.auth import SasToken

    return str(SasToken(settings.hostname, settings.shared_access_key, settings.policy_name))
