"""How a rollout reads a backend's fleet and points one wave's job at exactly its devices.

One small adapter per backend, keyed by its connection type; the waves themselves are backend-neutral
(:mod:`airflow_iot_jobs.rollouts.waves`). Every wave targets its devices by id, so waves are disjoint by
construction and a device that joins the fleet after the plan is picked up by the last wave (``None`` / "100%",
re-read when that wave starts) or named in the plan of the next run:

- IoT Hub / IoTHub Manager: the plan reads the twins ``SELECT * FROM devices WHERE <query_condition>`` (the
  Manager through the hub behind it, ``iothub_conn_id``); a wave's job gets ``device_ids`` (``deviceId IN [...]``)
  while every wave's list fits well inside the hub's query length limit. Beyond that (a few hundred devices in a
  wave) each device carries its place in the rollout order in a twin tag, ``tags.rolloutOrder.<rollout>`` (written
  by the wave that launches it, once per device and rollout: the value never changes), and a wave's job selects a
  range of it: ``(<condition>) AND tags.rolloutOrder.<rollout> >= lo AND … < hi``;
- IoT Central: the plan reads the target device group's devices; a wave's job gets a device filter
  ``$id = 'a' OR $id = 'b' …`` (its own device group), so a wave is at most what one filter holds;
- AWS IoT Jobs / the Device Management API: the plan expands the thing groups (nested ones too; the Device
  Management API through ``aws_conn_id``); a wave's job targets its things' ARNs, up to 100 (an AWS IoT job takes
  at most 100 targets). A larger wave's job targets one static thing group per rollout and wave, whose members the
  wave sets to exactly its things before it launches (through ``aws_conn_id`` for the Device Management API).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.validation.aws_iot import MAX_TARGETS

DeviceMap = dict[str, Mapping[str, Any] | None]


@dataclass(frozen=True)
class Assignment:
    """What the plan decided: the fleet it read, each wave's devices, the devices in no wave, the rollout's key."""

    devices: DeviceMap
    waves: list[list[str]]
    left: list[str]
    key: str


class Targeting:
    """``devices``: every device the job's own target selects (id -> tags, or None where the backend has none);
    ``context``: what the waves need besides their ids, kept in the plan; ``narrow``: make the job of wave
    ``wave_index`` target exactly ``device_ids``."""

    has_tags = False

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        raise NotImplementedError

    def context(self, op: Any, request: dict[str, Any], assigned: Assignment) -> dict[str, Any]:
        return {}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any], wave_index: int) -> None:
        raise NotImplementedError


ORDER_TAG = "rolloutOrder"


def order_tag_name(key: str) -> str:
    """The rollout's key under ``tags.rolloutOrder``: readable, a query identifier, and unique by a digest."""
    readable = re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")[:40]
    return f"r_{readable}_{hashlib.sha256(key.encode()).hexdigest()[:6]}"


class HubTargeting(Targeting):
    has_tags = True
    #: the longest ``deviceId IN [...]`` a wave's job gets (the hub allows 8,192 characters per query; the last
    #: wave may grow by the devices that join during the rollout)
    in_list_budget = 6000

    def hub(self, op: Any) -> Any:
        return op.hook

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        condition = request["query_condition"].strip()
        where = "" if condition == "*" else f" WHERE {condition}"
        rows = self.hub(op).query_devices(f"SELECT * FROM devices{where}")
        return {row["deviceId"]: row.get("tags") or {} for row in rows}

    def context(self, op: Any, request: dict[str, Any], assigned: Assignment) -> dict[str, Any]:
        """Ids while every wave's list is short; else the order tag, each wave's range of it, and the devices
        whose tag is not written yet."""
        waves, key = assigned.waves, assigned.key
        if all(_in_list_length(ids) <= self.in_list_budget for ids in waves):
            return {}
        from airflow_iot_jobs.rollouts.waves import order_value

        name = order_tag_name(key)
        # wave i takes the order values [cut i-1, cut i): a cut is the value of the first device after the wave
        after_all = 1 << 48
        firsts = [order_value(ids[0], key) if ids else None for ids in [*waves, assigned.left]]
        cuts = [next((f for f in firsts[i + 1 :] if f is not None), after_all) for i in range(len(waves))]
        ranges = [
            [cuts[i - 1] if i else None, None if cuts[i] == after_all else cuts[i]] for i in range(len(waves))
        ]
        held = {
            device: ((tags or {}).get(ORDER_TAG) or {}).get(name) for device, tags in assigned.devices.items()
        }
        return {
            "order_tag": name,
            "ranges": ranges,
            "untagged": sorted(d for d, value in held.items() if value is None),
            # a value someone changed could put a device into another wave's range: rewritten before any launch
            "mistagged": sorted(d for d, value in held.items() if value not in (None, order_value(d, key))),
        }

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any], wave_index: int) -> None:
        if not context.get("order_tag"):
            op.query_condition, op.device_ids = None, list(device_ids)
            return
        from airflow_iot_jobs.operators.base import check_flag

        name, key = context["order_tag"], op.rollout.key
        field = f"tags.{ORDER_TAG}.{name}"
        untagged = sorted(set(device_ids) & set(context["untagged"]) | set(context["mistagged"]))
        if untagged and not check_flag(op.dry_run, "dry_run"):
            self.write_order_tags(op, untagged, name, key)
        elif untagged:
            op.log.info(
                "dry run: %s device(s) of this wave carry no %s yet; a real run writes it first",
                len(untagged),
                field,
            )
        low, high = context["ranges"][wave_index]
        bounds = [f"{field} >= {low}"] if low is not None else []
        if high is not None:
            bounds.append(f"{field} < {high}")
        selection = " AND ".join(bounds) or f"IS_DEFINED({field})"
        if high is None and wave_index == len(context["ranges"]) - 1:
            # the end of the order: also the devices that joined since the plan (no tag yet)
            selection = f"({selection} OR NOT IS_DEFINED({field}))"
        condition = (op.query_condition or "*").strip()
        op.query_condition = selection if condition == "*" else f"({condition}) AND {selection}"
        op.device_ids = None

    def write_order_tags(self, op: Any, device_ids: list[str], name: str, key: str) -> None:
        from airflow_iot_jobs.rollouts.waves import order_value

        hub = self.hub(op)
        op.log.info(
            "tagging %s device(s) with their place in the rollout order (tags.%s.%s; once per device)",
            f"{len(device_ids):,}",
            ORDER_TAG,
            name,
        )
        for done, device in enumerate(device_ids, start=1):
            hub.update_twin_tags(device, {ORDER_TAG: {name: order_value(device, key)}})
            if done % 1000 == 0 and done < len(device_ids):
                op.log.info("tagged %s of %s", f"{done:,}", f"{len(device_ids):,}")


