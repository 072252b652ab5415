"""IoT Hub identity import/export records: the input lines an import job reads and the error log it writes.

Pure functions (no I/O beyond reading a local file the caller names): what the import operator checks before
anything is uploaded, and how it reads ``importErrors.log`` back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from airflow_iot_jobs.validation.iothub import IMPORT_MODES, IMPORT_MODES_BY_LOWER, validate_device_id


def validate_import_mode(value: object, field: str = "import_mode") -> str:
    if not isinstance(value, str) or value.lower() not in IMPORT_MODES_BY_LOWER:
        raise ValueError(f"{field}: must be one of {', '.join(IMPORT_MODES)}, got {value!r}")
    return IMPORT_MODES_BY_LOWER[value.lower()]


def validate_import_record(record: Any, number: int, default_mode: str | None) -> dict[str, Any]:
    """One import line: a JSON object with an ``id`` and a known ``importMode``."""
    if not isinstance(record, dict):
        raise ValueError(f"devices line {number}: must be a JSON object, got {type(record).__name__}")
    device_id = record.get("id")
    validate_device_id(device_id, f"devices line {number}")
    mode = record.get("importMode", default_mode)
    mode = validate_import_mode(mode, f"devices line {number} (device {device_id!r}): importMode")
    if mode.lower().endswith("ifmatchetag") and not record.get(
        "eTag" if "twin" not in mode.lower() else "twinETag"
    ):
        raise ValueError(f"devices line {number} (device {device_id!r}): importMode {mode} needs an eTag")
    # The live service rejects lines without a status, even for delete and updateTwin, where it is ignored.
    return {"status": "enabled", **record, "importMode": mode}


def parse_error_entry(line: str) -> dict[str, Any]:
    """One ``importErrors.log`` entry in whatever of the service's field spellings it uses."""
    try:
        raw = json.loads(line)
    except ValueError:
        return {"line": None, "device_id": None, "code": "Unparsed", "message": line[:300]}
    lowered = {str(k).lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    line_number = lowered.get("linenumber") or lowered.get("line")
    return {
        "line": int(line_number)
        if isinstance(line_number, int | str) and str(line_number).isdigit()
        else None,
        "device_id": lowered.get("deviceid") or lowered.get("id"),
        "code": str(lowered.get("errorcode") or lowered.get("code") or "ImportError"),
        "message": str(
            lowered.get("errorstatus") or lowered.get("message") or lowered.get("description") or ""
        ),
    }


def number_failures(entries: list[dict[str, Any]], input_lines: Iterator[str]) -> list[dict[str, Any]]:
    """Give each error-log entry without a line number the input line of its device (in order, for devices
    that appear on several lines); sorted by line, unnumbered last."""
    wanted = {entry["device_id"] for entry in entries if entry["device_id"]}
    line_of: dict[str, list[int]] = {}
    for number, line in enumerate(input_lines, start=1):
        device_id = device_id_of(line)
        if device_id in wanted:
            line_of.setdefault(device_id, []).append(number)
    for entry in entries:
        if entry["line"] is None:
            numbers = line_of.get(entry["device_id"] or "", [])
            entry["line"] = numbers.pop(0) if numbers else None
    return sorted(entries, key=lambda e: (e["line"] is None, e["line"] or 0))


def parse_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def device_id_of(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("id") if isinstance(record, dict) else None


def read_json_lines(path: str | os.PathLike[str]) -> Iterator[Any]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as err:
                raise ValueError(f"devices_file line {number}: not valid JSON ({err})") from None
