"""Input rules checked before any API call; every error names the field and the rule it broke.

Standard library only (plus isodate, imported when a duration string is given): operators call these at
execute time, after templates are rendered, and at DAG parse time for values that are not templates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_METHOD_PAYLOAD_BYTES = 128 * 1024
MAX_TWIN_DEPTH = 10
MAX_TWIN_KEY_BYTES = 1024
MAX_TWIN_VALUE_BYTES = 4 * 1024
MAX_TAGS_BYTES = 8 * 1024
MAX_DESIRED_BYTES = 32 * 1024
MAX_JOB_ID_LENGTH = 64

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]*")
_METHOD_NAME = re.compile(r"[A-Za-z0-9_\-.:]+")
_FORBIDDEN_KEY_CHARS = set(". $")


def validate_job_id(value: object, field: str = "job_id") -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
    if len(value) > MAX_JOB_ID_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_JOB_ID_LENGTH} characters, got {len(value)}")
    if not _JOB_ID.fullmatch(value):
        raise ValueError(
            f"{field}: {value!r} may contain only letters, digits, '-', '.' and '_', and must start with a "
            "letter or digit"
        )
    return value


def validate_method_name(value: object, field: str = "method_name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
    if len(value) > 100 or not _METHOD_NAME.fullmatch(value):
        raise ValueError(
            f"{field}: {value!r} must be at most 100 characters of letters, digits, '_', '-', '.' or ':'"
        )
    return value


def coerce_json_object(value: object, field: str) -> Any:
    """A JSON value given as a Python object or as a JSON string (templated params render to strings)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{field}: is a string but not valid JSON ({err.msg} at position {err.pos})"
            ) from None
    return value


def json_size(value: object, field: str) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field}: must be JSON-serialisable ({err})") from None


def validate_method_payload(value: object, field: str = "payload") -> Any:
    payload = coerce_json_object(value, field)
    size = json_size(payload, field)
    if size > MAX_METHOD_PAYLOAD_BYTES:
        raise ValueError(f"{field}: is {size:,} bytes as JSON; a direct method payload may be at most 128 KB")
    return payload


def validate_timeout_seconds(value: object, field: str, minimum: int, maximum: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be a whole number of seconds, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{field}: must be between {minimum} and {maximum} seconds, got {value}")
    return value


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


def parse_start_time(value: object, field: str = "start_time") -> datetime | None:
    """None (run now), an aware datetime, or an ISO 8601 string; returned in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{field}: {value!r} is not an ISO 8601 date-time such as '2026-11-29T02:00:00Z'"
            ) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise ValueError(f"{field}: must be an ISO 8601 string or a datetime, got {type(value).__name__}")
    if moment.tzinfo is None:
        raise ValueError(f"{field}: {value!r} has no time zone; add 'Z' or an offset such as '+01:00'")
    return moment.astimezone(UTC)


def parse_duration_seconds(value: object, field: str, minimum: float = 1.0) -> float:
    """Seconds as a number, a timedelta, or an ISO 8601 duration string ('PT1H')."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: must be seconds, a timedelta or an ISO 8601 duration, got {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            import isodate

            try:
                parsed = isodate.parse_duration(text)
            except (isodate.ISO8601Error, ValueError):
                raise ValueError(
                    f"{field}: {value!r} is not a number of seconds or an ISO 8601 duration such as 'PT1H'"
                ) from None
            if not isinstance(parsed, timedelta):
                raise ValueError(
                    f"{field}: {value!r} uses years or months; give days or smaller units"
                ) from None
            seconds = parsed.total_seconds()
    else:
        raise ValueError(f"{field}: must be seconds, a timedelta or an ISO 8601 duration, got {value!r}")
    if not math.isfinite(seconds) or seconds < minimum:
        raise ValueError(f"{field}: must be at least {minimum:g} seconds, got {value!r}")
    return seconds


def validate_interval(value: object, field: str) -> float:
    """A positive, finite number of seconds (or a timedelta) between reads."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{field}: must be a positive number of seconds or a timedelta, got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{field}: must be a positive, finite number of seconds, got {value!r}")
    return seconds


_DEVICE_ID = re.compile(r"[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}")
_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
MAX_BLOB_NAME = 1024


def validate_device_id(value: object, field: str) -> str:
    """The identity registry's rule: 1-128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '."""
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise ValueError(
            f"{field}: 'id' {value!r} must be 1 to 128 ASCII letters, digits or - . % _ * ? ! ( ) , : = @ $ '"
        )
    return value


def validate_container_name(value: object, field: str = "container") -> str:
    """Azure's rule: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."""
    if not isinstance(value, str) or not _CONTAINER.fullmatch(value):
        raise ValueError(
            f"{field}: {value!r} is not a valid container name (3 to 63 lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit)"
        )
    return value


def validate_blob_name(value: object, field: str = "blob_name") -> str:
    if not isinstance(value, str) or not value.strip() or value.endswith("/") or len(value) > MAX_BLOB_NAME:
        raise ValueError(
            f"{field}: {str(value)[:60]!r} must be a blob name of 1 to {MAX_BLOB_NAME} characters not ending in '/'"
        )
    return value
