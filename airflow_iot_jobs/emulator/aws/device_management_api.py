"""The ``@softchef/cdk-iot-device-management`` Job API (API Gateway + one Lambda per route) over the AWS emulator.

Served by the same :class:`~airflow_iot_jobs.emulator.aws.server.AwsIoTEmulator` (same port, same state) under
:data:`PREFIX` (``/device-management/prod``: an API Gateway base URL with its stage), so a job created here is the
job boto3 sees and the simulated things run. Each route is a copy of the construct's Lambda
(``lambda-assets/jobs/<name>/app.ts`` at SoftChef/cdk-iot-device-management ``6dd1c5c8``) on SoftChef/lambda-events'
``RestApiRequest`` / ``RestApiResponse``:

- the Lambda's joi schema, with its real effects: ``inputs()`` turns an absent key into ``null``, so a key without
  ``.allow(null)`` is effectively required (``targetSelection`` on ``POST /jobs``, ``status`` on the
  list-executions routes); failures are 422 ``{"error": [{key, label, value, message}, ...]}`` in joi's words;
- the Lambda's input mapping (defaults such as ``expectedVersion`` 1, the ``statusDetail`` typo, ``jobId`` /
  ``thingName`` read from the *query string* on the list-executions routes, uuid ids on create);
- the AWS IoT call itself goes to the emulator's own ``iot`` operation handler
  (:class:`~airflow_iot_jobs.emulator.aws.responses.ControlPlane`) after the same botocore-model validation the
  ``iot`` wire does (SDK v3 validates nothing client-side: a bad value is AWS's ``InvalidRequestException``);
- the SDK v3 output as ``JSON.stringify`` writes it (timestamps ISO-8601, ``undefined`` members omitted);
- errors ``{"error": "<Type>: <message>"}``: 404 for ``ResourceNotFoundException`` where the Lambda maps it,
  500 otherwise (create-job, list-jobs and the template create / list Lambdas never map: always 500).

API Gateway in front: an unknown resource or method is 403 ``{"message": "Missing Authentication Token"}``;
``auth`` is ``none`` (the construct's default), ``iam`` (SigV4 for service ``execute-api`` with the emulator's
key, checked by botocore's signer; 403 ``{"message": ...}``) or ``cognito`` (the ID token the emulator issues, in
``Authorization``, raw or after ``Bearer ``; 401 ``{"message": "Unauthorized"}``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape

from airflow_iot_jobs.emulator.aws.errors import AwsError
from airflow_iot_jobs.emulator.aws.sigv4 import SigV4Verifier
from airflow_iot_jobs.emulator.aws.wire import Validation, _check, _from_text, service_model
from airflow_iot_jobs.emulator.http import NoRoute, Request, Response, Router

#: Where the Job API is mounted: API Gateway's ``/{stage}`` (the CDK RestApi's default stage is ``prod``).
PREFIX = "/device-management/prod"
AUTH_MODES = ("none", "iam", "cognito")
#: Lifetime of an issued ID token (Cognito's default ID token validity is 1 hour; the emulator is generous).
ID_TOKEN_TTL = 24 * 3600
EXECUTION_STATUSES = (
    "CANCELED",
    "FAILED",
    "IN_PROGRESS",
    "QUEUED",
    "REJECTED",
    "REMOVED",
    "SUCCEEDED",
    "TIMED_OUT",
)

#: lambda-events' CORS headers on every Lambda answer.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": json.dumps(
        [
            "Content-Type",
            "Fetch-Mode",
            "accept",
            "X-Amz-Date",
            "Accept-Encoding",
            "Authorization",
            "X-Api-Key",
            "X-Amz-Security-Token",
            "X-Amz-User-Agent",
        ],
        separators=(",", ":"),
    ),
    "Access-Control-Allow-Methods": json.dumps(
        ["HEAD", "GET", "POST", "PUT", "DELETE"], separators=(",", ":")
    ),
}


class JsError(Exception):
    """A JavaScript ``Error`` a Lambda catches: ``toString()`` is ``"<name>: <message>"``."""

    def __init__(self, name: str, message: str | None) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message or ""

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class GatewayError(Exception):
    """API Gateway answering for itself: ``{"message": ...}``."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type

    def to_response(self) -> Response:
        return Response.json(
            {"message": self.message}, status=self.status, headers={"x-amzn-ErrorType": self.error_type}
        )


