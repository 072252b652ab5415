"""AWS IoT Jobs (control plane ``iot`` 2015-05-28) on the Amazon provider's ``AwsBaseHook``.

The connection is the Amazon provider's ``aws`` (default ``aws_default``): keys or the default credential chain,
role assumption, ``region_name``, ``verify``, ``botocore_config`` and the connection's ``endpoint_url`` work as
they do for every Amazon operator. Every boto3 call goes through :meth:`AwsIoTJobsHook.call`, which turns a
botocore error into one :class:`~airflow_iot_jobs.jobs.JobServiceError` carrying AWS's code and message. The
async methods (triggers) read the connection with ``aget_connection`` and run boto3 in a worker thread, so the
event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:
    import botocore.config
    import botocore.exceptions
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
except ImportError as err:  # pragma: no cover - exercised in a subprocess by the missing-extra test
    raise ImportError(
        "The AWS IoT Jobs backend needs the Amazon provider (boto3, botocore): "
        "pip install 'airflow-iot-jobs[aws]'"
    ) from err

from airflow_iot_jobs.backends import AWS_IOT
from airflow_iot_jobs.hooks.aws_iot_wire import (
    ExecutionFailures,
    console_url,
    error_from_aws,
    progress_from_job,
)
from airflow_iot_jobs.hooks.base import JobsHook
from airflow_iot_jobs.hooks.http_base import parse_retry_after
from airflow_iot_jobs.jobs import ErrorKind, JobProgress, JobServiceError
from airflow_iot_jobs.retries import async_retrying, retrying
from airflow_iot_jobs.validation.aws_iot import JOB_ID_PATTERN, JOB_ID_RULE, MAX_JOB_ID_LENGTH

#: botocore's connection-level failures: no answer, so worth the same (idempotent) call again
_NO_ANSWER = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.HTTPClientError,
)
PAGE_SIZE = 250  # LaserMaxResults.max
PERMANENT = ErrorKind.PERMANENT


@contextlib.contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """botocore's exceptions as one JobServiceError each (AWS's code and message, no botocore traceback)."""
    try:
        yield
    except botocore.exceptions.ClientError as err:
        error = err.response.get("Error") or {}
        metadata = err.response.get("ResponseMetadata") or {}
        status = int(metadata.get("HTTPStatusCode") or 0)
        retry_after = parse_retry_after((metadata.get("HTTPHeaders") or {}).get("retry-after"))
        raise error_from_aws(
            str(error.get("Code") or ""), str(error.get("Message") or ""), status, operation, retry_after
        ) from None
    except _NO_ANSWER as err:
        raise JobServiceError(
            0, type(err).__name__, f"{err} ({operation})", kind=ErrorKind.TRANSIENT
        ) from None
    except botocore.exceptions.NoCredentialsError:
        message = f"no AWS credentials: set them on the aws connection or the worker ({operation})"
        raise JobServiceError(0, "NoCredentials", message, kind=PERMANENT) from None
    except botocore.exceptions.NoRegionError:
        message = f"no AWS region: pass region_name or set it on the aws connection ({operation})"
        raise JobServiceError(0, "NoRegion", message, kind=PERMANENT) from None
    except botocore.exceptions.BotoCoreError as err:  # parameter validation, credential and config errors
        raise JobServiceError(0, type(err).__name__, f"{err} ({operation})", kind=PERMANENT) from None


@dataclass
class _ConnectionFields:
    """What ``AwsConnectionWrapper`` reads of a connection, filled from ``aget_connection`` (its ``extra`` read
    with the async masker, so nothing here makes a blocking supervisor call)."""

    conn_id: str | None
    conn_type: str | None
    login: str | None
    password: str | None
    schema: str | None
    host: str | None
    port: int | None
    extra_dejson: dict[str, Any] = field(default_factory=dict)


#: boto3 clients shared by the triggers of one process, by :meth:`AwsIoTJobsHook._client_key`
_CLIENTS: dict[str, asyncio.Future[Any]] = {}


async def _shared_client(key: str, build: Any) -> Any:
    """One client per key: the first caller builds it, callers meanwhile await the same build."""
    loop = asyncio.get_running_loop()
    future = _CLIENTS.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    if future is not None and not future.done() and future.get_loop() is loop:
        return await asyncio.shield(future)
    future = loop.create_future()
    _CLIENTS[key] = future
    try:
        client = await build()
    except BaseException as err:
        _CLIENTS.pop(key, None)
        future.set_exception(err)
        future.exception()  # retrieved: the caller raises it
        raise
    future.set_result(client)
    return client


class AwsIoTJobsHook(ExecutionFailures, JobsHook, AwsBaseHook):
    """AWS IoT Jobs through boto3's ``iot`` client.

    :param aws_conn_id: an ``aws`` connection (default ``aws_default``); ``None``: boto3's default chain.
    :param region_name: overrides the connection's region.
    :param verify: TLS verification (``False``, or a CA bundle path).
    :param botocore_config: ``botocore.config.Config`` keywords (retries, timeouts, proxies).
    """

    backend = AWS_IOT
    job_id_pattern: ClassVar = JOB_ID_PATTERN
    job_id_rule: ClassVar[str] = JOB_ID_RULE
    max_job_id_length: ClassVar[int] = MAX_JOB_ID_LENGTH
    counts_by_paging: ClassVar[bool] = True

    def __init__(
        self,
        aws_conn_id: str | None = AWS_IOT.default_conn_id,
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            config=botocore_config,
            client_type="iot",
        )
        self._lock: asyncio.Lock | None = None

    def _get_config(self, config: Any = None) -> Any:
        """botocore's own retries are off unless the user configures them (``botocore_config`` or the
        connection's ``config_kwargs``): this hook retries repeatable calls itself, logging why and honouring
        Retry-After; botocore's default mode would retry ``ThrottlingException`` and ``LimitExceededException`` (the
        active-jobs limit, which the operator waits out up to its own deadline) out of sight, without a log."""
        merged = super()._get_config(config)
        if merged.retries is None:
            merged = merged.merge(botocore.config.Config(retries={"total_max_attempts": 1}))
        return merged

    # ---------------------------------------------------------------- calls

    def call(self, operation: str, *, repeatable: bool = True, **params: Any) -> dict[str, Any]:
        """One boto3 call (``operation`` in snake_case); repeatable calls are retried on transient faults."""

        def once() -> dict[str, Any]:
            with aws_errors(operation):
                return getattr(self.conn, operation)(**params)

        return retrying()(once) if repeatable else once()

    async def aclient(self) -> Any:
        """The boto3 client, built off the event loop; the connection is read with ``aget_connection``.

        Triggers share one client per connection and settings in the triggerer process: a boto3 session parses
        the service model anew (~12 MB, ~0.25 s of CPU each), and boto3 clients are thread-safe. A changed
        connection (keys, role, region, extras) gets a client of its own."""
        if "conn" not in self.__dict__:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if "conn_config" not in self.__dict__:
                    self.__dict__["conn_config"] = await self._aconn_config()
                if "conn" not in self.__dict__:
                    self.__dict__["conn"] = await _shared_client(self._client_key(), self._build_client)
        return self.__dict__["conn"]

    async def acredentials(self) -> Any:
        """botocore credentials of the connection (refreshable when a role is assumed), read without a blocking
        call on the event loop: for signing requests to other AWS services (``execute-api``)."""
        if "conn_config" not in self.__dict__:
            self.__dict__["conn_config"] = await self._aconn_config()
        with aws_errors("credentials"):
            return await asyncio.to_thread(lambda: self.get_session().get_credentials())

    async def _build_client(self) -> Any:
        with aws_errors("client"):
            return await asyncio.to_thread(lambda: self.conn)

    def _client_key(self) -> str:
        """What the client depends on, digested (it holds the secret key: never logged or kept in clear)."""
        config = self.__dict__["conn_config"]
        parts = [
            self.aws_conn_id,
            config.conn_type,
            config.region_name,
            repr(config.verify),
            repr(self._config),  # the keywords given, not botocore's Config (its repr carries its address)
            config.login,
            config.password,
            config.endpoint_url,
            json.dumps(config.extra_config, sort_keys=True, default=str),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    async def _aconn_config(self) -> AwsConnectionWrapper:
        connection = None
        if self.aws_conn_id:
            from airflow.sdk import BaseHook
            from airflow.sdk.exceptions import AirflowNotFoundException

            try:
                conn = await BaseHook.aget_connection(self.aws_conn_id)
            except AirflowNotFoundException:
                self.log.warning(
                    "AWS connection %r not found: using boto3's default credentials", self.aws_conn_id
                )
            else:
                extra = await conn.aextra_dejson() if conn.extra else {}
                connection = _ConnectionFields(
                    conn.conn_id,
                    conn.conn_type,
                    conn.login,
                    conn.password,
                    conn.schema,
                    conn.host,
                    conn.port,
                    extra,
                )
        return AwsConnectionWrapper(
            conn=connection, region_name=self._region_name, botocore_config=self._config, verify=self._verify
        )

    async def acall(self, operation: str, *, repeatable: bool = True, **params: Any) -> dict[str, Any]:
        client = await self.aclient()

        async def once() -> dict[str, Any]:
            with aws_errors(operation):
                return await asyncio.to_thread(getattr(client, operation), **params)

        return await async_retrying()(once) if repeatable else await once()

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a ``nextToken``-paged list. A token that comes back twice ends the listing with an error
        instead of looping (moto's ``list_jobs`` does that)."""
        seen: set[str] = set()
        while True:
            page = self.call(operation, **params)
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return
            if token in seen:
                raise JobServiceError(0, "PagingLoop", f"{operation} returned the same nextToken twice")
            seen.add(token)
            params["nextToken"] = token

    # ---------------------------------------------------------------- the JobsHook contract

    def progress(self, job_id: str) -> JobProgress:
        return progress_from_job(self.describe_job(job_id)["job"])

    async def aprogress(self, job_id: str) -> JobProgress:
        return progress_from_job((await self.acall("describe_job", jobId=job_id))["job"])

    def cancel(self, job_id: str) -> JobProgress:
        """``CancelJob`` (queued executions; ``cancel_job(force=True)`` also stops running ones)."""
        self.cancel_job(job_id)
        return self.progress(job_id)

    async def acancel(self, job_id: str) -> JobProgress:
        await self.acall("cancel_job", jobId=job_id)
        return await self.aprogress(job_id)

    def count_devices(self, target: list[str], at_most: int | None = None) -> int:
        """The distinct things that thing and thing-group ARNs select (nested groups included); group pages are
        read until ``at_most`` things are known."""
        return len(self.expand_targets(target, at_most))

    def expand_targets(self, targets: list[str], at_most: int | None = None) -> set[str]:
        things: set[str] = set()
        for arn in targets:
            resource = arn.split(":", 5)[-1]
            kind, _, name = resource.partition("/")
            if kind == "thing":
                things.add(name)
            elif kind == "thinggroup":
                for thing in self.things_in_group(name):
                    things.add(thing)
                    if at_most is not None and len(things) >= at_most:
                        return things
            else:
                raise ValueError(f"targets: {arn!r} is not a thing or thing-group ARN")
            if at_most is not None and len(things) >= at_most:
                return things
        return things

    def portal_url(self, job_id: str | None = None) -> str:
        """The job's page in the AWS IoT console for the client's region."""
        return console_url(self.conn.meta.region_name, self.conn.meta.partition, job_id)

    # ---------------------------------------------------------------- jobs

    def create_job(self, **params: Any) -> dict[str, Any]:
        """``CreateJob`` with the model's camelCase parameters (``jobId``, ``targets``, …). Retried on transient
        faults like every PUT with a fixed id: the id is ours, so a second attempt of a create that reached AWS
        is refused (``ResourceAlreadyExistsException``) and the operator re-attaches; it never makes a second
        job."""
        return self.call("create_job", **params)

    def describe_job(self, job_id: str) -> dict[str, Any]:
        return self.call("describe_job", jobId=job_id)

    def list_jobs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Job summaries, every page (filters: ``status``, ``targetSelection``, ``thingGroupName``, …)."""
        return self.pages("list_jobs", "jobs", maxResults=PAGE_SIZE, **filters)

    def update_job(self, job_id: str, **params: Any) -> dict[str, Any]:
        return self.call("update_job", jobId=job_id, **params)

    def cancel_job(
        self, job_id: str, *, force: bool = False, comment: str | None = None, reason_code: str | None = None
    ) -> dict[str, Any]:
        params = _present(comment=comment, reasonCode=reason_code)
        return self.call("cancel_job", jobId=job_id, force=force, **params)

    def delete_job(self, job_id: str, *, force: bool = False, namespace_id: str | None = None) -> None:
        self.call("delete_job", jobId=job_id, force=force, **_present(namespaceId=namespace_id))

    def get_job_document(self, job_id: str) -> str:
        return self.call("get_job_document", jobId=job_id).get("document") or ""

    def associate_targets_with_job(
        self, job_id: str, targets: list[str], *, comment: str | None = None, namespace_id: str | None = None
    ) -> dict[str, Any]:
        params = _present(comment=comment, namespaceId=namespace_id)
        return self.call("associate_targets_with_job", jobId=job_id, targets=targets, **params)

    # ---------------------------------------------------------------- job executions

    def list_job_executions_for_job(self, job_id: str, status: str | None = None) -> Iterator[dict[str, Any]]:
        params = _present(status=status)
        return self.pages(
            "list_job_executions_for_job", "executionSummaries", jobId=job_id, maxResults=PAGE_SIZE, **params
        )

    def list_job_executions_for_thing(
        self, thing_name: str, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        params = _present(status=status)
        return self.pages(
            "list_job_executions_for_thing",
            "executionSummaries",
            thingName=thing_name,
            maxResults=PAGE_SIZE,
            **params,
        )

    def describe_job_execution(
        self, job_id: str, thing_name: str, execution_number: int | None = None
    ) -> dict[str, Any]:
        params = _present(executionNumber=execution_number)
        return self.call("describe_job_execution", jobId=job_id, thingName=thing_name, **params)["execution"]

    def cancel_job_execution(
        self,
        job_id: str,
        thing_name: str,
        *,
        force: bool = False,
        expected_version: int | None = None,
        status_details: dict[str, str] | None = None,
    ) -> None:
        params = _present(expectedVersion=expected_version, statusDetails=status_details)
        self.call("cancel_job_execution", jobId=job_id, thingName=thing_name, force=force, **params)

    def delete_job_execution(
        self,
        job_id: str,
        thing_name: str,
        execution_number: int,
        *,
        force: bool = False,
        namespace_id: str | None = None,
    ) -> None:
        self.call(
            "delete_job_execution",
            jobId=job_id,
            thingName=thing_name,
            executionNumber=execution_number,
            force=force,
            **_present(namespaceId=namespace_id),
        )

    # ---------------------------------------------------------------- job templates

    def create_job_template(self, template_id: str, **params: Any) -> dict[str, Any]:
        return self.call("create_job_template", jobTemplateId=template_id, **params)

    def describe_job_template(self, template_id: str) -> dict[str, Any]:
        return self.call("describe_job_template", jobTemplateId=template_id)

    def list_job_templates(self) -> Iterator[dict[str, Any]]:
        return self.pages("list_job_templates", "jobTemplates", maxResults=PAGE_SIZE)

    def delete_job_template(self, template_id: str) -> None:
        self.call("delete_job_template", jobTemplateId=template_id)

    def job_template_arn(self, template: str) -> str:
        """A job template id's ARN (an ARN is returned as it is)."""
        if template.startswith("arn:"):
            return template
        return self.describe_job_template(template)["jobTemplateArn"]

    # ---------------------------------------------------------------- things and thing groups

    def thing_arn(self, thing_name: str) -> str:
        return self.call("describe_thing", thingName=thing_name)["thingArn"]

    def thing_group_arn(self, group_name: str) -> str:
        return self.call("describe_thing_group", thingGroupName=group_name)["thingGroupArn"]

    def things_in_group(self, group_name: str) -> Iterator[str]:
        """Thing names in a group and its child groups (``recursive``)."""
        return self.pages(
            "list_things_in_thing_group",
            "things",
            thingGroupName=group_name,
            recursive=True,
            maxResults=PAGE_SIZE,
        )

    def sync_static_thing_group(
        self, group_name: str, things: Iterable[str], *, description: str | None = None
    ) -> dict[str, Any]:
        """Make the static thing group ``group_name`` hold exactly ``things`` (thing names), creating it if needed.

        - ``CreateThingGroup`` (with ``description``): idempotent for a group that exists with the same
          properties; one that exists with other properties is used as it is (``DescribeThingGroup``);
        - its direct members, every page (``ListThingsInThingGroup``, not recursive);
        - ``RemoveThingFromThingGroup`` for each member not in ``things``, ``AddThingToThingGroup`` for each thing
          not a member yet. A thing that does not exist (``ResourceNotFoundException``) is skipped and named in
          ``missing``.

        Idempotent: a second call with the same things reads the members and changes nothing, so a retry may run it
        again. AWS puts a thing in at most 10 thing groups: adding one that is already in 10 fails with AWS's
        error. Needs ``iot:CreateThingGroup``, ``iot:DescribeThingGroup``, ``iot:ListThingsInThingGroup``,
        ``iot:AddThingToThingGroup`` and ``iot:RemoveThingFromThingGroup``.

        Returns ``{"thingGroupName", "thingGroupArn", "added", "removed", "missing"}`` (the last three: counts,
        and the names of the things that do not exist).
        """
        wanted = set(things)
        properties = {"thingGroupDescription": description} if description else {}
        try:
            group = self.call(
                "create_thing_group", thingGroupName=group_name, thingGroupProperties=properties
            )
        except JobServiceError as err:
            if err.kind is not ErrorKind.ALREADY_EXISTS:
                raise
            group = self.call("describe_thing_group", thingGroupName=group_name)
        members = set(
            self.pages(
                "list_things_in_thing_group",
                "things",
                thingGroupName=group_name,
                recursive=False,
                maxResults=PAGE_SIZE,
            )
        )
        stale, new = sorted(members - wanted), sorted(wanted - members)
        for thing in stale:
            self.call("remove_thing_from_thing_group", thingGroupName=group_name, thingName=thing)
        missing = []
        for thing in new:
            try:
                self.call("add_thing_to_thing_group", thingGroupName=group_name, thingName=thing)
            except JobServiceError as err:
                if err.kind is not ErrorKind.NOT_FOUND:
                    raise
                missing.append(thing)
        if missing:
            self.log.warning(
                "thing group %s: %s thing(s) do not exist and were left out: %s",
                group_name,
                len(missing),
                missing[:10],
            )
        return {
            "thingGroupName": group_name,
            "thingGroupArn": group["thingGroupArn"],
            "added": len(new) - len(missing),
            "removed": len(stale),
            "missing": missing,
        }

    def resolve_target(self, kind: str, name: str) -> str:
        """``thing`` / ``thinggroup`` / ``name`` (a bare name: a thing group, else a thing) → its ARN."""
        if kind == "arn":
            return name
        if kind == "thing":
            return self.thing_arn(name)
        if kind == "thinggroup":
            return self.thing_group_arn(name)
        found = [self._arn_or_none(lookup, name) for lookup in (self.thing_group_arn, self.thing_arn)]
        present = [arn for arn in found if arn]
        if len(present) == 2:
            raise ValueError(
                f"targets: {name!r} names both a thing group and a thing; write 'thinggroup/{name}' or 'thing/{name}'"
            )
        if not present:
            raise JobServiceError(
                404,
                "ResourceNotFoundException",
                f"targets: no thing group or thing named {name!r}",
                kind=ErrorKind.NOT_FOUND,
            )
        return present[0]

    def resolve_targets(self, targets: list[tuple[str, str]]) -> list[str]:
        return list(dict.fromkeys(self.resolve_target(kind, name) for kind, name in targets))

    @staticmethod
    def _arn_or_none(lookup: Any, name: str) -> str | None:
        try:
            return lookup(name)
        except JobServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                return None
            raise

    async def aclose(self) -> None:
        """Let go of the client; it is not closed: other triggers of the process share it (see ``aclient``)."""
        self.__dict__.pop("conn", None)


def _present(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
