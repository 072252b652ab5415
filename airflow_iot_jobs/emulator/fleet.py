"""A backend-neutral simulated device fleet.

Everything random comes from ``random.Random`` instances seeded with strings built from the fleet seed
(``random`` hashes str seeds with SHA-512, so this is stable across processes; ``hash()`` would not be).
The fleet itself is not thread-safe: the backend that owns it serializes access (one lock per emulator).
"""

from __future__ import annotations

import base64
import bisect
import copy
import gc
import itertools
import json
import random
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_iot_jobs.emulator.clock import iso7

SITES = ("ams", "sea", "sgp", "fra")
MODELS = ("gw-100", "gw-200", "sensor-x")
RINGS = ("canary", "early", "broad")
RING_WEIGHTS = (0.05, 0.15, 0.80)
FIRMWARES = ("1.4.2", "1.4.1", "1.3.9")
FIRMWARE_WEIGHTS = (0.6, 0.25, 0.15)
KNOWN_METHODS = ("reboot", "ping", "firmwareUpdate")

_INTERVALS = (30, 60, 300)
# random.choices(population, weights) accumulates the weights on every call; these are the same sums.
_RING_CUM = tuple(itertools.accumulate(RING_WEIGHTS))
_FIRMWARE_CUM = tuple(itertools.accumulate(FIRMWARE_WEIGHTS))

# Emulated seconds a device takes to answer a direct method, and the cloud takes to write a twin.
METHOD_LATENCY = (0.05, 1.5)
TWIN_LATENCY = (0.01, 0.2)


class EtagMismatch(Exception):
    """A twin patch named an etag other than ``*`` or the twin's current one."""


def etag_for(version: int) -> str:
    # Real twin etags look like "AAAAAAAAAAE=": base64 of a big-endian int64.
    return base64.b64encode(version.to_bytes(8, "big")).decode("ascii")


_FIRST_ETAG = etag_for(1)


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> bool:
    """JSON merge-patch as twins do it: objects merge, ``null`` deletes. Returns whether anything changed."""
    changed = False
    for key, value in patch.items():
        if value is None:
            if key in target:
                del target[key]
                changed = True
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            changed = merge_patch(target[key], value) or changed
        elif isinstance(value, Mapping):
            target[key] = {}
            merge_patch(target[key], value)
            changed = True
        else:
            if target.get(key, _MISSING) != value:
                changed = True
            target[key] = copy.deepcopy(value)
    return changed


_MISSING = object()


class Device:
    __slots__ = ("device_id", "online", "twin")

    def __init__(self, device_id: str, online: bool, twin: dict[str, Any]) -> None:
        self.device_id = device_id
        self.online = online
        self.twin = twin


