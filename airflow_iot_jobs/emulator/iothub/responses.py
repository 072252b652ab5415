"""IoT Hub HTTP handlers: parse and validate requests, call the state, shape JSON as the service does."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_iot_jobs.emulator.clock import parse_iso
from airflow_iot_jobs.emulator.fleet import payload_size
from airflow_iot_jobs.emulator.http import BadJSON, Handler, Request, Response
from airflow_iot_jobs.emulator.iothub import errors
from airflow_iot_jobs.emulator.iothub.auth import SasAuthenticator, require
from airflow_iot_jobs.emulator.iothub.errors import IoTHubError
from airflow_iot_jobs.emulator.iothub.importexport.job_properties import parse_job_properties
from airflow_iot_jobs.emulator.iothub.models import (
    DEFAULT_MAX_EXECUTION_SECONDS,
    JOB_TYPES,
    IoTHubState,
    JobSpec,
)
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iothub import MAX_QUERY_LENGTH, parse_condition, parse_query
from airflow_iot_jobs.validation.iothub import (
    MAX_DESIRED_BYTES,
    MAX_JOB_ID_LENGTH,
    MAX_TAGS_BYTES,
    MAX_TWIN_DEPTH,
)
from airflow_iot_jobs.validation.iothub import MAX_METHOD_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub.importexport.jobs import ImportExportJobs
    from airflow_iot_jobs.emulator.throttle import Throttle

MAX_PAGE_SIZE = 100

JOB_RIGHTS = {"ServiceConnect", "RegistryWrite"}
REGISTRY_READ_RIGHTS = {"RegistryRead", "RegistryWrite"}  # export, list and get import/export jobs
REGISTRY_WRITE_RIGHTS = {"RegistryWrite"}  # import, cancel
QUERY_RIGHTS = {"ServiceConnect", "RegistryRead"}
TWIN_RIGHTS = {"ServiceConnect"}  # "access twins to update tags and desired properties" (IoT Hub permissions)


def _depth(value: Any) -> int:
    if isinstance(value, Mapping):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


class _Tokens:
    """Opaque continuation tokens, bound to the query they continue (another query's token is refused)."""

    @staticmethod
    def encode(scope: str, after: Any) -> str:
        raw = json.dumps({"s": scope, "a": after}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @staticmethod
    def decode(token: str, scope: str) -> Any:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("s") != scope or "a" not in data:
                raise ValueError("token does not belong to this query")
            return data["a"]
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise errors.argument_invalid(f"Invalid continuation token '{token[:64]}'") from None

    @staticmethod
    def scope(*parts: str) -> str:
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


class IoTHubResponses:
    """The IoT Hub app: ``__call__(Request) -> Response`` (auth, api-version, routing, error envelope)."""

    def __init__(
        self,
        state: IoTHubState,
        authenticator: SasAuthenticator,
        unknown_job_mode: str = "unknown",
        jobs_query_format: str = "array",
        import_export: ImportExportJobs | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        if unknown_job_mode not in ("unknown", "404"):
            raise ValueError("unknown_job_mode must be 'unknown' or '404'")
        if jobs_query_format not in ("array", "spec"):
            raise ValueError("jobs_query_format must be 'array' or 'spec'")
        from airflow_iot_jobs.emulator.iothub.urls import build_router

        self.state = state
        self.auth = authenticator
        self.unknown_job_mode = unknown_job_mode
        self.jobs_query_format = jobs_query_format
        self.import_export = import_export
        self.throttle = throttle  # None: no tier, nothing throttled
        self.router = build_router(self)

    def throttled(self, kind: str | None, handler: Handler) -> Handler:
        """``handler`` behind the tier's ``kind`` bucket (checked per request: the throttle may be set later)."""
        if kind is None:
            return handler

        def checked(request: Request) -> Response:
            self.check_throttle(kind)
            return handler(request)

        return checked

    def check_throttle(self, kind: str) -> None:
        """Raise 429 ``ThrottlingException`` if the tier's ``kind`` bucket ("jobs", "queries") is empty."""
        if self.throttle is not None:
            wait = self.throttle.take(kind)
            if wait is not None:
                raise errors.throttled(wait)

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        """IoT Hub's envelope for errors the app itself did not raise (injected faults, bad framing)."""
        numeric = {500: 500001, 503: 503000, 429: 429001}.get(status, status * 1000)
        return IoTHubError(status, code, numeric, message, headers=headers).to_response(self.state.now())

    def __call__(self, request: Request) -> Response:
        try:
            request.context["principal"] = self.auth.authenticate(
                request.header("Authorization"), request.path
            )
            if not request.query.get("api-version", "").strip():
                raise errors.invalid_protocol_version("The api-version query parameter is required")
            return self.router.dispatch(
                request,
                method_not_allowed=errors.method_not_allowed,
                route_not_found=errors.route_not_found,
            )
        except IoTHubError as exc:
            return exc.to_response(self.state.now())
        except BadJSON as exc:
            return errors.argument_invalid(str(exc)).to_response(self.state.now())
        except Exception:
            return errors.server_error().to_response()

    # -- paging ----------------------------------------------------------------------------------

    @staticmethod
    def _page_size(request: Request) -> int:
        raw = request.header("x-ms-max-item-count")
        if raw is None or not raw.strip():
            raw = request.query.get("pageSize")
        if raw is None or not raw.strip():
            return MAX_PAGE_SIZE
        try:
            size = int(raw.strip())
        except ValueError:
            raise errors.argument_invalid(f"Page size '{raw}' is not an integer") from None
        if size < 1:
            raise errors.argument_invalid(f"Page size must be positive, got {size}")
        return min(size, MAX_PAGE_SIZE)

    @staticmethod
    def _continuation(request: Request) -> str | None:
        token = request.header("x-ms-continuation")
        if token is None or not token.strip():
            token = request.query.get("continuationToken")
        return token.strip() if token and token.strip() else None

    @staticmethod
    def _paged(items: list[Any], item_type: str, scope: str, next_key: Any | None) -> Response:
        headers = {"x-ms-item-type": item_type}
        if next_key is not None:
            headers["x-ms-continuation"] = _Tokens.encode(scope, next_key)
        return Response.json(items, headers=headers)

    # -- scheduled jobs ----------------------------------------------------------------------------

    def create_job(self, request: Request) -> Response:
        require(request.context["principal"], JOB_RIGHTS)
        spec = self._job_spec(request.params["job_id"], request.json())
        return Response.json(self.state.create_job(spec))

    def get_job(self, request: Request) -> Response:
        require(request.context["principal"], JOB_RIGHTS)
        job_id = request.params["job_id"]
        body = self.state.get_job(job_id)
        if body is None:
            if self.unknown_job_mode == "404":
                raise errors.job_not_found(job_id)
            # The real service answers 200 with "unknown" for ids that are not v2 jobs (contract §1.5).
            body = {"jobId": job_id, "type": "unknown", "status": "unknown"}
        return Response.json(body)

    def cancel_job(self, request: Request) -> Response:
        require(request.context["principal"], JOB_RIGHTS)
        return Response.json(self.state.cancel_job(request.params["job_id"]))

    def query_jobs(self, request: Request) -> Response:
        require(request.context["principal"], JOB_RIGHTS)
        job_type = request.query.get("jobType") or None
        job_status = request.query.get("jobStatus") or None
        page_size = self._page_size(request)
        scope = _Tokens.scope("jobs", job_type or "", job_status or "")
        token = self._continuation(request)
        after = None if token is None else _Tokens.decode(token, scope)
        if after is not None and not isinstance(after, int):
            raise errors.argument_invalid("Invalid continuation token")
        page = self.state.query_jobs(job_type, job_status, page_size, after)
        if self.jobs_query_format == "spec":
            # The spec's QueryResult object; the real service does not answer like this (contract §0.2).
            body: dict[str, Any] = {"type": "jobResponse", "items": page.items}
            if page.next_key is not None:
                body["continuationToken"] = _Tokens.encode(scope, page.next_key)
            return Response.json(body)
        return self._paged(page.items, "JobResponse", scope, page.next_key)

    def job_spec(self, job_id: str, body: Any) -> JobSpec:
        """Validate a ``PUT /jobs/v2/{id}`` JobRequest (raises :class:`IoTHubError`); also the validation of
        jobs posted to the IoTHub Manager facade, which calls the hub like the real service's job client."""
        return self._job_spec(job_id, body)

    def _job_spec(self, job_id: str, body: Any) -> JobSpec:
        if not job_id or len(job_id) > MAX_JOB_ID_LENGTH:
            raise errors.argument_invalid(f"Job id must be 1 to {MAX_JOB_ID_LENGTH} characters long")
        if not isinstance(body, dict):
            raise errors.generic_bad_request("The request body must be a JSON object (JobRequest)")
        body_id = body.get("jobId")
        if body_id is not None and body_id != job_id:
            raise errors.argument_invalid(
                f"jobId '{body_id}' in the body does not match '{job_id}' in the path"
            )
        job_type = body.get("type")
        if job_type not in JOB_TYPES:
            raise errors.generic_bad_request(
                f"Job type {job_type!r} is not supported; type must be one of {', '.join(JOB_TYPES)}"
            )
        query_condition = body.get("queryCondition")
        if not isinstance(query_condition, str) or not query_condition.strip():
            raise errors.generic_bad_request("queryCondition is required; use '*' to target all devices")
        if len(query_condition) > MAX_QUERY_LENGTH:
            raise errors.argument_invalid(
                f"queryCondition is {len(query_condition)} characters long; the maximum is {MAX_QUERY_LENGTH}"
            )
        try:
            condition = parse_condition(query_condition)
        except QuerySyntaxError as exc:
            raise errors.argument_invalid(f"queryCondition is invalid: {exc.reason}") from None
        start_time = body.get("startTime")
        if start_time is not None:
            if not isinstance(start_time, str):
                raise errors.argument_invalid("startTime must be an ISO 8601 date-time string")
            try:
                start_time = parse_iso(start_time)
            except ValueError:
                raise errors.argument_invalid(
                    f"startTime '{start_time}' is not an ISO 8601 date-time"
                ) from None
        max_execution = body.get("maxExecutionTimeInSeconds")
        if max_execution is None:
            max_execution = DEFAULT_MAX_EXECUTION_SECONDS
        elif isinstance(max_execution, bool) or not isinstance(max_execution, int) or max_execution < 1:
            raise errors.argument_invalid("maxExecutionTimeInSeconds must be a positive integer")
        method = twin = None
        if job_type == "scheduleDeviceMethod":
            method = self._validate_method(body.get("cloudToDeviceMethod"))
        else:
            twin = self._validate_twin(body.get("updateTwin"))
        return JobSpec(
            job_id=job_id,
            job_type=job_type,
            query_condition=query_condition,
            condition=condition,
            start_time=start_time,
            max_execution_seconds=max_execution,
            cloud_to_device_method=method,
            update_twin=twin,
        )

    @staticmethod
    def _validate_method(method: Any) -> dict[str, Any]:
        if not isinstance(method, dict):
            raise errors.generic_bad_request("cloudToDeviceMethod is required for scheduleDeviceMethod jobs")
        name = method.get("methodName")
        if not isinstance(name, str) or not name.strip():
            raise errors.generic_bad_request("cloudToDeviceMethod.methodName is required")
        if "payload" in method and payload_size(method["payload"]) > MAX_PAYLOAD_BYTES:
            raise errors.argument_invalid(
                f"cloudToDeviceMethod.payload is {payload_size(method['payload'])} bytes; "
                f"the maximum is {MAX_PAYLOAD_BYTES} (128 KB)"
            )
        # Ranges of the direct-method API (inferred to hold for jobs too).
        for field, low, high in (("responseTimeoutInSeconds", 5, 300), ("connectTimeoutInSeconds", 0, 300)):
            value = method.get(field)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise errors.argument_invalid(
                    f"cloudToDeviceMethod.{field} must be an integer in [{low}, {high}]"
                )
        return method

    @staticmethod
    def _validate_twin(twin: Any, name: str = "updateTwin") -> dict[str, Any]:
        if not isinstance(twin, dict):
            raise errors.generic_bad_request("updateTwin is required for scheduleUpdateTwin jobs")
        etag = twin.get("etag")
        if not isinstance(etag, str) or not etag:
            raise errors.generic_bad_request(f"{name}.etag is required; use '*' to match any twin")
        tags = twin.get("tags")
        properties = twin.get("properties")
        if tags is not None and not isinstance(tags, dict):
            raise errors.argument_invalid(f"{name}.tags must be an object")
        if properties is not None and not isinstance(properties, dict):
            raise errors.argument_invalid(f"{name}.properties must be an object")
        properties = properties or {}
        if properties.get("reported") is not None:
            raise errors.argument_invalid(f"{name} cannot change reported properties")
        desired = properties.get("desired")
        if desired is not None and not isinstance(desired, dict):
            raise errors.argument_invalid(f"{name}.properties.desired must be an object")
        for section_name, section, limit in (
            ("tags", tags, MAX_TAGS_BYTES),
            ("properties.desired", desired, MAX_DESIRED_BYTES),
        ):
            if section is None:
                continue
            if _depth(section) > MAX_TWIN_DEPTH:
                raise errors.argument_invalid(
                    f"{name}.{section_name} is nested deeper than {MAX_TWIN_DEPTH} levels"
                )
            if payload_size(section) > limit:
                raise errors.argument_invalid(f"{name}.{section_name} is larger than {limit // 1024} KB")
        return twin

    # -- import/export jobs ------------------------------------------------------------------------

    def _import_export(self) -> ImportExportJobs:
        if self.import_export is None:
            raise errors.route_not_found("/jobs")
        return self.import_export

    def create_import_export_job(self, request: Request) -> Response:
        require(request.context["principal"], REGISTRY_READ_RIGHTS)
        spec = parse_job_properties(request.json())
        if spec.job_type == "import":
            require(request.context["principal"], REGISTRY_WRITE_RIGHTS)
        return Response.json(self._import_export().create(spec))

    def list_import_export_jobs(self, request: Request) -> Response:
        require(request.context["principal"], REGISTRY_READ_RIGHTS)
        return Response.json(self._import_export().list())

    def get_import_export_job(self, request: Request) -> Response:
        require(request.context["principal"], REGISTRY_READ_RIGHTS)
        return Response.json(self._import_export().get(request.params["job_id"]))

    def cancel_import_export_job(self, request: Request) -> Response:
        require(request.context["principal"], REGISTRY_WRITE_RIGHTS)
        self._import_export().cancel(request.params["job_id"])
        return Response(204)

    # -- device queries ----------------------------------------------------------------------------

    def get_twin(self, request: Request) -> Response:
        require(request.context["principal"], TWIN_RIGHTS)
        return Response.json(self.state.get_twin(request.params["device_id"]))

    def update_twin(self, request: Request) -> Response:
        """Update Twin: the body is a twin whose ``tags`` and ``properties.desired`` are merged in (``null``
        removes a key); anything else in it is ignored, as the service does."""
        require(request.context["principal"], TWIN_RIGHTS)
        body = request.json()
        if not isinstance(body, dict):
            raise errors.argument_invalid("The request body must be a twin object")
        twin = self._validate_twin({**body, "etag": "*"}, "twin")
        if_match = request.headers.get("If-Match")
        etag = None if if_match is None else if_match.strip().strip('"')
        return Response.json(self.state.update_twin(request.params["device_id"], twin, etag))

    def query_devices(self, request: Request) -> Response:
        require(request.context["principal"], QUERY_RIGHTS)
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            raise errors.argument_invalid('The request body must be {"query": "<query text>"}')
        text = body["query"]
        if len(text) > MAX_QUERY_LENGTH:
            raise errors.argument_invalid(
                f"Query is {len(text)} characters long; the maximum is {MAX_QUERY_LENGTH}"
            )
        try:
            query = parse_query(text)
        except QuerySyntaxError as exc:
            raise errors.argument_invalid(f"Query is invalid: {exc.reason}") from None
        page_size = self._page_size(request)
        scope = _Tokens.scope("devices/query", text)
        token = self._continuation(request)
        after = None if token is None else _Tokens.decode(token, scope)

        if query.source == "devices.jobs":
            if query.count:
                raise errors.argument_invalid("Aggregations are not supported on devices.jobs")
            if query.where is not None:
                twin_fields = sorted(f for f in query.where.fields() if _is_twin_field(f))
                if twin_fields:
                    raise errors.argument_invalid(
                        "Conditions on twin fields are not supported on devices.jobs: "
                        + ", ".join(twin_fields)
                    )
            if after is not None and not (
                isinstance(after, list) and len(after) == 2 and all(isinstance(p, str) for p in after)
            ):
                raise errors.argument_invalid("Invalid continuation token")
            page = self.state.query_device_jobs(
                query.where, page_size, None if after is None else tuple(after)
            )
            next_key = None if page.next_key is None else list(page.next_key)
            return self._paged(page.items, "DeviceJob", scope, next_key)

        if query.count:
            # The emulated fleet has no modules, so devices.modules counts 0.
            count = self.state.count_devices(query.where) if query.source == "devices" else 0
            return self._paged([{query.count_alias or "$1": count}], "Raw", scope, None)
        if query.source != "devices":
            return self._paged([], "Twin", scope, None)
        if after is not None and not isinstance(after, str):
            raise errors.argument_invalid("Invalid continuation token")
        page = self.state.query_devices(query.where, page_size, after)
        return self._paged(page.items, "Twin", scope, page.next_key)


def _is_twin_field(name: str) -> bool:
    path = name
    for prefix in ("devices.jobs.", "devices."):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    head = path.split(".", 1)[0].split("[", 1)[0].lower()
    return head in ("tags", "properties")
