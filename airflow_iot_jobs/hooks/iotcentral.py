"""Azure IoT Central data-plane API (2022-07-31): jobs, scheduled jobs and device groups.

Every request flow is written once (a generator of :class:`~airflow_iot_jobs.hooks.http_base.Call`) and run by
the sync driver in operators and sensors or the async driver in triggers, over httpx. Auth: an API token (the
whole ``SharedAccessSignature sr=…`` value, in Password) or Microsoft Entra ID (``Bearer``, resource
``https://apps.azureiotcentral.com``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_iot_jobs.backends import IOTCENTRAL
from airflow_iot_jobs.hooks.azure_base import AzureJobsHook
from airflow_iot_jobs.hooks.http_base import Call, Flow, Reply
from airflow_iot_jobs.hooks.iotcentral_settings import IoTCentralSettings
from airflow_iot_jobs.hooks.iotcentral_wire import error_from_response, failure_from_device, progress_from_job
from airflow_iot_jobs.jobs import DeviceFailure, JobProgress, JobServiceError
from airflow_iot_jobs.validation.iotcentral import ID_PATTERN, ID_RULE, MAX_ID_LENGTH

API_VERSION = "2022-07-31"
ENTRA_SCOPE = "https://apps.azureiotcentral.com/.default"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def _path(collection: str, item_id: str, *rest: str) -> str:
    return "/".join([f"/api/{collection}", quote(item_id, safe=""), *rest])


def progress_flow(job_id: str) -> Flow[JobProgress]:
    return progress_from_job((yield Call("GET", _path("jobs", job_id))).json())


def stop_flow(job_id: str) -> Flow[JobProgress]:
    """Central's cancel: ``POST /jobs/{id}/stop`` (204), then the job as it is now."""
    yield Call("POST", _path("jobs", job_id, "stop"))
    return (yield from progress_flow(job_id))


#: the statuses of a job that counts against the application's concurrent-job limit (a stopped job does not)
ACTIVE_JOB_STATUSES = frozenset({"pending", "running"})


def active_jobs_flow() -> Flow[int]:
    """How many jobs are pending or running (``GET /api/jobs``, following ``nextLink``)."""
    active = 0
    link: str | None = "/api/jobs"
    while link:
        page = (yield Call("GET", link)).json() or {}
        active += sum(1 for job in page.get("value") or [] if job.get("status") in ACTIVE_JOB_STATUSES)
        link = page.get("nextLink")
    return active


