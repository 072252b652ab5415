"""GET /jobs/v2/query (a JSON array, contract §0.2/§1.4); POST /devices/query (twins, COUNT, devices.jobs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from tests.emulator.iothub.helpers import HubClient, assert_error, method_job, twin_job


@pytest.fixture
def busy_hub(clock: ManualClock) -> Iterator[IoTHubEmulator]:
    """A hub with 6 jobs: m0..m3 (method) and t0, t1 (twin); m0 and t0 finished, m3 cancelled."""
    with IoTHubEmulator(devices=250, seed=5, clock=clock, max_active_jobs=10, offline_rate=0.05) as hub:
        client = HubClient(hub)
        client.put_job("m0", method_job("m0", method="ping", condition="tags.site = 'ams'"))
        client.put_job("t0", twin_job("t0", {"tags": {"batch": 1}}, condition="tags.floor = 1"))
        clock.advance(120)
        for job_id in ("m1", "m2", "m3"):
            client.put_job(job_id, method_job(job_id, startTime="2999-01-01T00:00:00Z"))
        client.put_job("t1", twin_job("t1", {"tags": {"batch": 2}}, startTime="2999-01-01T00:00:00Z"))
        client.cancel("m3")
        yield hub


def _jobs_query(client: HubClient, **kwargs: Any):
    headers = kwargs.pop("headers", {})
    return client.request("GET", "/jobs/v2/query", params=kwargs, headers=headers)


# -- GET /jobs/v2/query -------------------------------------------------------------------------------------


def test_jobs_query_is_a_json_array_newest_first(busy_hub: IoTHubEmulator) -> None:
    response = _jobs_query(HubClient(busy_hub))
    assert response.status_code == 200
    assert response.headers["x-ms-item-type"] == "JobResponse"
    assert "x-ms-continuation" not in response.headers
    body = response.json()
    assert isinstance(body, list)
    assert [j["jobId"] for j in body] == ["t1", "m3", "m2", "m1", "t0", "m0"]
    assert {"jobId", "type", "status", "createdTime", "deviceJobStatistics"} <= set(body[-1])


def test_jobs_query_filters_by_type_and_status(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    twin = _jobs_query(client, jobType="scheduleUpdateTwin").json()
    assert [j["jobId"] for j in twin] == ["t1", "t0"]
    completed = _jobs_query(client, jobStatus="completed").json()
    assert [j["jobId"] for j in completed] == ["t0", "m0"]
    both = _jobs_query(client, jobType="scheduleDeviceMethod", jobStatus="cancelled").json()
    assert [j["jobId"] for j in both] == ["m3"]
    assert _jobs_query(client, jobStatus="failed").json() == []


def test_jobs_query_pages_with_headers(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-max-item-count": "4"}
        if token:
            headers["x-ms-continuation"] = token
        response = _jobs_query(client, headers=headers)
        assert response.status_code == 200
        pages += 1
        seen += [j["jobId"] for j in response.json()]
        token = response.headers.get("x-ms-continuation")
        if not token:
            break
    assert pages == 2
    assert seen == ["t1", "m3", "m2", "m1", "t0", "m0"]


def test_jobs_query_pages_with_query_parameters(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    first = _jobs_query(client, pageSize="5")
    assert len(first.json()) == 5
    token = first.headers["x-ms-continuation"]
    second = _jobs_query(client, pageSize="5", continuationToken=token)
    assert [j["jobId"] for j in second.json()] == ["m0"]
    assert "x-ms-continuation" not in second.headers


def test_jobs_query_invalid_continuation_is_400(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    assert_error(_jobs_query(client, headers={"x-ms-continuation": "not-a-token"}), 400, "ArgumentInvalid")
    # A token of another filter is rejected too.
    token = _jobs_query(client, pageSize="1").headers["x-ms-continuation"]
    assert _jobs_query(client, jobStatus="completed", continuationToken=token).status_code == 400


@pytest.mark.parametrize("size", ["0", "-3", "ten"])
def test_invalid_page_size_is_400(busy_hub: IoTHubEmulator, size: str) -> None:
    assert _jobs_query(HubClient(busy_hub), headers={"x-ms-max-item-count": size}).status_code == 400


def test_jobs_query_page_size_is_capped_at_100(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=2, clock=clock, max_active_jobs=500) as hub:
        client = HubClient(hub)
        for index in range(105):
            assert client.put_job(f"j{index:03d}", method_job(f"j{index:03d}")).status_code == 200
        first = _jobs_query(client, headers={"x-ms-max-item-count": "1000"})
        assert len(first.json()) == 100
        assert first.json()[0]["jobId"] == "j104"
        rest = _jobs_query(client, headers={"x-ms-continuation": first.headers["x-ms-continuation"]})
        assert len(rest.json()) == 5


def test_jobs_query_spec_format_switch(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=2, clock=clock, jobs_query_format="spec") as hub:
        client = HubClient(hub)
        client.put_job("a", method_job("a"))
        body = _jobs_query(client).json()
        assert body["type"] == "jobResponse" and [j["jobId"] for j in body["items"]] == ["a"]


# -- POST /devices/query: twins -----------------------------------------------------------------------------


def test_select_star_returns_twins(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    response = client.query("SELECT * FROM devices WHERE deviceId = 'device-00007'")
    assert response.status_code == 200
    assert response.headers["x-ms-item-type"] == "Twin"
    (twin,) = response.json()
    assert twin["deviceId"] == "device-00007"
    assert twin["status"] == "enabled"
    assert twin["connectionState"] in ("Connected", "Disconnected")
    assert set(twin["tags"]) >= {"site", "floor", "model", "ring"}
    assert twin["tags"]["site"] in ("ams", "sea", "sgp", "fra") and 1 <= twin["tags"]["floor"] <= 5
    assert twin["properties"]["reported"]["firmware"]
    assert twin["capabilities"] == {"iotEdge": False}
    assert isinstance(twin["version"], int) and twin["etag"]


def test_devices_query_default_page_is_100_and_pages_by_device_id(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    first = client.query("SELECT * FROM devices")
    assert len(first.json()) == 100
    assert first.headers["x-ms-continuation"]
    everything = client.query_all("SELECT * FROM devices", page_size=30)
    ids = [t["deviceId"] for t in everything]
    assert len(ids) == 250 and ids == sorted(ids) and len(set(ids)) == 250


def test_devices_query_page_size_is_capped(busy_hub: IoTHubEmulator) -> None:
    assert len(HubClient(busy_hub).query("SELECT * FROM devices", page_size=5000).json()) == 100


def test_devices_query_paging_with_query_parameters(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    text = "SELECT * FROM devices WHERE tags.floor >= 3"
    first = client.request("POST", "/devices/query", params={"pageSize": "10"}, json={"query": text})
    token = first.headers["x-ms-continuation"]
    second = client.request(
        "POST", "/devices/query", params={"pageSize": "10", "continuationToken": token}, json={"query": text}
    )
    ids = [t["deviceId"] for t in first.json() + second.json()]
    assert ids == [t["deviceId"] for t in client.query_all(text)][:20]


def test_devices_query_where_filters(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    ams = client.query_all("SELECT * FROM devices WHERE tags.site = 'ams' AND tags.floor IN [1, 2]")
    assert ams and all(t["tags"]["site"] == "ams" and t["tags"]["floor"] in (1, 2) for t in ams)
    expected = sum(
        1
        for d in busy_hub.fleet.devices()
        if d.doc["tags"]["site"] == "ams" and d.doc["tags"]["floor"] in (1, 2)
    )
    assert len(ams) == expected


def test_count_with_alias(busy_hub: IoTHubEmulator) -> None:
    response = HubClient(busy_hub).query("SELECT COUNT() AS numberOfDevices FROM devices")
    assert response.headers["x-ms-item-type"] == "Raw"
    assert response.json() == [{"numberOfDevices": 250}]


def test_count_without_alias_uses_dollar_one(busy_hub: IoTHubEmulator) -> None:
    offline = sum(1 for d in busy_hub.fleet.devices() if not d.online)
    response = HubClient(busy_hub).query("SELECT COUNT() FROM devices WHERE connectionState = 'Disconnected'")
    assert response.json() == [{"$1": offline}]


def test_devices_modules_is_empty(busy_hub: IoTHubEmulator) -> None:
    response = HubClient(busy_hub).query("SELECT * FROM devices.modules")
    assert response.status_code == 200 and response.json() == []


def test_query_longer_than_8192_characters_is_400(busy_hub: IoTHubEmulator) -> None:
    ids = ", ".join(f"'device-{i:05d}'" for i in range(1, 700))
    text = f"SELECT * FROM devices WHERE deviceId IN [{ids}]"
    assert len(text) > 8192
    error = assert_error(HubClient(busy_hub).query(text), 400, "ArgumentInvalid")
    assert "8192" in error["Message"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT * FROM devices WHERE", "unexpected end"),
        ("SELECT deviceId FROM devices", "projections"),
        ("SELECT * FROM devices WHERE tags.site LIKE 'a%'", "LIKE"),
        ("DELETE FROM devices", "unexpected"),
    ],
)
def test_query_syntax_errors_are_400_with_the_reason(
    busy_hub: IoTHubEmulator, text: str, fragment: str
) -> None:
    error = assert_error(HubClient(busy_hub).query(text), 400, "ArgumentInvalid")
    assert fragment in error["Message"]


@pytest.mark.parametrize("body", [None, {}, {"query": ""}, {"query": 42}, ["SELECT * FROM devices"]])
def test_malformed_query_body_is_400(busy_hub: IoTHubEmulator, body: Any) -> None:
    response = HubClient(busy_hub).request("POST", "/devices/query", json=body)
    assert_error(response, 400, "ArgumentInvalid")


def test_continuation_of_another_query_is_400(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    token = client.query("SELECT * FROM devices", page_size=1).headers["x-ms-continuation"]
    response = client.query("SELECT * FROM devices WHERE tags.floor = 2", continuation=token)
    assert_error(response, 400, "ArgumentInvalid")


# -- POST /devices/query: devices.jobs ----------------------------------------------------------------------


def test_device_jobs_rows_of_one_job(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    response = client.query("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'm0'")
    assert response.status_code == 200
    assert response.headers["x-ms-item-type"] == "DeviceJob"
    rows = client.query_all("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'm0'", page_size=7)
    ams = [d.device_id for d in busy_hub.fleet.devices() if d.doc["tags"]["site"] == "ams"]
    assert [r["deviceId"] for r in rows] == ams
    assert {r["jobId"] for r in rows} == {"m0"}
    assert {r["status"] for r in rows} <= {"completed", "failed"}


def test_device_jobs_without_where_spans_jobs_ordered_by_device(busy_hub: IoTHubEmulator) -> None:
    rows = HubClient(busy_hub).query_all("SELECT * FROM devices.jobs", page_size=50)
    keys = [(r["deviceId"], r["jobId"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # Only jobs that have started running have rows (m1..m3 and t1 are scheduled or cancelled before that).
    assert {r["jobId"] for r in rows} == {"m0", "t0"}


def test_device_jobs_filter_on_status_and_job_type(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    failed = client.query_all("SELECT * FROM devices.jobs WHERE devices.jobs.status = 'failed'")
    assert failed and all(r["status"] == "failed" and r["jobId"] == "m0" for r in failed)
    assert all(r["error"]["code"] == "DeviceNotOnline" for r in failed)
    twin_rows = client.query_all(
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobType = 'scheduleUpdateTwin' AND jobId = 't0'"
    )
    assert twin_rows and {r["jobId"] for r in twin_rows} == {"t0"}


def test_device_jobs_rejects_twin_fields(busy_hub: IoTHubEmulator) -> None:
    client = HubClient(busy_hub)
    for text in (
        "SELECT * FROM devices.jobs WHERE tags.site = 'ams'",
        "SELECT * FROM devices.jobs WHERE properties.reported.firmware = '1.4.2'",
    ):
        assert_error(client.query(text), 400, "ArgumentInvalid")


def test_device_jobs_rejects_count(busy_hub: IoTHubEmulator) -> None:
    assert_error(HubClient(busy_hub).query("SELECT COUNT() FROM devices.jobs"), 400, "ArgumentInvalid")


def test_device_job_row_timestamps_follow_the_documented_sample(busy_hub: IoTHubEmulator) -> None:
    (row,) = HubClient(busy_hub).query("SELECT * FROM devices.jobs WHERE jobId = 'm0'", page_size=1).json()
    # The docs' sample writes startTimeUtc/endTimeUtc without "Z" and created/lastUpdated with it.
    assert not row["startTimeUtc"].endswith("Z") and not row["endTimeUtc"].endswith("Z")
    assert row["createdDateTimeUtc"].endswith("Z") and row["lastUpdatedDateTimeUtc"].endswith("Z")
    assert row["startTimeUtc"] <= row["endTimeUtc"]
