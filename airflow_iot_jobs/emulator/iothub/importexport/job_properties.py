"""Validating a ``POST /jobs/create`` body (``JobProperties``, spec 2021-04-12) into an :class:`ImportExportSpec`.

System-generated fields (``jobId``, ``status``, ``progress``, ``startTimeUtc``, ``endTimeUtc``,
``failureReason``) are ignored at creation, as the spec says; the hub names the job itself. Enum values are
matched case-insensitively, as the service's .NET deserializer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.emulator.iothub import errors
from airflow_iot_jobs.emulator.iothub.importexport.storage import IDENTITY_BASED, KEY_BASED

DEFAULT_DEVICES_BLOB = "devices.txt"
DEFAULT_CONFIGURATIONS_BLOB = "configurations.txt"
IMPORT_ERRORS_BLOB = "importErrors.log"
MAX_BLOB_NAME = 1024

_TYPES = {"export": "export", "import": "import"}
_AUTH = {KEY_BASED.lower(): KEY_BASED, IDENTITY_BASED.lower(): IDENTITY_BASED}


@dataclass(frozen=True)
class ImportExportSpec:
    job_type: str  # "export" | "import"
    input_uri: str | None
    input_blob: str
    output_uri: str
    output_blob: str
    exclude_keys: bool
    auth_type: str
    user_assigned_identity: str | None
    include_configurations: bool
    configurations_blob: str


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.argument_invalid(f"{name} must be a string")
    return value


def _blob_name(body: dict[str, Any], name: str, default: str) -> str:
    value = _string(body, name)
    if value is None or not value.strip():
        return default
    if len(value) > MAX_BLOB_NAME or value.endswith("/"):
        raise errors.argument_invalid(f"{name} '{value[:64]}' is not a valid blob name")
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise errors.argument_invalid(f"{name} must be true or false")
    return value


def parse_job_properties(body: Any) -> ImportExportSpec:
    if not isinstance(body, dict):
        raise errors.generic_bad_request("The request body must be a JSON object (JobProperties)")
    raw_type = body.get("type")
    if not isinstance(raw_type, str) or raw_type.lower() not in _TYPES:
        raise errors.argument_invalid(
            f"Job type {raw_type!r} cannot be created here; POST /jobs/create takes type 'export' or 'import'"
        )
    job_type = _TYPES[raw_type.lower()]
    raw_auth = _string(body, "storageAuthenticationType")
    if raw_auth is None:
        auth_type = KEY_BASED
    elif raw_auth.lower() in _AUTH:
        auth_type = _AUTH[raw_auth.lower()]
    else:
        raise errors.argument_invalid(
            f"storageAuthenticationType '{raw_auth}' is not valid; use '{KEY_BASED}' or '{IDENTITY_BASED}'"
        )
    identity = body.get("identity")
    user_assigned: str | None = None
    if identity is not None:
        if not isinstance(identity, dict):
            raise errors.argument_invalid(
                'identity must be an object {"userAssignedIdentity": "<resource id>"}'
            )
        user_assigned = _string(identity, "userAssignedIdentity")
    input_uri = _string(body, "inputBlobContainerUri")
    output_uri = _string(body, "outputBlobContainerUri")
    if job_type == "import" and not (input_uri and input_uri.strip()):
        raise errors.argument_invalid("inputBlobContainerUri is required for import jobs")
    if not (output_uri and output_uri.strip()):
        raise errors.argument_invalid(f"outputBlobContainerUri is required for {job_type} jobs")
    assert output_uri is not None
    return ImportExportSpec(
        job_type=job_type,
        input_uri=input_uri if job_type == "import" else None,
        input_blob=_blob_name(body, "inputBlobName", DEFAULT_DEVICES_BLOB),
        output_uri=output_uri,
        output_blob=_blob_name(body, "outputBlobName", DEFAULT_DEVICES_BLOB),
        exclude_keys=_flag(body, "excludeKeysInExport"),
        auth_type=auth_type,
        user_assigned_identity=user_assigned,
        include_configurations=_flag(body, "includeConfigurations"),
        configurations_blob=_blob_name(body, "configurationsBlobName", DEFAULT_CONFIGURATIONS_BLOB),
    )
