"""boto3 clients for the AWS emulator tests, with every answer checked against botocore's output shape.

:func:`check_shape` walks the operation's output shape: required members present, types right, enum values from
the model. It runs twice per answer: on what botocore parsed, and on the raw JSON body (no member the model does
not know, wire names as the model spells them).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.model import Shape

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator

ACCOUNT = "123456789012"
REGION = "us-east-1"
CHECKED: list[str] = []  # operations whose answers were checked (for the coverage test)


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:{kind}/{name}"


def check_shape(shape: Shape, value: Any, path: str = "", raw: bool = False) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: not a structure: {value!r}"
        for name in shape.required_members:
            assert name in value, f"{path}.{name}: required member missing"
        wire = {m.serialization.get("name", n): m for n, m in shape.members.items()} if raw else shape.members
        for key, item in value.items():
            if key == "ResponseMetadata" and not path:
                continue
            assert key in wire, f"{path}.{key}: not a member of {shape.name}"
            check_shape(wire[key], item, f"{path}.{key}", raw)
    elif kind == "list":
        assert isinstance(value, list), f"{path}: not a list"
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{path}[{i}]", raw)
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: not a map"
        for key, item in value.items():
            check_shape(shape.key, key, f"{path}.<key>", raw)
            check_shape(shape.value, item, f"{path}[{key}]", raw)
    elif kind == "string":
        assert isinstance(value, str), f"{path}: not a string: {value!r}"
        if "enum" in shape.metadata:
            assert value in shape.metadata["enum"], f"{path}: {value!r} not in {shape.metadata['enum']}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: not an integer: {value!r}"
    elif kind in ("double", "float"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: not a number"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: not a boolean: {value!r}"
    elif kind == "timestamp":
        if raw:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (
                f"{path}: not epoch seconds"
            )
        else:
            assert isinstance(value, dt.datetime), f"{path}: not a timestamp"
    elif kind == "blob":
        assert isinstance(value, (bytes, str)), f"{path}: not a blob"


def _checker(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    if http_response.status_code >= 300 or model.output_shape is None:
        return
    check_shape(model.output_shape, parsed)
    if http_response.content:
        check_shape(model.output_shape, json.loads(http_response.content), raw=True)
    CHECKED.append(f"{model.service_model.service_name}:{model.name}")


def client(
    aws: AwsIoTEmulator,
    service: str = "iot",
    *,
    key: str | None = None,
    secret: str | None = None,
    region: str | None = None,
    validate: bool = True,
) -> Any:
    """A boto3 client on the emulator; no retries (a fault or a throttle is seen as it is)."""
    made = boto3.client(
        service,
        region_name=region or aws.region,
        endpoint_url=aws.endpoint,
        aws_access_key_id=key or aws.aws_access_key_id,
        aws_secret_access_key=secret or aws.aws_secret_access_key,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=validate),
    )
    made.meta.events.register("after-call", _checker)
    return made


def error_of(exc: Any) -> tuple[int, str, str]:
    """``(status, code, message)`` of a botocore ClientError."""
    response = exc.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def reboot() -> str:
    return json.dumps({"operation": "reboot"})
