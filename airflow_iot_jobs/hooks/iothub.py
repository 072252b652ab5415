"""Azure IoT Hub service API: scheduled device-method and twin-update jobs and their per-device results.

Sync calls (operators, sensors) use azure-iot-hub for auth and for create / get / cancel, plus a requests
session signed by the SDK's own auth for the two query endpoints the SDK gets wrong. Async calls (triggers)
speak the same REST API through httpx, so nothing blocks the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow_iot_jobs.hooks.base import JobsHook
from airflow_iot_jobs.jobs import DeviceFailure, JobAlreadyExistsError, JobProgress, JobServiceError

if TYPE_CHECKING:
    import httpx
    import requests
    from airflow.sdk import Connection

API_VERSION = "2021-04-12"
ENTRA_SCOPE = "https://iothubs.azure.net/.default"
MAX_PAGE_SIZE = 100
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
HTTP_TIMEOUT = 30.0
TOKEN_REUSE_SECONDS = 45 * 60

log = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class IoTHubSettings:
    """Where the hub is and how to authenticate; built from an Airflow connection. Never logged (repr hidden)."""

    hostname: str
    endpoint: str
    connection_string: str | None = None
    policy_name: str | None = None
    shared_access_key: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None

    def __repr__(self) -> str:
        return f"IoTHubSettings(hostname={self.hostname!r}, endpoint={self.endpoint!r})"

    @property
    def hub_name(self) -> str:
        return self.hostname.split(".", 1)[0]

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.connection_string, self.shared_access_key, self.client_secret) if s]

    @classmethod
    def from_connection(cls, conn: Connection, extra: dict[str, Any]) -> IoTHubSettings:
        conn_id = conn.conn_id
        connection_string = conn.password or extra.get("connection_string")
        parts: dict[str, str] = {}
        if connection_string:
            parts = parse_connection_string(connection_string, conn_id)
        hostname = parts.get("HostName") or conn.host
        if not hostname:
            raise ValueError(
                f"connection {conn_id!r}: give an IoT Hub connection string (Password, or extra "
                "'connection_string') or the hub host name (Host) for Microsoft Entra ID auth"
            )
        endpoint = (extra.get("endpoint_url") or f"https://{hostname}").rstrip("/")
        return cls(
            hostname=hostname,
            endpoint=endpoint,
            connection_string=connection_string or None,
            policy_name=parts.get("SharedAccessKeyName"),
            shared_access_key=parts.get("SharedAccessKey"),
            tenant_id=extra.get("tenant_id"),
            client_id=extra.get("client_id") or conn.login or None,
            client_secret=extra.get("client_secret"),
            subscription_id=extra.get("subscription_id"),
            resource_group=extra.get("resource_group"),
        )


def parse_connection_string(text: str, conn_id: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in text.strip().split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"connection {conn_id!r}: the connection string has a part without '=' ")
        parts[name.strip()] = value.strip()
    missing = [k for k in ("HostName", "SharedAccessKeyName", "SharedAccessKey") if not parts.get(k)]
    if missing:
        raise ValueError(f"connection {conn_id!r}: the connection string lacks {', '.join(missing)}")
    return parts


def service_error(status: int, headers: Any, body: str) -> JobServiceError:
    """The service's error code and message, from the `iothub-errorcode` header and either body envelope."""
    code = headers.get("iothub-errorcode") or ""
    message = body.strip()[:500] or f"HTTP {status}"
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict):
        raw = envelope.get("Message") or envelope.get("message") or ""
        if isinstance(raw, str) and raw.startswith("{"):
            try:  # envelope 2: a JSON document inside "Message"
                inner = json.loads(raw)
                raw = inner.get("message") or raw
            except ValueError:
                pass
        if isinstance(raw, str) and raw.startswith("ErrorCode:"):
            head, _, rest = raw.partition(";")
            code = code or head.removeprefix("ErrorCode:")
            raw = rest or head
        message = str(raw) or message
    retry_after = _retry_after(headers.get("Retry-After"))
    code = code or {401: "IotHubUnauthorizedAccess", 404: "NotFound", 429: "ThrottlingException"}.get(
        status, "ServerError" if status >= 500 else "GenericBadRequest"
    )
    error_class = JobAlreadyExistsError if code == "JobAlreadyExists" else JobServiceError
    return error_class(status, code, message, retry_after=retry_after)