def missing_token() -> GatewayError:
    return GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


# -- joi, as the Lambdas use it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One key of a Lambda's joi schema: ``kind`` string / strings (array of strings) / boolean / number / object."""

    kind: str
    allow_null: bool = False


def _detail(key: str | int, label: str, value: Any, message: str) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "message": message}


def _truthy(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, str) and value.strip():
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def joi_validate(schema: Mapping[str, Rule], inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """joi 17 ``object().keys(schema).validate(inputs, {abortEarly: false})``'s details, as lambda-events lists them."""
    details: list[dict[str, Any]] = []
    for key, rule in schema.items():
        value = inputs.get(key)
        label = key
        if value is None:
            if not rule.allow_null:
                base = {
                    "string": "a string",
                    "strings": "an array",
                    "boolean": "a boolean",
                    "number": "a number",
                }
                what = base.get(rule.kind)
                message = f'"{label}" must be {what}' if what else f'"{label}" must be of type object'
                details.append(_detail(key, label, None, message))
            continue
        if rule.kind == "string":
            if not isinstance(value, str):
                details.append(_detail(key, label, value, f'"{label}" must be a string'))
            elif value == "":
                details.append(_detail(key, label, value, f'"{label}" is not allowed to be empty'))
        elif rule.kind == "strings":
            if not isinstance(value, list):
                details.append(_detail(key, label, value, f'"{label}" must be an array'))
                continue
            for i, item in enumerate(value):
                item_label = f"{label}[{i}]"
                if not isinstance(item, str):
                    details.append(_detail(i, item_label, item, f'"{item_label}" must be a string'))
                elif item == "":
                    details.append(_detail(i, item_label, item, f'"{item_label}" is not allowed to be empty'))
        elif rule.kind == "boolean":
            if not _truthy(value):
                details.append(_detail(key, label, value, f'"{label}" must be a boolean'))
        elif rule.kind == "number":
            if not _numeric(value):
                details.append(_detail(key, label, value, f'"{label}" must be a number'))
        elif rule.kind == "object" and not isinstance(value, dict):
            details.append(_detail(key, label, value, f'"{label}" must be of type object'))
    return details


class Invalid(Exception):
    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.details = details


# -- lambda-events' RestApiRequest ------------------------------------------------------------------------


class LambdaRequest:
    """``pathParameters`` / ``queryStringParameters`` / the JSON body (``{}`` when it does not parse)."""

    def __init__(self, request: Request) -> None:
        self.parameters = dict(request.params)
        self.queries = dict(request.query)
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body.strip() else None
        except (UnicodeDecodeError, ValueError):
            body = None
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}

    def parameter(self, key: str) -> str | None:
        return self.parameters.get(key) or None

    def get(self, key: str, default: Any = None) -> Any:
        """The query string only."""
        return self.queries.get(key, default)

    def input(self, key: str, default: Any = None) -> Any:
        """The body, then the query string, then ``default``."""
        if key in self.body:
            return self.body[key]
        if key in self.queries:
            return self.queries[key]
        return default

    def has(self, key: str) -> bool:
        return key in self.queries or key in self.body

    def validate(self, schema: Mapping[str, Rule]) -> None:
        inputs = {}
        for key in schema:
            value = self.input(key)
            inputs[key] = self.get(key) if value is None else value
        details = joi_validate(schema, inputs)
        if details:
            raise Invalid(details)


