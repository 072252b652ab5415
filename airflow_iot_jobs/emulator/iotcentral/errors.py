"""IoT Central errors as the service puts them on the wire (reference §1.3, spec ``Error``/``ErrorDetails``).

Body ``{"error": {"code", "message", "requestId", "time"}}`` with ``time`` in RFC 1123 (as the Date header), and
the code again in the ``x-ms-error-code`` header. The codes are the service's generic ones; where the docs name
none for a case, the factory below says it is inferred.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate

from airflow_iot_jobs.emulator.http import Response


class CentralError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def to_response(self, now: float | None = None) -> Response:
        request_id = str(uuid.uuid4())
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "requestId": request_id,
                "time": formatdate(time.time() if now is None else now, usegmt=True),
            }
        }
        headers = {"x-ms-error-code": self.code, "x-ms-request-id": request_id, **self.headers}
        return Response.json(body, status=self.status, headers=headers)


def error_response(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    """The envelope for errors the app did not raise itself (injected faults, bad framing)."""
    return CentralError(status, code, message, headers).to_response()


def bad_request(message: str) -> CentralError:
    return CentralError(400, "BadRequest", message)


# Inferred: ARM's codes for a missing / unknown api-version (the Central docs name none).
def missing_api_version() -> CentralError:
    return CentralError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")


def invalid_api_version(given: str, supported: str) -> CentralError:
    return CentralError(
        400,
        "InvalidApiVersionParameter",
        f"The api-version '{given}' is invalid. The supported version is '{supported}'.",
    )


def unauthorized(message: str = "Unauthorized") -> CentralError:
    return CentralError(401, "Unauthorized", message)


def not_found(kind: str, resource_id: str) -> CentralError:
    return CentralError(404, "NotFound", f"{kind} with id '{resource_id}' was not found.")


def route_not_found(path: str) -> CentralError:
    return CentralError(404, "NotFound", f"The requested resource '{path}' was not found.")


def method_not_allowed(method: str, allowed: list[str]) -> CentralError:
    return CentralError(
        405,
        "MethodNotAllowed",
        f"The HTTP method '{method}' is not supported for this resource.",
        headers={"Allow": ", ".join(sorted(set(allowed)))},
    )


# Inferred: 409 for a job id that is taken (PUT /jobs/{id} is "create", not "create or replace").
def already_exists(kind: str, resource_id: str) -> CentralError:
    return CentralError(409, "Conflict", f"{kind} with id '{resource_id}' already exists.")


def conflict(message: str) -> CentralError:
    return CentralError(409, "Conflict", message)


# The limit is documented (concepts-quotas-limits.md: 5 concurrent job executions; howto-manage-devices-in-bulk:
# "You can't run more than five jobs at the same time"), the answer is not: 429 TooManyJobs is inferred, chosen so
# that a client backs off and retries, as it should when a slot is taken.
def too_many_jobs(limit: int) -> CentralError:
    return CentralError(
        429, "TooManyJobs", f"You can't run more than {limit} jobs at the same time in this application."
    )


# The limit is documented (concepts-quotas-limits.md: 20 API requests per second per application, besides the
# query API), the answer is inferred: 429 TooManyRequests with Retry-After, as Azure front ends throttle.
def too_many_requests(wait: float, limit: int) -> CentralError:
    from airflow_iot_jobs.emulator.throttle import retry_after

    return CentralError(
        429,
        "TooManyRequests",
        f"Rate limit exceeded: this application accepts {limit} API requests per second.",
        headers={"Retry-After": retry_after(wait)},
    )


def unsupported_media_type(content_type: str, allowed: tuple[str, ...]) -> CentralError:
    return CentralError(
        415,
        "UnsupportedMediaType",
        f"Content type '{content_type}' is not supported; use {' or '.join(allowed)}.",
    )


def server_error(message: str = "An unexpected error occurred in the emulator.") -> CentralError:
    return CentralError(500, "InternalServerError", message)
