"""One HTTP-hook base: each request flow is written once and run by a sync driver (operators, sensors) or an
async driver (triggers), both on httpx.

A *flow* is a generator that yields :class:`Call` objects and receives each :class:`Reply` (or has the service's
:class:`~airflow_iot_jobs.jobs.JobServiceError` thrown into it, so it can fall back on "not found"); its return
value is the result::

    def progress_flow(job_id):
        job = (yield Call("GET", f"/jobs/v2/{job_id}")).json()
        return progress_from_job(job)

    hook.run(progress_flow("j"))            # worker
    await hook.arun(progress_flow("j"))     # triggerer

A backend hook supplies where to send (``endpoint`` / ``aendpoint``), how to sign (``auth_headers`` /
``aauth_headers``), fixed query parameters, and how its errors read (``error_from_reply``). Calls marked
``repeatable`` are retried on transient faults (tenacity, Retry-After honoured); the others are sent once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow_iot_jobs.hooks.base import JobsHook
from airflow_iot_jobs.jobs import ErrorKind, JobProgress, JobServiceError

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
HTTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under the endpoint, or an absolute URL the service gave (paging links)
    json: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    repeatable: bool = True  # safe to send again after a fault (reads, cancels, PUT with a fixed id)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content) if self.content.strip() else {}


Flow = Generator[Call, Reply, T]


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (``None`` when absent or not a number)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _url(endpoint: str, path: str, params: Mapping[str, str]) -> Any:
    """A path under the endpoint, or an absolute URL the service handed out (a ``nextLink``), with ``params``
    merged into its query (httpx's ``params=`` would replace a link's own query, paging token included)."""
    import httpx

    url = httpx.URL(path if path.startswith(("https://", "http://")) else endpoint + path)
    return url.copy_merge_params(dict(params)) if params else url


def _body(call: Call) -> tuple[bytes | None, dict[str, str]]:
    """The JSON body as the bytes sent (a signature covers exactly these), and the call's headers with its type."""
    headers = dict(call.headers)
    if call.json is None:
        return None, headers
    headers.setdefault("Content-Type", "application/json")
    return json.dumps(call.json, separators=(",", ":")).encode(), headers


