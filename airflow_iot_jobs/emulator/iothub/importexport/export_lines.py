"""The ``devices.txt`` line format of export jobs: one ``ExportImportDevice`` JSON object per line.

Shape and field order follow the service's ``ExportImportDevice`` (Azure/azure-iot-sdk-csharp
``iothub/service/src/Registry/Models/ExportImportDevice.cs``) and the samples in MicrosoftDocs/azure-docs
``articles/iot-hub/iot-hub-bulk-identity-mgmt.md``: ``id``, ``eTag``, ``status``, ``statusReason`` (only when
set), ``authentication``, ``twinETag``, ``tags``, ``properties`` ``{desired, reported}``, ``capabilities``.
The twin sections are written without ``$metadata`` and ``$version``: the docs' earlier sample showed them, but
the export does not write them (MicrosoftDocs/azure-docs#116520, confirmed by the doc owner; the sample was
fixed in commit da60908 "remove metadata from twin example"). With ``excludeKeysInExport`` the keys are
``null`` ("Keys are exported as null otherwise", JobProperties in the 2021-04-12 spec).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _user_section(section: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (section or {}).items() if not k.startswith("$")}


def export_record(
    twin: Mapping[str, Any], authentication: dict[str, Any], exclude_keys: bool
) -> dict[str, Any]:
    if exclude_keys and isinstance(authentication.get("symmetricKey"), dict):
        authentication = {**authentication, "symmetricKey": {"primaryKey": None, "secondaryKey": None}}
    record: dict[str, Any] = {
        "id": twin["deviceId"],
        "eTag": twin.get("deviceEtag"),
        "status": twin.get("status", "enabled"),
    }
    if twin.get("statusReason"):
        record["statusReason"] = twin["statusReason"]
    properties = twin.get("properties") or {}
    record.update(
        {
            "authentication": authentication,
            "twinETag": twin.get("etag"),
            "tags": dict(twin.get("tags") or {}),
            "properties": {
                "desired": _user_section(properties.get("desired")),
                "reported": _user_section(properties.get("reported")),
            },
            "capabilities": dict(twin.get("capabilities") or {"iotEdge": False}),
        }
    )
    return record


def encode_line(record: Mapping[str, Any]) -> bytes:
    """Compact JSON, UTF-8, newline-terminated (the service writes one object per line)."""
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
