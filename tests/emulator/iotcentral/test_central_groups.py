"""Device groups: create-or-replace, get, list, patch (JSON or merge-patch), delete, and the devices their filter
selects from the shared fleet, as Central sees it."""

from __future__ import annotations

from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from airflow_iot_jobs.emulator.iotcentral.devices import filter_record
from airflow_iot_jobs.query.iotcentral import matcher
from tests.emulator.iotcentral.helpers import TEMPLATES, CentralClient

DOCS_FILTER = 'SELECT * FROM devices WHERE $template = "{}" AND $provisioned = true'


def _members(client: CentralClient, group_id: str) -> list[dict]:
    return client.all_pages("/deviceGroups/{deviceGroupId}/devices", deviceGroupId=group_id)


def test_the_fleet_spreads_over_the_templates(central: IoTCentralEmulator) -> None:
    docs = [device.doc for device in central.fleet.devices()]
    assert {doc["template"] for doc in docs} == set(TEMPLATES)
    assert any(not doc["provisioned"] for doc in docs) or len(docs) < 50
    assert {"site", "floor", "model", "ring"} <= docs[0]["cloudProperties"].keys()
    assert {"firmware", "telemetryIntervalSeconds"} <= docs[0]["properties"].keys()
    with IoTCentralEmulator(devices=60, seed=5) as again:  # same seed, same fleet
        assert [d.doc["template"] for d in again.fleet.devices()] == [doc["template"] for doc in docs]


def test_groups_select_the_devices_their_filter_says(
    central: IoTCentralEmulator, client: CentralClient
) -> None:
    text = DOCS_FILTER.format(TEMPLATES[1])
    created = client.call(
        "PUT",
        "/deviceGroups/{deviceGroupId}",
        json_body={"displayName": "gw200", "filter": text},
        deviceGroupId="g",
    )
    assert created.status_code == 200 and created.json()["filter"] == text and created.json()["id"] == "g"
    members = _members(client, "g")
    condition = matcher(text)
    expected = [d.device_id for d in central.fleet.devices() if condition.matches(filter_record(d.doc))]
    assert [m["id"] for m in members] == expected and expected
    assert all(m["template"] == TEMPLATES[1] and m["provisioned"] for m in members)
    by_site = client.group("ams", "site = 'ams' OR site = 'sea'")
    assert by_site["id"] == "ams"
    sites = {central.fleet.get(m["id"]).doc["cloudProperties"]["site"] for m in _members(client, "ams")}
    assert sites == {"ams", "sea"}


def test_get_list_patch_delete(client: CentralClient) -> None:
    for index in range(9):
        client.group(f"g{index}", description="d")
    assert [g["id"] for g in client.all_pages("/deviceGroups")] == [f"g{i}" for i in range(9)]
    got = client.call("GET", "/deviceGroups/{deviceGroupId}", deviceGroupId="g3")
    assert got.status_code == 200 and got.json()["description"] == "d"
    for content_type in ("application/json", "application/merge-patch+json"):
        patched = client.call(
            "PATCH",
            "/deviceGroups/{deviceGroupId}",
            json_body={
                "displayName": content_type,
                "filter": "SELECT * FROM devices WHERE $simulated = true",
            },
            headers={"Content-Type": content_type},
            deviceGroupId="g3",
        )
        assert patched.status_code == 200 and patched.json()["displayName"] == content_type
        assert patched.json()["description"] == "d"
    members = _members(client, "g3")
    assert all(client.app.fleet.get(m["id"]).doc["simulated"] for m in members)
    wrong = client.call(
        "PATCH",
        "/deviceGroups/{deviceGroupId}",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
        deviceGroupId="g3",
    )
    assert wrong.status_code == 415
    deleted = client.call("DELETE", "/deviceGroups/{deviceGroupId}", deviceGroupId="g3")
    assert deleted.status_code == 204 and deleted.content == b""
    for method, template in (
        ("GET", "/deviceGroups/{deviceGroupId}"),
        ("DELETE", "/deviceGroups/{deviceGroupId}"),
        ("GET", "/deviceGroups/{deviceGroupId}/devices"),
    ):
        assert client.call(method, template, deviceGroupId="g3").status_code == 404
    assert (
        client.call("PATCH", "/deviceGroups/{deviceGroupId}", json_body={}, deviceGroupId="g3").status_code
        == 404
    )


def test_group_validation_names_the_field(client: CentralClient) -> None:
    cases = [
        ({"filter": "SELECT * FROM devices"}, "deviceGroup.displayName: is required"),
        ({"displayName": "x"}, "deviceGroup.filter: is required"),
        (
            {"displayName": "x", "filter": "SELECT * FROM devices WHERE $nope = 1"},
            "deviceGroup.filter: unknown system",
        ),
        ({"displayName": "x", "filter": "SELECT * FROM things"}, "deviceGroup.filter: FROM things"),
    ]
    for body, fragment in cases:
        response = client.call("PUT", "/deviceGroups/{deviceGroupId}", json_body=body, deviceGroupId="g")
        assert response.status_code == 400 and fragment in response.json()["error"]["message"], response.text