class Fleet:
    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        epoch: float = 0.0,
    ) -> None:
        """``epoch`` (Unix seconds) anchors generated timestamps such as ``lastActivityTime``."""
        if devices < 0:
            raise ValueError("devices must be >= 0")
        for name, rate in (("offline_rate", offline_rate), ("failure_rate", failure_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {rate!r}")
        self.seed = seed
        self.offline_rate = offline_rate
        self.failure_rate = failure_rate
        self.epoch = epoch
        self._stamp = iso7(epoch)  # every generated twin's "$lastUpdated" (one shared string)
        self._devices: dict[str, Device] = {}
        self._ids: list[str] = []
        rng = self._rng("fleet")
        generate, by_id = self._generate, self._devices
        # Twins hold no reference cycles: collecting millions of fresh dicts over and over while the fleet is
        # built would almost double the start of a 1,000,000-device hub.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for index in range(1, devices + 1):
                device = generate(f"device-{index:05d}", rng)
                by_id[device.device_id] = device
        finally:
            if collecting:
                gc.enable()
        # One sort instead of an insort per device (quadratic past 100,000 devices: ids stop being in order).
        self._ids = sorted(by_id)

    # -- randomness -----------------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("|".join(str(p) for p in (self.seed, *parts)))

    def _generate(self, device_id: str, rng: random.Random, online: bool | None = None) -> Device:
        # The draws of random.uniform / choice / randint / choices(weights) spelled out (same calls to
        # random() and _randbelow(), so the same fleet for a seed): a 1,000,000-device hub starts in seconds.
        draw, below = rng.random, rng._randbelow
        if online is None:
            online = draw() >= self.offline_rate
        idle = 1.0 + (300.0 - 1.0) * draw() if online else 3600.0 + (7 * 86400.0 - 3600.0) * draw()
        tags = {
            "site": SITES[below(len(SITES))],
            "floor": 1 + below(5),
            "model": MODELS[below(len(MODELS))],
            "ring": RINGS[bisect.bisect_right(_RING_CUM, draw() * _RING_CUM[-1], 0, len(RINGS) - 1)],
        }
        reported = {
            "firmware": FIRMWARES[
                bisect.bisect_right(_FIRMWARE_CUM, draw() * _FIRMWARE_CUM[-1], 0, len(FIRMWARES) - 1)
            ],
            "telemetryIntervalSeconds": _INTERVALS[below(len(_INTERVALS))],
        }
        return Device(
            device_id, online, self._new_twin(device_id, online, tags, reported, self.epoch - idle, rng)
        )

    def _new_twin(
        self,
        device_id: str,
        online: bool,
        tags: dict[str, Any],
        reported: dict[str, Any],
        last_activity: float,
        rng: random.Random,
    ) -> dict[str, Any]:
        stamp = self._stamp
        return {
            "deviceId": device_id,
            "etag": _FIRST_ETAG,
            "deviceEtag": base64.b64encode(str(rng._randbelow(10**9)).encode()).decode("ascii"),
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

    def _insert(self, device: Device) -> None:
        self._devices[device.device_id] = device
        bisect.insort(self._ids, device.device_id)

    # -- reading ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def ids(self) -> list[str]:
        """Device ids in ascending order (a copy)."""
        return list(self._ids)

    def devices(self) -> Iterator[Device]:
        """Devices in ascending id order. The twins are live: do not mutate them."""
        for device_id in self._ids:
            yield self._devices[device_id]

    def devices_after(self, device_id: str | None) -> Iterator[Device]:
        """Devices with an id greater than ``device_id`` (all when None), in ascending id order."""
        start = 0 if device_id is None else bisect.bisect_right(self._ids, device_id)
        for index in range(start, len(self._ids)):
            yield self._devices[self._ids[index]]

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def twin(self, device_id: str) -> dict[str, Any]:
        """A deep copy of one twin; KeyError when unknown."""
        return copy.deepcopy(self._devices[device_id].twin)

    def snapshot(self) -> list[dict[str, Any]]:
        """All twins (deep copies), ordered by id; for determinism checks."""
        return [copy.deepcopy(d.twin) for d in self.devices()]

    # -- changing ---------------------------------------------------------------------------------

    def add_device(
        self,
        device_id: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        online: bool | None = None,
        now: float | None = None,
    ) -> Device:
        """Register one more device (same generator as the initial fleet, tags overridable)."""
        if device_id is None:
            index = len(self._ids) + 1
            while f"device-{index:05d}" in self._devices:
                index += 1
            device_id = f"device-{index:05d}"
        if device_id in self._devices:
            raise ValueError(f"device {device_id!r} already exists")
        device = self._generate(device_id, self._rng("added", device_id), online)
        if tags:
            merge_patch(device.twin["tags"], tags)
        if now is not None:
            device.twin["lastActivityTime"] = iso7(now)
        self._insert(device)
        return device

    def remove_device(self, device_id: str) -> Device:
        """Deregister one device (an import job's ``delete``); KeyError when unknown."""
        device = self._devices.pop(device_id)
        del self._ids[bisect.bisect_left(self._ids, device_id)]
        return device

    def set_online(self, device_id: str, online: bool, now: float | None = None) -> None:
        device = self._devices[device_id]
        device.online = online
        device.twin["connectionState"] = "Connected" if online else "Disconnected"
        if now is not None and online:
            device.twin["lastActivityTime"] = iso7(now)

    def apply_twin_patch(self, device_id: str, patch: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Apply a service-side twin patch (``tags``, ``properties.desired``); returns the new twin (live).

        ``etag`` other than ``*`` must match the twin's (``EtagMismatch`` otherwise).
        """
        twin = self._devices[device_id].twin
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
        self._bump(twin)
        return twin

    def _bump(self, twin: dict[str, Any]) -> None:
        twin["version"] += 1
        twin["etag"] = etag_for(twin["version"])

    def _report(self, device_id: str, values: Mapping[str, Any], now: float) -> None:
        twin = self._devices[device_id].twin
        section = twin["properties"]["reported"]
        merge_patch(section, values)
        section["$version"] += 1
        section["$metadata"]["$lastUpdated"] = iso7(now)
        twin["lastActivityTime"] = iso7(now)
        self._bump(twin)

    # -- simulated device behaviour ----------------------------------------------------------------

    def is_online(self, device_id: str) -> bool:
        return self._devices[device_id].online

    def method_latency(self, salt: str, device_id: str) -> float:
        """Emulated seconds the device takes to answer a direct method in the job named by ``salt``."""
        low, high = METHOD_LATENCY
        return low + self._rng("method", salt, device_id).random() * (high - low)

    def twin_latency(self, salt: str, device_id: str) -> float:
        low, high = TWIN_LATENCY
        return low + self._rng("twin", salt, device_id).random() * (high - low)

    def invoke_method(
        self, device_id: str, method_name: str, payload: Any, salt: str, now: float
    ) -> tuple[int, Any]:
        """The device's answer ``(status, payload)``; side effects (a new firmware) apply on success.

        Callers must not invoke methods on offline devices: they never answer.
        """
        if method_name not in KNOWN_METHODS:
            return 501, {"error": f"method '{method_name}' is not implemented by the device"}
        rng = self._rng("method", salt, device_id)
        rng.random()  # the latency draw, see method_latency
        if rng.random() < self.failure_rate:
            return 500, {"error": f"simulated failure of '{method_name}' on the device"}
        twin = self._devices[device_id].twin
        twin["lastActivityTime"] = iso7(now)
        if method_name == "ping":
            return 200, {"result": "pong"}
        if method_name == "reboot":
            return 200, {"result": "rebooting"}
        version = payload.get("version") if isinstance(payload, Mapping) else None
        if not isinstance(version, str) or not version:
            return 400, {"error": 'firmwareUpdate needs a payload {"version": "<version>"}'}
        previous = twin["properties"]["reported"].get("firmware")
        self._report(device_id, {"firmware": version}, now)
        return 200, {"result": "updated", "previousVersion": previous, "version": version}


def payload_size(value: Any) -> int:
    """Bytes of ``value`` serialized as compact JSON (the unit of the 128 KB payload limit)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
