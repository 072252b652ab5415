"""AWS errors as restJson services put them on the wire.

``x-amzn-ErrorType: <Code>`` (botocore reads the code from it, ignoring anything after a ``:``), a JSON body
``{"message": ...}`` plus the error shape's other members (``resourceId``, ``resourceArn``), and
``x-amzn-RequestId``. The status is the model's ``error.httpStatusCode`` for the service that answers (e.g.
``ThrottlingException`` is 400 in ``iot`` and 429 in ``iot-jobs-data``); the front door's errors (authentication)
carry their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.emulator.http import Response

#: The shared fault injector's codes -> the AWS error a throttled / failing AWS endpoint answers with.
FAULT_CODES = {
    "ServerError": "InternalFailureException",
    "ServiceUnavailable": "ServiceUnavailableException",
    "ThrottlingException": "ThrottlingException",
    "BadRequest": "SerializationException",
}


class AwsError(Exception):
    def __init__(
        self,
        code: str,
        message: str | None,
        status: int | None = None,
        fields: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def to_response(self, service: str) -> Response:
        from airflow_iot_jobs.emulator.aws.wire import error_status

        status = self.status or error_status(service, self.code) or 400
        body: dict[str, Any] = {"message": self.message, **self.fields}
        headers = {
            "x-amzn-ErrorType": self.code,
            "x-amzn-RequestId": str(uuid.uuid4()),
            **self.headers,
        }
        return Response.json(body, status=status, headers=headers)


def invalid_request(message: str) -> AwsError:
    return AwsError("InvalidRequestException", message)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def already_exists(message: str, resource_id: str, resource_arn: str | None = None) -> AwsError:
    fields = {"resourceId": resource_id}
    if resource_arn:
        fields["resourceArn"] = resource_arn
    return AwsError("ResourceAlreadyExistsException", message, fields=fields)


def conflict(message: str, resource_id: str) -> AwsError:
    return AwsError("ConflictException", message, fields={"resourceId": resource_id})


def invalid_state(message: str) -> AwsError:
    return AwsError("InvalidStateTransitionException", message)


def version_conflict(message: str) -> AwsError:
    # iot models VersionConflictException (409); iot-jobs-data does not, so its status is given here.
    return AwsError("VersionConflictException", message, 409)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message)


def throttled() -> AwsError:
    """A jobs API's rate quota is exhausted (the status is the model's: 400 in ``iot``)."""
    return AwsError("ThrottlingException", "Rate exceeded")


# The front door (SigV4), before any service: statuses and messages as AWS answers them.
def missing_token() -> AwsError:
    return AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)


def incomplete_signature(message: str) -> AwsError:
    return AwsError("IncompleteSignatureException", message, 403)


def unrecognized_client() -> AwsError:
    return AwsError(
        "UnrecognizedClientException", "The security token included in the request is invalid.", 403
    )


def invalid_signature() -> AwsError:
    return AwsError(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
        403,
    )


def unknown_operation() -> AwsError:
    # Inferred: what a restJson front door says of a path and verb no operation has.
    return AwsError("UnknownOperationException", None, 404)
