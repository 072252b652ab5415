"""Waves of a staged rollout: what a wave spec means, and which devices land in which wave. Pure functions.

``waves`` takes, in order:

- a share, ``"1%"`` … ``"100%"``: the waves so far reach this share of the fleet (cumulative: ``["1%", "10%",
  "50%", "100%"]`` is 1 %, then 9 %, then 40 %, then the last 50 %);
- a count, ``100``: this wave takes that many more devices;
- ``None`` (or ``"rest"``): every device not in an earlier wave (last only);
- a tag value, ``"ring0"`` (with ``wave_tag="ring"``): the devices whose tag holds that value.

Every device lands in exactly one wave. Devices are ordered by a digest of the rollout's key and their id, so the
assignment is the same on every retry, every rerun and every run of the DAG (the same canaries go first each time),
and unrelated to id order. A wave with a share or count rounds up (a 1 % wave of 50 devices has one device).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SHARE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
REST = "rest"


@dataclass(frozen=True)
class WaveSpec:
    """One wave: ``kind`` share (``value`` 0–100, cumulative), count (``value`` devices), rest, or tag (``value``)."""

    kind: str
    value: Any = None

    @property
    def label(self) -> str:
        if self.kind == "share":
            return f"{self.value:g}%"
        if self.kind == "count":
            return f"{self.value:,} devices"
        if self.kind == "rest":
            return "the rest"
        return f"tag {self.value!r}"


def parse_waves(waves: object, wave_tag: str | None = None) -> list[WaveSpec]:
    """The wave list, checked: at least one wave; shares rising and at most 100 %; ``None`` only last; tag values
    only with ``wave_tag`` and not mixed with shares or counts."""
    if isinstance(waves, str | bytes) or not isinstance(waves, Sequence) or not waves:
        raise ValueError(
            'waves: must be a non-empty list, e.g. ["1%", "10%", "50%", "100%"] or [100, 1000, None]'
        )
    specs: list[WaveSpec] = []
    for i, wave in enumerate(waves):
        field = f"waves[{i}]"
        if wave is None or (isinstance(wave, str) and wave.strip().lower() == REST):
            if i != len(waves) - 1:
                raise ValueError(f"{field}: None (the rest of the fleet) may only be the last wave")
            specs.append(WaveSpec("rest"))
        elif isinstance(wave, bool):
            raise ValueError(
                f"{field}: must be a share ('10%'), a device count, None or a tag value, got {wave!r}"
            )
        elif isinstance(wave, int):
            if wave < 1:
                raise ValueError(f"{field}: a wave of devices must have at least 1 device, got {wave}")
            specs.append(WaveSpec("count", wave))
        elif isinstance(wave, str) and (match := _SHARE.fullmatch(wave)):
            share = float(match.group(1))
            if not 0 < share <= 100:
                raise ValueError(f"{field}: a share must be above 0 % and at most 100 %, got {wave!r}")
            earlier = [s.value for s in specs if s.kind == "share"]
            if earlier and share <= earlier[-1]:
                raise ValueError(
                    f"{field}: shares are cumulative and must rise ({earlier[-1]:g}% then {share:g}%)"
                )
            specs.append(WaveSpec("share", share))
        elif isinstance(wave, str) and wave.strip():
            if not wave_tag:
                raise ValueError(
                    f"{field}: {wave!r} is not a share ('10%') or a count; to roll out by tag value (rings), "
                    "pass wave_tag, e.g. wave_tag='ring' with waves=['ring0', 'ring1', 'ring2']"
                )
            specs.append(WaveSpec("tag", wave.strip()))
        else:
            raise ValueError(
                f"{field}: must be a share ('10%'), a device count, None or a tag value, got {wave!r}"
            )
    kinds = {s.kind for s in specs}
    if "tag" in kinds and kinds - {"tag", "rest"}:
        raise ValueError("waves: tag values cannot be mixed with shares or counts")
    values = [s.value for s in specs if s.kind == "tag"]
    if len(values) != len(set(values)):
        raise ValueError("waves: a tag value may name only one wave")
    return specs


def _digest(key: str, device: str) -> str:
    return hashlib.sha256(f"{key}\0{device}".encode()).hexdigest()


def order(device_ids: Sequence[str], key: str) -> list[str]:
    """The devices in rollout order: by the digest of ``key`` and the id (stable, unrelated to id order)."""
    unique = sorted(set(device_ids))
    return sorted(unique, key=lambda d: _digest(key, d))


def order_value(device: str, key: str) -> int:
    """A device's place in the rollout order as a number: the digest's first 48 bits (exact in a JSON double, so
    a service can store it and compare it). Sorting by it is sorting by :func:`order`."""
    return int(_digest(key, device)[:12], 16)


def assign(
    devices: Mapping[str, Mapping[str, Any] | None],
    specs: Sequence[WaveSpec],
    key: str,
    wave_tag: str | None = None,
) -> tuple[list[list[str]], list[str]]:
    """``devices`` (id -> tags, or None) split into one list per wave, and the devices in no wave (tag waves:
    another or no tag value; share waves stopping below 100 %). Disjoint; each list in rollout order."""
    ordered = order(list(devices), key)
    if any(s.kind == "tag" for s in specs):
        by_value: dict[str, list[str]] = {s.value: [] for s in specs if s.kind == "tag"}
        rest: list[str] = []
        for device in ordered:
            value = tag_value(devices[device], wave_tag)
            by_value.get(value, rest).append(device)  # type: ignore[arg-type]
        waves = [by_value[s.value] if s.kind == "tag" else rest for s in specs]
        left = [] if specs[-1].kind == "rest" else rest
        return waves, left
    waves, start, total = [], 0, len(ordered)
    for spec in specs:
        if spec.kind == "share":
            end = max(math.ceil(total * spec.value / 100 - 1e-9), start)
        elif spec.kind == "count":
            end = start + spec.value
        else:
            end = total
        end = min(end, total)
        waves.append(ordered[start:end])
        start = end
    return waves, ordered[start:]


def tag_value(tags: Mapping[str, Any] | None, path: str | None) -> str | None:
    """A tag's value (``"ring"`` or a dotted path ``"rollout.ring"``) as a string, or None."""
    value: Any = tags
    for part in (path or "").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return None if value is None or isinstance(value, Mapping | list) else str(value)
