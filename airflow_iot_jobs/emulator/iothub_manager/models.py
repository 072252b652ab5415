"""The IoTHub Manager's models (reference §4.2) and its translations to and from the IoT Hub's wire shapes.

The service is a thin layer over the hub's job client: ``JobResponse`` / ``DeviceJob`` from the hub become
``JobServiceModel`` / ``DeviceJobServiceModel`` and then the PascalCase ``JobApiModel``; a posted ``JobApiModel``
becomes a hub ``JobRequest``. Everything here is pure (no state): the enums as numbers, ``hh:mm:ss`` TimeSpans,
``EndTimeUtc`` only for terminal jobs, null fields omitted, ASP.NET's enum and bool binding of query strings,
Newtonsoft's case-insensitive reading of bodies, and the ``from`` / ``to`` bounds (``NOW``, ``NOW±duration``,
a date-time).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_iot_jobs.emulator.clock import iso7, parse_iso

# -- enums (Services/Models/JobServiceModel.cs, DeviceJobServiceModel.cs) -------------------------------------

JOB_TYPES = {"Unknown": 0, "ScheduleDeviceMethod": 3, "ScheduleUpdateTwin": 4}
JOB_STATUSES = {
    "Unknown": 0,
    "Enqueued": 1,
    "Running": 2,
    "Completed": 3,
    "Failed": 4,
    "Cancelled": 5,
    "Scheduled": 6,
    "Queued": 7,
}
DEVICE_JOB_STATUSES = {"Pending": 0, "Scheduled": 1, "Running": 2, "Completed": 3, "Failed": 4, "Canceled": 5}

#: hub wire word <-> number
HUB_JOB_TYPE = {0: "unknown", 3: "scheduleDeviceMethod", 4: "scheduleUpdateTwin"}
JOB_TYPE_OF_HUB = {word: number for number, word in HUB_JOB_TYPE.items()}
JOB_STATUS_OF_HUB = {name.lower(): number for name, number in JOB_STATUSES.items()}
HUB_JOB_STATUS = {number: word for word, number in JOB_STATUS_OF_HUB.items()}
DEVICE_JOB_STATUS_OF_HUB = {name.lower(): number for name, number in DEVICE_JOB_STATUSES.items()}
TERMINAL = {JOB_STATUSES["Completed"], JOB_STATUSES["Failed"], JOB_STATUSES["Cancelled"]}

#: ``MaxExecutionTimeInSeconds`` when a POST leaves it out. The seed (the service's API doc) says 3600; the C#
#: controller reads ``?? 0`` (reference §4.1). Issue 14 follows the seed, and the hub refuses 0 anyway.
DEFAULT_MAX_EXECUTION_SECONDS = 3600
#: ``CloudToDeviceMethod(name)`` in the C# SDK: a 30 s response timeout, no connect timeout (inferred default).
DEFAULT_RESPONSE_TIMEOUT = "00:00:30"

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def bind_enum(raw: str | None, names: Mapping[str, int]) -> int | None:
    """ASP.NET Core 2.x binding of ``Enum?`` from a query string (``EnumConverter``: ``Enum.Parse`` ignoring
    case): a name in any case, a number (defined or not: compatibility 2.0 binds undefined numbers), or names
    joined by commas (OR-ed, as ``Enum.Parse`` does). Empty or unreadable: None (not bound, no filter)."""
    if raw is None or not raw.strip():
        return None
    if _INTEGER.fullmatch(raw):
        try:
            return int(raw)
        except ValueError:
            return None
    lowered = {name.lower(): value for name, value in names.items()}
    value = 0
    for part in raw.split(","):
        number = lowered.get(part.strip().lower())
        if number is None:
            return None
        value |= number
    return value


def bind_bool(raw: str | None) -> bool | None:
    """``bool?`` from a query string: ``Boolean.Parse`` ("true"/"false", any case, trimmed); else not bound."""
    if raw is None:
        return None
    text = raw.strip().lower()
    return {"true": True, "false": False}.get(text)


def bind_int(raw: str | None) -> int | None:
    if raw is None or not _INTEGER.fullmatch(raw):
        return None
    value = int(raw)
    return value if -(2**31) <= value < 2**31 else None


# -- from / to (Services/Extensions/DateTimeOffsetExtension.cs) -------------------------------------------------

_NOW = re.compile(r"^NOW((?P<operator>[+-])(?P<offset>.*))?$", re.DOTALL)
# xs:duration as XmlConvert.ToTimeSpan reads it: upper-case designators, at least one component, T only with a
# time component, fractions only on seconds; years count 365 days and months 30 (XsdDuration.TryToTimeSpan).
_XS_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
MIN_SECONDS = datetime(1, 1, 1, tzinfo=UTC).timestamp()
MAX_SECONDS = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC).timestamp()


class BoundOutOfRange(ValueError):
    """``now ± offset`` outside DateTimeOffset's range: the C# arithmetic throws ArgumentOutOfRangeException."""


