"""How the ``@softchef/cdk-iot-device-management`` Job API answers, mapped onto the neutral types: its three error
shapes, and the AWS IoT vocabulary it passes through from the SDK (job statuses, ``jobProcessDetails``: the
mapping of :mod:`airflow_iot_jobs.hooks.aws_iot_wire`, reused). Pure functions, no I/O.

Error shapes:

- a Lambda's joi validation: ``422 {"error": [{"key", "label", "value", "message"}, …]}``;
- a Lambda's caught SDK error: ``{"error": "<Type>: <message>"}`` (``Error.toString()``) — 404 when a Lambda maps
  ``ResourceNotFoundException``, 500 for everything else (also ``ResourceNotFoundException`` from the Lambdas
  that do not map it, and on AWS, where SDK v3 errors carry ``name`` rather than the ``Code`` the Lambdas test);
- API Gateway itself: ``{"message": "…"}`` (403 unknown route or bad signature, 401 Cognito, 429 throttled,
  502/504 Lambda failure or timeout), its type in ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.hooks.aws_iot_wire import ERROR_KINDS
from airflow_iot_jobs.hooks.http_base import parse_retry_after
from airflow_iot_jobs.jobs import ErrorKind, JobServiceError, service_error

#: ``Error.toString()`` of an SDK error: ``<Name>: <message>`` (a name is a JavaScript identifier)
_TYPED = re.compile(r"([A-Za-z_$][\w$]*)(?::\s*(.*))?", re.DOTALL)
#: SDK errors for which a new try can succeed (the rest of AWS's error names are permanent)
_RETRYABLE_NAMES = {"TimeoutError", "NetworkingError", "RequestTimeout", "RequestTimeoutException"}


def _body(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def error_from_response(
    status: int, headers: Mapping[str, str], text: str, operation: str = ""
) -> JobServiceError:
    """One error per answer, classified once. A typed Lambda error is classified by its type (AWS IoT's codes:
    ``ResourceNotFoundException`` not found whatever the status, ``LimitExceededException`` busy,
    ``ThrottlingException`` throttled, other AWS client errors permanent); API Gateway's by its status."""
    body = _body(text)
    where = f" ({operation})" if operation else ""
    retry_after = parse_retry_after(headers.get("retry-after"))
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, list):
        problems = "; ".join(str(d.get("message") or d) if isinstance(d, Mapping) else str(d) for d in error)
        return JobServiceError(
            status,
            "ValidationError",
            f"the API refused the request: {problems}{where}",
            kind=ErrorKind.PERMANENT,
        )
    if isinstance(error, str):
        match = _TYPED.fullmatch(error.strip())
        name, message = (match.group(1), match.group(2) or "") if match else ("", error)
        kind = ERROR_KINDS.get(name)
        if kind is None:
            retryable = name in _RETRYABLE_NAMES or not name or status in (502, 503, 504)
            kind = ErrorKind.TRANSIENT if retryable else ErrorKind.PERMANENT
        return service_error(status, name or f"HTTP{status}", f"{message or error}{where}", kind, retry_after)
    message = body.get("message") or body.get("Message") if isinstance(body, Mapping) else None
    message = str(message or text[:200] or "no message")
    code = headers.get("x-amzn-errortype", "").split(":", 1)[0] or f"HTTP{status}"
    kind = ErrorKind.from_status(status)
    if status in (401, 403, 404):  # auth, or API Gateway's own 404 (no such stage): no retry fixes them
        kind = ErrorKind.PERMANENT
    if status == 403 and message == "Missing Authentication Token":
        message += (
            ": API Gateway serves no such route; check that Host is the Job API's base URL with its stage"
        )
    return service_error(status, code, f"{message}{where}", kind, retry_after)