# -- the SDK v3 call --------------------------------------------------------------------------------------


def _js_string(value: Any) -> str:
    """``String(value)`` as the SDK's serializer writes a uri / querystring member."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _iso(value: Any) -> str:
    """A ``Date`` through ``JSON.stringify``: ``2024-01-02T03:04:05.678Z``."""
    seconds = value.timestamp() if isinstance(value, dt.datetime) else float(value)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _to_js(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            name: _to_js(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None and member.serialization.get("location") != "statusCode"
        }
    if kind == "list":
        return [_to_js(shape.member, item) for item in value]
    if kind == "map":
        return {key: _to_js(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return _iso(value)
    return value


class Sdk:
    """``iotClient.send(new <Operation>Command(params))`` against the emulator's own ``iot`` handlers."""

    def __init__(
        self, handlers: Mapping[str, Callable[[dict[str, Any]], Any]], lock: Any, seed: int = 0
    ) -> None:
        self.handlers = dict(handlers)
        self.lock = lock
        self.model = service_model("iot")
        self.seed = seed
        self._created: Counter[str] = Counter()

    def new_id(self, kind: str, body: Mapping[str, Any]) -> str:
        """The Lambda's ``uuid.v4()``, drawn from the fleet seed and the request instead: a device's simulated
        outcome in a job is drawn from the job id, so a seed must give the same ids to the same creates, in
        whatever order concurrent tasks send them. The nth identical create gets the nth id."""
        content = json.dumps(body, sort_keys=True, default=str)
        with self.lock:
            self._created[content] += 1
            nth = self._created[content]
        digest = hashlib.sha256(f"{self.seed}|{kind}|{content}|{nth}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        op = self.model.operation_model(operation)
        shape = op.input_shape
        raw: dict[str, Any] = {}
        v = Validation()
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            value = params.get(name)
            if value is None:
                if location == "uri":
                    raise JsError("Error", f"No value provided for input HTTP label: {name}.")
                continue
            if location in ("uri", "querystring", "header"):
                text = _js_string(value)
                if location == "uri" and not text:
                    raise JsError("Error", f"Empty value provided for input HTTP label: {name}.")
                value = _from_text(member, text, name, v)
            raw[wire] = value
        try:
            checked = _check(shape, raw, "", v)
            v.raise_if_any()
            with self.lock:
                result = self.handlers[operation](checked)
        except AwsError as exc:
            raise JsError(exc.code, exc.message) from None
        output = _to_js(op.output_shape, result or {}) if op.output_shape is not None else {}
        output["$metadata"] = {
            "httpStatusCode": int(op.http.get("responseCode", 200)),
            "requestId": str(uuid.uuid4()),
            "attempts": 1,
            "totalRetryDelay": 0,
        }
        return output


# -- the Lambdas ------------------------------------------------------------------------------------------

#: A Lambda: the request and the SDK -> the JSON body of its 200 answer (errors raise).
Lambda = Callable[[LambdaRequest, Sdk], dict[str, Any]]


@dataclass(frozen=True)
class Handler:
    method: str
    path: str  # API Gateway resource, e.g. /jobs/{jobId}
    name: str  # the Lambda's folder in lambda-assets/jobs
    run: Lambda
    maps_not_found: bool = True  # the Lambda answers ResourceNotFoundException with 404 (else always 500)


def create_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate(
        {
            "targets": Rule("strings"),
            "targetSelection": Rule("string"),  # .allow('SNAPSHOT', 'CONTINUOUS') restricts nothing
            "document": Rule("string"),
            "description": Rule("string", allow_null=True),
        }
    )
    sdk.send(
        "CreateJob",
        {
            "jobId": sdk.new_id("job", req.body),
            "targets": req.input("targets", []),
            "document": req.input("document"),
            "targetSelection": "SNAPSHOT"
            if req.input("targetSelection", "SNAPSHOT") == "SNAPSHOT"
            else "CONTINUOUS",
            # The Lambda sends description '' when none is given; AWS's pattern [^\p{C}]+ would refuse '', which
            # would fail every create without a description: the emulator treats '' as absent (see README).
            "description": req.input("description", "") or None,
        },
    )
    return {"created": True}


def list_jobs(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    params = {key: req.get(key) for key in ("nextToken", "status", "targetSelection") if req.has(key)}
    out = sdk.send("ListJobs", params)
    return {"jobs": out.get("jobs"), "nextToken": out.get("nextToken")}


def get_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    return {"job": sdk.send("DescribeJob", {"jobId": req.parameter("jobId")}).get("job")}


def update_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"description": Rule("string", allow_null=True)})
    sdk.send(
        "UpdateJob", {"jobId": req.parameter("jobId"), "description": req.input("description", "") or None}
    )
    return {"updated": True}