def xml_timespan(text: str) -> float:
    """Seconds of an xs:duration (``P30D``, ``PT1H``, ``P1Y2M``); ValueError when XmlConvert would throw."""
    match = _XS_DURATION.fullmatch(text.strip())
    if (
        match is None
        or text.strip().endswith("T")
        or not any(match.group(g) for g in ("y", "mo", "d", "h", "mi", "s"))
    ):
        raise ValueError(f"'{text}' is not a valid xs:duration")
    if "T" in text and not any(match.group(g) for g in ("h", "mi", "s")):
        raise ValueError(f"'{text}' is not a valid xs:duration")
    days = int(match.group("y") or 0) * 365 + int(match.group("mo") or 0) * 30 + int(match.group("d") or 0)
    seconds = (
        days * 86400
        + int(match.group("h") or 0) * 3600
        + int(match.group("mi") or 0) * 60
        + float(match.group("s") or 0)
    )
    if seconds > 10675199 * 86400:  # TimeSpan.MaxValue
        raise ValueError(f"'{text}' overflows a TimeSpan")
    return -seconds if match.group("sign") else seconds


def parse_date_time(text: str) -> float | None:
    """``DateTimeOffset.TryParse`` for the forms clients send: ISO 8601 (offset or naive = UTC, the service's
    container clock), RFC 1123, ``MM/dd/yyyy[ HH:mm:ss]``; None when it would fail."""
    value = text.strip()
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    for pattern in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def parse_bound(text: str | None, default: float, now: float) -> float:
    """A ``from`` / ``to`` query value as epoch seconds; ``default`` (``-inf`` = MinValue, ``+inf`` = MaxValue)
    when absent or unreadable, as the C# extension does: ``NOW``, ``NOW+<xs:duration>``, ``NOW-<xs:duration>``
    (a duration XmlConvert cannot read: default, e.g. the seed's own ``NOW-30D``), else DateTimeOffset.TryParse.
    ``NOW`` is case-sensitive (``now`` is tried as a date and fails)."""
    if text is None or text == "":
        return default
    match = _NOW.match(text)
    if match is None:
        parsed = parse_date_time(text)
        return default if parsed is None else parsed
    if match.group("operator") is None:
        return now
    try:
        offset = xml_timespan(match.group("offset"))
    except ValueError:
        return default
    result = now + offset if match.group("operator") == "+" else now - offset
    if not MIN_SECONDS <= result <= MAX_SECONDS:
        raise BoundOutOfRange(
            "The UTC time represented when the offset is applied must be between year 0 and 10,000."
        )
    return result


def within(created: str | None, lower: float, upper: float) -> bool:
    """``CreatedTimeUtc >= from && CreatedTimeUtc <= to`` (a job without a created time: ``default`` = MinValue)."""
    when = -math.inf if not created else parse_iso(created)
    return lower <= when <= upper


# -- TimeSpan ---------------------------------------------------------------------------------------------------


