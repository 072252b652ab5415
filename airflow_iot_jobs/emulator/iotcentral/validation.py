"""Request checks from the spec extract: path ids (``^[a-zA-Z0-9_-]*$``, at most 255), ``Job``, ``ScheduledJob``
and ``DeviceGroup`` bodies (required fields, ``data`` min 1 entry, the JobData variants, batch and cancellation
threshold shapes, the schedule and its end). Every failure is a 400 ``BadRequest`` whose message names the field.
Read-only fields a client echoes back (``id``, ``status``, ``progress``, ``start``, ``end``, ``etag``,
``completed``) are ignored, as the service ignores them.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from airflow_iot_jobs.emulator.clock import parse_iso
from airflow_iot_jobs.emulator.iotcentral.errors import CentralError, bad_request
from airflow_iot_jobs.query.iotcentral import validate_filter

ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]*")
MAX_ID_LENGTH = 255

#: the spec's discriminator values; the docs (howto-manage-jobs-with-rest-api.md) write the class names instead,
#: and the emulator accepts both spellings (reference §1.3), answering with the one it was sent.
DATA_TYPES: dict[str, str] = {
    "property": "property",
    "command": "command",
    "cloudProperty": "cloudProperty",
    "deviceTemplateMigration": "deviceTemplateMigration",
    "PropertyJobData": "property",
    "CommandJobData": "command",
    "CloudPropertyJobData": "cloudProperty",
    "DeviceTemplateMigrationJobData": "deviceTemplateMigration",
}
RECURRENCES = ("daily", "weekly", "monthly")
THRESHOLD_TYPES = ("number", "percentage")


def check_id(value: str, field: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise bad_request(f"{field}: must be at most {MAX_ID_LENGTH} characters long (got {len(value)}).")
    if not value or not ID_PATTERN.fullmatch(value):
        raise bad_request(f"{field}: '{value[:64]}' must match ^[a-zA-Z0-9_-]*$ and not be empty.")
    return value


def _object(body: Any, field: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"{field}: must be a JSON object.")
    return body


def _string(
    body: dict[str, Any], name: str, field: str, *, required: bool = False, min_length: int = 0
) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{field}.{name}: is required.")
        return
    if not isinstance(value, str):
        raise bad_request(f"{field}.{name}: must be a string.")
    if len(value) < min_length:
        raise bad_request(f"{field}.{name}: must not be empty.")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_threshold(value: Any, field: str, *, with_batch: bool) -> None:
    """``JobBatch`` (``with_batch=False``) or ``JobCancellationThreshold``."""
    shape = _object(value, field)
    if shape.get("type") not in THRESHOLD_TYPES:
        raise bad_request(f"{field}.type: must be 'number' or 'percentage'.")
    amount = shape.get("value")
    if not _number(amount):
        raise bad_request(f"{field}.value: is required and must be a number.")
    if shape["type"] == "percentage" and not 0 < amount <= 100:
        raise bad_request(f"{field}.value: a percentage must be within (0, 100], got {amount}.")
    if shape["type"] == "number" and amount < 1:
        raise bad_request(f"{field}.value: a number of devices must be at least 1, got {amount}.")
    if with_batch and "batch" in shape and not isinstance(shape["batch"], bool):
        raise bad_request(f"{field}.batch: must be true or false.")


def check_data(value: Any, field: str, *, same_type: bool) -> None:
    if not isinstance(value, list) or not value:
        raise bad_request(f"{field}: is required and must hold at least 1 entry.")
    kinds = set()
    for index, entry in enumerate(value):
        where = f"{field}[{index}]"
        item = _object(entry, where)
        kind = DATA_TYPES.get(item.get("type"))  # type: ignore[arg-type]
        if kind is None:
            raise bad_request(
                f"{where}.type: must be one of property, command, cloudProperty, deviceTemplateMigration."
            )
        kinds.add(kind)
        if kind == "deviceTemplateMigration":
            _string(item, "template", where, required=True, min_length=1)
        else:
            _string(item, "target", where, required=True, min_length=1)
            _string(item, "path", where, required=True, min_length=1)
            if "value" in item and item["value"] is None:
                raise bad_request(f"{where}.value: must not be null.")
    if same_type and len(kinds) > 1:
        raise bad_request(f"{field}: all entries must be of the same type.")


def _common(body: dict[str, Any], field: str, *, same_type: bool) -> None:
    for name in ("displayName", "description"):
        _string(body, name, field)
    _string(body, "group", field, required=True, min_length=1)
    if body.get("batch") is not None:
        check_threshold(body["batch"], f"{field}.batch", with_batch=False)
    if body.get("cancellationThreshold") is not None:
        check_threshold(body["cancellationThreshold"], f"{field}.cancellationThreshold", with_batch=True)
    check_data(body.get("data"), f"{field}.data", same_type=same_type)
    organizations = body.get("organizations")
    if organizations is not None and (
        not isinstance(organizations, list)
        or len(organizations) != 1
        or not all(isinstance(o, str) for o in organizations)
    ):
        raise bad_request(f"{field}.organizations: must be a list of exactly 1 organization id.")


def check_job(body: Any) -> dict[str, Any]:
    job = _object(body, "job")
    _common(job, "job", same_type=False)
    return job


def check_schedule(value: Any, field: str) -> None:
    schedule = _object(value, field)
    start = schedule.get("start")
    if not isinstance(start, str):
        raise bad_request(f"{field}.start: is required and must be an ISO 8601 date-time.")
    try:
        parse_iso(start)
    except ValueError:
        raise bad_request(f"{field}.start: '{start}' is not an ISO 8601 date-time.") from None
    recurrence = schedule.get("recurrence")
    if recurrence is not None and recurrence not in RECURRENCES:
        raise bad_request(f"{field}.recurrence: must be one of daily, weekly, monthly.")
    end = schedule.get("end")
    if end is None:
        return
    end = _object(end, f"{field}.end")
    if end.get("type") == "date":
        text = end.get("date")
        try:
            date.fromisoformat(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad_request(f"{field}.end.date: must be a date, YYYY-MM-DD.") from None
    elif end.get("type") == "occurrences":
        count = end.get("occurrences")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 999:
            raise bad_request(f"{field}.end.occurrences: must be an integer from 1 to 999.")
    else:
        raise bad_request(f"{field}.end.type: must be 'date' or 'occurrences'.")


def check_scheduled_job(body: Any) -> dict[str, Any]:
    job = _object(body, "scheduledJob")
    if job.get("schedule") is None:
        raise bad_request("scheduledJob.schedule: is required.")
    _common(job, "scheduledJob", same_type=True)
    check_schedule(job["schedule"], "scheduledJob.schedule")
    if "enabled" in job and not isinstance(job["enabled"], bool):
        raise bad_request("scheduledJob.enabled: must be true or false.")
    return job


def check_device_group(body: Any) -> dict[str, Any]:
    group = _object(body, "deviceGroup")
    _string(group, "displayName", "deviceGroup", required=True)
    _string(group, "description", "deviceGroup")
    if group.get("filter") is None:
        raise bad_request("deviceGroup.filter: is required.")
    try:
        validate_filter(group["filter"], "deviceGroup.filter")
    except ValueError as exc:
        raise bad_request(f"{exc}.") from None
    organizations = group.get("organizations")
    if organizations is not None and (
        not isinstance(organizations, list) or not all(isinstance(o, str) for o in organizations)
    ):
        raise bad_request("deviceGroup.organizations: must be a list of organization ids.")
    return group


__all__ = [
    "DATA_TYPES",
    "CentralError",
    "check_device_group",
    "check_id",
    "check_job",
    "check_scheduled_job",
]
