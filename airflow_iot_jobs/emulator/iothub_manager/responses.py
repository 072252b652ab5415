"""IoTHub Manager HTTP handlers: the auth middleware, the controllers, the exceptions filter.

Every action reads and writes the IoT Hub emulator's own state (``IoTHubState``) and validates through the hub's
own request validation (``IoTHubResponses.job_spec``), the way the real service only calls the hub's job client:
a job posted here is a hub job, a hub job is listed here, and a request the hub refuses is refused here with the
hub's message, in this service's envelope and status (see ``errors``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_iot_jobs.emulator.http import BadJSON, Handler, NoRoute, Request, Response
from airflow_iot_jobs.emulator.iothub import errors as hub_errors
from airflow_iot_jobs.emulator.iothub.errors import IoTHubError
from airflow_iot_jobs.emulator.iothub.responses import MAX_PAGE_SIZE
from airflow_iot_jobs.emulator.iothub_manager import errors, models
from airflow_iot_jobs.emulator.iothub_manager.auth import AuthenticationFailed, JwtAuthority
from airflow_iot_jobs.emulator.iothub_manager.errors import ManagerError
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iothub import parse_query

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

JSON_MEDIA_TYPES = ("application/json", "text/json")

#: The names the service's device-properties whitelist lists (the seed's example answer): always reported,
#: ahead of the names found on the fleet's twins.
WHITELIST_TAGS = ("IsSimulated",)
WHITELIST_REPORTED = (
    "Protocol",
    "SupportedMethods",
    "DeviceMethodStatus",
    "FirmwareUpdateStatus",
    "Type",
    "Location",
    "Latitude",
    "Longitude",
    "Firmware",
    "Model",
)


def _query(request: Request) -> dict[str, str]:
    """Query values by lower-cased name (ASP.NET binds query parameters case-insensitively; first wins)."""
    values: dict[str, str] = {}
    for name, value in request.query.items():
        values.setdefault(name.lower(), value)
    return values


def _paths(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    names: list[str] = []
    for key, value in node.items():
        if key.startswith("$"):
            continue
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            names.extend(_paths(value, path + "."))
        else:
            names.append(path)
    return names


class ManagerResponses:
    """The IoTHub Manager web service: ``__call__(Request) -> Response``."""

    def __init__(self, hub: IoTHubEmulator, authority: JwtAuthority | None) -> None:
        from airflow_iot_jobs.emulator.iothub_manager.urls import build_router

        self.hub = hub
        self.state = hub.state
        self.authority = authority
        self.router = build_router(self)

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        return errors.error_response(status, code, message, headers)

    # -- middleware, routing, exceptions filter ------------------------------------------------------

    def authenticate(self, request: Request) -> bool:
        """The auth middleware: False when the request must be answered 401."""
        request.context["principal"] = None
        if self.authority is None or request.header("X-Source") is None:
            return True  # auth off, or a service-to-service request
        try:
            request.context["principal"] = self.authority.validate(request.header("Authorization"))
        except AuthenticationFailed:
            return False
        return True

    def __call__(self, request: Request) -> Response:
        if not self.authenticate(request):
            return errors.authentication_required()
        try:
            handler, params = self.router.resolve(request.method, request.path)
        except NoRoute:
            return errors.route_not_found()
        request.params = params
        try:
            return handler(request)
        except ManagerError as exc:
            return exc.to_response()
        except IoTHubError as exc:
            return errors.from_hub(exc).to_response()
        except Exception as exc:  # what the filter does with anything else: 500 with its message
            return ManagerError(errors.GENERIC, str(exc) or type(exc).__name__).to_response()

    @staticmethod
    def action(handler: Handler, allowed_action: str) -> Handler:
        """``[Authorize("<action>")]``: an external caller's roles must allow the action (403 otherwise)."""

        def authorized(request: Request) -> Response:
            principal = request.context.get("principal")
            if principal is not None and allowed_action not in principal.actions:
                raise errors.not_authorized(allowed_action)
            return handler(request)

        return authorized

    # -- GET /v1/jobs --------------------------------------------------------------------------------

    def list_jobs(self, request: Request) -> Response:
        query = _query(request)
        job_type = models.bind_enum(query.get("jobtype"), models.JOB_TYPES)
        job_status = models.bind_enum(query.get("jobstatus"), models.JOB_STATUSES)
        page_size = models.bind_int(query.get("pagesize"))
        now = self.state.now()
        try:
            lower = models.parse_bound(query.get("from"), -math.inf, now)
            upper = models.parse_bound(query.get("to"), math.inf, now)
        except models.BoundOutOfRange as exc:
            raise ManagerError(errors.ARGUMENT_OUT_OF_RANGE, f"{exc}\r\nParameter name: offset") from None
        if page_size is not None and page_size < 1:
            raise hub_errors.argument_invalid(f"Page size must be positive, got {page_size}")
        size = MAX_PAGE_SIZE if page_size is None else min(page_size, MAX_PAGE_SIZE)
        # jobClient.CreateQuery(type, status, pageSize) then `while (query.HasMoreResults)`: every page.
        hub_type = None if job_type is None else models.HUB_JOB_TYPE.get(job_type, str(job_type))
        hub_status = None if job_status is None else models.HUB_JOB_STATUS.get(job_status, str(job_status))
        jobs: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            page = self.state.query_jobs(hub_type, hub_status, size, after)
            jobs.extend(page.items)
            if page.next_key is None:
                break
            after = page.next_key
        body = [
            models.job_api_model(job) for job in jobs if models.within(job.get("createdTime"), lower, upper)
        ]
        return Response.json(body)

    # -- GET /v1/jobs/{jobId} -------------------------------------------------------------------------

    def get_job(self, request: Request) -> Response:
        job_id = request.params["job_id"]
        query = _query(request)
        include = models.bind_bool(query.get("includedevicedetails"))
        device_status = models.bind_enum(query.get("devicejobstatus"), models.DEVICE_JOB_STATUSES)
        job = self.state.get_job(job_id)
        if job is None:
            # What the hub answers GET /jobs/v2/{unknown}: 200, type and status "unknown" (never a 404 here).
            job = {"jobId": job_id, "type": "unknown", "status": "unknown"}
        devices = self._device_jobs(job_id, device_status) if include else None
        return Response.json(models.job_api_model(job, devices))

    def _device_jobs(self, job_id: str, device_status: int | None) -> list[dict[str, Any]]:
        """``Services/Jobs.cs``: ``select * from devices.jobs where devices.jobs.jobId = '{0}'`` (plus
        ``and devices.jobs.status = '{1}'``, the status name lower-cased), formatted in, run on the hub."""
        text = f"select * from devices.jobs where devices.jobs.jobId = '{job_id}'"
        if device_status is not None:
            names = {number: name for name, number in models.DEVICE_JOB_STATUSES.items()}
            text += f" and devices.jobs.status = '{names.get(device_status, str(device_status)).lower()}'"
        try:
            parsed = parse_query(text)
        except QuerySyntaxError as exc:
            raise hub_errors.argument_invalid(f"Query is invalid: {exc.reason}") from None
        rows: list[dict[str, Any]] = []
        after: tuple[str, str] | None = None
        while True:
            page = self.state.query_device_jobs(parsed.where, MAX_PAGE_SIZE, after)
            rows.extend(page.items)
            if page.next_key is None:
                return rows
            after = page.next_key

    # -- POST /v1/jobs --------------------------------------------------------------------------------

    def create_job(self, request: Request) -> Response:
        media_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
            return Response(415)  # [FromBody] without an input formatter for the content type
        try:
            raw = request.json()
            model = models.bind_job(raw)
        except (BadJSON, models.BindFailure):
            model = None  # the action gets null ...
        if model is None:
            raise errors.null_reference()  # ... and dereferences it
        start = model.start_time if model.start_time is not None else self.state.now()
        max_execution = (
            model.max_execution_seconds
            if model.max_execution_seconds is not None
            else models.DEFAULT_MAX_EXECUTION_SECONDS
        )
        if model.twin is not None:
            job_type, part = "scheduleUpdateTwin", {"updateTwin": models.hub_twin(model.twin)}
        elif model.method is not None:
            try:
                part = {"cloudToDeviceMethod": models.hub_method(model.method)}
            except ValueError as exc:
                raise errors.argument(str(exc)) from None
            job_type = "scheduleDeviceMethod"
        else:
            raise errors.not_supported()
        if model.job_id is None or not model.job_id.strip():
            raise ManagerError(errors.ARGUMENT_NULL, "Value cannot be null.\r\nParameter name: jobId")
        hub_request = {
            "jobId": model.job_id,
            "type": job_type,
            "queryCondition": model.query_condition,
            "startTime": models.iso_start(start),
            "maxExecutionTimeInSeconds": max_execution,
            **part,
        }
        spec = self.hub.app.job_spec(model.job_id, hub_request)
        # The controller returns new JobApiModel(<the hub's PUT answer>): the hub answers a create with only
        # jobId, type and status, so that is all the response carries (the rest is null, hence omitted).
        return Response.json(models.job_api_model(self.state.create_job(spec)))

    # -- GET /v1/deviceProperties ---------------------------------------------------------------------

    def device_properties(self, request: Request) -> Response:
        tags: set[str] = set()
        reported: set[str] = set()
        with self.state.lock:
            self.state.advance()
            for device in self.hub.fleet.devices():
                tags.update(_paths(device.doc.get("tags") or {}))
                reported.update(_paths((device.doc.get("properties") or {}).get("reported") or {}))

        def ordered(whitelist: tuple[str, ...], found: set[str]) -> list[str]:
            return list(whitelist) + sorted(found - set(whitelist))

        return Response.json(
            {
                "Tags": ordered(WHITELIST_TAGS, tags),
                "Reported": ordered(WHITELIST_REPORTED, reported),
                "$metadata": {"$type": "DeviceProperties;1", "$url": "/v1/deviceProperties"},
            }
        )
