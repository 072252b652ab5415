"""IoT Hub's view of a fleet device: the device twin (what queries read, what twin jobs patch).

A twin is ``{"deviceId", "etag", "deviceEtag", "status", ..., "version", "tags", "properties": {"desired",
"reported"}, "capabilities"}``; every change bumps ``version`` and ``etag``, and a change to a property section
bumps that section's ``$version`` and ``$metadata.$lastUpdated``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

from airflow_iot_jobs.emulator.clock import iso7
from airflow_iot_jobs.emulator.fleet import merge_patch


class EtagMismatch(Exception):
    """A twin patch named an etag other than ``*`` or the twin's current one."""


def etag_for(version: int) -> str:
    # Real twin etags look like "AAAAAAAAAAE=": base64 of a big-endian int64.
    return base64.b64encode(version.to_bytes(8, "big")).decode("ascii")


_FIRST_ETAG = etag_for(1)


@functools.lru_cache(maxsize=8)
def _stamp(epoch: float) -> str:
    """Every generated twin's ``$lastUpdated``: one shared string per fleet."""
    return iso7(epoch)


class TwinView:
    """Builds and updates device twins for :class:`~airflow_iot_jobs.emulator.fleet.Fleet`."""

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
        stamp = _stamp(created)
        return {
            "deviceId": device_id,
            "etag": _FIRST_ETAG,
            "deviceEtag": base64.b64encode(str(serial).encode()).decode("ascii"),
            "status": "enabled",
            "statusUpdateTime": "0001-01-01T00:00:00Z",
            "connectionState": "Connected" if online else "Disconnected",
            "lastActivityTime": iso7(last_activity),
            "cloudToDeviceMessageCount": 0,
            "authenticationType": "sas",
            "x509Thumbprint": {"primaryThumbprint": None, "secondaryThumbprint": None},
            "modelId": "",
            "version": 1,
            "tags": tags,
            "properties": {
                "desired": {"$metadata": {"$lastUpdated": stamp}, "$version": 1},
                "reported": {**reported, "$metadata": {"$lastUpdated": stamp}, "$version": 1},
            },
            "capabilities": {"iotEdge": False},
        }

    def set_online(self, doc: dict[str, Any], online: bool, now: float | None) -> None:
        doc["connectionState"] = "Connected" if online else "Disconnected"
        if now is not None and online:
            doc["lastActivityTime"] = iso7(now)

    def touch(self, doc: dict[str, Any], now: float) -> None:
        doc["lastActivityTime"] = iso7(now)

    def reported(self, doc: dict[str, Any]) -> Mapping[str, Any]:
        return doc["properties"]["reported"]

    def report(self, doc: dict[str, Any], values: Mapping[str, Any], now: float) -> None:
        section = doc["properties"]["reported"]
        merge_patch(section, values)
        section["$version"] += 1
        section["$metadata"]["$lastUpdated"] = iso7(now)
        doc["lastActivityTime"] = iso7(now)
        bump(doc)


def bump(twin: dict[str, Any]) -> None:
    twin["version"] += 1
    twin["etag"] = etag_for(twin["version"])


def apply_twin_patch(twin: dict[str, Any], patch: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Apply a service-side twin patch (``tags``, ``properties.desired``) in place; returns the twin.

    ``etag`` other than ``*`` must match the twin's (``EtagMismatch`` otherwise).
    """
    etag = patch.get("etag")
    if etag not in (None, "*") and etag != twin["etag"]:
        raise EtagMismatch(f"etag {etag!r} does not match {twin['etag']!r}")
    tags = patch.get("tags")
    if isinstance(tags, Mapping):
        merge_patch(twin["tags"], tags)
    desired = (patch.get("properties") or {}).get("desired")
    if isinstance(desired, Mapping):
        section = twin["properties"]["desired"]
        merge_patch(section, {k: v for k, v in desired.items() if not k.startswith("$")})
        section["$version"] += 1
        section["$metadata"]["$lastUpdated"] = iso7(now)
    bump(twin)
    return twin