class IoTCentralHook(AzureJobsHook):
    """Talks to one IoT Central application (connection type ``azure_iot_central``).

    Host: the application's subdomain or host name; Password: an API token; extras ``base_domain``
    (default ``azureiotcentral.com``), ``endpoint_url`` (replaces ``https://<subdomain>.<base_domain>``), and for
    Microsoft Entra ID ``tenant_id`` / ``client_id`` / ``client_secret`` (else DefaultAzureCredential).
    """

    backend = IOTCENTRAL
    service_label = "IoT Central"
    job_id_pattern: ClassVar = ID_PATTERN
    job_id_rule: ClassVar[str] = ID_RULE
    max_job_id_length: ClassVar[int] = MAX_ID_LENGTH
    counts_by_paging: ClassVar[bool] = True

    settings_class = IoTCentralSettings
    entra_scope = ENTRA_SCOPE
    api_version = API_VERSION

    def __init__(self, iotcentral_conn_id: str = IOTCENTRAL.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iotcentral_conn_id = iotcentral_conn_id

    # ---------------------------------------------------------------- auth

    def auth_headers(self) -> dict[str, str]:
        settings = self.settings
        if settings.api_token:
            return {"Authorization": settings.api_token}
        return {"Authorization": self.entra(settings).header()}

    async def aauth_headers(self) -> dict[str, str]:
        settings = await self.asettings()
        if settings.api_token:
            return {"Authorization": settings.api_token}
        return {"Authorization": await self.entra(settings).aheader()}

    def error_from_reply(self, reply: Reply) -> JobServiceError:
        return error_from_response(reply.status, reply.headers, reply.text)

    # ---------------------------------------------------------------- the JobsHook contract

    def progress_flow(self, job_id: str) -> Flow[JobProgress]:
        return progress_flow(job_id)

    def cancel_flow(self, job_id: str) -> Flow[JobProgress]:
        return stop_flow(job_id)

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        failures: list[DeviceFailure] = []
        for row in self.job_devices(job_id):
            if str(row.get("status", "")).lower() == "failed":
                failures.append(failure_from_device(row))
                if len(failures) >= limit:
                    break
        return failures

    def count_devices(self, target: str, at_most: int | None = None) -> int:
        """The devices of a device group (one request per page: stops once ``at_most`` are counted)."""
        count = 0
        for _ in self.device_group_devices(target):
            count += 1
            if at_most is not None and count >= at_most:
                break
        return count

    async def aactive_jobs(self) -> int | None:
        return await self.arun(active_jobs_flow())

    def portal_url(self, job_id: str | None = None) -> str:
        """The application's job page (its UI has one per job)."""
        base = self.settings.app_url
        return f"{base}/jobs/instances/{quote(job_id, safe='')}" if job_id else f"{base}/jobs"

    # ---------------------------------------------------------------- paging

    def _paged(self, path: str) -> Iterator[dict[str, Any]]:
        """Follow ``nextLink`` (an absolute URL) until the service stops sending it."""
        link: str | None = path
        while link:
            page = self.send(Call("GET", link)).json()
            yield from page.get("value") or []
            link = page.get("nextLink")

    # ---------------------------------------------------------------- jobs

    def list_jobs(self) -> Iterator[dict[str, Any]]:
        return self._paged("/api/jobs")

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.send(Call("GET", _path("jobs", job_id))).json()

    def create_job(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /jobs/{id}``: create and start. Safe to repeat: a second PUT of the same id is refused."""
        return self.send(Call("PUT", _path("jobs", job_id), json=body)).json()

    def job_devices(self, job_id: str) -> Iterator[dict[str, Any]]:
        return self._paged(_path("jobs", job_id, "devices"))

    def stop_job(self, job_id: str) -> None:
        self.send(Call("POST", _path("jobs", job_id, "stop")))

    def resume_job(self, job_id: str) -> None:
        self.send(Call("POST", _path("jobs", job_id, "resume")))

    def rerun_job(self, job_id: str, rerun_id: str) -> dict[str, Any]:
        """A new job ``rerun_id`` over the failed devices of ``job_id``."""
        return self.send(Call("PUT", _path("jobs", job_id, "rerun", quote(rerun_id, safe="")))).json()

    # ---------------------------------------------------------------- scheduled jobs

    def list_scheduled_jobs(self) -> Iterator[dict[str, Any]]:
        return self._paged("/api/scheduledJobs")

    def get_scheduled_job(self, scheduled_job_id: str) -> dict[str, Any]:
        return self.send(Call("GET", _path("scheduledJobs", scheduled_job_id))).json()

    def put_scheduled_job(self, scheduled_job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.send(Call("PUT", _path("scheduledJobs", scheduled_job_id), json=body)).json()

    def update_scheduled_job(self, scheduled_job_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the only content type the service takes here)."""
        call = Call("PATCH", _path("scheduledJobs", scheduled_job_id), json=patch, headers=MERGE_PATCH)
        return self.send(call).json()

    def delete_scheduled_job(self, scheduled_job_id: str) -> None:
        self.send(Call("DELETE", _path("scheduledJobs", scheduled_job_id)))

    def scheduled_job_instances(self, scheduled_job_id: str) -> Iterator[dict[str, Any]]:
        return self._paged(_path("scheduledJobs", scheduled_job_id, "jobs"))

    # ---------------------------------------------------------------- device groups

    def list_device_groups(self) -> Iterator[dict[str, Any]]:
        return self._paged("/api/deviceGroups")

    def get_device_group(self, device_group_id: str) -> dict[str, Any]:
        return self.send(Call("GET", _path("deviceGroups", device_group_id))).json()

    def put_device_group(self, device_group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.send(Call("PUT", _path("deviceGroups", device_group_id), json=body)).json()

    def update_device_group(self, device_group_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        call = Call("PATCH", _path("deviceGroups", device_group_id), json=patch, headers=MERGE_PATCH)
        return self.send(call).json()

    def delete_device_group(self, device_group_id: str) -> None:
        self.send(Call("DELETE", _path("deviceGroups", device_group_id)))

    def device_group_devices(self, device_group_id: str) -> Iterator[dict[str, Any]]:
        return self._paged(_path("deviceGroups", device_group_id, "devices"))
