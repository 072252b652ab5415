"""Applying one line of an import job's input blob to the simulated registry.

Semantics per ``importMode`` follow the service docs (MicrosoftDocs/azure-docs
``articles/iot-hub/iot-hub-bulk-identity-mgmt.md``, "Import behavior", and the ``ImportMode`` enum of
Azure/azure-iot-sdk-csharp). A line that cannot be applied becomes one entry of ``importErrors.log``, in the
service's format: ``{"deviceId": <id, when known>, "errorCode": <int>, "errorStatus": <text>}`` (C#
``ImportJobError``; a real log line: ``{"errorCode":400012,"errorStatus":"Invalid device format in line: ...``).
The service writes no line numbers: entries come in input order and name the device id, and an unreadable line
is quoted in ``errorStatus``.

Inferred, not documented: twin sections present on a line (``tags``, ``properties.desired``,
``properties.reported``) replace those sections, absent ones are kept; an update without keys mints new SAS
keys ("bulk auto-regeneration of device authentication keys"); ``status`` is required on every line (observed
on a live hub, see ``ImportExportJobs``; switchable); a new device has the line's twin and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.emulator.clock import iso7
from airflow_iot_jobs.emulator.fleet import Device, Fleet, payload_size
from airflow_iot_jobs.emulator.iothub.importexport.identities import (
    AUTH_TYPES,
    IdentityStore,
    next_device_etag,
    sas_authentication,
)
from airflow_iot_jobs.emulator.iothub.twins import etag_for
from airflow_iot_jobs.validation.iothub import (
    IMPORT_MODES_BY_LOWER,
    MAX_TAGS_BYTES,
    MAX_TWIN_DEPTH,
)
from airflow_iot_jobs.validation.iothub import MAX_DESIRED_BYTES as MAX_PROPERTIES_BYTES

_MODES = IMPORT_MODES_BY_LOWER
_STATUSES = {"enabled": "enabled", "disabled": "disabled"}
_AUTH_TYPES = {name.lower(): name for name in AUTH_TYPES}

# Error codes (Azure/azure-iot-sdk-csharp ErrorCode.cs).
ARGUMENT_INVALID = 400004
DESERIALIZATION_ERROR = 400012
DEVICE_NOT_FOUND = 404001
DEVICE_ALREADY_EXISTS = 409001
PRECONDITION_FAILED = 412001

# Device ids: up to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ' (identity registry docs).
DEVICE_ID = re.compile(r"[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}")
THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}")
MAX_STATUS_REASON = 128
_KEEP = object()  # a section the line does not mention


class LineError(Exception):
    """One ``importErrors.log`` entry."""

    def __init__(self, code: int, status: str, device_id: str | None = None) -> None:
        super().__init__(f"{code}: {status}")
        self.code = code
        self.status = status
        self.device_id = device_id

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if self.device_id is not None:
            entry["deviceId"] = self.device_id
        entry["errorCode"] = self.code
        entry["errorStatus"] = self.status
        return entry


@dataclass
class _Line:
    device_id: str
    mode: str
    status: str | None
    status_reason: Any  # str, None (clear) or _KEEP
    authentication: dict[str, Any] | None  # None: the hub mints SAS keys
    capabilities: dict[str, Any] | None
    tags: Any  # dict or _KEEP
    desired: Any
    reported: Any
    etag: Any
    twin_etag: Any


def _depth(value: Any) -> int:
    if isinstance(value, Mapping):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _conversion(text: str, value: Any, type_name: str, path: str) -> LineError:
    return LineError(
        DESERIALIZATION_ERROR,
        f"Invalid device format in line: {text}. Error converting value {json.dumps(value)} "
        f"to type '{type_name}'. Path '{path}'.",
    )


class ImportApplier:
    """Parses and applies import lines to ``fleet``; the caller holds the fleet's lock."""

    def __init__(self, fleet: Fleet, identities: IdentityStore, *, require_status: bool = True) -> None:
        self.fleet = fleet
        self.identities = identities
        self.require_status = require_status

    def apply(self, raw: bytes, now: float) -> dict[str, Any] | None:
        """Apply one line; returns its ``importErrors.log`` entry, or None (applied, or a blank line)."""
        try:
            line = self._parse(raw)
            if line is None:
                return None
            self._dispatch(line, now)
        except LineError as exc:
            return exc.to_json()
        return None

    # -- parsing -----------------------------------------------------------------------------------

    def _parse(self, raw: bytes) -> _Line | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineError(
                DESERIALIZATION_ERROR, f"Invalid device format in line: the line is not UTF-8 ({exc.reason})."
            ) from None
        if not text.strip():
            return None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise LineError(DESERIALIZATION_ERROR, f"Invalid device format in line: {text}. {exc}.") from None
        if not isinstance(record, dict):
            raise LineError(
                DESERIALIZATION_ERROR, f"Invalid device format in line: {text}. Expected an object."
            )
        device_id = record.get("id")
        if not isinstance(device_id, str) or not device_id:
            raise LineError(ARGUMENT_INVALID, f"The device id is required (line: {text})")
        if not DEVICE_ID.fullmatch(device_id):
            raise LineError(
                ARGUMENT_INVALID,
                f"Device id '{device_id}' is invalid: use up to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '",
                device_id,
            )
        mode_raw = record.get("importMode")
        if mode_raw is None:
            mode = "createOrUpdate"
        elif isinstance(mode_raw, str) and mode_raw.lower() in _MODES:
            mode = _MODES[mode_raw.lower()]
        else:
            raise _conversion(text, mode_raw, "ImportMode", "importMode")
        if record.get("moduleId") not in (None, ""):
            raise LineError(
                ARGUMENT_INVALID, "Module identities are not supported by the emulator", device_id
            )
        return _Line(
            device_id=device_id,
            mode=mode,
            status=self._status(record, text, mode, device_id),
            status_reason=self._status_reason(record, device_id),
            authentication=self._authentication(record.get("authentication"), text, device_id),
            capabilities=self._capabilities(record.get("capabilities"), device_id),
            tags=self._section(record, "tags", MAX_TAGS_BYTES, device_id),
            desired=self._property_section(record, "desired", device_id),
            reported=self._property_section(record, "reported", device_id),
            etag=record.get("eTag"),
            twin_etag=record.get("twinETag"),
        )

    def _status(self, record: dict[str, Any], text: str, mode: str, device_id: str) -> str | None:
        value = record.get("status")
        if value is None:
            if self.require_status:
                raise LineError(
                    ARGUMENT_INVALID,
                    f"The device status is required on every import line (importMode '{mode}')",
                    device_id,
                )
            return None
        if not isinstance(value, str) or value.lower() not in _STATUSES:
            raise _conversion(text, value, "DeviceStatus", "status")
        return _STATUSES[value.lower()]

    @staticmethod
    def _status_reason(record: dict[str, Any], device_id: str) -> Any:
        value = record.get("statusReason")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_STATUS_REASON):
            raise LineError(
                ARGUMENT_INVALID,
                f"statusReason must be a string of at most {MAX_STATUS_REASON} characters",
                device_id,
            )
        return value

    @staticmethod
    def _authentication(value: Any, text: str, device_id: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _conversion(text, value, "AuthenticationMechanism", "authentication")
        type_raw = value.get("type") or "sas"
        if not isinstance(type_raw, str) or type_raw.lower() not in _AUTH_TYPES:
            raise _conversion(text, type_raw, "AuthenticationType", "authentication.type")
        auth_type = _AUTH_TYPES[type_raw.lower()]
        keys = value.get("symmetricKey") or {}
        thumbprints = value.get("x509Thumbprint") or {}
        if not isinstance(keys, dict) or not isinstance(thumbprints, dict):
            raise LineError(
                ARGUMENT_INVALID, "authentication.symmetricKey and x509Thumbprint must be objects", device_id
            )
        if auth_type == "none":
            raise LineError(
                ARGUMENT_INVALID, "Authentication type 'none' is not valid for a device", device_id
            )
        if auth_type == "sas":
            primary, secondary = keys.get("primaryKey"), keys.get("secondaryKey")
            if primary is None and secondary is None:
                return None
            if primary is None or secondary is None:
                raise LineError(ARGUMENT_INVALID, "Either no keys or both keys can be set", device_id)
            for key in (primary, secondary):
                try:
                    size = len(base64.b64decode(key, validate=True)) if isinstance(key, str) else 0
                except (binascii.Error, ValueError):
                    size = 0
                if not 16 <= size <= 64:
                    raise LineError(
                        ARGUMENT_INVALID,
                        "Invalid device key: keys must be base64 of 16 to 64 bytes",
                        device_id,
                    )
            return sas_authentication(primary, secondary)
        result: dict[str, Any] = {
            "symmetricKey": {"primaryKey": None, "secondaryKey": None},
            "x509Thumbprint": {"primaryThumbprint": None, "secondaryThumbprint": None},
            "type": auth_type,
        }
        if auth_type == "selfSigned":
            for name in ("primaryThumbprint", "secondaryThumbprint"):
                thumbprint = thumbprints.get(name)
                if thumbprint is not None and (
                    not isinstance(thumbprint, str) or not THUMBPRINT.fullmatch(thumbprint)
                ):
                    raise LineError(ARGUMENT_INVALID, f"StringIsNotThumbprint: {name}", device_id)
                result["x509Thumbprint"][name] = thumbprint
        return result

    @staticmethod
    def _capabilities(value: Any, device_id: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("iotEdge", False), bool):
            raise LineError(ARGUMENT_INVALID, 'capabilities must be {"iotEdge": true|false}', device_id)
        return {"iotEdge": bool(value.get("iotEdge", False))}

    @staticmethod
    def _checked(value: Any, name: str, limit: int, device_id: str) -> Any:
        if value is None:
            return _KEEP
        if not isinstance(value, dict):
            raise LineError(ARGUMENT_INVALID, f"{name} must be an object", device_id)
        if _depth(value) > MAX_TWIN_DEPTH:
            raise LineError(
                ARGUMENT_INVALID, f"{name} is nested deeper than {MAX_TWIN_DEPTH} levels", device_id
            )
        if payload_size(value) > limit:
            raise LineError(ARGUMENT_INVALID, f"{name} is larger than {limit // 1024} KB", device_id)
        return value

    def _section(self, record: dict[str, Any], name: str, limit: int, device_id: str) -> Any:
        return self._checked(record.get(name), name, limit, device_id)

    def _property_section(self, record: dict[str, Any], name: str, device_id: str) -> Any:
        properties = record.get("properties")
        if properties is None:
            return _KEEP
        if not isinstance(properties, dict):
            raise LineError(ARGUMENT_INVALID, "properties must be an object", device_id)
        section = properties.get(name)
        if isinstance(section, dict):
            section = {k: v for k, v in section.items() if not k.startswith("$")}
        return self._checked(section, f"properties.{name}", MAX_PROPERTIES_BYTES, device_id)

    # -- applying ----------------------------------------------------------------------------------

    def _dispatch(self, line: _Line, now: float) -> None:
        device = self.fleet.get(line.device_id)
        mode = line.mode
        if mode == "create" and device is not None:
            raise LineError(
                DEVICE_ALREADY_EXISTS,
                f"A device with ID '{line.device_id}' is already registered.",
                line.device_id,
            )
        if device is None:
            if mode in ("create", "createOrUpdate", "createOrUpdateIfMatchETag"):
                self._create(line, now)
                return
            raise LineError(DEVICE_NOT_FOUND, f"Device '{line.device_id}' was not found.", line.device_id)
        if mode.endswith("IfMatchETag"):
            if mode.startswith("updateTwin"):
                self._check_etag(line.twin_etag, device.doc.get("etag"), line.device_id, "twin")
            else:
                self._check_etag(line.etag, device.doc.get("deviceEtag"), line.device_id, "device")
        if mode in ("delete", "deleteIfMatchETag"):
            self.identities.forget(line.device_id)
            self.fleet.remove_device(line.device_id)
            return
        if mode in ("updateTwin", "updateTwinIfMatchETag"):
            self._apply_twin(device.doc, line, now)
            return
        # update, updateIfMatchETag, createOrUpdate, createOrUpdateIfMatchETag on an existing device.
        self._apply_identity(device, line, now, new=False)
        if line.twin_etag not in (None, "") and not self._etag_matches(
            line.twin_etag, device.doc.get("etag")
        ):
            raise LineError(
                PRECONDITION_FAILED,
                f"The twin eTag '{line.twin_etag}' does not match the current twin eTag; "
                "the device was updated, its twin was not",
                line.device_id,
            )
        self._apply_twin(device.doc, line, now)

    @staticmethod
    def _etag_matches(given: Any, current: Any) -> bool:
        if not isinstance(given, str):
            return False
        value = given.strip().strip('"')
        return value == "*" or value == current

    def _check_etag(self, given: Any, current: Any, device_id: str, which: str) -> None:
        if not isinstance(given, str) or not given.strip():
            raise LineError(
                PRECONDITION_FAILED, f"Precondition failed: the {which} eTag is missing", device_id
            )
        if not self._etag_matches(given, current):
            raise LineError(
                PRECONDITION_FAILED,
                f"Precondition failed: the {which} eTag '{given}' does not match the current one",
                device_id,
            )

    def _create(self, line: _Line, now: float) -> None:
        device = self.fleet.add_device(line.device_id, now=now)
        twin = device.doc
        stamp = iso7(now)
        twin["tags"] = {}
        twin["properties"] = {
            "desired": {"$metadata": {"$lastUpdated": stamp}, "$version": 1},
            "reported": {"$metadata": {"$lastUpdated": stamp}, "$version": 1},
        }
        self._apply_identity(device, line, now, new=True)
        for section, value in (("desired", line.desired), ("reported", line.reported)):
            if value is not _KEEP:
                twin["properties"][section] = {
                    **copy.deepcopy(value),
                    "$metadata": {"$lastUpdated": stamp},
                    "$version": 1,
                }
        if line.tags is not _KEEP:
            twin["tags"] = copy.deepcopy(line.tags)

    def _apply_identity(self, device: Device, line: _Line, now: float, *, new: bool) -> None:
        twin = device.doc
        status = line.status or twin.get("status", "enabled")
        if twin.get("status") != status:
            twin["status"] = status
            twin["statusUpdateTime"] = iso7(now)
        if line.status_reason is None:
            twin.pop("statusReason", None)
        elif line.status_reason is not _KEEP:
            twin["statusReason"] = line.status_reason
        if line.authentication is not None:
            self.identities.set_authentication(line.device_id, line.authentication)
        elif not new:
            self.identities.regenerate(line.device_id)
        authentication = line.authentication or sas_authentication(None, None)
        twin["authenticationType"] = authentication["type"]
        twin["x509Thumbprint"] = dict(authentication["x509Thumbprint"])
        if line.capabilities is not None:
            twin["capabilities"] = line.capabilities
        if not new:
            twin["deviceEtag"] = next_device_etag(twin.get("deviceEtag"))

    @staticmethod
    def _apply_twin(twin: dict[str, Any], line: _Line, now: float) -> None:
        changed = False
        if line.tags is not _KEEP:
            twin["tags"] = copy.deepcopy(line.tags)
            changed = True
        for section, value in (("desired", line.desired), ("reported", line.reported)):
            if value is _KEEP:
                continue
            previous = twin["properties"].get(section) or {}
            twin["properties"][section] = {
                **copy.deepcopy(value),
                "$metadata": {"$lastUpdated": iso7(now)},
                "$version": int(previous.get("$version", 0)) + 1,
            }
            changed = True
        if changed:
            twin["version"] = int(twin.get("version", 1)) + 1
            twin["etag"] = etag_for(twin["version"])