class _Steps:
    """Walks a flow: hands it each reply (or throws the service's error into it) until it returns."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.result: Any = None
        self.call: Call | None = None
        self._resume(lambda: next(flow))

    def advance_with(self, outcome: Reply | JobServiceError) -> None:
        if isinstance(outcome, JobServiceError):
            self._resume(lambda: self.flow.throw(outcome))
        else:
            self._resume(lambda: self.flow.send(outcome))

    def _resume(self, step: Any) -> None:
        try:
            self.call = step()
        except StopIteration as stop:
            self.call, self.result = None, stop.value


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One CA bundle per process: thousands of waiting triggers share it instead of holding ~1 MB each."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class HttpJobsHook(JobsHook, abstract=True):
    """The drivers, the clients (one keep-alive pool per hook and mode) and the retry policy."""

    service_label = "the service"
    _client: httpx.Client | None = None
    _aclient: httpx.AsyncClient | None = None

    # ---------------------------------------------------------------- what a backend supplies

    def endpoint(self) -> str:
        raise NotImplementedError

    async def aendpoint(self) -> str:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    async def aauth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def fixed_params(self) -> dict[str, str]:
        return {}

    def request_headers(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        """The headers of one request: the auth headers, then the call's own. A backend that signs each request
        (AWS SigV4) sees the method, the whole URL and the exact body bytes here."""
        return {**self.auth_headers(), **headers}

    async def arequest_headers(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        return {**await self.aauth_headers(), **headers}

    def error_from_reply(self, reply: Reply) -> JobServiceError:
        raise NotImplementedError

    def progress_flow(self, job_id: str) -> Flow[JobProgress]:
        """The requests that read a job's progress."""
        raise NotImplementedError

    def cancel_flow(self, job_id: str) -> Flow[JobProgress]:
        """The requests that cancel a job, ending with its progress."""
        raise NotImplementedError

    def unreachable(self, err: Exception) -> JobServiceError:
        """No answer at all (refused, reset, timed out): transient. Only the exception's type is kept — its
        text can carry the request URL."""
        return JobServiceError(
            503,
            "ServiceUnavailable",
            f"{self.service_label} did not answer: {type(err).__name__}",
            kind=ErrorKind.TRANSIENT,
        )

    # ---------------------------------------------------------------- the JobsHook contract, through flows

    def progress(self, job_id: str) -> JobProgress:
        return self.run(self.progress_flow(job_id))

    async def aprogress(self, job_id: str) -> JobProgress:
        return await self.arun(self.progress_flow(job_id))

    def cancel(self, job_id: str) -> JobProgress:
        return self.run(self.cancel_flow(job_id))

    async def acancel(self, job_id: str) -> JobProgress:
        return await self.arun(self.cancel_flow(job_id))

    # ---------------------------------------------------------------- drivers

    def run(self, flow: Flow[T]) -> T:
        steps = _Steps(flow)
        while steps.call is not None:
            steps.advance_with(self._outcome(steps.call))
        return steps.result

    async def arun(self, flow: Flow[T]) -> T:
        steps = _Steps(flow)
        while steps.call is not None:
            steps.advance_with(await self._aoutcome(steps.call))
        return steps.result

    def _outcome(self, call: Call) -> Reply | JobServiceError:
        try:
            return self.send(call)
        except JobServiceError as err:
            return err

    async def _aoutcome(self, call: Call) -> Reply | JobServiceError:
        try:
            return await self.asend(call)
        except JobServiceError as err:
            return err

    def send(self, call: Call) -> Reply:
        if not call.repeatable:
            return self._send_once(call)
        from airflow_iot_jobs.retries import retrying

        return retrying()(self._send_once, call)

    async def asend(self, call: Call) -> Reply:
        if not call.repeatable:
            return await self._asend_once(call)
        from airflow_iot_jobs.retries import async_retrying

        async for attempt in async_retrying():
            with attempt:
                return await self._asend_once(call)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send_once(self, call: Call) -> Reply:
        import httpx

        url = _url(self.endpoint(), call.path, {**self.fixed_params(), **call.params})
        content, headers = _body(call)
        headers = self.request_headers(call.method, str(url), content, headers)
        try:
            response = self.client().request(call.method, url, content=content, headers=headers)
        except httpx.HTTPError as err:
            raise self.unreachable(err) from None
        return self._checked(Reply(response.status_code, response.headers, response.content))

    async def _asend_once(self, call: Call) -> Reply:
        import httpx

        client = await self.aclient()
        url = _url(await self.aendpoint(), call.path, {**self.fixed_params(), **call.params})
        content, headers = _body(call)
        headers = await self.arequest_headers(call.method, str(url), content, headers)
        try:
            response = await client.request(call.method, url, content=content, headers=headers)
        except httpx.HTTPError as err:
            raise self.unreachable(err) from None
        return self._checked(Reply(response.status_code, response.headers, response.content))

    def _checked(self, reply: Reply) -> Reply:
        if reply.status >= 400:
            raise self.error_from_reply(reply)
        return reply

    # ---------------------------------------------------------------- clients

    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=HTTP_TIMEOUT, verify=shared_tls_context())
        return self._client

    async def aclient(self) -> httpx.AsyncClient:
        if self._aclient is None:
            import httpx

            tls = await asyncio.to_thread(shared_tls_context)  # reading the CA bundle must not block the loop
            self._aclient = httpx.AsyncClient(timeout=HTTP_TIMEOUT, verify=tls)
        return self._aclient

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ConnectionHttpJobsHook(HttpJobsHook, abstract=True):
    """An HTTP hook whose settings come from one Airflow connection: ``settings_class.from_connection(conn,
    extra)`` builds them (with ``endpoint`` and ``secrets``), sync or async without a blocking call; the secrets are
    registered with the masker."""

    settings_class: ClassVar[Any]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings: Any = None

    @property
    def conn_id(self) -> str:
        return getattr(self, self.backend.conn_param)

    @property
    def settings(self) -> Any:
        if self._settings is None:
            conn = self.get_connection(self.conn_id)
            self._settings = self.settings_class.from_connection(conn, conn.extra_dejson)
            from airflow.sdk.log import mask_secret

            for secret in self._settings.secrets:
                mask_secret(secret)
        return self._settings

    async def asettings(self) -> Any:
        if self._settings is None:
            from airflow.sdk import BaseHook

            conn = await BaseHook.aget_connection(self.conn_id)
            # json.loads, not conn.extra_dejson: the property masks secrets through a sync supervisor call.
            extra = json.loads(conn.extra) if conn.extra else {}
            self._settings = self.settings_class.from_connection(conn, extra)
        return self._settings

    def endpoint(self) -> str:
        return self.settings.endpoint

    async def aendpoint(self) -> str:
        return (await self.asettings()).endpoint