def raise_for_status(response: Any) -> None:
    """A requests or httpx response: raise the service's error for any 4xx/5xx."""
    if response.status_code >= 400:
        raise service_error(response.status_code, response.headers, response.text)


def unreachable(err: Exception) -> JobServiceError:
    """No answer at all (connection refused or reset, timeout, msrest's exhausted retries): a transient 503.
    Only the exception's type is kept — its text can carry the request URL."""
    return JobServiceError(503, "ServiceUnavailable", f"IoT Hub did not answer: {type(err).__name__}")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def progress_from_job(job: dict[str, Any]) -> JobProgress:
    stats = job.get("deviceJobStatistics") or {}
    status = str(job.get("status") or "unknown")
    return JobProgress(
        job_id=str(job.get("jobId")),
        status=status,
        targeted=int(stats.get("deviceCount") or 0),
        succeeded=int(stats.get("succeededCount") or 0),
        failed=int(stats.get("failedCount") or 0),
        running=int(stats.get("runningCount") or 0),
        pending=int(stats.get("pendingCount") or 0),
        terminal=status in TERMINAL_STATUSES,
        job_type=job.get("type") or job.get("jobType"),
        failure_reason=job.get("failureReason") or job.get("statusMessage") or None,
    )


IMPORT_EXPORT_PENDING = frozenset({"enqueued", "queued", "scheduled"})


def progress_from_import_export(job: dict[str, Any]) -> JobProgress:
    """An import/export job is one unit of work: it is pending, running, succeeded or failed as a whole."""
    status = str(job.get("status") or "unknown")
    if status == "unknown":
        raise JobServiceError(404, "JobNotFound", f"IoT Hub has no job {job.get('jobId')!r}")
    return JobProgress(
        job_id=str(job.get("jobId")),
        status=status,
        targeted=1,
        succeeded=int(status == "completed"),
        failed=int(status in {"failed", "cancelled"}),
        running=int(status == "running"),
        pending=int(status in IMPORT_EXPORT_PENDING),
        terminal=status in TERMINAL_STATUSES,
        job_type=job.get("type"),
        failure_reason=job.get("failureReason") or None,
    )


def failure_from_row(row: dict[str, Any]) -> DeviceFailure:
    error = row.get("error") or {}
    response = (row.get("outcome") or {}).get("deviceMethodResponse") or {}
    code = error.get("code") or (f"MethodStatus{response['status']}" if response.get("status") else "Failed")
    description = error.get("description") or json.dumps(response.get("payload"))[:200]
    return DeviceFailure(str(row.get("deviceId")), str(code), str(description))


def device_jobs_query(job_id: str, device_status: str | None) -> str:
    query = f"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{_quote_literal(job_id)}'"
    if device_status:
        query += f" AND devices.jobs.status = '{_quote_literal(device_status)}'"
    return query


def _quote_literal(value: str) -> str:
    return value.replace("'", "''")


