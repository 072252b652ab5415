"""The AWS wire as botocore's own service models describe it: routes, request members, constraints, output shapes.

Nothing here is typed by hand from the docs. For each served operation the route is the model's ``http.method`` and
``http.requestUri`` (``{label}`` / ``{label+}`` segments, fixed ``?query`` parts); each input member is read from
where its ``location`` says (``uri``, ``querystring``, ``header``, else the JSON body) and checked against its
shape (``required``, ``min`` / ``max`` as length or value, ``pattern``, ``enum``, types), with AWS's validation
message; each output member is written where its ``location`` says (``header``, ``statusCode``, else the body),
timestamps as epoch seconds (restJson's default). Error statuses come from the model's error shapes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from airflow_iot_jobs.emulator.aws.errors import AwsError, invalid_request
from airflow_iot_jobs.emulator.clock import parse_iso
from airflow_iot_jobs.emulator.http import BadJSON, Request, Response, Router

#: botocore service name -> the SigV4 signing name its requests carry (``metadata.signingName``).
SERVICES = ("iot", "iot-jobs-data")


@cache
def service_model(name: str) -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


def signing_name(service: str) -> str:
    metadata = service_model(service).metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])


@cache
def error_status(service: str, code: str) -> int | None:
    """The HTTP status of the model's error shape ``code`` (None when the service models no such error)."""
    try:
        shape = service_model(service).shape_for(code)
    except Exception:
        return None
    error = shape.metadata.get("error") or {}
    return int(error["httpStatusCode"]) if "httpStatusCode" in error else None


# -- routes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    template: str  # the requestUri path, e.g. /jobs/{jobId}
    regex: str
    fixed_query: tuple[tuple[str, str], ...]
    labels: int

    def specificity(self) -> tuple[int, int]:
        """Fewer labels and longer literals first, so ``/jobs/$next`` wins over ``/jobs/{jobId}``."""
        return (self.labels, -len(re.sub(r"\{[^}]+\}", "", self.template)))


