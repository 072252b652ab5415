"""Things and thing groups: the simulated registry from the shared fleet, CreateThing, nested groups."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator
from airflow_iot_jobs.emulator.fleet import MODELS, RINGS, SITES
from tests.emulator.aws.helpers import arn, error_of


def test_simulated_things_carry_the_fleets_attributes(iot: Any, shared_aws: AwsIoTEmulator) -> None:
    devices = list(shared_aws.fleet.devices())
    thing = iot.describe_thing(thingName="thing-00000")
    tags = devices[0].doc["tags"]
    assert thing["attributes"]["site"] == tags["site"] and thing["attributes"]["floor"] == str(tags["floor"])
    assert thing["thingArn"] == arn("thing", "thing-00000") and thing["version"] == 1
    site = tags["site"]
    filtered = iot.list_things(attributeName="site", attributeValue=site, maxResults=250)["things"]
    assert {t["thingName"] for t in filtered} == {
        f"thing-{i:05d}" for i, d in enumerate(devices) if d.doc["tags"]["site"] == site
    }
    prefix = iot.list_things(
        attributeName="model", attributeValue="gw-", usePrefixAttributeValue=True, maxResults=250
    )
    assert all(t["attributes"]["model"].startswith("gw-") for t in prefix["things"])


def test_generated_groups_nest_under_fleet(iot: Any) -> None:
    roots = {g["groupName"] for g in iot.list_thing_groups(recursive=False, maxResults=250)["thingGroups"]}
    assert roots == {"fleet", *(f"model-{m}" for m in MODELS), *(f"ring-{r}" for r in RINGS)}
    children = {g["groupName"] for g in iot.list_thing_groups(parentGroup="fleet")["thingGroups"]}
    assert children == {f"site-{s}" for s in SITES}
    site = iot.describe_thing_group(thingGroupName="site-ams")
    assert site["thingGroupMetadata"]["parentGroupName"] == "fleet"
    assert site["thingGroupMetadata"]["rootToParentThingGroups"] == [
        {"groupName": "fleet", "groupArn": arn("thinggroup", "fleet")}
    ]
    assert iot.list_thing_groups(namePrefixFilter="ring-")["thingGroups"][0]["groupName"].startswith("ring-")


def test_create_describe_delete_things_and_groups(iot: Any) -> None:
    made = iot.create_thing(thingName="reg-1", attributePayload={"attributes": {"site": "lab"}})
    assert made["thingArn"] == arn("thing", "reg-1")
    # Same name and configuration: the same thing; different attributes: already exists.
    assert (
        iot.create_thing(thingName="reg-1", attributePayload={"attributes": {"site": "lab"}})["thingId"]
        == made["thingId"]
    )
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as caught:
        iot.create_thing(thingName="reg-1", attributePayload={"attributes": {"site": "elsewhere"}})
    assert error_of(caught.value)[0] == 409
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.create_thing(thingName="reg-2", thingTypeName="no-such-type")

    iot.create_thing_group(thingGroupName="reg-root", thingGroupProperties={"thingGroupDescription": "root"})
    iot.create_thing_group(thingGroupName="reg-child", parentGroupName="reg-root")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_thing_group(thingGroupName="reg-orphan", parentGroupName="reg-nothing")
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        iot.create_thing_group(thingGroupName="reg-child", parentGroupName="fleet")
    iot.add_thing_to_thing_group(thingGroupName="reg-child", thingName="reg-1")
    assert iot.list_things_in_thing_group(thingGroupName="reg-root")["things"] == []
    assert iot.list_things_in_thing_group(thingGroupName="reg-root", recursive=True)["things"] == ["reg-1"]
    assert [g["groupName"] for g in iot.list_thing_groups_for_thing(thingName="reg-1")["thingGroups"]] == [
        "reg-child"
    ]
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.add_thing_to_thing_group(thingGroupName="reg-child", thingName="nobody")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.delete_thing_group(thingGroupName="reg-root")  # it has a child
    iot.remove_thing_from_thing_group(thingGroupName="reg-child", thingName="reg-1")
    assert iot.list_things_in_thing_group(thingGroupName="reg-child")["things"] == []
    with pytest.raises(iot.exceptions.VersionConflictException):
        iot.delete_thing(thingName="reg-1", expectedVersion=9)
    iot.delete_thing(thingName="reg-1")
    iot.delete_thing(thingName="reg-1")  # deleting a thing that does not exist succeeds, as on AWS
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="reg-1")
    iot.delete_thing_group(thingGroupName="reg-child")
    iot.delete_thing_group(thingGroupName="reg-root")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing_group(thingGroupName="reg-root")


def test_deleting_a_thing_removes_its_queued_executions(iot: Any) -> None:
    iot.create_thing(thingName="reg-doomed")
    iot.create_job(jobId="reg-job", targets=[arn("thing", "reg-doomed")], document="{}")
    iot.delete_thing(thingName="reg-doomed")
    summary = iot.list_job_executions_for_job(jobId="reg-job")["executionSummaries"][0]
    assert summary["jobExecutionSummary"]["status"] == "REMOVED"
    job = iot.describe_job(jobId="reg-job")["job"]
    assert job["status"] == "COMPLETED" and job["jobProcessDetails"]["numberOfRemovedThings"] == 1