def _isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class IoTHubHook(JobsHook):
    """Talks to one Azure IoT Hub (connection type ``azure_iot_hub``).

    Auth: an IoT Hub connection string (Password, or extra ``connection_string``), or Microsoft Entra ID with
    the hub host name in Host (extras ``tenant_id``/``client_id``/``client_secret``, else
    DefaultAzureCredential; needs the ``entra`` extra). Extra ``endpoint_url`` replaces ``https://<HostName>``.
    """

    conn_name_attr: ClassVar[str] = "iothub_conn_id"
    default_conn_name: ClassVar[str] = "azure_iot_hub_default"
    conn_type: ClassVar[str] = "azure_iot_hub"
    hook_name: ClassVar[str] = "Azure IoT Hub"

    def __init__(self, iothub_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iothub_conn_id = iothub_conn_id
        self._settings: IoTHubSettings | None = None
        self._manager: Any = None
        self._credential: Any = None
        self._http: requests.Session | None = None
        self._http_signed_at = 0.0
        self._aclient: httpx.AsyncClient | None = None
        self._async_token: tuple[str, float] | None = None

    # ---------------------------------------------------------------- connection and auth

    @property
    def settings(self) -> IoTHubSettings:
        if self._settings is None:
            conn = self.get_connection(self.iothub_conn_id)
            self._settings = IoTHubSettings.from_connection(conn, conn.extra_dejson)
            from airflow.sdk.log import mask_secret

            for secret in self._settings.secrets:
                mask_secret(secret)
        return self._settings

    async def asettings(self) -> IoTHubSettings:
        if self._settings is None:
            from airflow.sdk import BaseHook

            conn = await BaseHook.aget_connection(self.iothub_conn_id)
            # json.loads, not conn.extra_dejson: the property masks secrets through a sync supervisor call.
            extra = json.loads(conn.extra) if conn.extra else {}
            self._settings = IoTHubSettings.from_connection(conn, extra)
        return self._settings

    @property
    def manager(self) -> Any:
        """azure-iot-hub's IoTHubJobManager, aimed at ``endpoint_url`` when one is set."""
        if self._manager is None:
            from azure.iot.hub import IoTHubJobManager

            settings = self.settings
            if settings.connection_string:
                manager = IoTHubJobManager.from_connection_string(settings.connection_string)
            else:
                manager = IoTHubJobManager.from_token_credential(settings.hostname, self._entra_credential())
            # The SDK hard-codes https://<HostName>; the base URL is the supported seam for proxies/emulators.
            manager.protocol.config.base_url = settings.endpoint
            self._manager = manager
        return self._manager

    def _entra_credential(self) -> Any:
        try:
            from azure import identity
        except ImportError as err:
            raise RuntimeError(
                "Microsoft Entra ID auth needs azure-identity: pip install 'airflow-iot-jobs[entra]'"
            ) from err
        s = self.settings
        if s.tenant_id and s.client_id and s.client_secret:
            return identity.ClientSecretCredential(s.tenant_id, s.client_id, s.client_secret)
        return identity.DefaultAzureCredential(managed_identity_client_id=s.client_id)

    async def _aauthorization(self, settings: IoTHubSettings) -> str:
        if settings.shared_access_key:
            # A SAS token lives an hour: mint one (in a thread: the SDK import blocks) and reuse it for 45 min.
            if self._async_token is None or time.monotonic() - self._async_token[1] > TOKEN_REUSE_SECONDS:
                self._async_token = (await asyncio.to_thread(_sas_token, settings), time.monotonic())
            return self._async_token[0]
        if self._credential is None:
            try:
                from azure.identity import aio as identity_aio
            except ImportError as err:
                raise RuntimeError(
                    "Microsoft Entra ID auth needs azure-identity: pip install 'airflow-iot-jobs[entra]'"
                ) from err
            if settings.tenant_id and settings.client_id and settings.client_secret:
                self._credential = identity_aio.ClientSecretCredential(
                    settings.tenant_id, settings.client_id, settings.client_secret
                )
            else:
                self._credential = identity_aio.DefaultAzureCredential(
                    managed_identity_client_id=settings.client_id
                )
        token = await self._credential.get_token(ENTRA_SCOPE)
        return f"Bearer {token.token}"

    def _session(self) -> requests.Session:
        """One keep-alive session for the hook's life, signed by the SDK's auth and re-signed before the SAS
        token (one hour) expires."""
        import requests

        now = time.monotonic()
        if self._http is None or now - self._http_signed_at > TOKEN_REUSE_SECONDS:
            self._http = self.manager.auth.signed_session(self._http or requests.Session())
            self._http_signed_at = now
        return self._http

    async def _async_client(self) -> httpx.AsyncClient:
        """One connection pool for the hook's life (a trigger's wait): no new TLS context per read."""
        import httpx

        if self._aclient is None:
            # The TLS context (CA bundle) is built once per process, in a thread: thousands of waiting triggers
            # then share it instead of holding ~1 MB each, and the event loop never blocks on reading it.
            tls = await asyncio.to_thread(_shared_tls_context)
            self._aclient = httpx.AsyncClient(timeout=HTTP_TIMEOUT, verify=tls)
        return self._aclient

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    # ---------------------------------------------------------------- SDK calls: create / get / cancel

    def _sdk_call(self, operation: str, *args: Any) -> dict[str, Any]:
        """One SDK operation; repeated on transient faults unless it is the one call that must never be
        re-sent blindly (``create_import_export_job``: the service picks the id, a retry could start a second
        job)."""
        if operation == "create_import_export_job":
            return self._sdk_call_once(operation, *args)
        from airflow_iot_jobs.retries import retrying

        return retrying()(self._sdk_call_once, operation, *args)

    def _sdk_call_once(self, operation: str, *args: Any) -> dict[str, Any]:
        from msrest.exceptions import ClientRequestError, HttpOperationError

        try:
            raw = getattr(self.manager.protocol.jobs, operation)(*args, raw=True)
        except HttpOperationError as err:
            response = err.response
            raise service_error(response.status_code, response.headers, response.text) from None
        except ClientRequestError as err:
            # msrest retried 5xx three times and kept no status code.
            raise unreachable(err) from None
        return raw.response.json() if raw.response.content else {}

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
        return self._sdk_call("create_scheduled_job", job_id, request)

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
        return self._sdk_call("create_scheduled_job", job_id, request)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._sdk_call("get_scheduled_job", job_id)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a scheduled job, or an import/export job (which the v2 API does not know)."""
        try:
            return self._sdk_call("cancel_scheduled_job", job_id)
        except JobServiceError as err:
            if err.code != "JobNotFound":
                raise
        with _unknown_job(job_id):
            self.get_import_export_job(job_id)  # the service answers DELETE of an unknown id with a bare 500
        self.cancel_import_export_job(job_id)
        return self.get_import_export_job(job_id)

    def progress(self, job_id: str) -> JobProgress:
        """Progress of a scheduled job, or of an import/export job (the v2 API answers "unknown" for those,
        so fall back to ``GET /jobs/{id}`` as the az CLI does)."""
        job = self.get_job(job_id)
        if job.get("status") == "unknown":
            with _unknown_job(job_id):
                return progress_from_import_export(self.get_import_export_job(job_id))
        return progress_from_job(job)

    # ---------------------------------------------------------------- import / export jobs

    def create_import_export_job(self, properties: dict[str, Any]) -> dict[str, Any]:
        """``POST /jobs/create``. Never re-sent on failure: the service picks the job id, so a blind retry could
        start a second job; callers look for their job with ``find_import_export_job`` first."""
        from azure.iot.hub.protocol.models import JobProperties

        return self._sdk_call("create_import_export_job", JobProperties.from_dict(properties))

    def get_import_export_job(self, job_id: str) -> dict[str, Any]:
        return self._sdk_call("get_import_export_job", job_id)

    def list_import_export_jobs(self) -> list[dict[str, Any]]:
        return self._request("GET", "/jobs").json()

    def cancel_import_export_job(self, job_id: str) -> dict[str, Any]:
        return self._sdk_call("cancel_import_export_job", job_id)

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

    # ---------------------------------------------------------------- queries (raw HTTP: the SDK is lossy here)

    def _request(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """A read (GET, or POST /devices/query), repeated on transient faults."""
        from airflow_iot_jobs.retries import retrying

        return retrying()(self._request_once, method, path, json_body=json_body, headers=headers)

    def _request_once(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        import requests

        url = f"{self.settings.endpoint}{path}"
        separator = "&" if "?" in path else "?"
        try:
            response = self._session().request(
                method,
                f"{url}{separator}api-version={API_VERSION}",
                json=json_body,
                headers=headers,
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as err:
            raise unreachable(err) from None
        raise_for_status(response)
        return response

    def _paged(self, method: str, path: str, body: Any, page_size: int) -> Iterator[dict[str, Any]]:
        """Follow ``x-ms-continuation`` until the service stops sending it."""
        continuation: str | None = None
        while True:
            headers = {"x-ms-max-item-count": str(min(page_size, MAX_PAGE_SIZE))}
            if continuation:
                headers["x-ms-continuation"] = continuation
            response = self._request(method, path, json_body=body, headers=headers)
            yield from response.json()
            continuation = response.headers.get("x-ms-continuation")
            if not continuation:
                return

    def query_jobs(
        self, job_type: str | None = None, job_status: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Scheduled jobs, newest first. The service answers a JSON array plus a continuation header (the
        spec's QueryResult object is wrong), which is why the SDK's ``query_scheduled_jobs`` cannot be used."""
        params = [
            f"{name}={quote(value)}"
            for name, value in (("jobType", job_type), ("jobStatus", job_status))
            if value
        ]
        path = "/jobs/v2/query" + ("?" + "&".join(params) if params else "")
        return self._paged("GET", path, None, page_size)

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

    def count_devices(self, query_condition: str) -> int:
        where = "" if query_condition.strip() == "*" else f" WHERE {query_condition}"
        rows = list(self.query_devices(f"SELECT COUNT() AS numberOfDevices FROM devices{where}"))
        return int(rows[0].get("numberOfDevices", 0)) if rows else 0

    def write_device_job_report(
        self, job_id: str, destination: str | os.PathLike[str] | Any, device_status: str | None = None
    ) -> int:
        """Stream every ``devices.jobs`` row of a job as JSON lines to a local path or an object-storage path
        (anything with ``.open("w")``, e.g. ``ObjectStoragePath``); memory stays flat. Returns the row count."""
        target = destination if hasattr(destination, "open") else Path(destination)
        count = 0
        with target.open("w") as out:
            for row in self.iter_device_job_rows(job_id, device_status=device_status):
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
                count += 1
        return count

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        failures: list[DeviceFailure] = []
        for row in self.iter_device_job_rows(
            job_id, device_status="failed", page_size=min(limit, MAX_PAGE_SIZE)
        ):
            failures.append(failure_from_row(row))
            if len(failures) >= limit:
                break
        return failures

    # ---------------------------------------------------------------- async (triggers)

    async def _arequest(self, client: httpx.AsyncClient, method: str, path: str) -> dict[str, Any]:
        """GET, cancel or DELETE (all safe to repeat), repeated on transient faults."""
        from airflow_iot_jobs.retries import async_retrying

        async for attempt in async_retrying():
            with attempt:
                return await self._arequest_once(client, method, path)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _arequest_once(self, client: httpx.AsyncClient, method: str, path: str) -> dict[str, Any]:
        import httpx

        settings = await self.asettings()
        headers = {"Authorization": await self._aauthorization(settings), "Accept": "application/json"}
        try:
            response = await client.request(
                method, f"{settings.endpoint}{path}", params={"api-version": API_VERSION}, headers=headers
            )
        except httpx.HTTPError as err:
            raise unreachable(err) from None
        raise_for_status(response)
        return response.json() if response.content else {}

    async def aget_job(self, job_id: str) -> dict[str, Any]:
        client = await self._async_client()
        return await self._arequest(client, "GET", f"/jobs/v2/{quote(job_id, safe='')}")

    async def aprogress(self, job_id: str) -> JobProgress:
        job = await self.aget_job(job_id)
        if job.get("status") == "unknown":
            with _unknown_job(job_id):
                other = await self._arequest(
                    await self._async_client(), "GET", f"/jobs/{quote(job_id, safe='')}"
                )
                return progress_from_import_export(other)
        return progress_from_job(job)

    async def acancel_job(self, job_id: str) -> dict[str, Any]:
        path = quote(job_id, safe="")
        client = await self._async_client()
        try:
            return await self._arequest(client, "POST", f"/jobs/v2/{path}/cancel")
        except JobServiceError as err:
            if err.code != "JobNotFound":
                raise
        with _unknown_job(job_id):
            await self._arequest(client, "GET", f"/jobs/{path}")
        await self._arequest(client, "DELETE", f"/jobs/{path}")
        return await self._arequest(client, "GET", f"/jobs/{path}")

    # ---------------------------------------------------------------- links

    def portal_url(self) -> str:
        return hub_portal_url(self.settings)


def hub_portal_url(settings: IoTHubSettings) -> str:
    if settings.subscription_id and settings.resource_group:
        return (
            f"https://portal.azure.com/#resource/subscriptions/{settings.subscription_id}/resourceGroups/"
            f"{settings.resource_group}/providers/Microsoft.Devices/IotHubs/{settings.hub_name}/jobs"
        )
    return f"https://portal.azure.com/#browse/Microsoft.Devices%2FIotHubs/search/{settings.hub_name}"


@contextlib.contextmanager
def _unknown_job(job_id: str) -> Iterator[None]:
    """Neither jobs API knows the id: say so plainly."""
    try:
        yield
    except JobServiceError as err:
        if err.status != 404:
            raise
        raise JobServiceError(404, "JobNotFound", f"IoT Hub has no job {job_id!r}") from None


@functools.cache
def _shared_tls_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _sas_token(settings: IoTHubSettings) -> str:
    from azure.iot.hub.auth import SasToken

    return str(SasToken(settings.hostname, settings.shared_access_key, settings.policy_name))