def route_of(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    regex, labels = "", 0
    for part in re.split(r"(\{[^}]+\})", path):
        if not part:
            continue
        if part.startswith("{"):
            name = part[1:-1]
            labels += 1
            regex += f"(?P<{name.rstrip('+')}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            # botocore percent-encodes what it puts in a path ("$next" -> "%24next"): accept both spellings.
            regex += "".join(_literal(ch) for ch in part)
    return Route(
        operation.name,
        operation.http["method"].upper(),
        path,
        regex + "/?" if path != "/" else regex,
        tuple(parse_qsl(query, keep_blank_values=True)),
        labels,
    )


def _literal(ch: str) -> str:
    if ch.isalnum() or ch in "-_.~/":
        return re.escape(ch)
    return f"(?:{re.escape(ch)}|%{ord(ch):02X}|%{ord(ch):02x})"


def routes(service: str, operations: list[str]) -> list[Route]:
    model = service_model(service)
    return sorted((route_of(model.operation_model(name)) for name in operations), key=Route.specificity)


# -- constraints -------------------------------------------------------------------------------------------

# Java character classes the models use, as Python class contents.
_JAVA_CLASSES = {
    "C": r"\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff",
    "Upper": "A-Z",
    "Lower": "a-z",
    "Digit": "0-9",
    "Alpha": "a-zA-Z",
    "Alnum": "a-zA-Z0-9",
    "Graph": r"\x21-\x7e",
    "Print": r"\x20-\x7e",
    "Punct": r"!-/:-@\[-`{-~",
    "Space": r" \t\n\x0b\f\r",
}


@cache
def java_pattern(pattern: str) -> re.Pattern[str] | None:
    """A model ``pattern`` (a Java regex the whole value must match) as a Python regex; None if untranslatable."""
    out, depth, i = [], 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and pattern.startswith(("\\p{", "\\P{"), i):
            end = pattern.index("}", i)
            name = pattern[i + 3 : end]
            if name not in _JAVA_CLASSES:
                return None
            negate = pattern[i + 1] == "P"
            body = _JAVA_CLASSES[name]
            if depth:
                if negate:
                    return None
                out.append(body)
            else:
                out.append(f"[{'^' if negate else ''}{body}]")
            i = end + 1
            continue
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


class Validation:
    """Collects constraint failures in AWS's words: ``Value 'x' at 'jobId' failed to satisfy constraint: ...``."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        shown = "null" if value is None else f"'{_show(value)}'"
        self.failures.append(
            f"Value {shown} at '{path}' failed to satisfy constraint: Member must {constraint}"
        )

    def raise_if_any(self) -> None:
        if not self.failures:
            return
        n = len(self.failures)
        noun = "validation error" if n == 1 else "validation errors"
        raise invalid_request(f"{n} {noun} detected: {'; '.join(self.failures)}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))[:200]
    return str(value)


def _check(shape: Shape, value: Any, path: str, v: Validation) -> Any:
    """``value`` (JSON-typed) checked against ``shape``; returns it converted (timestamps to epoch seconds)."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            v.fail(value, path, "be a structure")
            return value
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            sub = f"{path}.{name}" if path else name
            if wire in value and value[wire] is not None:
                out[name] = _check(member, value[wire], sub, v)
            elif name in shape.required_members:
                v.fail(None, sub, "not be null")
        return out
    if kind == "list":
        if not isinstance(value, list):
            v.fail(value, path, "be a list")
            return value
        _bounds(len(value), meta, value, path, v, "length")
        return [_check(shape.member, item, f"{path}.{i + 1}.member", v) for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            v.fail(value, path, "be a map")
            return value
        _bounds(len(value), meta, value, path, v, "length")
        return {
            _check(shape.key, key, f"{path}.key", v): _check(shape.value, item, f"{path}.value", v)
            for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            v.fail(value, path, "be a string")
            return value
        _bounds(len(value), meta, value, path, v, "length")
        if "enum" in meta and value not in meta["enum"]:
            v.fail(value, path, f"satisfy enum value set: [{', '.join(meta['enum'])}]")
        elif "pattern" in meta:
            regex = java_pattern(meta["pattern"])
            if regex is not None and not regex.fullmatch(value):
                v.fail(value, path, f"satisfy regular expression pattern: {meta['pattern']}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                v.fail(value, path, "be an integer")
                return value
        _bounds(value, meta, value, path, v, "value")
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            v.fail(value, path, "be a number")
            return value
        _bounds(value, meta, value, path, v, "value")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            v.fail(value, path, "be a boolean")
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            v.fail(value, path, "be a timestamp")
            return value
        if isinstance(value, str):
            try:
                return float(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else parse_iso(value)
            except ValueError:
                v.fail(value, path, "be a timestamp")
                return value
        return float(value)
    return value  # blob and the like: not used by the served operations


def _bounds(measure: float, meta: Mapping[str, Any], value: Any, path: str, v: Validation, what: str) -> None:
    if "min" in meta and measure < meta["min"]:
        v.fail(value, path, f"have {what} greater than or equal to {_num(meta['min'])}")
    if "max" in meta and measure > meta["max"]:
        v.fail(value, path, f"have {what} less than or equal to {_num(meta['max'])}")


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _from_text(shape: Shape, text: str, path: str, v: Validation) -> Any:
    """A uri / querystring / header value (text on the wire) as the JSON value its shape means."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            v.fail(text, path, "be an integer")
            return None
    if kind in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            v.fail(text, path, "be a number")
            return None
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        v.fail(text, path, "be a boolean")
        return None
    return text


# -- requests and responses -------------------------------------------------------------------------------


def parse_input(operation: OperationModel, request: Request) -> dict[str, Any]:
    """The operation's input, from where the model puts each member, validated; member name -> value."""
    shape = operation.input_shape
    if shape is None:
        return {}
    raw: dict[str, Any] = {}
    v = Validation()
    body: Any = None
    has_body_members = any(m.serialization.get("location") is None for m in shape.members.values())
    if has_body_members:
        try:
            body = request.json()
        except BadJSON as exc:
            raise AwsError("SerializationException", str(exc), 400) from None
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise AwsError("SerializationException", "The request body must be a JSON object.", 400)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            text = request.params.get(wire)
            if text is not None:
                raw[wire] = _from_text(member, text, name, v)
        elif location == "querystring":
            if wire in request.query:
                raw[wire] = _from_text(member, request.query[wire], name, v)
        elif location == "header":
            text = request.header(wire)
            if text is not None:
                raw[wire] = _from_text(member, text, name, v)
        elif body is not None and wire in body:
            raw[wire] = body[wire]
    checked = _check(shape, raw, "", v)
    v.raise_if_any()
    return checked


def _to_wire(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            member.serialization.get("name", name): _to_wire(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_to_wire(shape.member, item) for item in value]
    if kind == "map":
        return {key: _to_wire(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value.timestamp()
        return round(float(value), 3)
    return value


def serialize_output(operation: OperationModel, result: Mapping[str, Any] | None) -> Response:
    """The operation's answer: header / statusCode members where the model puts them, the rest as JSON."""
    shape = operation.output_shape
    status = int(operation.http.get("responseCode", 200))
    if shape is None:
        return Response(status, b"", {"Content-Type": "application/json"})
    result = result or {}
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "header":
            headers[wire] = str(value)
        elif location == "statusCode":
            status = int(value)
        else:
            body[wire] = _to_wire(member, value)
    return Response.json(body, status=status, headers=headers)


Handler = Callable[[dict[str, Any]], Mapping[str, Any] | None]


def build_router(service: str, handlers: Mapping[str, Callable[[Request], Response]]) -> Router:
    """A :class:`Router` over the model's routes for the operations in ``handlers`` (most specific first)."""
    router = Router()
    for route in routes(service, list(handlers)):
        handler = handlers[route.operation]
        if route.fixed_query:
            handler = _with_fixed_query(route.fixed_query, handler)
        router.add(route.method, route.regex, handler)
    return router


def _with_fixed_query(
    fixed: tuple[tuple[str, str], ...], handler: Callable[[Request], Response]
) -> Callable[[Request], Response]:
    def guarded(request: Request) -> Response:
        for key, value in fixed:
            if key not in request.query or (value and request.query[key] != value):
                raise AwsError("UnknownOperationException", None, 404)
        return handler(request)

    return guarded
