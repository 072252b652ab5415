"""Azure IoT Central's own input rules (API 2022-07-31), checked before any call. Standard library only."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from airflow_iot_jobs.validation.common import coerce_json_object, parse_start_time

MAX_ID_LENGTH = 255
ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]+")
ID_RULE = "letters, digits, '_' and '-'"
#: the spec's job data types, and the spellings the how-to docs use for the same
DATA_TYPES = {
    "property": "property",
    "propertyjobdata": "property",
    "command": "command",
    "commandjobdata": "command",
    "cloudproperty": "cloudProperty",
    "cloudpropertyjobdata": "cloudProperty",
    "devicetemplatemigration": "deviceTemplateMigration",
    "devicetemplatemigrationjobdata": "deviceTemplateMigration",
}
RECURRENCES = ("daily", "weekly", "monthly")
MAX_OCCURRENCES = 999
_SHARE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


def validate_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{field}: {value!r} may contain only {ID_RULE}")
    return value


def normalize_job_data(value: object, field: str = "data", *, one_type: bool = False) -> list[dict[str, Any]]:
    """The job's ``data`` entries in the spec's spelling (``property``, ``command``, ``cloudProperty``,
    ``deviceTemplateMigration``; the docs' ``PropertyJobData`` … accepted too). ``one_type``: scheduled jobs need
    every entry of the same type."""
    entries = coerce_json_object(value, field)
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{field}: must be a non-empty list of job data entries")
    normalized = []
    for position, entry in enumerate(entries):
        where = f"{field}[{position}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: must be an object, got {type(entry).__name__}")
        raw_type = entry.get("type")
        kind = DATA_TYPES.get(str(raw_type).lower()) if isinstance(raw_type, str) else None
        if kind is None:
            raise ValueError(
                f"{where}.type: must be one of property, command, cloudProperty, deviceTemplateMigration, "
                f"got {raw_type!r}"
            )
        item = {**entry, "type": kind}
        if kind == "deviceTemplateMigration":
            if not isinstance(item.get("template"), str) or not item["template"]:
                raise ValueError(f"{where}.template: the device template id to migrate to is required")
        else:
            for key in ("target", "path"):
                if not isinstance(item.get(key), str) or not item[key]:
                    raise ValueError(f"{where}.{key}: a non-empty string is required for a {kind} entry")
        normalized.append(dict(item))
    if one_type and len({entry["type"] for entry in normalized}) > 1:
        raise ValueError(f"{field}: all entries of a scheduled job must be of the same type")
    return normalized


def parse_amount(value: object, field: str) -> dict[str, Any]:
    """``"10%"`` → ``{"type": "percentage", "value": 10}``, ``500`` → ``{"type": "number", "value": 500}``, or the
    spec's object itself, checked."""
    value = coerce_json_object(value, field) if isinstance(value, str) and value.strip()[:1] == "{" else value
    if isinstance(value, Mapping):
        kind, amount = value.get("type"), value.get("value")
    elif isinstance(value, str) and (match := _SHARE.fullmatch(value)):
        kind, amount = "percentage", float(match.group(1))
    elif isinstance(value, str) and value.strip().isdigit():
        kind, amount = "number", int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        kind, amount = "number", value
    else:
        raise ValueError(
            f"{field}: use a share such as '10%', a number of devices such as 500, or "
            f"{{'type': 'percentage'|'number', 'value': …}}, got {value!r}"
        )
    if kind not in ("number", "percentage"):
        raise ValueError(f"{field}.type: must be 'number' or 'percentage', got {kind!r}")
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not math.isfinite(amount)
        or amount <= 0
    ):
        raise ValueError(f"{field}.value: must be a positive number, got {amount!r}")
    if kind == "percentage" and amount > 100:
        raise ValueError(f"{field}.value: a percentage must be at most 100, got {amount!r}")
    if kind == "number" and amount != int(amount):
        raise ValueError(f"{field}.value: a number of devices must be whole, got {amount!r}")
    amount = int(amount) if amount == int(amount) else amount
    return {"type": kind, "value": amount}


def parse_cancellation_threshold(value: object, field: str = "cancellation_threshold") -> dict[str, Any]:
    """Like :func:`parse_amount`, plus ``batch``: whether the threshold applies per batch (default: whole job)."""
    batch = False
    if isinstance(value, Mapping):
        batch = value.get("batch", False)
        if not isinstance(batch, bool):
            raise ValueError(f"{field}.batch: must be true or false, got {batch!r}")
        value = {"type": value.get("type"), "value": value.get("value")}
    return {**parse_amount(value, field), "batch": batch}


def iso_utc(moment: datetime) -> str:
    """The form the service writes date-times in (UTC, ``Z``), so declared and stored values compare."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalize_schedule(value: object, field: str = "schedule") -> dict[str, Any]:
    """A ``JobSchedule`` in the spec's shape: ``start`` (date-time with a zone), ``recurrence`` daily | weekly |
    monthly (absent: run once), ``end`` ``{"type": "date", "date": "YYYY-MM-DD"}`` or ``{"type": "occurrences",
    "occurrences": 1–999}``. ``start`` may be a datetime and ``end.date`` a date."""
    value = coerce_json_object(value, field)
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: must be an object with start, recurrence and end, got {value!r}")
    unknown = sorted(set(value) - {"start", "recurrence", "end"})
    if unknown:
        raise ValueError(f"{field}: unknown key(s) {unknown}; a schedule has start, recurrence and end")
    if value.get("start") in (None, ""):
        raise ValueError(f"{field}.start: the first run's date-time is required")
    schedule: dict[str, Any] = {"start": iso_utc(parse_start_time(value["start"], f"{field}.start"))}
    recurrence = value.get("recurrence")
    if recurrence is not None:
        if not isinstance(recurrence, str) or recurrence.lower() not in RECURRENCES:
            raise ValueError(
                f"{field}.recurrence: must be one of {', '.join(RECURRENCES)} or absent, got {recurrence!r}"
            )
        schedule["recurrence"] = recurrence.lower()
    end = value.get("end")
    if end is not None:
        schedule["end"] = _schedule_end(end, f"{field}.end")
    return schedule


def _schedule_end(end: object, field: str) -> dict[str, Any]:
    if not isinstance(end, Mapping):
        raise ValueError(
            f"{field}: must be {{'type': 'date', 'date': …}} or {{'type': 'occurrences', 'occurrences': …}}"
        )
    kind = end.get("type")
    if kind == "date":
        day = end.get("date")
        if isinstance(day, datetime):
            day = day.date()
        if isinstance(day, str):
            try:
                day = date.fromisoformat(day.strip())
            except ValueError:
                raise ValueError(
                    f"{field}.date: {end.get('date')!r} is not a date such as '2027-06-30'"
                ) from None
        if not isinstance(day, date):
            raise ValueError(f"{field}.date: must be a date such as '2027-06-30', got {day!r}")
        return {"type": "date", "date": day.isoformat()}
    if kind == "occurrences":
        count = end.get("occurrences")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_OCCURRENCES:
            raise ValueError(
                f"{field}.occurrences: must be a whole number from 1 to {MAX_OCCURRENCES}, got {count!r}"
            )
        return {"type": "occurrences", "occurrences": count}
    raise ValueError(f"{field}.type: must be 'date' or 'occurrences', got {kind!r}")
