"""IoT Central's view of a fleet device: its ``Device`` document (spec definition ``Device``), its properties and
cloud properties, and the record a device-group filter reads.

The shared fleet's random draws decide everything: the device template follows the fleet's ``model`` tag (three
DTDL interfaces spread over the fleet), ``$provisioned`` is false for about 1 device in 50 and ``$simulated`` true
for about 1 in 10 (both from the device's serial). The fleet's tags (``site``, ``floor``, ``model``, ``ring``) are
Central *cloud properties*; the reported values (``firmware``, ``telemetryIntervalSeconds``) are device
*properties*, ``telemetryIntervalSeconds`` writable.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.emulator.clock import iso7
from airflow_iot_jobs.emulator.fleet import merge_patch

#: fleet model tag -> device template (DTMI) id
TEMPLATES: dict[str, str] = {
    "gw-100": "dtmi:airflowIotJobs:gateway100;1",
    "gw-200": "dtmi:airflowIotJobs:gateway200;1",
    "sensor-x": "dtmi:airflowIotJobs:sensorX;1",
}
#: the spec's Device fields, the only ones the API shows
DEVICE_FIELDS = (
    "id",
    "etag",
    "displayName",
    "template",
    "enabled",
    "provisioned",
    "simulated",
    "organizations",
)


def _etag() -> str:
    return f'"{uuid.uuid4()}"'


class CentralView:
    """Builds and updates Central device documents for :class:`~airflow_iot_jobs.emulator.fleet.Fleet`."""

    def create(
        self,
        device_id: str,
        online: bool,
        tags: dict[str, Any],
        reported: dict[str, Any],
        last_activity: float,
        serial: int,
        created: float,
    ) -> dict[str, Any]:
        return {
            "id": device_id,
            "etag": f'"{serial:08x}-0000-0000-0000-000000000000"',
            "displayName": device_id,
            "template": TEMPLATES.get(str(tags.get("model")), TEMPLATES["sensor-x"]),
            "enabled": True,
            "provisioned": serial % 50 != 0,
            "simulated": serial % 10 == 3,
            "online": online,
            "lastActivity": iso7(last_activity),
            "properties": dict(reported),
            "cloudProperties": dict(tags),
        }

    def set_online(self, doc: dict[str, Any], online: bool, now: float | None) -> None:
        doc["online"] = online
        if now is not None and online:
            doc["lastActivity"] = iso7(now)

    def touch(self, doc: dict[str, Any], now: float) -> None:
        doc["lastActivity"] = iso7(now)

    def reported(self, doc: dict[str, Any]) -> Mapping[str, Any]:
        return doc["properties"]

    def report(self, doc: dict[str, Any], values: Mapping[str, Any], now: float) -> None:
        merge_patch(doc["properties"], values)
        doc["lastActivity"] = iso7(now)
        doc["etag"] = _etag()


def device_json(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Device`` the API returns (``/deviceGroups/{id}/devices``)."""
    return {name: doc[name] for name in DEVICE_FIELDS if name in doc}


def filter_record(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a device-group filter reads (see :mod:`airflow_iot_jobs.query.iotcentral`)."""
    return {
        "id": doc["id"],
        "displayName": doc["displayName"],
        "template": doc["template"],
        "provisioned": doc["provisioned"],
        "simulated": doc["simulated"],
        "values": {**doc["cloudProperties"], **doc["properties"]},
    }


def _nested(path: str, value: Any) -> dict[str, Any]:
    """``"component.prop"`` -> ``{"component": {"prop": value}}``."""
    patch: dict[str, Any] = {}
    current = patch
    names = path.split(".")
    for name in names[:-1]:
        child: dict[str, Any] = {}
        current[name] = child
        current = child
    current[names[-1]] = value
    return patch


def write_property(doc: dict[str, Any], path: str, value: Any, now: float) -> None:
    """A property job writes the writable property (the device acknowledges it)."""
    merge_patch(doc["properties"], _nested(path, value))
    doc["etag"] = _etag()
    doc["lastActivity"] = iso7(now)


def write_cloud_property(doc: dict[str, Any], path: str, value: Any) -> None:
    merge_patch(doc["cloudProperties"], _nested(path, value))
    doc["etag"] = _etag()


def migrate_template(doc: dict[str, Any], template: str) -> None:
    doc["template"] = template
    doc["etag"] = _etag()
