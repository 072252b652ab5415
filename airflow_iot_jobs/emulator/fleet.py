"""A backend-neutral simulated device fleet: ids, online state, tags, reported values, simulated behaviour.

How a backend *sees* a device (IoT Hub's twin, ...) is that backend's :class:`DeviceView`: the fleet asks the
view to build each device's document (``Device.doc``) and to record what happens to the device on it. Every
random draw is made here, never in a view, so a seed gives the same fleet whatever the view.

Everything random comes from ``random.Random`` instances seeded with strings built from the fleet seed
(``random`` hashes str seeds with SHA-512, so this is stable across processes; ``hash()`` would not be).
The fleet itself is not thread-safe: the backend that owns it serializes access (one lock per emulator).
"""

from __future__ import annotations

import bisect
import copy
import gc
import itertools
import json
import random
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

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

# Emulated seconds a device takes to answer a direct method, and the cloud takes to write a property update.
METHOD_LATENCY = (0.05, 1.5)
UPDATE_LATENCY = (0.01, 0.2)


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


class DeviceView(Protocol):
    """A backend's document of a device: built once, then kept up to date by the fleet."""

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
        """A new document; ``serial`` is a random number the view may use (e.g. an identity etag)."""
        ...

    def set_online(self, doc: dict[str, Any], online: bool, now: float | None) -> None: ...

    def touch(self, doc: dict[str, Any], now: float) -> None:
        """The device was active at ``now``."""
        ...

    def reported(self, doc: dict[str, Any]) -> Mapping[str, Any]:
        """The values the device reports (read only)."""
        ...

    def report(self, doc: dict[str, Any], values: Mapping[str, Any], now: float) -> None:
        """The device reports new values at ``now``."""
        ...


class PlainView:
    """The neutral document: ``{"deviceId", "online", "tags", "reported", "lastActivity"}``."""

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
            "deviceId": device_id,
            "online": online,
            "tags": tags,
            "reported": reported,
            "lastActivity": last_activity,
        }

    def set_online(self, doc: dict[str, Any], online: bool, now: float | None) -> None:
        doc["online"] = online
        if now is not None and online:
            doc["lastActivity"] = now

    def touch(self, doc: dict[str, Any], now: float) -> None:
        doc["lastActivity"] = now

    def reported(self, doc: dict[str, Any]) -> Mapping[str, Any]:
        return doc["reported"]

    def report(self, doc: dict[str, Any], values: Mapping[str, Any], now: float) -> None:
        merge_patch(doc["reported"], values)
        doc["lastActivity"] = now


class Device:
    __slots__ = ("device_id", "online", "doc")

    def __init__(self, device_id: str, online: bool, doc: dict[str, Any]) -> None:
        self.device_id = device_id
        self.online = online
        self.doc = doc  # the fleet view's document (IoT Hub: the twin)


class Fleet:
    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        epoch: float = 0.0,
        view: DeviceView | None = None,
    ) -> None:
        """``epoch`` (Unix seconds) anchors generated timestamps such as the last activity; ``view`` builds the
        device documents (default :class:`PlainView`)."""
        if devices < 0:
            raise ValueError("devices must be >= 0")
        for name, rate in (("offline_rate", offline_rate), ("failure_rate", failure_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {rate!r}")
        self.seed = seed
        self.offline_rate = offline_rate
        self.failure_rate = failure_rate
        self.epoch = epoch
        self.view: DeviceView = view if view is not None else PlainView()
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

    def _generate(
        self,
        device_id: str,
        rng: random.Random,
        online: bool | None = None,
        tags_override: Mapping[str, Any] | None = None,
        active_at: float | None = None,
    ) -> Device:
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
        serial = below(10**9)
        if tags_override:
            merge_patch(tags, tags_override)
        last_activity = self.epoch - idle if active_at is None else active_at
        return Device(
            device_id,
            online,
            self.view.create(device_id, online, tags, reported, last_activity, serial, self.epoch),
        )

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
        """Devices in ascending id order. The documents are live: do not mutate them."""
        for device_id in self._ids:
            yield self._devices[device_id]

    def devices_after(self, device_id: str | None) -> Iterator[Device]:
        """Devices with an id greater than ``device_id`` (all when None), in ascending id order."""
        start = 0 if device_id is None else bisect.bisect_right(self._ids, device_id)
        for index in range(start, len(self._ids)):
            yield self._devices[self._ids[index]]

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def doc(self, device_id: str) -> dict[str, Any]:
        """A deep copy of one device's document; KeyError when unknown."""
        return copy.deepcopy(self._devices[device_id].doc)

    def snapshot(self) -> list[dict[str, Any]]:
        """All documents (deep copies), ordered by id; for determinism checks."""
        return [copy.deepcopy(d.doc) for d in self.devices()]

    # -- changing ---------------------------------------------------------------------------------

    def add_device(
        self,
        device_id: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        online: bool | None = None,
        now: float | None = None,
    ) -> Device:
        """Register one more device (same generator as the initial fleet, tags overridable, active at ``now``)."""
        if device_id is None:
            index = len(self._ids) + 1
            while f"device-{index:05d}" in self._devices:
                index += 1
            device_id = f"device-{index:05d}"
        if device_id in self._devices:
            raise ValueError(f"device {device_id!r} already exists")
        device = self._generate(device_id, self._rng("added", device_id), online, tags, now)
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
        self.view.set_online(device.doc, online, now)

    # -- simulated device behaviour ----------------------------------------------------------------

    def is_online(self, device_id: str) -> bool:
        return self._devices[device_id].online

    def method_latency(self, salt: str, device_id: str) -> float:
        """Emulated seconds the device takes to answer a direct method in the job named by ``salt``."""
        low, high = METHOD_LATENCY
        return low + self._rng("method", salt, device_id).random() * (high - low)

    def update_latency(self, salt: str, device_id: str) -> float:
        """Emulated seconds the cloud takes to write a property update on the device (job ``salt``)."""
        low, high = UPDATE_LATENCY
        # The "twin" salt predates the neutral name; changing it would change every outcome for a seed.
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
        doc = self._devices[device_id].doc
        self.view.touch(doc, now)
        if method_name == "ping":
            return 200, {"result": "pong"}
        if method_name == "reboot":
            return 200, {"result": "rebooting"}
        version = payload.get("version") if isinstance(payload, Mapping) else None
        if not isinstance(version, str) or not version:
            return 400, {"error": 'firmwareUpdate needs a payload {"version": "<version>"}'}
        previous = self.view.reported(doc).get("firmware")
        self.view.report(doc, {"firmware": version}, now)
        return 200, {"result": "updated", "previousVersion": previous, "version": version}


def payload_size(value: Any) -> int:
    """Bytes of ``value`` serialized as compact JSON (the unit of the 128 KB payload limit)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
