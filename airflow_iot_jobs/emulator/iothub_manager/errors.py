"""IoTHub Manager errors as the service puts them on the wire (reference §4.5, §4.6).

The web service's ``ExceptionsFilterAttribute`` turns every exception an action throws into
``{"Message": "An error has occurred.", "ExceptionMessage": <e.Message>, "ExceptionType": <e.GetType().FullName>}``
(a 500 also carries ``StackTrace``) with the status of its exception family:

=========================================================================== ======
exception                                                                   status
=========================================================================== ======
ResourceNotFoundException                                                   404
ConflictingResourceException, ResourceOutOfDateException, ETag mismatch     409
BadRequestException, ArgumentException (and subclasses), InvalidInputException 400
NotAuthorizedException                                                      403
anything else (NotSupportedException, NullReferenceException, IoT Hub SDK)  500
=========================================================================== ======

The auth middleware answers before any action: 401 ``{"Error": "Authentication required"}``. An unknown route
or verb gets ASP.NET Core MVC's bare 404 (no body).

What an IoT Hub error becomes (the service calls the hub through the C# service SDK, whose exceptions the
filter does not name, so this mapping is inferred, see README): hub 400 -> ``System.ArgumentException`` (400),
hub 404 -> ``ResourceNotFoundException`` (404), hub 409 ``JobAlreadyExists`` -> ``ConflictingResourceException``
(409, as issue 14 asks), hub 412 -> ``ResourceOutOfDateException`` (409), hub 429 ->
``Microsoft.Azure.Devices.Common.Exceptions.IotHubThrottledException`` (500: the filter has no throttling
branch), anything else -> ``Microsoft.Azure.Devices.Common.Exceptions.IotHubException`` (500).
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_iot_jobs.emulator.http import Response
from airflow_iot_jobs.emulator.iothub.errors import IoTHubError

MESSAGE = "An error has occurred."
SERVICES_NS = "Microsoft.Azure.IoTSolutions.IotHubManager.Services.Exceptions"
SDK_NS = "Microsoft.Azure.Devices.Common.Exceptions"

NOT_FOUND = f"{SERVICES_NS}.ResourceNotFoundException"
CONFLICT = f"{SERVICES_NS}.ConflictingResourceException"
OUT_OF_DATE = f"{SERVICES_NS}.ResourceOutOfDateException"
NOT_AUTHORIZED = f"{SERVICES_NS}.NotAuthorizedException"
ARGUMENT = "System.ArgumentException"
ARGUMENT_NULL = "System.ArgumentNullException"
ARGUMENT_OUT_OF_RANGE = "System.ArgumentOutOfRangeException"
NOT_SUPPORTED = "System.NotSupportedException"
NULL_REFERENCE = "System.NullReferenceException"
THROTTLED = f"{SDK_NS}.IotHubThrottledException"
HUB_EXCEPTION = f"{SDK_NS}.IotHubException"
GENERIC = "System.Exception"

#: The status the exceptions filter gives each exception type (the rest: 500).
STATUS_BY_TYPE = {
    NOT_FOUND: 404,
    CONFLICT: 409,
    OUT_OF_DATE: 409,
    ARGUMENT: 400,
    ARGUMENT_NULL: 400,
    ARGUMENT_OUT_OF_RANGE: 400,
    f"{SERVICES_NS}.BadRequestException": 400,
    f"{SERVICES_NS}.InvalidInputException": 400,
    NOT_AUTHORIZED: 403,
}

_STACK = "   at Microsoft.Azure.IoTSolutions.IotHubManager.WebService.v1.Controllers.JobsController"


class ManagerError(Exception):
    """An exception thrown inside a controller action: its .NET type decides the status."""

    def __init__(self, exception_type: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{exception_type}: {message}")
        self.exception_type = exception_type
        self.message = message
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return STATUS_BY_TYPE.get(self.exception_type, 500)

    def to_response(self) -> Response:
        return error_body(self.status, self.exception_type, self.message, self.headers)


def error_body(status: int, exception_type: str, message: str, headers: Mapping[str, str]) -> Response:
    body = {"Message": MESSAGE, "ExceptionMessage": message, "ExceptionType": exception_type}
    if status >= 500:
        body["StackTrace"] = _STACK
    return Response.json(body, status=status, headers=headers)


def error_response(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    """The envelope for errors the app did not raise itself (injected faults, bad framing)."""
    exception_type = {400: ARGUMENT, 404: NOT_FOUND, 409: CONFLICT, 403: NOT_AUTHORIZED}.get(status, GENERIC)
    return error_body(status, exception_type, message, headers)


def from_hub(exc: IoTHubError) -> ManagerError:
    """What the service's exception filter makes of an IoT Hub error (inferred mapping, see module doc)."""
    message = f"ErrorCode:{exc.error_code_name};{exc.message}"
    if exc.status == 400:
        return ManagerError(ARGUMENT, message)
    if exc.status == 404:
        return ManagerError(NOT_FOUND, message)
    if exc.status == 409:
        return ManagerError(CONFLICT, message)
    if exc.status == 412:
        return ManagerError(OUT_OF_DATE, message)
    if exc.status == 429:
        return ManagerError(THROTTLED, message)
    return ManagerError(HUB_EXCEPTION, message)


def not_supported() -> ManagerError:
    """``throw new NotSupportedException()``: a body with neither ``UpdateTwin`` nor ``MethodParameter``."""
    return ManagerError(NOT_SUPPORTED, "Specified method is not supported.")


def null_reference() -> ManagerError:
    """The action dereferencing a null model: what an unreadable body (bad JSON, a wrong type) leads to."""
    return ManagerError(NULL_REFERENCE, "Object reference not set to an instance of an object.")


def argument(message: str) -> ManagerError:
    return ManagerError(ARGUMENT, message)


def not_authorized(action: str) -> ManagerError:
    return ManagerError(NOT_AUTHORIZED, f"Current user is not authorized to perform this action: '{action}'")


def authentication_required() -> Response:
    """The auth middleware's answer (it runs before MVC, so not the exceptions filter's envelope)."""
    return Response.json({"Error": "Authentication required"}, status=401)


def route_not_found() -> Response:
    """ASP.NET Core MVC with attribute routes: no action for the path and verb -> 404 without a body."""
    return Response(404)
