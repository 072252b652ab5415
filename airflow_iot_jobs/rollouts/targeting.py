"""How a rollout reads a backend's fleet and points one wave's job at exactly its devices.

One small adapter per backend, keyed by its connection type; the waves themselves are backend-neutral
(:mod:`airflow_iot_jobs.rollouts.waves`). Every wave targets its devices by id, so waves are disjoint by
construction and a device that joins the fleet after the plan is picked up by the last wave (``None`` / "100%",
re-read when that wave starts) or named in the plan of the next run:

- IoT Hub / IoTHub Manager: the plan reads the twins ``SELECT * FROM devices WHERE <query_condition>`` (the
  Manager through the hub behind it, ``iothub_conn_id``); a wave's job gets ``device_ids`` (``deviceId IN [...]``,
  within the hub's query length limit);
- IoT Central: the plan reads the target device group's devices; a wave's job gets a device filter
  ``$id = 'a' OR $id = 'b' …`` (its own device group);
- AWS IoT Jobs / the Device Management API: the plan expands the thing groups (nested ones too; the Device
  Management API through ``aws_conn_id``); a wave's job targets its things' ARNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DeviceMap = dict[str, Mapping[str, Any] | None]


class Targeting:
    """``devices``: every device the job's own target selects (id -> tags, or None where the backend has none);
    ``context``: what a wave needs besides the ids, kept in the plan; ``narrow``: make the job target exactly
    ``device_ids``."""

    has_tags = False

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        raise NotImplementedError

    def context(self, op: Any, request: dict[str, Any]) -> dict[str, Any]:
        return {}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any]) -> None:
        raise NotImplementedError


class HubTargeting(Targeting):
    has_tags = True

    def hub(self, op: Any) -> Any:
        return op.hook

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        condition = request["query_condition"].strip()
        where = "" if condition == "*" else f" WHERE {condition}"
        rows = self.hub(op).query_devices(f"SELECT * FROM devices{where}")
        return {row["deviceId"]: row.get("tags") or {} for row in rows}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any]) -> None:
        op.query_condition, op.device_ids = None, list(device_ids)


class ManagerTargeting(HubTargeting):
    def hub(self, op: Any) -> Any:
        if not getattr(op, "iothub_conn_id", None):
            raise ValueError(
                "iothub_conn_id: a rollout through the IoTHub Manager reads the fleet from the hub behind it; name "
                "that hub's connection"
            )
        return op.hook.hub()


class CentralTargeting(Targeting):
    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        op.ensure_filter_group(request)
        return {row["id"]: None for row in op.hook.device_group_devices(request["body"]["group"])}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any]) -> None:
        quoted = " OR ".join("$id = '" + d.replace("'", "''") + "'" for d in device_ids)
        op.device_group_id, op.device_filter = None, f"SELECT * FROM devices WHERE {quoted}"


class AwsTargeting(Targeting):
    """Things are named by ARN: a thing's ARN is its group's ARN with ``thing/<name>`` as the resource (the plan
    keeps that prefix, so a wave needs no lookup per thing)."""

    def devices(self, op: Any, request: dict[str, Any]) -> DeviceMap:
        # the Device Management API's hook needs aws_conn_id to list a thing group's things
        return {name: None for name in op.hook.expand_targets(op.target(request))}

    def context(self, op: Any, request: dict[str, Any]) -> dict[str, Any]:
        head = ":".join(op.target(request)[0].split(":", 5)[:5])
        return {"thing_arn_prefix": f"{head}:thing/"}

    def narrow(self, op: Any, device_ids: list[str], context: dict[str, Any]) -> None:
        op.targets = [f"{context['thing_arn_prefix']}{name}" for name in device_ids]


TARGETING: dict[str, Targeting] = {
    "azure_iot_hub": HubTargeting(),
    "iothub_manager": ManagerTargeting(),
    "azure_iot_central": CentralTargeting(),
    "aws": AwsTargeting(),
    "iot_device_management_api": AwsTargeting(),
}


def targeting_for(backend: Any) -> Targeting:
    try:
        return TARGETING[backend.conn_type]
    except KeyError:
        raise ValueError(f"job: {backend.name} has no rollout targeting") from None
