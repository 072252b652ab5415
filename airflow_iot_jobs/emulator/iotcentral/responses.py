"""IoT Central HTTP handlers: authenticate, require ``api-version``, route, validate, call the state, answer as the
spec says (200 with the resource; 204 without a body for stop, resume and deletes; errors in Central's envelope).

Lists are paged by an absolute ``nextLink`` (the az CLI follows it as a full URL and re-sends ``api-version``,
reference §1.3), carrying an opaque ``$skiptoken`` bound to the list it continues.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from airflow_iot_jobs.emulator.http import BadJSON, Request, Response
from airflow_iot_jobs.emulator.iotcentral import errors, validation
from airflow_iot_jobs.emulator.iotcentral.auth import ApiTokenAuthenticator
from airflow_iot_jobs.emulator.iotcentral.errors import CentralError
from airflow_iot_jobs.emulator.iotcentral.models import CentralState
from airflow_iot_jobs.emulator.throttle import Throttle

API_VERSION = "2022-07-31"
PAGE_SIZE = 100  # inferred: Central documents no page size for these lists
SKIP_TOKEN = "$skiptoken"
MERGE_PATCH = "application/merge-patch+json"


def _media_type(request: Request) -> str:
    return (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()


class CentralResponses:
    """The IoT Central app: ``__call__(Request) -> Response``."""

    def __init__(
        self,
        state: CentralState,
        authenticator: ApiTokenAuthenticator,
        page_size: int = PAGE_SIZE,
        throttle: Throttle | None = None,
    ) -> None:
        from airflow_iot_jobs.emulator.iotcentral.urls import build_router

        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.state = state
        self.auth = authenticator
        self.page_size = page_size
        self.throttle = throttle  # None: no tier, nothing throttled
        self.router = build_router(self)

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        return CentralError(status, code, message, headers).to_response(self.state.now())

    def __call__(self, request: Request) -> Response:
        try:
            request.context["principal"] = self.auth.authenticate(request.header("Authorization"))
            if self.throttle is not None:
                wait = self.throttle.take("requests")
                if wait is not None:
                    raise errors.too_many_requests(wait, int(self.throttle.limits["requests"].count))
            version = request.query.get("api-version", "").strip()
            if not version:
                raise errors.missing_api_version()
            if version != API_VERSION:
                raise errors.invalid_api_version(version, API_VERSION)
            return self.router.dispatch(
                request,
                method_not_allowed=errors.method_not_allowed,
                route_not_found=errors.route_not_found,
            )
        except CentralError as exc:
            return exc.to_response(self.state.now())
        except BadJSON as exc:
            return errors.bad_request(f"{exc}.").to_response(self.state.now())
        except Exception:
            return errors.server_error().to_response(self.state.now())

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _id(request: Request, name: str) -> str:
        return validation.check_id(request.params[name], name)

    def _page(self, request: Request, scope: str, items: list[tuple[Any, dict[str, Any]]]) -> Response:
        """One page of ``(key, item)`` pairs (ascending keys) after the request's skip token."""
        token = request.query.get(SKIP_TOKEN)
        if token:
            after = self._decode(token, scope)
            items = [(key, item) for key, item in items if key > after]
        page = items[: self.page_size]
        body: dict[str, Any] = {"value": [item for _, item in page]}
        if len(items) > self.page_size:
            host = request.header("Host") or "127.0.0.1"
            query = urlencode({"api-version": API_VERSION, SKIP_TOKEN: self._encode(scope, page[-1][0])})
            body["nextLink"] = f"http://{host}{request.path}?{query}"
        return Response.json(body)

    @staticmethod
    def _encode(scope: str, after: Any) -> str:
        raw = json.dumps({"s": scope, "a": after}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @staticmethod
    def _decode(token: str, scope: str) -> Any:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(data, dict) or data.get("s") != scope or "a" not in data:
                raise ValueError
            return data["a"]
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise errors.bad_request(f"{SKIP_TOKEN}: '{token[:64]}' is not a token of this list.") from None

    @staticmethod
    def _no_content() -> Response:
        return Response(204)

    # -- jobs ------------------------------------------------------------------------------------------

    def list_jobs(self, request: Request) -> Response:
        return self._page(request, "jobs", self.state.list_jobs())

    def get_job(self, request: Request) -> Response:
        with self.state.lock:
            return Response.json(self.state.job(self._id(request, "jobId")).to_json())

    def create_job(self, request: Request) -> Response:
        job_id = self._id(request, "jobId")
        body = validation.check_job(request.json())
        with self.state.lock:
            return Response.json(self.state.create_job(job_id, body).to_json())

    def get_job_devices(self, request: Request) -> Response:
        job_id = self._id(request, "jobId")
        with self.state.lock:
            rows = self.state.job(job_id).device_rows()
        return self._page(request, f"jobs/{job_id}/devices", [(row["id"], row) for row in rows])

    def rerun_job(self, request: Request) -> Response:
        job_id = self._id(request, "jobId")
        rerun_id = request.params["rerunId"]  # the spec gives rerunId no pattern
        with self.state.lock:
            return Response.json(self.state.rerun(job_id, rerun_id).to_json())

    def resume_job(self, request: Request) -> Response:
        self.state.resume(self._id(request, "jobId"))
        return self._no_content()

    def stop_job(self, request: Request) -> Response:
        self.state.stop(self._id(request, "jobId"))
        return self._no_content()

    # -- scheduled jobs --------------------------------------------------------------------------------

    def list_scheduled_jobs(self, request: Request) -> Response:
        return self._page(request, "scheduledJobs", self.state.list_scheduled_jobs())

    def get_scheduled_job(self, request: Request) -> Response:
        with self.state.lock:
            record = self.state.scheduled_job(self._id(request, "scheduledJobId"))
            return Response.json(self.state.scheduled_json(record))

    def put_scheduled_job(self, request: Request) -> Response:
        scheduled_job_id = self._id(request, "scheduledJobId")
        body = validation.check_scheduled_job(request.json())
        return Response.json(self.state.put_scheduled_job(scheduled_job_id, body))

    def patch_scheduled_job(self, request: Request) -> Response:
        scheduled_job_id = self._id(request, "scheduledJobId")
        if _media_type(request) != MERGE_PATCH:  # the spec: consumes only application/merge-patch+json
            raise errors.unsupported_media_type(_media_type(request) or "(none)", (MERGE_PATCH,))
        patch = request.json()
        if not isinstance(patch, dict):
            raise errors.bad_request("scheduledJob: the patch must be a JSON object.")
        with self.state.lock:
            merged = self.state.patch_scheduled_job(scheduled_job_id, patch)
            body = validation.check_scheduled_job(merged)
            return Response.json(self.state.put_scheduled_job(scheduled_job_id, body))

    def delete_scheduled_job(self, request: Request) -> Response:
        self.state.delete_scheduled_job(self._id(request, "scheduledJobId"))
        return self._no_content()

    def list_scheduled_job_jobs(self, request: Request) -> Response:
        scheduled_job_id = self._id(request, "scheduledJobId")
        with self.state.lock:
            self.state.scheduled_job(scheduled_job_id)
            jobs = self.state.list_jobs(scheduled_job_id)
        return self._page(request, f"scheduledJobs/{scheduled_job_id}/jobs", jobs)

    # -- device groups ---------------------------------------------------------------------------------

    def list_device_groups(self, request: Request) -> Response:
        return self._page(request, "deviceGroups", self.state.list_groups())

    def get_device_group(self, request: Request) -> Response:
        with self.state.lock:
            return Response.json(self.state.group(self._id(request, "deviceGroupId")).to_json())

    def put_device_group(self, request: Request) -> Response:
        group_id = self._id(request, "deviceGroupId")
        body = validation.check_device_group(request.json())
        return Response.json(self.state.put_group(group_id, body))

    def patch_device_group(self, request: Request) -> Response:
        group_id = self._id(request, "deviceGroupId")
        media_type = _media_type(request)
        allowed = ("application/json", MERGE_PATCH)
        if media_type not in allowed:  # the spec: consumes application/json and application/merge-patch+json
            raise errors.unsupported_media_type(media_type or "(none)", allowed)
        patch = request.json()
        if not isinstance(patch, dict):
            raise errors.bad_request("deviceGroup: the patch must be a JSON object.")
        with self.state.lock:
            current = self.state.group(group_id).body
            merged = {**current, **{k: v for k, v in patch.items() if k not in ("id", "etag")}}
            merged = {k: v for k, v in merged.items() if v is not None}
            body = validation.check_device_group(merged)
            return Response.json(self.state.put_group(group_id, body))

    def delete_device_group(self, request: Request) -> Response:
        self.state.delete_group(self._id(request, "deviceGroupId"))
        return self._no_content()

    def get_device_group_devices(self, request: Request) -> Response:
        group_id = self._id(request, "deviceGroupId")
        return self._page(request, f"deviceGroups/{group_id}/devices", self.state.group_devices(group_id))
