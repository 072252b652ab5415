"""The IoTHub Manager service's own vocabulary and query rules, checked before any request.

Its jobs are IoT Hub scheduled jobs (query conditions, method names, payloads and twin rules are the hub's:
:mod:`airflow_iot_jobs.validation.iothub`); what is its own is the numeric enums (answered as numbers, accepted as
names or numbers in queries) and the ``from`` / ``to`` time bounds of ``GET /v1/jobs``: ``NOW``,
``NOW±<duration>`` (parsed by the service with ``XmlConvert.ToTimeSpan``: an xsd:duration in days, hours, minutes
and seconds) or a date-time. The service turns anything else into "no bound" without a word, so a typo would
silently widen a report: here it is an error naming the field. Standard library only (isodate when a duration is
given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

#: ``Services/Models/JobServiceModel.cs`` / ``DeviceJobServiceModel.cs`` ("refer to Microsoft.Azure.Devices.*")
JOB_TYPES: Mapping[str, int] = {"Unknown": 0, "ScheduleDeviceMethod": 3, "ScheduleUpdateTwin": 4}
JOB_STATUSES: Mapping[str, int] = {
    "Unknown": 0,
    "Enqueued": 1,
    "Running": 2,
    "Completed": 3,
    "Failed": 4,
    "Cancelled": 5,
    "Scheduled": 6,
    "Queued": 7,
}
DEVICE_JOB_STATUSES: Mapping[str, int] = {
    "Pending": 0,
    "Scheduled": 1,
    "Running": 2,
    "Completed": 3,
    "Failed": 4,
    "Canceled": 5,
}
#: the other spelling of "cancelled" each enum does not use
_SPELLINGS = {"canceled": "cancelled", "cancelled": "canceled"}
_NOW = re.compile(r"NOW(?:(?P<sign>[+-])(?P<offset>.*))?", re.IGNORECASE)
_XSD_DURATION = re.compile(r"P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")


def name_of(value: object, names: Mapping[str, int]) -> str:
    """The enum name of a number (or a name) the service answered; ``str(value)`` when it is not one."""
    try:
        return enum_name(value, "value", names)
    except ValueError:
        return str(value)


def enum_name(value: object, field: str, names: Mapping[str, int]) -> str:
    """A name (any case, either spelling of "cancelled") or a number of the enum, as its canonical name."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in names.items():
            if number == value:
                return name
    elif isinstance(value, str):
        lowered = value.strip().lower()
        by_lower = {name.lower(): name for name in names}
        found = by_lower.get(lowered) or by_lower.get(_SPELLINGS.get(lowered, ""))
        if found:
            return found
    choices = ", ".join(f"{name} ({number})" for name, number in names.items())
    raise ValueError(f"{field}: {value!r} is not one of {choices}")


def validate_page_size(value: object, field: str = "page_size") -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field}: must be a whole number ≥ 1, got {value!r}")
    return value


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def time_bound(value: object, field: str) -> str | None:
    """``from`` / ``to`` as the service reads them: ``NOW``, ``NOW-P30D``, ``NOW+PT1H``, or an aware date-time
    (a ``datetime`` or an ISO 8601 string with a zone), sent in UTC. ``None`` / ``""``: no bound."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: {value!r} has no time zone; use an aware datetime")
        return _iso_utc(value)
    if not isinstance(value, str):
        raise ValueError(
            f"{field}: must be 'NOW', 'NOW-P30D', an ISO 8601 date-time or a datetime, got {value!r}"
        )
    text = value.strip()
    if match := _NOW.fullmatch(text):
        if match.group("sign") is None:
            return "NOW"
        offset = match.group("offset").strip().upper()
        xsd_duration(offset, field, value)
        return f"NOW{match.group('sign')}{offset}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{field}: {value!r} is neither 'NOW', 'NOW±<ISO 8601 duration>' (e.g. 'NOW-P30D') nor an ISO 8601 "
            "date-time such as '2026-11-01T00:00:00Z'"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{field}: {value!r} has no time zone; add 'Z' or an offset such as '+01:00'")
    return _iso_utc(moment)


def xsd_duration(offset: str, field: str, value: object) -> timedelta:
    """The duration after ``NOW±``: ISO 8601 (isodate) in the units the service's parser takes (days, hours,
    minutes, seconds: no years, months or weeks, which ``XmlConvert.ToTimeSpan`` refuses or guesses)."""
    import isodate

    rule = (
        f"{field}: {value!r} needs an ISO 8601 duration after NOW+ / NOW- in days, hours, minutes or seconds, "
        "e.g. 'NOW-P30D', 'NOW-PT12H' (the service ignores a bound it cannot read)"
    )
    try:
        parsed = isodate.parse_duration(offset)
    except (isodate.ISO8601Error, ValueError):
        raise ValueError(rule) from None
    if not isinstance(parsed, timedelta) or not _XSD_DURATION.fullmatch(offset):
        raise ValueError(rule)
    return parsed


def resolve_bound(bound: str | None, now: datetime) -> datetime | None:
    """A checked bound as a moment (``NOW…`` relative to ``now``), to compare ``from`` with ``to``."""
    if bound is None:
        return None
    if bound.startswith("NOW"):
        if bound == "NOW":
            return now
        offset = xsd_duration(bound[4:], "bound", bound)
        return now + offset if bound[3] == "+" else now - offset
    return datetime.fromisoformat(bound)


def time_window(from_time: object, to_time: object) -> tuple[str | None, str | None]:
    """Both bounds checked, and ``from`` not after ``to``."""
    start, end = time_bound(from_time, "from_time"), time_bound(to_time, "to_time")
    now = datetime.now(UTC)
    first, last = resolve_bound(start, now), resolve_bound(end, now)
    if first is not None and last is not None and first > last:
        raise ValueError(f"from_time: {start} is after to_time {end}; the window would hold no job")
    return start, end
