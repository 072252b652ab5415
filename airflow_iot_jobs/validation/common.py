"""Backend-neutral input rules checked before any API call; every error names the field and the rule it broke.

Standard library only (plus isodate, imported when a duration string is given): operators call these at
execute time, after templates are rendered, and at DAG parse time for values that are not templates.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any


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


def validate_timeout_seconds(value: object, field: str, minimum: int, maximum: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be a whole number of seconds, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{field}: must be between {minimum} and {maximum} seconds, got {value}")
    return value


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