def delete_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"force": Rule("boolean", allow_null=True)})
    sdk.send("DeleteJob", {"jobId": req.parameter("jobId"), "force": req.input("force", False)})
    return {"deleted": True}


def cancel_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"comment": Rule("string", allow_null=True), "force": Rule("boolean", allow_null=True)})
    params: dict[str, Any] = {"jobId": req.parameter("jobId")}
    if req.has("comment"):
        params["comment"] = req.input("comment")
    if req.has("force"):
        params["force"] = req.input("force")
    sdk.send("CancelJob", params)
    return {"canceled": True}


def associate_targets(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"targets": Rule("strings")})
    sdk.send("AssociateTargetsWithJob", {"jobId": req.parameter("jobId"), "targets": req.input("targets")})
    return {"associated": True}


def get_job_document(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    return {"document": sdk.send("GetJobDocument", {"jobId": req.parameter("jobId")}).get("document")}


def list_executions_for_job(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    # jobId from the body or the query string, never the path; status without .allow(null): required in effect.
    req.validate({"jobId": Rule("string"), "status": Rule("string")})
    params = {"jobId": req.get("jobId"), "status": req.get("status")}
    if req.has("nextToken"):
        params["nextToken"] = req.get("nextToken")
    out = sdk.send("ListJobExecutionsForJob", params)
    return {"executionSummaries": out.get("executionSummaries"), "nextToken": out.get("nextToken")}


def list_executions_for_thing(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"thingName": Rule("string"), "status": Rule("string")})
    params = {"thingName": req.get("thingName"), "status": req.get("status")}
    if req.has("nextToken"):
        params["nextToken"] = req.get("nextToken")
    out = sdk.send("ListJobExecutionsForThing", params)
    return {"executionSummaries": out.get("executionSummaries"), "nextToken": out.get("nextToken")}


def get_job_execution(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    out = sdk.send(
        "DescribeJobExecution", {"jobId": req.parameter("jobId"), "thingName": req.parameter("thingName")}
    )
    return {"execution": out.get("execution")}


def cancel_job_execution(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate(
        {
            "expectedVersion": Rule("number", allow_null=True),
            "statusDetails": Rule("object", allow_null=True),
            "force": Rule("boolean", allow_null=True),
        }
    )
    sdk.send(
        "CancelJobExecution",
        {
            "jobId": req.parameter("jobId"),
            "thingName": req.parameter("thingName"),
            "expectedVersion": req.input("expectedVersion", 1),  # default 1: a later version is a conflict
            "statusDetails": req.input(
                "statusDetail", {}
            ),  # sic: validated statusDetails, sends statusDetail
            "force": req.input("force", False),
        },
    )
    return {"canceled": True}


def delete_job_execution(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"executionNumber": Rule("number"), "force": Rule("boolean", allow_null=True)})
    sdk.send(
        "DeleteJobExecution",
        {
            "jobId": req.parameter("jobId"),
            "thingName": req.parameter("thingName"),
            "executionNumber": req.input("executionNumber", 1),
            "force": req.input("force", False),
        },
    )
    return {"deleted": True}


def create_job_template(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    req.validate({"document": Rule("string"), "description": Rule("string")})
    sdk.send(
        "CreateJobTemplate",
        {
            "jobTemplateId": sdk.new_id("job-template", req.body),
            "document": req.input("document"),
            "description": req.input("description"),
        },
    )
    return {"created": True}


def list_job_templates(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    params = {"nextToken": req.get("nextToken")} if req.has("nextToken") else {}
    out = sdk.send("ListJobTemplates", params)
    return {"jobTemplates": out.get("jobTemplates"), "nextToken": out.get("nextToken")}


def get_job_template(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    # The whole SDK output, $metadata included.
    return {"jobTemplate": sdk.send("DescribeJobTemplate", {"jobTemplateId": req.parameter("jobTemplateId")})}


def delete_job_template(req: LambdaRequest, sdk: Sdk) -> dict[str, Any]:
    sdk.send("DeleteJobTemplate", {"jobTemplateId": req.parameter("jobTemplateId")})
    return {"deleted": True}


ROUTES = (
    Handler("PUT", "/jobs/{jobId}/associate", "associate-targets-with-job", associate_targets),
    Handler("POST", "/jobs", "create-job", create_job, maps_not_found=False),
    Handler("GET", "/jobs", "list-jobs", list_jobs, maps_not_found=False),
    Handler("GET", "/jobs/{jobId}", "get-job", get_job),
    Handler("PUT", "/jobs/{jobId}", "update-job", update_job),
    Handler("DELETE", "/jobs/{jobId}", "delete-job", delete_job),
    Handler("PUT", "/jobs/{jobId}/cancel", "cancel-job", cancel_job),
    Handler("GET", "/jobs/{jobId}/document", "get-job-document", get_job_document),
    Handler("GET", "/jobs/{jobId}/things/{thingName}", "get-job-execution", get_job_execution),
    Handler("GET", "/jobs/{jobId}/status", "list-job-executions-for-job", list_executions_for_job),
    Handler("GET", "/things/{thingName}/jobs", "list-job-executions-for-thing", list_executions_for_thing),
    Handler("DELETE", "/jobs/{jobId}/things/{thingName}", "delete-job-execution", delete_job_execution),
    Handler("PUT", "/jobs/{jobId}/things/{thingName}/cancel", "cancel-job-execution", cancel_job_execution),
    Handler("POST", "/job-templates", "create-job-template", create_job_template, maps_not_found=False),
    Handler("GET", "/job-templates", "list-job-templates", list_job_templates, maps_not_found=False),
    Handler("GET", "/job-templates/{jobTemplateId}", "get-job-template", get_job_template),
    Handler("DELETE", "/job-templates/{jobTemplateId}", "delete-job-template", delete_job_template),
)


def _pattern(prefix: str, resource: str) -> str:
    return re.escape(prefix) + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DeviceManagementApi:
    """The Job API app: ``__call__(Request) -> Response`` for paths under ``prefix``."""

    def __init__(
        self,
        handlers: Mapping[str, Callable[[dict[str, Any]], Any]],
        lock: Any,
        verifier: SigV4Verifier,
        region: str,
        auth: str = "none",
        prefix: str = PREFIX,
        seed: int = 0,
    ) -> None:
        if auth not in AUTH_MODES:
            raise ValueError(f"device management auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
        self.auth = auth
        self.prefix = prefix.rstrip("/")
        self.region = region
        self.verifier = verifier
        self.sdk = Sdk(handlers, lock, seed)
        self.router = Router()
        for route in ROUTES:
            self.router.add(route.method, _pattern(self.prefix, route.path), self._lambda(route))
        self.user_pool_id = f"{region}_{secrets.token_hex(5)}"
        self.client_id = secrets.token_hex(13)
        self._token_key = secrets.token_bytes(32)
        self.id_token = self.issue_id_token() if auth == "cognito" else None

    # -- Cognito --------------------------------------------------------------------------------------

    def issue_id_token(self, ttl: float = ID_TOKEN_TTL, username: str = "airflow") -> str:
        """A Cognito-shaped ID token (JWT, ``token_use`` ``id``) this API accepts until ``ttl`` seconds from now."""
        now = int(time.time())
        header = {"kid": "emulator", "alg": "HS256"}
        claims = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, username)),
            "aud": self.client_id,
            "iss": f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}",
            "token_use": "id",
            "cognito:username": username,
            "auth_time": now,
            "iat": now,
            "exp": now + int(ttl),
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self._token_key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def _check_id_token(self, authorization: str | None) -> None:
        unauthorized = GatewayError(401, "Unauthorized", "UnauthorizedException")
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise unauthorized
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = _b64(hmac.new(self._token_key, signing_input, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise unauthorized
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            raise unauthorized from None
        if claims.get("token_use") != "id" or claims.get("aud") != self.client_id:
            raise unauthorized
        if float(claims.get("exp", 0)) <= time.time():
            raise GatewayError(401, "The incoming token has expired", "UnauthorizedException")

    # -- API Gateway ----------------------------------------------------------------------------------

    def authorize(self, request: Request) -> None:
        """Raise API Gateway's answer when ``request`` does not pass the method's authorization."""
        if self.auth == "iam":
            try:
                principal = self.verifier.verify(request)
            except AwsError as exc:
                raise GatewayError(exc.status or 403, exc.message or "", exc.code) from None
            if principal.service != "execute-api":
                raise GatewayError(
                    403,
                    "Credential should be scoped to correct service: 'execute-api'. ",
                    "InvalidSignatureException",
                )
        elif self.auth == "cognito":
            self._check_id_token(request.header("Authorization"))

    def authorized(self, request: Request) -> bool:
        try:
            self.router.resolve(request.method, request.path)
            self.authorize(request)
        except (GatewayError, NoRoute):
            return False
        return True

    def __call__(self, request: Request) -> Response:
        try:
            try:
                handler, params = self.router.resolve(request.method, request.path)
            except NoRoute:
                raise missing_token() from None
            request.params = params
            self.authorize(request)
            return handler(request)
        except GatewayError as exc:
            return exc.to_response()
        except Exception:
            return GatewayError(500, "Internal server error", "InternalServerErrorException").to_response()

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        """Injected faults: API Gateway's throttle / unavailability, or the Lambda's 500 on a failed IoT call."""
        if status == 429:
            body: dict[str, Any] = {"message": "Too Many Requests"}
            error_type = "TooManyRequestsException"
        elif status == 500:
            return Response.json(
                {"error": "InternalFailureException: An internal error occurred."},
                status=500,
                headers={**CORS, **headers},
            )
        elif status == 503:
            body, error_type = {"message": "Service Unavailable"}, "ServiceUnavailableException"
        else:
            body, error_type = {"message": message}, code
        return Response.json(body, status=status, headers={"x-amzn-ErrorType": error_type, **headers})

    def _lambda(self, route: Handler) -> Callable[[Request], Response]:
        def invoke(request: Request) -> Response:
            req = LambdaRequest(request)
            try:
                body = route.run(req, self.sdk)
            except Invalid as exc:
                return Response.json({"error": exc.details}, status=422, headers=CORS)
            except JsError as exc:
                status = 404 if route.maps_not_found and exc.name == "ResourceNotFoundException" else 500
                return Response.json({"error": str(exc)}, status=status, headers=CORS)
            # JSON.stringify drops undefined members (e.g. nextToken on the last page).
            return Response.json({k: v for k, v in body.items() if v is not None}, headers=CORS)

        return invoke


__all__ = ["AUTH_MODES", "PREFIX", "ROUTES", "DeviceManagementApi", "joi_validate"]
