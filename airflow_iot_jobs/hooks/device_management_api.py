"""AWS IoT Jobs through the ``@softchef/cdk-iot-device-management`` Job API (API Gateway + one Lambda per route).

Teams that deployed the construct call this REST API instead of AWS IoT itself. Every route of its Job API is
here, sync (operators) and async where a trigger needs it, on the shared HTTP flows. The Lambdas' quirks are
handled here and nowhere else:

- ``POST /jobs`` and ``POST /job-templates`` answer ``{"created": true}`` without the id (the Lambda picks a
  uuid): :meth:`DeviceManagementApiHook.find_job` finds a job by a marker in its ``description``;
  :meth:`~DeviceManagementApiHook.find_job_template` finds a template by its description;
- the list-executions routes read ``jobId`` / ``thingName`` from the *query string* and require ``status`` (the
  Lambda's joi schema does not allow it to be absent): a listing without a status asks once per status;
- cancel-job-execution sends ``expectedVersion: 1`` unless told otherwise and reads the status details from
  ``statusDetail`` (it validates ``statusDetails``): the hook sends the execution's current version and the
  key the Lambda reads;
- errors come as a joi list (422), ``{"error": "<Type>: <message>"}`` (404 or 500; a 500 may be
  ``ResourceNotFoundException``) or API Gateway's ``{"message"}``: one :class:`JobServiceError` with AWS's code.

The job itself is an AWS IoT job: statuses, ``jobProcessDetails`` and executions read exactly as the ``aws``
backend reads them (:mod:`airflow_iot_jobs.hooks.aws_iot_wire`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow_iot_jobs.backends import DEVICE_MANAGEMENT_API
from airflow_iot_jobs.hooks.aws_iot_wire import ExecutionFailures, console_url, progress_from_job
from airflow_iot_jobs.hooks.device_management_api_settings import DeviceManagementApiSettings
from airflow_iot_jobs.hooks.device_management_api_wire import error_from_response
from airflow_iot_jobs.hooks.http_base import Call, ConnectionHttpJobsHook, Flow, Reply
from airflow_iot_jobs.jobs import ErrorKind, JobProgress, JobServiceError
from airflow_iot_jobs.validation.aws_iot import (
    EXECUTION_STATUSES,
    JOB_ID_PATTERN,
    JOB_ID_RULE,
    MAX_JOB_ID_LENGTH,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

#: a marker search reads the jobs created since ``since`` minus this much (the service's clock is not ours)
CLOCK_SLACK = 600.0
#: how long to wait for a created job or template to be listed (the API answers no id)
LISTING_WAIT = 30.0
#: at most this many jobs are read one by one while looking for a marker; more fails instead of guessing
MAX_MARKER_CANDIDATES = 1000


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") if i % 2 else part for i, part in enumerate(parts))


def _epoch(value: object) -> float | None:
    """``createdAt`` as the Lambdas write it (ISO 8601, ``JSON.stringify`` of a Date), or epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def sigv4_headers(
    credentials: Any, region: str, method: str, url: str, content: bytes | None, headers: Mapping[str, str]
) -> dict[str, str]:
    """The headers of a request signed with SigV4 for API Gateway (service ``execute-api``), by botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=content or b"", headers=dict(headers))
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def _require_botocore() -> None:
    try:
        import botocore  # noqa: F401
    except ImportError:  # pragma: no cover - the test extra installs it
        raise ImportError(
            "auth 'iam' signs requests with botocore: pip install 'airflow-iot-jobs[aws]'"
        ) from None


def no_credentials() -> JobServiceError:
    return JobServiceError(
        0,
        "NoCredentials",
        "auth 'iam' found no AWS credentials: set Login / Password (access key id / secret access key), extra "
        "'aws_conn_id', or credentials for boto3's default chain on the worker and the triggerer",
        kind=ErrorKind.PERMANENT,
    )


class DeviceManagementApiHook(ExecutionFailures, ConnectionHttpJobsHook):
    """Talks to one Device Management Job API (connection type ``iot_device_management_api``).

    :param device_management_api_conn_id: the connection (default ``iot_device_management_api_default``).
    :param aws_conn_id: optional ``aws`` connection allowed to read thing groups
        (``iot:ListThingsInThingGroup``): the Job API cannot list a group's things, so without it only thing
        targets can be counted before a launch (``max_devices``, the empty-target check).
    """

    backend = DEVICE_MANAGEMENT_API
    service_label = "the Device Management API"
    job_id_pattern: ClassVar = JOB_ID_PATTERN  # the Lambda's uuids fit AWS IoT's rule
    job_id_rule: ClassVar[str] = JOB_ID_RULE
    max_job_id_length: ClassVar[int] = MAX_JOB_ID_LENGTH
    counts_by_paging: ClassVar[bool] = True
    settings_class = DeviceManagementApiSettings

    def __init__(
        self,
        device_management_api_conn_id: str = DEVICE_MANAGEMENT_API.default_conn_id,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device_management_api_conn_id = device_management_api_conn_id
        self.aws_conn_id = aws_conn_id
        self._credentials: Any = None
        self._not_ours: set[str] = set()  # jobs a marker search read and found without the marker

    # ---------------------------------------------------------------- auth and errors

    def auth_headers(self) -> dict[str, str]:
        return self.settings.headers()

    async def aauth_headers(self) -> dict[str, str]:
        return (await self.asettings()).headers()

    def request_headers(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        headers = {**self.auth_headers(), **headers}
        if self.settings.auth != "iam":
            return headers
        return sigv4_headers(self._iam_credentials(), self.settings.region, method, url, content, headers)

    async def arequest_headers(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        settings = await self.asettings()
        headers = {**settings.headers(), **headers}
        if settings.auth != "iam":
            return headers
        credentials = await self._aiam_credentials()
        return sigv4_headers(credentials, settings.region, method, url, content, headers)

    def _iam_credentials(self) -> Any:
        if self._credentials is None:
            _require_botocore()
            self._credentials = self._static_credentials()
            if self._credentials is None and self.settings.aws_conn_id:
                self._credentials = (
                    self.aws_iot_hook(self.settings.aws_conn_id).get_session().get_credentials()
                )
            elif self._credentials is None:
                import botocore.session

                self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise no_credentials()
        return self._credentials

    async def _aiam_credentials(self) -> Any:
        if self._credentials is None:
            _require_botocore()
            settings = await self.asettings()
            credentials = self._static_credentials()
            if credentials is None and settings.aws_conn_id:
                credentials = await self.aws_iot_hook(settings.aws_conn_id).acredentials()
            elif credentials is None:
                import botocore.session

                credentials = await asyncio.to_thread(
                    lambda: botocore.session.get_session().get_credentials()
                )
            if credentials is None:
                raise no_credentials()
            self._credentials = credentials
        return self._credentials

    def _static_credentials(self) -> Any:
        settings = self._settings
        if settings is None or not settings.access_key:
            return None
        from botocore.credentials import Credentials

        return Credentials(settings.access_key, settings.secret_key, settings.session_token)

    def aws_iot_hook(self, aws_conn_id: str) -> AwsIoTJobsHook:
        """AWS IoT itself through an ``aws`` connection, for what the Job API cannot do (list a thing group's
        things, manage thing groups, sign requests)."""
        from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

        region = self._settings.region if self._settings is not None else None
        return AwsIoTJobsHook(aws_conn_id=aws_conn_id, region_name=region)

    def error_from_reply(self, reply: Reply) -> JobServiceError:
        return error_from_response(reply.status, reply.headers, reply.text)

    # ---------------------------------------------------------------- the JobsHook contract

    def progress_flow(self, job_id: str) -> Flow[JobProgress]:
        job = (yield Call("GET", _path("jobs", job_id))).json().get("job") or {}
        return progress_from_job(job)

    def cancel_flow(self, job_id: str) -> Flow[JobProgress]:
        yield Call("PUT", _path("jobs", job_id, "cancel"), json={})
        return (yield from self.progress_flow(job_id))

    async def aactive_jobs(self) -> int | None:
        """The IN_PROGRESS jobs (what AWS's active-jobs limit counts), from ``GET /jobs?status=IN_PROGRESS``."""
        return await self.arun(self._active_jobs_flow())

    def _active_jobs_flow(self) -> Flow[int]:
        params, total, seen = {"status": "IN_PROGRESS"}, 0, set()
        while True:
            page = (yield Call("GET", "/jobs", params=params)).json()
            total += len(page.get("jobs") or [])
            token = page.get("nextToken")
            if not token or token in seen:
                return total
            seen.add(token)
            params["nextToken"] = token

    def count_devices(self, target: list[str], at_most: int | None = None) -> int:
        """The things that thing and thing-group ARNs select (see :meth:`expand_targets`)."""
        return len(self.expand_targets(target, at_most))

    def expand_targets(self, targets: list[str], at_most: int | None = None) -> set[str]:
        """Thing names of thing and thing-group ARNs. Thing ARNs are read as they are; a thing group needs
        ``aws_conn_id`` (the Job API has no route that lists a group's things)."""
        groups = [arn for arn in targets if arn.split(":", 5)[-1].startswith("thinggroup/")]
        if not groups:
            return {arn.rsplit("/", 1)[-1] for arn in targets}
        if not self.aws_conn_id:
            raise ValueError(
                "targets: the Device Management API cannot list the things of a thing group; name aws_conn_id "
                "(an aws connection allowed iot:ListThingsInThingGroup) to count them"
            )
        return self.aws_iot_hook(self.aws_conn_id).expand_targets(targets, at_most)

    def can_count(self, target: list[str]) -> bool:
        """``count_devices`` can answer for these targets (thing ARNs only, or a connection that reads groups)."""
        return bool(self.aws_conn_id) or not any(
            arn.split(":", 5)[-1].startswith("thinggroup/") for arn in target
        )

    def portal_url(self, job_id: str | None = None) -> str | None:
        """The job in the AWS IoT console, for the region in the API's host name (or the connection's extra)."""
        region = self.settings.region
        if not region:
            return None
        partition = "aws-cn" if (urlsplit(self.settings.endpoint).hostname or "").endswith(".cn") else "aws"
        return console_url(region, partition, job_id)

    # ---------------------------------------------------------------- paging

    def _page_flow(self, path: str, params: dict[str, str]) -> Flow[dict[str, Any]]:
        return (yield Call("GET", path, params=params)).json()

    def pages(self, path: str, key: str, **params: str) -> Iterator[dict[str, Any]]:
        """Every item of a ``nextToken``-paged list; a token that comes back twice ends it with an error."""
        seen: set[str] = set()
        while True:
            page = self.run(self._page_flow(path, params))
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return
            if token in seen:
                raise JobServiceError(0, "PagingLoop", f"GET {path} returned the same nextToken twice")
            seen.add(token)
            params["nextToken"] = token

    def _call(self, method: str, path: str, body: Any = None, *, repeatable: bool = True) -> dict[str, Any]:
        return self.run(self._one(Call(method, path, json=body, repeatable=repeatable)))

    @staticmethod
    def _one(call: Call) -> Flow[dict[str, Any]]:
        return (yield call).json()

    # ---------------------------------------------------------------- jobs

    def create_job(
        self,
        *,
        targets: list[str],
        document: str,
        target_selection: str = "SNAPSHOT",
        description: str | None = None,
    ) -> dict[str, Any]:
        """``POST /jobs``: ``{"created": true}`` and no id (find the job with :meth:`find_job`). Sent once: the
        Lambda would create a second job on a second try."""
        body = {"targets": targets, "document": document, "targetSelection": target_selection}
        return self._call("POST", "/jobs", {**body, **_present(description=description)}, repeatable=False)

    def list_jobs(
        self, status: str | None = None, target_selection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Job summaries, newest first (``status``, ``targetSelection`` filter on the service)."""
        return self.pages("/jobs", "jobs", **_present(status=status, targetSelection=target_selection))

    def describe_job(self, job_id: str) -> dict[str, Any]:
        """``{"job": {...}}``, as boto3's ``describe_job`` answers."""
        return self._call("GET", _path("jobs", job_id))

    def update_job(self, job_id: str, description: str) -> dict[str, Any]:
        return self._call("PUT", _path("jobs", job_id), {"description": description})

    def delete_job(self, job_id: str, *, force: bool = False) -> None:
        self._call("DELETE", _path("jobs", job_id), {"force": bool(force)})

    def cancel_job(self, job_id: str, *, force: bool = False, comment: str | None = None) -> dict[str, Any]:
        return self._call(
            "PUT", _path("jobs", job_id, "cancel"), {"force": bool(force), **_present(comment=comment)}
        )

    def associate_targets_with_job(self, job_id: str, targets: list[str]) -> dict[str, Any]:
        return self._call("PUT", _path("jobs", job_id, "associate"), {"targets": targets})

    def get_job_document(self, job_id: str) -> str:
        return self._call("GET", _path("jobs", job_id, "document")).get("document") or ""

    # ---------------------------------------------------------------- finding a job by its marker

    def find_job(
        self, marker: str, *, since: float | None = None, target_selection: str | None = None
    ) -> str | None:
        """The id of the job whose description holds ``marker``, or ``None``.

        Job summaries carry no description, so each candidate is read (``GET /jobs/{id}``) once per hook. The
        search reads the jobs newest first and stops at the first page whose jobs were all created before
        ``since`` (epoch seconds; minus :data:`CLOCK_SLACK`); more than :data:`MAX_MARKER_CANDIDATES` candidates
        fail the search rather than risk a second job.
        """
        return self.run(self._find_job_flow(marker, since, target_selection))

    def _find_job_flow(
        self, marker: str, since: float | None, target_selection: str | None
    ) -> Flow[str | None]:
        params = _present(targetSelection=target_selection)
        oldest = None if since is None else since - CLOCK_SLACK
        read = 0
        seen: set[str] = set()
        while True:
            page = (yield Call("GET", "/jobs", params=params)).json()
            jobs = page.get("jobs") or []
            fresh = [j for j in jobs if oldest is None or (_epoch(j.get("createdAt")) or oldest) >= oldest]
            for summary in fresh:
                job_id = str(summary.get("jobId") or "")
                if not job_id or job_id in self._not_ours:
                    continue
                read += 1
                if read > MAX_MARKER_CANDIDATES:
                    raise JobServiceError(
                        0,
                        "MarkerSearchTooLong",
                        f"more than {MAX_MARKER_CANDIDATES} jobs were created since this task's run began; cannot "
                        f"tell safely whether {marker!r} was launched already, so no job is created",
                        kind=ErrorKind.PERMANENT,
                    )
                try:
                    job = (yield Call("GET", _path("jobs", job_id))).json().get("job") or {}
                except JobServiceError as err:
                    if err.kind is ErrorKind.NOT_FOUND:
                        continue  # deleted since it was listed
                    raise
                if marker in str(job.get("description") or ""):
                    return job_id
                self._not_ours.add(job_id)
            token = page.get("nextToken")
            if not token or (jobs and not fresh) or token in seen:
                return None
            seen.add(token)
            params["nextToken"] = token

    # ---------------------------------------------------------------- job executions

    def list_job_executions_for_job(self, job_id: str, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Execution summaries (``jobExecutionSummary``, ``thingArn``). The route takes ``jobId`` from the query
        string and requires a status: without one, each status is asked for in turn (an execution that changes
        status between two calls is listed once, under the first)."""
        path = _path("jobs", job_id, "status")
        return self._executions(path, "thingArn", {"jobId": job_id}, status)

    def list_job_executions_for_thing(
        self, thing_name: str, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """A thing's executions (``jobId``, ``jobExecutionSummary``); ``thingName`` goes in the query string too."""
        path = _path("things", thing_name, "jobs")
        return self._executions(path, "jobId", {"thingName": thing_name}, status)

    def _executions(
        self, path: str, identity: str, params: dict[str, str], status: str | None
    ) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for one in (status,) if status else EXECUTION_STATUSES:
            for row in self.pages(path, "executionSummaries", **params, status=one):
                if row.get(identity) not in seen:
                    seen.add(row.get(identity))
                    yield row

    def describe_job_execution(self, job_id: str, thing_name: str) -> dict[str, Any]:
        return self._call("GET", _path("jobs", job_id, "things", thing_name)).get("execution") or {}

    def cancel_job_execution(
        self,
        job_id: str,
        thing_name: str,
        *,
        force: bool = False,
        expected_version: int | None = None,
        status_details: dict[str, str] | None = None,
    ) -> None:
        """Cancels one execution. Without ``expected_version`` the execution's current version is sent (the
        Lambda would send 1, a conflict for any execution a device has updated)."""
        if expected_version is None:
            expected_version = int(self.describe_job_execution(job_id, thing_name).get("versionNumber") or 1)
        body = {"force": bool(force), "expectedVersion": expected_version}
        if status_details:
            body["statusDetail"] = (
                status_details  # sic: the Lambda validates statusDetails, reads statusDetail
            )
        self._call("PUT", _path("jobs", job_id, "things", thing_name, "cancel"), body)

    def delete_job_execution(
        self, job_id: str, thing_name: str, execution_number: int, *, force: bool = False
    ) -> None:
        body = {"executionNumber": int(execution_number), "force": bool(force)}
        self._call("DELETE", _path("jobs", job_id, "things", thing_name), body)

    # ---------------------------------------------------------------- job templates

    def create_job_template(self, *, document: str, description: str) -> dict[str, Any]:
        """``POST /job-templates``: ``{"created": true}``, the id is the Lambda's uuid (see
        :meth:`find_job_template`). Sent once."""
        body = {"document": document, "description": description}
        return self._call("POST", "/job-templates", body, repeatable=False)

    def list_job_templates(self) -> Iterator[dict[str, Any]]:
        """Template summaries: ``jobTemplateId``, ``jobTemplateArn``, ``description``, ``createdAt``."""
        return self.pages("/job-templates", "jobTemplates")

    def describe_job_template(self, template_id: str) -> dict[str, Any]:
        """The template as ``DescribeJobTemplate`` answers (the Lambda's ``$metadata`` left out)."""
        template = self._call("GET", _path("job-templates", template_id)).get("jobTemplate") or {}
        return {k: v for k, v in template.items() if k != "$metadata"}

    def delete_job_template(self, template_id: str) -> None:
        self._call("DELETE", _path("job-templates", template_id))

    def find_job_template(self, description: str) -> dict[str, Any] | None:
        """The summary of the newest template with exactly this description, or ``None``."""
        found = [t for t in self.list_job_templates() if t.get("description") == description]
        found.sort(key=lambda t: _epoch(t.get("createdAt")) or 0.0, reverse=True)
        return found[0] if found else None

    def wait_for_job_template(self, description: str, timeout: float = LISTING_WAIT) -> dict[str, Any]:
        """The template just created with ``description``, once the list shows it."""
        return self._wait_listed(
            lambda: self.find_job_template(description), f"a job template described {description!r}", timeout
        )

    def wait_for_job(self, marker: str, *, since: float | None = None, timeout: float = LISTING_WAIT) -> str:
        """The id of the job just created with ``marker``, once the list shows it."""
        return self._wait_listed(
            lambda: self.find_job(marker, since=since), f"a job marked {marker!r}", timeout
        )

    @staticmethod
    def _wait_listed(lookup: Any, what: str, timeout: float) -> Any:
        """After a create that answers no id: look it up, backing off, until the list shows it (a transient
        error after ``timeout``: a retry looks again before creating anything)."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while (found := lookup()) is None:
            if time.monotonic() >= deadline:
                raise JobServiceError(
                    0,
                    "NotListed",
                    f"the API created {what} but does not list it yet",
                    kind=ErrorKind.TRANSIENT,
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return found
