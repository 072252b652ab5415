"""The AWS IoT registry: things and (nested) thing groups, the simulated ones built from the shared fleet.

Fleet device ``i`` (in id order) is the thing ``thing-{i:05d}``; its attributes are the fleet's tags and firmware
as strings (``site``, ``floor``, ``model``, ``ring``, ``firmware``). Generated groups: ``fleet`` with one child
``site-<site>`` per site (things in their site's group, so ``fleet`` holds them all recursively), and root groups
``model-<model>`` and ``ring-<ring>``. A thing made by ``CreateThing`` is not simulated: nothing runs its jobs but a
client speaking the jobs data plane.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_iot_jobs.emulator.aws import errors
from airflow_iot_jobs.emulator.fleet import MODELS, RINGS, SITES, Fleet


@dataclass
class Thing:
    name: str
    thing_id: str
    arn: str
    attributes: dict[str, str]
    version: int
    created: float
    thing_type: str | None = None
    billing_group: str | None = None
    device_id: str | None = None  # the fleet device behind a simulated thing

    @property
    def simulated(self) -> bool:
        return self.device_id is not None

    def describe(self) -> dict[str, Any]:
        return {
            "defaultClientId": self.name,
            "thingName": self.name,
            "thingId": self.thing_id,
            "thingArn": self.arn,
            "thingTypeName": self.thing_type,
            "attributes": dict(self.attributes),
            "version": self.version,
            "billingGroupName": self.billing_group,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "thingName": self.name,
            "thingTypeName": self.thing_type,
            "thingArn": self.arn,
            "attributes": dict(self.attributes),
            "version": self.version,
        }


@dataclass
class ThingGroup:
    name: str
    group_id: str
    arn: str
    parent: str | None
    created: float
    description: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)
    version: int = 1
    things: set[str] = field(default_factory=set)  # direct members


class Registry:
    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.things: dict[str, Thing] = {}
        self.groups: dict[str, ThingGroup] = {}
        self.memberships: dict[str, set[str]] = {}  # thing -> groups it is directly in

    # -- names ------------------------------------------------------------------------------------------

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:{kind}/{name}"

    def parse_target(self, arn: str) -> tuple[str, str]:
        """``("thing" | "thinggroup", name)`` of a job target ARN of this account and region."""
        prefix = f"arn:aws:iot:{self.region}:{self.account_id}:"
        rest = arn[len(prefix) :] if arn.startswith(prefix) else ""
        kind, _, name = rest.partition("/")
        if kind not in ("thing", "thinggroup") or not name:
            raise errors.invalid_request(
                f"Target {arn} is not a thing or thing group ARN of account {self.account_id} in {self.region}."
            )
        return kind, name

    # -- the simulated registry ----------------------------------------------------------------------------

    def populate(self, fleet: Fleet, now: float) -> None:
        self.create_group("fleet", None, now, description="Every simulated thing, by site")
        for site in SITES:
            self.create_group(f"site-{site}", "fleet", now, attributes={"site": site})
        for model in MODELS:
            self.create_group(f"model-{model}", None, now, attributes={"model": model})
        for ring in RINGS:
            self.create_group(f"ring-{ring}", None, now, attributes={"ring": ring})
        for index, device in enumerate(fleet.devices()):
            doc = device.doc
            tags, reported = doc["tags"], doc["reported"]
            attributes = {
                "site": str(tags["site"]),
                "floor": str(tags["floor"]),
                "model": str(tags["model"]),
                "ring": str(tags["ring"]),
                "firmware": str(reported["firmware"]),
            }
            name = f"thing-{index:05d}"
            self.create_thing(name, attributes, now, device_id=device.device_id, serial=index)
            for group in (f"site-{tags['site']}", f"model-{tags['model']}", f"ring-{tags['ring']}"):
                self.add_to_group(name, group)

    # -- things -----------------------------------------------------------------------------------------

    def create_thing(
        self,
        name: str,
        attributes: dict[str, str],
        now: float,
        thing_type: str | None = None,
        billing_group: str | None = None,
        device_id: str | None = None,
        serial: int | None = None,
    ) -> Thing:
        thing_id = (
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"thing/{name}/{serial}"))
            if serial is not None
            else str(uuid.uuid4())
        )
        thing = Thing(
            name,
            thing_id,
            self.arn("thing", name),
            dict(attributes),
            1,
            now,
            thing_type,
            billing_group,
            device_id,
        )
        self.things[name] = thing
        self.memberships.setdefault(name, set())
        return thing

    def thing(self, name: str) -> Thing:
        thing = self.things.get(name)
        if thing is None:
            raise errors.not_found(f"Thing {name} cannot be found.")
        return thing

    def delete_thing(self, name: str) -> None:
        for group in self.memberships.pop(name, set()):
            self.groups[group].things.discard(name)
        self.things.pop(name, None)

    # -- groups -----------------------------------------------------------------------------------------

    def create_group(
        self,
        name: str,
        parent: str | None,
        now: float,
        description: str | None = None,
        attributes: dict[str, str] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> ThingGroup:
        group = ThingGroup(
            name,
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"thinggroup/{name}/{now}")),
            self.arn("thinggroup", name),
            parent,
            now,
            description,
            dict(attributes or {}),
            list(tags or []),
        )
        self.groups[name] = group
        return group

    def group(self, name: str) -> ThingGroup:
        group = self.groups.get(name)
        if group is None:
            raise errors.not_found(f"ThingGroup {name} does not exist")
        return group

    def ancestors(self, name: str) -> list[str]:
        """Root first, the group's parent last."""
        chain: list[str] = []
        parent = self.groups[name].parent
        while parent is not None:
            chain.append(parent)
            parent = self.groups[parent].parent
        return chain[::-1]

    def children(self, name: str) -> list[str]:
        return sorted(g.name for g in self.groups.values() if g.parent == name)

    def descendants(self, name: str) -> list[str]:
        """The group and every group below it."""
        found, stack = [], [name]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children(current))
        return found

    def things_in(self, name: str, recursive: bool) -> list[str]:
        groups = self.descendants(name) if recursive else [name]
        members: set[str] = set()
        for group in groups:
            members |= self.groups[group].things
        return sorted(members)

    def covers(self, group: str, thing: str) -> bool:
        """Whether ``thing`` is in ``group`` or one of its descendants (what a job on the group targets)."""
        return any(g == group or group in self.ancestors(g) for g in self.memberships.get(thing, ()))

    def add_to_group(self, thing: str, group: str) -> bool:
        """Returns whether the thing was not a member yet."""
        members = self.groups[group].things
        if thing in members:
            return False
        members.add(thing)
        self.memberships.setdefault(thing, set()).add(group)
        return True

    def remove_from_group(self, thing: str, group: str) -> bool:
        members = self.groups[group].things
        if thing not in members:
            return False
        members.discard(thing)
        self.memberships.get(thing, set()).discard(group)
        return True

    def delete_group(self, name: str) -> None:
        group = self.groups.pop(name)
        for thing in group.things:
            self.memberships.get(thing, set()).discard(name)
