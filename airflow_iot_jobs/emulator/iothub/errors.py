"""IoT Hub errors as the service puts them on the wire (wire contract §1.5, envelope 1).

Header ``iothub-errorcode: <Name>``; body ``{"Message": "ErrorCode:<Name>;<message>",
"ExceptionMessage": "Tracking ID:<hex>-G:0-TimeStamp:<MM/dd/yyyy HH:mm:ss>"}``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from airflow_iot_jobs.emulator.http import Response


class IoTHubError(Exception):
    def __init__(
        self,
        status: int,
        error_code_name: str,
        numeric_code: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code_name}: {message}")
        self.status = status
        self.error_code_name = error_code_name
        self.numeric_code = numeric_code
        self.message = message
        self.headers = dict(headers or {})

    def to_response(self, now: float | None = None) -> Response:
        stamp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(time.time() if now is None else now))
        body = {
            "Message": f"ErrorCode:{self.error_code_name};{self.message}",
            "ExceptionMessage": f"Tracking ID:{uuid.uuid4().hex}-G:0-TimeStamp:{stamp}",
        }
        return Response.json(
            body, status=self.status, headers={"iothub-errorcode": self.error_code_name, **self.headers}
        )


# Factories for the codes the emulator uses (numeric codes from the troubleshoot-error-codes page).


def generic_bad_request(message: str) -> IoTHubError:
    return IoTHubError(400, "GenericBadRequest", 400000, message)


def argument_invalid(message: str) -> IoTHubError:
    return IoTHubError(400, "ArgumentInvalid", 400004, message)


def invalid_protocol_version(message: str) -> IoTHubError:
    return IoTHubError(400, "InvalidProtocolVersion", 400001, message)


def unauthorized(message: str = "Unauthorized") -> IoTHubError:
    return IoTHubError(401, "IotHubUnauthorizedAccess", 401002, message)


def device_not_found(device_id: str) -> IoTHubError:
    return IoTHubError(404, "DeviceNotFound", 404001, f"Device {device_id} not registered")


def precondition_failed(message: str) -> IoTHubError:
    return IoTHubError(412, "PreconditionFailed", 412002, message)


def job_not_found(job_id: str) -> IoTHubError:
    return IoTHubError(404, "JobNotFound", 404002, f"Job with id '{job_id}' not found")


def route_not_found(path: str) -> IoTHubError:
    return IoTHubError(404, "GenericNotFound", 404000, f"The requested resource '{path}' was not found")


def method_not_allowed(method: str, allowed: list[str]) -> IoTHubError:
    return IoTHubError(
        405,
        "GenericMethodNotAllowed",
        405000,
        f"The HTTP method '{method}' is not supported for this resource",
        headers={"Allow": ", ".join(sorted(set(allowed)))},
    )


def job_already_exists(job_id: str) -> IoTHubError:
    return IoTHubError(409, "JobAlreadyExists", 409104, f"A job with id '{job_id}' already exists")


def job_run_precondition_failed(message: str) -> IoTHubError:
    return IoTHubError(412, "JobRunPreconditionFailed", 412003, message)


def max_active_jobs_exceeded(limit: int) -> IoTHubError:
    return IoTHubError(
        429,
        "ThrottlingMaxActiveJobCountExceeded",
        429004,
        f"The maximum number of active jobs ({limit}) has been reached",
    )


def throttled(wait: float) -> IoTHubError:
    """A tier's operation throttle (jobs operations or queries per minute) is exhausted: 429 with the seconds until
    the bucket has a token again."""
    from airflow_iot_jobs.emulator.throttle import retry_after

    return IoTHubError(
        429,
        "ThrottlingException",
        429001,
        "The request was throttled: the hub's operation throttle for its tier has been exceeded",
        headers={"Retry-After": retry_after(wait)},
    )


def blob_container_validation_error(message: str) -> IoTHubError:
    """An import/export job's blob container is missing, unreachable or not authorised (checked on create)."""
    return IoTHubError(400, "BlobContainerValidationError", 400008, message)


def job_quota_exceeded(message: str = "Job quota has been exceeded") -> IoTHubError:
    """A second active import/export job (one at a time on every tier)."""
    return IoTHubError(403, "JobQuotaExceeded", 403003, message)


def server_error(message: str = "An unexpected error occurred in the emulator") -> IoTHubError:
    return IoTHubError(500, "ServerError", 500001, message)