def _in_list_length(device_ids: list[str]) -> int:
    return sum(len(device) + 4 for device in device_ids) + len("SELECT * FROM devices WHERE deviceId IN []")


class ManagerTargeting(HubTargeting):
    def hub(self, op: Any) -> Any:
        if not getattr(op, "iothub_conn_id", None):
            raise ValueError(
                "iothub_conn_id: a rollout through the IoTHub Manager reads the fleet from the hub behind it; name "
                "that hub's connection"
            )
        return op.hook.hub()


class CentralTargeting(Targeting):
    """A wave is a device group whose filter names its devices. IoT Central has no static groups and no tags a
    rollout could write, so a wave is as large as one filter allows; the plan refuses larger waves before any
    job (leaving a quarter of the filter for the devices that join during the rollout)."""

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        op.ensure_filter_group(request)
        return {row["id"]: None for row in op.hook.device_group_devices(request["body"]["group"])}

    def context(self, op: Any, request: dict[str, Any], assigned: Assignment) -> dict[str, Any]:
        from airflow_iot_jobs.query.iotcentral import MAX_FILTER_LENGTH

        budget = MAX_FILTER_LENGTH * 3 // 4
        waves = assigned.waves
        for number, ids in enumerate(waves, start=1):
            length = len(_id_filter(ids))
            if length > budget:
                raise ValueError(
                    f"waves: wave {number} of {len(waves)} has {len(ids):,} devices; an IoT Central wave selects "
                    f"its devices by a device filter ($id = … OR …), which would be {length:,} characters, over "
                    f"{budget:,} (of the {MAX_FILTER_LENGTH:,} one filter may have); use smaller waves (counts, "
                    "e.g. [50, 200, 200]), or one IoTCentralJobOperator with batch= and cancellation_threshold= "
                    "for the whole fleet; no job was created"
                )
        return {}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any], wave_index: int) -> None:
        op.device_group_id, op.device_filter = None, _id_filter(device_ids)


def _id_filter(device_ids: list[str]) -> str:
    quoted = " OR ".join("$id = '" + d.replace("'", "''") + "'" for d in device_ids)
    return f"SELECT * FROM devices WHERE {quoted}"


def wave_group_name(key: str, wave_number: int) -> str:
    """The static thing group of wave ``wave_number`` (1-based) of the rollout ``key``: the same on every retry and
    every run of the DAG, e.g. ``r_fleet_firmware_1a2b3c_wave_2`` (AWS's ``[a-zA-Z0-9:_-]+``, ≤ 128 characters)."""
    return f"{order_tag_name(key)}_wave_{wave_number}"