def timespan(seconds: float | int | None) -> str | None:
    """Newtonsoft's TimeSpan: ``hh:mm:ss``, ``d.hh:mm:ss`` past a day, ``.fffffff`` for fractions."""
    if seconds is None:
        return None
    total = float(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    whole = int(total)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if days:
        text = f"{days}.{text}"
    ticks = round((total - whole) * 10_000_000)
    if ticks:
        text += f".{ticks:07d}"
    return sign + text


_TIMESPAN = re.compile(
    r"\s*(?P<sign>-)?(?:(?P<d>\d+)\.)?(?P<h>\d+):(?P<m>\d+)(?::(?P<s>\d+)(?:\.(?P<f>\d{1,7}))?)?\s*"
)


def parse_timespan(text: str) -> float:
    """``TimeSpan.Parse`` (invariant): ``[-][d.]hh:mm[:ss[.fffffff]]``, or a bare integer = days (so ``"30"`` is
    30 days, a classic mistake the hub then refuses)."""
    if _INTEGER.fullmatch(text):
        return int(text) * 86400.0
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ValueError(f"String '{text}' was not recognized as a valid TimeSpan.")
    hours, minutes, secs = int(match.group("h")), int(match.group("m")), int(match.group("s") or 0)
    if hours > 23 or minutes > 59 or secs > 59:
        raise ValueError(
            f"The TimeSpan string '{text}' could not be parsed because a component is out of range."
        )
    fraction = int((match.group("f") or "0").ljust(7, "0")) / 10_000_000
    value = int(match.group("d") or 0) * 86400 + hours * 3600 + minutes * 60 + secs + fraction
    return -value if match.group("sign") else value


# -- JobApiModel out --------------------------------------------------------------------------------------------


def _put(body: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:  # NullValueHandling.Ignore
        body[name] = value


def method_parameter(method: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if method is None:
        return None
    body: dict[str, Any] = {}
    _put(body, "Name", method.get("methodName"))
    _put(body, "ResponseTimeout", timespan(method.get("responseTimeoutInSeconds")))
    _put(body, "ConnectionTimeout", timespan(method.get("connectTimeoutInSeconds")))
    if "payload" in method and method["payload"] is not None:
        body["JsonPayload"] = json.dumps(method["payload"], separators=(",", ":"), ensure_ascii=False)
    return body


def update_twin(twin: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if twin is None:
        return None
    tags = dict(twin.get("tags") or {})
    properties = twin.get("properties") or {}
    body: dict[str, Any] = {}
    _put(body, "ETag", twin.get("etag"))
    _put(body, "DeviceId", twin.get("deviceId"))
    body["Properties"] = {
        "Desired": dict(properties.get("desired") or {}),
        "Reported": dict(properties.get("reported") or {}),
    }
    body["Tags"] = tags
    body["IsSimulated"] = tags.get("IsSimulated") == "Y"  # TwinServiceModel: the simulation's tag
    return body


def result_statistics(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "DeviceCount": stats.get("deviceCount", 0),
        "FailedCount": stats.get("failedCount", 0),
        "SucceededCount": stats.get("succeededCount", 0),
        "RunningCount": stats.get("runningCount", 0),
        "PendingCount": stats.get("pendingCount", 0),
    }


def device_job(row: Mapping[str, Any]) -> dict[str, Any]:
    """A hub ``devices.jobs`` row as ``DeviceJobApiModel`` (times passed through as the hub wrote them)."""
    body: dict[str, Any] = {
        "DeviceId": row.get("deviceId"),
        "Status": DEVICE_JOB_STATUS_OF_HUB.get(str(row.get("status", "")).lower(), 0),
    }
    for name, key in (
        ("StartTimeUtc", "startTimeUtc"),
        ("EndTimeUtc", "endTimeUtc"),
        ("CreatedDateTimeUtc", "createdDateTimeUtc"),
        ("LastUpdatedDateTimeUtc", "lastUpdatedDateTimeUtc"),
    ):
        _put(body, name, row.get(key))
    response = (row.get("outcome") or {}).get("deviceMethodResponse")
    if response is not None:
        outcome: dict[str, Any] = {"Status": response.get("status")}
        if response.get("payload") is not None:
            outcome["JsonPayload"] = json.dumps(
                response["payload"], separators=(",", ":"), ensure_ascii=False
            )
        body["Outcome"] = outcome
    error = row.get("error")
    if error is not None:
        body["Error"] = {"Code": error.get("code"), "Description": error.get("description")}
    return body


def job_api_model(job: Mapping[str, Any], devices: list[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A hub ``JobResponse`` (as much of it as the hub sent) as ``JobApiModel``.

    ``EndTimeUtc`` is kept only for Completed, Failed and Cancelled ("IoT Hub will return a date of 12/30/9999 if
    job hasn't completed yet"); ``Type`` and ``Status`` are non-nullable numbers (0 = Unknown for a word the enum
    lacks); ``Devices`` only when device details were asked for (an empty list stays ``[]``)."""
    status = JOB_STATUS_OF_HUB.get(str(job.get("status", "")).lower(), 0)
    body: dict[str, Any] = {}
    _put(body, "JobId", job.get("jobId"))
    _put(body, "QueryCondition", job.get("queryCondition"))
    _put(body, "CreatedTimeUtc", job.get("createdTime"))
    _put(body, "StartTimeUtc", job.get("startTime"))
    if status in TERMINAL:
        _put(body, "EndTimeUtc", job.get("endTime"))
    _put(body, "MaxExecutionTimeInSeconds", job.get("maxExecutionTimeInSeconds"))
    body["Type"] = JOB_TYPE_OF_HUB.get(str(job.get("type", "")), 0)
    body["Status"] = status
    _put(body, "MethodParameter", method_parameter(job.get("cloudToDeviceMethod")))
    _put(body, "UpdateTwin", update_twin(job.get("updateTwin")))
    _put(body, "FailureReason", job.get("failureReason"))
    _put(body, "StatusMessage", job.get("statusMessage"))
    _put(body, "ResultStatistics", result_statistics(job.get("deviceJobStatistics")))
    if devices is not None:
        body["Devices"] = [device_job(row) for row in devices]
    return body


# -- JobApiModel in ---------------------------------------------------------------------------------------------


class BindFailure(ValueError):
    """Newtonsoft could not read the body into a JobApiModel: the action receives null."""


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """Newtonsoft's member lookup: the exact name first, then case-insensitively."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    raise BindFailure("not a string")


def _object(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise BindFailure("not an object")


@dataclass(frozen=True)
class JobInput:
    """A posted JobApiModel, as far as the controller reads it."""

    job_id: str | None
    query_condition: str | None
    start_time: float | None
    max_execution_seconds: int | None
    method: (
        dict[str, Any] | None
    )  # MethodParameter: name, response/connection timeout (seconds), payload text
    twin: dict[str, Any] | None  # UpdateTwin: etag, deviceId, tags, desired, reported


def bind_job(raw: Any) -> JobInput:
    """Read a body the way Newtonsoft fills ``JobApiModel``; BindFailure when it would give up."""
    if not isinstance(raw, dict):
        raise BindFailure("the body is not a JSON object")
    start = _field(raw, "StartTimeUtc")
    if start is not None:
        if not isinstance(start, str):
            raise BindFailure("StartTimeUtc")
        parsed = parse_date_time(start)
        if parsed is None:
            raise BindFailure("StartTimeUtc")
        start = parsed
    max_execution = _field(raw, "MaxExecutionTimeInSeconds")
    if max_execution is not None:
        if isinstance(max_execution, str) and _INTEGER.fullmatch(max_execution):
            max_execution = int(max_execution)
        if isinstance(max_execution, bool) or not isinstance(max_execution, int):
            raise BindFailure("MaxExecutionTimeInSeconds")
    method = _object(_field(raw, "MethodParameter"))
    method_input = None
    if method is not None:
        method_input = {
            "name": _string(_field(method, "Name")),
            "payload": _string(_field(method, "JsonPayload")),
        }
        for name, key in (
            ("ResponseTimeout", "response_timeout"),
            ("ConnectionTimeout", "connection_timeout"),
        ):
            value = _field(method, name)
            if value is not None and not isinstance(value, str):
                raise BindFailure(name)
            try:
                method_input[key] = None if value is None else parse_timespan(value)
            except ValueError:
                raise BindFailure(name) from None
    twin = _object(_field(raw, "UpdateTwin"))
    twin_input = None
    if twin is not None:
        properties = _object(_field(twin, "Properties")) or {}
        twin_input = {
            "etag": _string(_field(twin, "ETag")),
            "deviceId": _string(_field(twin, "DeviceId")),
            "tags": _object(_field(twin, "Tags")),
            "desired": _object(_field(properties, "Desired")),
            "reported": _object(_field(properties, "Reported")),
        }
    for name, names in (("Type", JOB_TYPES), ("Status", JOB_STATUSES)):
        value = _field(raw, name)  # read (and checked) by Newtonsoft, ignored by the controller
        if value is not None and not (
            (isinstance(value, int) and not isinstance(value, bool))
            or (isinstance(value, str) and bind_enum(value, names) is not None)
        ):
            raise BindFailure(name)
    return JobInput(
        job_id=_string(_field(raw, "JobId")),
        query_condition=_string(_field(raw, "QueryCondition")),
        start_time=start,
        max_execution_seconds=max_execution,
        method=method_input,
        twin=twin_input,
    )


def hub_method(method: Mapping[str, Any]) -> dict[str, Any]:
    """``new CloudToDeviceMethod(Name, ResponseTimeout, ConnectionTimeout)`` + ``SetPayloadJson(JsonPayload)``
    as the hub's ``cloudToDeviceMethod`` (timeouts in whole seconds; a payload that is not JSON raises
    ValueError as SetPayloadJson throws ArgumentException)."""
    body: dict[str, Any] = {"methodName": method.get("name")}
    payload = method.get("payload")
    if payload is not None:
        try:
            body["payload"] = json.loads(payload)
        except ValueError:
            raise ValueError("The payload is not a valid JSON.\r\nParameter name: jsonPayload") from None
    response = method.get("response_timeout")
    body["responseTimeoutInSeconds"] = int(30 if response is None else response)
    connection = method.get("connection_timeout")
    body["connectTimeoutInSeconds"] = int(0 if connection is None else connection)
    return body


def hub_twin(twin: Mapping[str, Any]) -> dict[str, Any]:
    """``TwinServiceModel.ToAzureModel()`` as the hub's ``updateTwin``: an absent ETag goes as ``*`` (inferred:
    the seed's own example posts a twin job without one); empty sections are left out."""
    body: dict[str, Any] = {"etag": twin.get("etag") or "*"}
    if twin.get("deviceId"):
        body["deviceId"] = twin["deviceId"]
    if twin.get("tags"):
        body["tags"] = twin["tags"]
    properties = {}
    if twin.get("desired"):
        properties["desired"] = twin["desired"]
    if twin.get("reported"):
        properties["reported"] = twin["reported"]
    if properties:
        body["properties"] = properties
    return body


def iso_start(epoch: float) -> str:
    return iso7(epoch)
