"""Azure IoT Hub's own limits and rules, one definition each, shared by the provider and the emulator.

Job ids: IoT Hub documents no limit of its own for a job id; the identity registry's rule for ids (device and
module ids: at most 128 characters) is what the service enforces for every identifier it stores, so 128 it is.
Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.validation.common import (
    coerce_json_object,
    json_size,
    parse_duration_seconds,
    parse_start_time,
    validate_timeout_seconds,
)

MAX_METHOD_PAYLOAD_BYTES = 128 * 1024
MAX_METHOD_NAME_LENGTH = 100
MAX_TWIN_DEPTH = 10
MAX_TWIN_KEY_BYTES = 1024
MAX_TWIN_VALUE_BYTES = 4 * 1024
MAX_TAGS_BYTES = 8 * 1024
MAX_DESIRED_BYTES = 32 * 1024
MAX_JOB_ID_LENGTH = 128
MAX_DEVICE_ID_LENGTH = 128
# The service's own ceiling for a job's run time is not documented; the CLI defaults to 3600 s.
MAX_EXECUTION_TIME_LIMIT = 7 * 24 * 3600
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]*")
JOB_ID_RULE = "letters, digits, '-', '.' and '_', starting with a letter or digit"
#: every importMode the import job accepts (case-insensitive on the wire)
IMPORT_MODES = (
    "create",
    "update",
    "updateIfMatchETag",
    "delete",
    "deleteIfMatchETag",
    "createOrUpdate",
    "createOrUpdateIfMatchETag",
    "updateTwin",
    "updateTwinIfMatchETag",
)
IMPORT_MODES_BY_LOWER = {mode.lower(): mode for mode in IMPORT_MODES}

_METHOD_NAME = re.compile(r"[A-Za-z0-9_\-.:]+")
_FORBIDDEN_KEY_CHARS = set(". $")
_DEVICE_ID = re.compile(r"[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}")


def validate_method_name(value: object, field: str = "method_name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
    if not _METHOD_NAME.fullmatch(value):
        bad = sorted({ch for ch in value if not _METHOD_NAME.fullmatch(ch)})
        raise ValueError(
            f"{field}: {value!r} contains {', '.join(repr(ch) for ch in bad)}; a method name may contain only "
            "letters, digits, '_', '-', '.' and ':'"
        )
    if len(value) > MAX_METHOD_NAME_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_METHOD_NAME_LENGTH} characters, got {len(value)}")
    return value


def validate_method_payload(value: object, field: str = "payload") -> Any:
    payload = coerce_json_object(value, field)
    size = json_size(payload, field)
    if size > MAX_METHOD_PAYLOAD_BYTES:
        raise ValueError(f"{field}: is {size:,} bytes as JSON; a direct method payload may be at most 128 KB")
    return payload


def validate_twin_section(value: object, field: str, max_bytes: int) -> dict[str, Any]:
    """Tags or desired properties: a JSON object of depth ≤ 10 with valid keys and bounded sizes."""
    section = coerce_json_object(value, field)
    if not isinstance(section, Mapping):
        raise ValueError(f"{field}: must be a JSON object (a dict), got {type(section).__name__}")
    section = _plain(section)
    _check_twin_node(section, field, depth=1)
    size = json_size(section, field)
    if size > max_bytes:
        raise ValueError(
            f"{field}: is {size:,} bytes as JSON; the limit for this twin section is {max_bytes:,}"
        )
    return dict(section)


def _plain(node: Any) -> Any:
    """Mappings of any kind (MappingProxyType, rendered templates) as plain dicts, for JSON."""
    if isinstance(node, Mapping):
        return {key: _plain(child) for key, child in node.items()}
    return node


def _check_twin_node(node: Mapping[str, Any], path: str, depth: int) -> None:
    if depth > MAX_TWIN_DEPTH:
        raise ValueError(f"{path}: twin objects may be nested at most {MAX_TWIN_DEPTH} levels deep")
    for key, child in node.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{path}: keys must be non-empty strings, got {key!r}")
        bad = sorted(_FORBIDDEN_KEY_CHARS.intersection(key))
        if bad or any(ord(ch) < 32 for ch in key):
            shown = ", ".join(repr(ch) for ch in bad) or "a control character"
            raise ValueError(
                f"{path}: key {key!r} contains {shown}; twin keys may not contain '.', '$', spaces"
            )
        if len(key.encode()) > MAX_TWIN_KEY_BYTES:
            raise ValueError(f"{path}: key {key[:40]!r}… is longer than {MAX_TWIN_KEY_BYTES} bytes")
        child_path = f"{path}.{key}"
        if isinstance(child, Mapping):
            _check_twin_node(child, child_path, depth + 1)
        elif isinstance(child, str) and len(child.encode()) > MAX_TWIN_VALUE_BYTES:
            raise ValueError(f"{child_path}: value is longer than {MAX_TWIN_VALUE_BYTES} bytes")
        elif isinstance(child, list | tuple):
            raise ValueError(f"{child_path}: arrays are not allowed in twin patches; use an object")


def validate_device_id(value: object, field: str) -> str:
    """The identity registry's rule: 1-128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '."""
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise ValueError(
            f"{field}: device id {value!r} must be 1 to {MAX_DEVICE_ID_LENGTH} ASCII letters, digits or "
            "- . % _ * ? ! ( ) , : = @ $ '"
        )
    return value


def device_ids_condition(device_ids: object, field: str = "device_ids") -> str:
    """``deviceId IN ['a', 'b']``: a list of device ids as a query condition, within the query length limit."""
    from airflow_iot_jobs.query.iothub import MAX_QUERY_LENGTH

    if isinstance(device_ids, str) or not isinstance(device_ids, list | tuple | set | frozenset):
        raise ValueError(f"{field}: must be a list of device ids, got {type(device_ids).__name__}")
    ids = list(dict.fromkeys(device_ids))
    if not ids:
        raise ValueError(f"{field}: the list is empty; give at least one device id")
    for position, device_id in enumerate(ids):
        validate_device_id(device_id, f"{field}[{position}]")
    literals = ", ".join("'" + device_id.replace("'", "''") + "'" for device_id in ids)
    condition = f"deviceId IN [{literals}]"
    length = len("SELECT * FROM devices WHERE ") + len(condition)
    if length > MAX_QUERY_LENGTH:
        raise ValueError(
            f"{field}: {len(ids):,} device ids make a query of {length:,} characters, over IoT Hub's limit of "
            f"{MAX_QUERY_LENGTH:,}; target them by a tag instead (e.g. a twin job that tags them first)"
        )
    return condition


# ------------------------------------------------------------------ a scheduled job's parameters, checked once
# (the IoT Hub operators and the IoTHub Manager operators, which schedule the same jobs on the same hub)


def check_target_choice(query_condition: object, device_ids: object) -> None:
    """At DAG parse: exactly one way of selecting the devices."""
    if (query_condition is None) == (device_ids is None):
        raise ValueError("query_condition / device_ids: give exactly one of them to select the devices")


def check_twin_choice(tags: object, desired_properties: object) -> None:
    """At DAG parse: a twin job updates something."""
    if tags is None and desired_properties is None:
        raise ValueError("tags / desired_properties: give at least one of them to update")


def scheduled_job_request(
    query_condition: object, device_ids: object, start_time: object, max_execution_time: object
) -> dict[str, Any]:
    """The rendered target, start time (UTC, or ``None``: now) and time limit (seconds) of a scheduled job."""
    from airflow_iot_jobs.query.iothub import validate_query_condition

    if device_ids is not None:
        condition = device_ids_condition(device_ids)
    else:
        validate_query_condition(query_condition, "query_condition")
        condition = str(query_condition).strip()
    seconds = parse_duration_seconds(max_execution_time, "max_execution_time")
    if seconds > MAX_EXECUTION_TIME_LIMIT:
        raise ValueError(f"max_execution_time: must be at most {MAX_EXECUTION_TIME_LIMIT} seconds (7 days)")
    return {
        "query_condition": condition,
        "start_time": parse_start_time(start_time, "start_time"),
        "max_execution_time": int(seconds),
    }


def device_method_request(
    method_name: object, payload: object, response_timeout: object, connect_timeout: object
) -> dict[str, Any]:
    """A direct method job's rendered method, payload and timeouts (seconds)."""
    return {
        "method_name": validate_method_name(method_name),
        "payload": validate_method_payload(payload),
        "response_timeout": validate_timeout_seconds(response_timeout, "response_timeout", 5, 300),
        "connect_timeout": validate_timeout_seconds(connect_timeout, "connect_timeout", 0, 300),
    }


def twin_update_request(tags: object, desired_properties: object, etag: object) -> dict[str, Any]:
    """A twin update job's rendered tags, desired properties and etag."""
    checked_tags = None if tags is None else validate_twin_section(tags, "tags", MAX_TAGS_BYTES)
    desired = (
        None
        if desired_properties is None
        else validate_twin_section(desired_properties, "desired_properties", MAX_DESIRED_BYTES)
    )
    if not checked_tags and not desired:
        raise ValueError("tags / desired_properties: the patch is empty; give at least one key to update")
    if not isinstance(etag, str) or not etag:
        raise ValueError(f"etag: must be a non-empty string ('*' matches any twin), got {etag!r}")
    return {"tags": checked_tags, "desired_properties": desired, "etag": etag}