class AwsTargeting(Targeting):
    """Things are named by ARN: a thing's ARN is its group's ARN with ``thing/<name>`` as the resource (the plan
    keeps that prefix, so a wave needs no lookup per thing).

    A wave of up to :data:`~airflow_iot_jobs.validation.aws_iot.MAX_TARGETS` things: its job targets their ARNs. A larger wave (an AWS IoT job takes
    at most 100 targets): its job targets one static thing group, :func:`wave_group_name` (rollout key and wave
    number), and before launching the wave makes that group's members exactly its things
    (:meth:`~airflow_iot_jobs.hooks.aws_iot.AwsIoTJobsHook.sync_static_thing_group`: the group is created if
    missing, missing things added, things of an earlier run's wave removed). A SNAPSHOT job reads the members when
    it is created; a retry re-attaches to the job its wave created, and its sync changes nothing. A dry run changes
    no group: it logs what the wave would do.

    AWS puts a thing in at most 10 thing groups. After its wave started, a thing is in that wave's group and in no
    other group of this rollout that this run has synced. A thing that moved to another wave since an earlier run
    (the fleet changed: wave 3 last week, wave 2 this week) stays in its old wave's group until that wave syncs in
    this run, which removes it; the group of a wave that has 100 things or fewer this run is not synced and keeps
    its earlier members (no job targets it). So a thing usually sits in one of the rollout's groups, for a while
    two. The groups are kept: every run syncs them again.

    With ``target_selection="CONTINUOUS"`` a job follows its group: a later run's sync would change the targets of
    a continuous wave job of an earlier run that still runs (a warning is logged).
    """

    max_targets = MAX_TARGETS

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        # the Device Management API's hook needs aws_conn_id to list a thing group's things
        return {name: None for name in op.hook.expand_targets(op.target(request))}

    def context(self, op: Any, request: dict[str, Any], assigned: Assignment) -> dict[str, Any]:
        head = ":".join(op.target(request)[0].split(":", 5)[:5])
        context: dict[str, Any] = {"thing_arn_prefix": f"{head}:thing/"}
        waves = assigned.waves
        if any(len(ids) > self.max_targets for ids in waves):
            # for the plan's reader: the waves planned too large for thing ARNs (the last wave is re-read)
            context["wave_groups"] = [
                wave_group_name(assigned.key, i + 1) if len(ids) > self.max_targets else None
                for i, ids in enumerate(waves)
            ]
        return context

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any], wave_index: int) -> None:
        prefix = context["thing_arn_prefix"]
        things = [f"{prefix}{name}" for name in device_ids]
        if len(device_ids) <= self.max_targets:
            op.targets = things
            return
        from airflow_iot_jobs.operators.base import check_flag

        iot = self.iot(op)
        name = wave_group_name(op.rollout.key, wave_index + 1)
        if check_flag(op.dry_run, "dry_run"):
            op.log.info(
                "dry run: wave %s has %s things, more than an AWS IoT job takes (%s): a real run makes thing group "
                "%s (%s) hold exactly them (created if missing, things added and removed) and targets it; no group "
                "was changed",
                wave_index + 1,
                f"{len(device_ids):,}",
                self.max_targets,
                name,
                prefix.removesuffix("thing/") + f"thinggroup/{name}",
            )
            return
        if str(getattr(op, "target_selection", "") or "").upper() == "CONTINUOUS":
            op.log.warning(
                "thing group %s: a CONTINUOUS job follows its group; a later run's sync of this wave changes the "
                "targets of this job while it runs",
                name,
            )
        synced = iot.sync_static_thing_group(
            name, device_ids, description=_group_description(op.rollout.key, wave_index + 1)
        )
        op.log.info(
            "wave %s: %s things, more than an AWS IoT job takes (%s): its job targets thing group %s (%s), now "
            "holding exactly them (%s added, %s removed)",
            wave_index + 1,
            f"{len(device_ids):,}",
            self.max_targets,
            name,
            synced["thingGroupArn"],
            synced["added"],
            synced["removed"],
        )
        op.targets = [synced["thingGroupArn"]]

    def iot(self, op: Any) -> Any:
        """The AWS IoT hook that manages the wave's thing group."""
        return op.hook


class DeviceManagementTargeting(AwsTargeting):
    def iot(self, op: Any) -> Any:
        """The Job API cannot manage thing groups: the ``aws`` connection does (as it lists them for the plan)."""
        if not getattr(op, "aws_conn_id", None):
            raise ValueError(
                f"aws_conn_id: a wave of more than {self.max_targets} things targets a static thing group (an AWS "
                "IoT job takes at most 100 targets), and the Device Management API cannot manage thing groups; name "
                "an aws connection allowed iot:CreateThingGroup, iot:DescribeThingGroup, iot:ListThingsInThingGroup, "
                "iot:AddThingToThingGroup and iot:RemoveThingFromThingGroup, or use smaller waves"
            )
        return op.hook.aws_iot_hook(op.aws_conn_id)


def _group_description(key: str, wave_number: int) -> str:
    readable = re.sub(r"[^\x20-\x7e]", "?", key)[:500]
    return f"Things of wave {wave_number} of rollout {readable} (airflow-iot-jobs sets its members)"


TARGETING: dict[str, Targeting] = {
    "azure_iot_hub": HubTargeting(),
    "iothub_manager": ManagerTargeting(),
    "azure_iot_central": CentralTargeting(),
    "aws": AwsTargeting(),
    "iot_device_management_api": DeviceManagementTargeting(),
}


def targeting_for(backend: Any) -> Targeting:
    try:
        return TARGETING[backend.conn_type]
    except KeyError:
        raise ValueError(f"job: {backend.name} has no rollout targeting") from None
