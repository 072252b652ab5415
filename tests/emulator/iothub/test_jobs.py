"""Scheduled jobs (PUT/GET/cancel /jobs/v2/{id}) and their device rows: wire contract §1.2-1.5 and §8."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from tests.emulator.iothub.helpers import HubClient, assert_error, method_job, twin_job

ISO7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def _job(client: HubClient, job_id: str) -> dict[str, Any]:
    response = client.get_job(job_id)
    assert response.status_code == 200, response.text
    return response.json()


def _rows(client: HubClient, job_id: str) -> list[dict[str, Any]]:
    return client.query_all(f"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{job_id}'")


def _wait_terminal(client: HubClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(client, job_id)
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture
def fast_hub() -> Iterator[IoTHubEmulator]:
    with IoTHubEmulator(devices=50, seed=11, speed=200.0, offline_rate=0.1, max_active_jobs=10) as hub:
        yield hub


# -- create -------------------------------------------------------------------------------------------------


def test_create_answers_200_with_the_short_body(client: HubClient) -> None:
    response = client.put_job("j1", method_job("j1"))
    assert response.status_code == 200
    assert response.json() == {"jobId": "j1", "type": "scheduleDeviceMethod", "status": "queued"}


def test_create_without_body_job_id_uses_the_path_id(client: HubClient) -> None:
    body = method_job("ignored")
    del body["jobId"]
    assert client.put_job("from-path", body).json()["jobId"] == "from-path"


def test_get_returns_the_full_job_response(manual_client: HubClient) -> None:
    body = method_job(
        "full", method="ping", condition="tags.site = 'ams'", payload={"x": 1}, maxExecutionTimeInSeconds=90
    )
    assert manual_client.put_job("full", body).status_code == 200
    job = _job(manual_client, "full")
    assert job["jobId"] == "full"
    assert job["type"] == "scheduleDeviceMethod"
    assert job["status"] == "queued"
    assert job["queryCondition"] == "tags.site = 'ams'"
    assert job["maxExecutionTimeInSeconds"] == 90
    assert job["cloudToDeviceMethod"] == body["cloudToDeviceMethod"]
    assert ISO7.match(job["createdTime"]) and ISO7.match(job["startTime"])
    assert "endTime" not in job
    assert job["deviceJobStatistics"] == {
        "deviceCount": 0,
        "failedCount": 0,
        "succeededCount": 0,
        "runningCount": 0,
        "pendingCount": 0,
    }


def test_twin_job_response_echoes_update_twin(manual_client: HubClient) -> None:
    body = twin_job("tw", {"tags": {"ring": "pilot"}})
    manual_client.put_job("tw", body)
    job = _job(manual_client, "tw")
    assert job["type"] == "scheduleUpdateTwin"
    assert job["updateTwin"] == {"etag": "*", "tags": {"ring": "pilot"}}
    assert "cloudToDeviceMethod" not in job


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"type": "scheduleDirectMethod", "queryCondition": "*"}, "GenericBadRequest", "type"),
        ({"queryCondition": "*", "cloudToDeviceMethod": {"methodName": "ping"}}, "GenericBadRequest", "type"),
        ({"type": "export", "queryCondition": "*"}, "GenericBadRequest", "type"),
        (
            {"type": "scheduleDeviceMethod", "cloudToDeviceMethod": {"methodName": "ping"}},
            "GenericBadRequest",
            "queryCondition",
        ),
        ({**method_job("v"), "queryCondition": ""}, "GenericBadRequest", "queryCondition"),
        ({**method_job("v"), "queryCondition": "SELECT * FROM devices"}, "ArgumentInvalid", "WHERE"),
        ({**method_job("v"), "queryCondition": "tags.site = "}, "ArgumentInvalid", "unexpected end"),
        ({**method_job("v"), "queryCondition": "x" * 8193}, "ArgumentInvalid", "8192"),
        ({"type": "scheduleDeviceMethod", "queryCondition": "*"}, "GenericBadRequest", "cloudToDeviceMethod"),
        (
            {"type": "scheduleDeviceMethod", "queryCondition": "*", "cloudToDeviceMethod": {"payload": {}}},
            "GenericBadRequest",
            "methodName",
        ),
        ({"type": "scheduleUpdateTwin", "queryCondition": "*"}, "GenericBadRequest", "updateTwin"),
        (
            {"type": "scheduleUpdateTwin", "queryCondition": "*", "updateTwin": {"tags": {"a": 1}}},
            "GenericBadRequest",
            "etag",
        ),
        (twin_job("v", {"properties": {"reported": {"a": 1}}}), "ArgumentInvalid", "reported"),
        (twin_job("v", {"tags": _deep(11)}), "ArgumentInvalid", "deeper"),
        ({**method_job("other"), "jobId": "other"}, "ArgumentInvalid", "does not match"),
        (method_job("v", payload={"blob": "x" * (128 * 1024)}), "ArgumentInvalid", "128 KB"),
        (method_job("v", maxExecutionTimeInSeconds=0), "ArgumentInvalid", "maxExecutionTimeInSeconds"),
        (method_job("v", maxExecutionTimeInSeconds="60"), "ArgumentInvalid", "maxExecutionTimeInSeconds"),
        (method_job("v", startTime="next tuesday"), "ArgumentInvalid", "startTime"),
        (
            {
                **method_job("v"),
                "cloudToDeviceMethod": {"methodName": "ping", "responseTimeoutInSeconds": 9999},
            },
            "ArgumentInvalid",
            "responseTimeoutInSeconds",
        ),
    ],
)
def test_create_validation_errors_are_400(
    client: HubClient, body: dict[str, Any], code: str, fragment: str
) -> None:
    error = assert_error(client.put_job("v", body), 400, code)
    assert fragment in error["Message"]
    assert client.get_job("v").json()["status"] == "unknown"


def test_payload_just_under_128_kb_is_accepted(client: HubClient) -> None:
    filler = "x" * (128 * 1024 - len('{"blob":""}'))
    assert client.put_job("big", method_job("big", payload={"blob": filler})).status_code == 200


def test_create_without_body_is_400(client: HubClient) -> None:
    assert client.request("PUT", "/jobs/v2/nobody").status_code == 400


def test_duplicate_job_id_is_409_job_already_exists(client: HubClient) -> None:
    assert client.put_job("dup", method_job("dup")).status_code == 200
    assert_error(client.put_job("dup", method_job("dup")), 409, "JobAlreadyExists")


def test_too_many_active_jobs_is_429(client: HubClient) -> None:
    assert client.put_job("a1", method_job("a1")).status_code == 200
    assert_error(client.put_job("a2", method_job("a2")), 429, "ThrottlingMaxActiveJobCountExceeded")


def test_duplicate_id_wins_over_throttling(client: HubClient) -> None:
    client.put_job("a1", method_job("a1"))
    assert_error(client.put_job("a1", method_job("a1")), 409, "JobAlreadyExists")


def test_max_active_jobs_is_configurable_and_frees_up(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=10, clock=clock, max_active_jobs=2) as hub:
        client = HubClient(hub)
        assert client.put_job("b1", method_job("b1")).status_code == 200
        assert client.put_job("b2", method_job("b2")).status_code == 200
        assert client.put_job("b3", method_job("b3")).status_code == 429
        clock.advance(120)
        assert _job(client, "b1")["status"] == "completed"
        assert client.put_job("b3", method_job("b3")).status_code == 200


def test_scheduled_jobs_count_as_active(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=10, clock=clock) as hub:
        client = HubClient(hub)
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now() + 3600))
        client.put_job("later", method_job("later", startTime=start))
        clock.advance(2)
        assert _job(client, "later")["status"] == "scheduled"
        assert client.put_job("now", method_job("now")).status_code == 429


# -- unknown ids --------------------------------------------------------------------------------------------


def test_get_unknown_job_is_200_unknown(client: HubClient) -> None:
    response = client.get_job("never-created")
    assert response.status_code == 200
    assert response.json() == {"jobId": "never-created", "type": "unknown", "status": "unknown"}


def test_get_unknown_job_is_404_in_404_mode() -> None:
    with IoTHubEmulator(devices=5, unknown_job_mode="404") as hub:
        assert_error(HubClient(hub).get_job("never-created"), 404, "JobNotFound")


def test_job_ids_are_percent_decoded(client: HubClient) -> None:
    assert client.put_job("nightly%3Areboot", method_job("nightly:reboot")).status_code == 200
    assert _job(client, "nightly%3Areboot")["jobId"] == "nightly:reboot"


# -- status flow --------------------------------------------------------------------------------------------


def test_status_flow_queued_running_completed(manual_hub: IoTHubEmulator, clock: ManualClock) -> None:
    client = HubClient(manual_hub)
    client.put_job("flow", method_job("flow"))
    assert _job(client, "flow")["status"] == "queued"
    clock.advance(0.6)
    job = _job(client, "flow")
    assert job["status"] == "running"
    stats = job["deviceJobStatistics"]
    assert stats["deviceCount"] == 60
    assert stats["pendingCount"] + stats["runningCount"] == 60
    clock.advance(0.3)  # mid-job: rows start at 100 devices per emulated second
    stats = _job(client, "flow")["deviceJobStatistics"]
    assert stats["pendingCount"] > 0 and stats["runningCount"] > 0
    assert (
        stats["pendingCount"] + stats["runningCount"] + stats["succeededCount"] + stats["failedCount"] == 60
    )
    clock.advance(30)
    job = _job(client, "flow")
    assert job["status"] == "completed"
    assert ISO7.match(job["endTime"])
    stats = job["deviceJobStatistics"]
    assert stats["pendingCount"] == stats["runningCount"] == 0
    offline = sum(1 for d in manual_hub.fleet.devices() if not d.online)
    assert offline > 0
    # Completed even though rows failed: the real service does that; failedCount tells.
    assert stats["failedCount"] == offline
    assert stats["succeededCount"] == 60 - offline


def test_future_start_time_is_scheduled_then_runs(manual_client: HubClient, clock: ManualClock) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(clock.now() + 60))
    manual_client.put_job("sched", method_job("sched", startTime=start))
    assert _job(manual_client, "sched")["status"] == "queued"
    clock.advance(5)
    job = _job(manual_client, "sched")
    assert job["status"] == "scheduled"
    assert job["startTime"].startswith(start[:19])
    clock.advance(56)
    assert _job(manual_client, "sched")["status"] == "running"
    clock.advance(60)
    assert _job(manual_client, "sched")["status"] == "completed"


def test_start_time_in_the_past_runs_at_once(manual_client: HubClient, clock: ManualClock) -> None:
    manual_client.put_job("past", method_job("past", startTime="2001-01-01T00:00:00"))
    clock.advance(1)
    assert _job(manual_client, "past")["status"] == "running"


def test_max_execution_time_fails_the_job_and_expires_rows(
    manual_client: HubClient, clock: ManualClock
) -> None:
    manual_client.put_job("short", method_job("short", maxExecutionTimeInSeconds=1))
    clock.advance(10)
    job = _job(manual_client, "short")
    assert job["status"] == "failed"
    assert "max execution time" in job["failureReason"]
    assert "max execution time" in job["statusMessage"]
    rows = _rows(manual_client, "short")
    expired = [r for r in rows if r.get("error", {}).get("code") == "JobExpired"]
    assert expired, rows
    assert all(r["status"] == "failed" for r in expired)
    stats = job["deviceJobStatistics"]
    assert stats["pendingCount"] == stats["runningCount"] == 0
    assert stats["failedCount"] >= len(expired)


def test_max_execution_time_is_speed_scaled(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=300, clock=clock, speed=10.0, offline_rate=0.0) as hub:
        client = HubClient(hub)
        client.put_job("s", method_job("s", maxExecutionTimeInSeconds=2))
        clock.advance(0.3)  # 3 emulated seconds: the 300 rows need >= 3 s at 100 devices/s
        assert _job(client, "s")["status"] == "failed"


def test_job_matching_no_device_completes_with_zero_devices(
    manual_client: HubClient, clock: ManualClock
) -> None:
    manual_client.put_job("none", method_job("none", condition="tags.site = 'atlantis'"))
    clock.advance(1)
    job = _job(manual_client, "none")
    assert job["status"] == "completed"
    assert job["deviceJobStatistics"]["deviceCount"] == 0


def test_devices_added_after_the_job_started_are_not_part_of_it(
    manual_hub: IoTHubEmulator, clock: ManualClock
) -> None:
    client = HubClient(manual_hub)
    client.put_job("fixed", method_job("fixed", method="ping"))
    clock.advance(0.6)
    assert _job(client, "fixed")["deviceJobStatistics"]["deviceCount"] == 60
    manual_hub.add_device("late-device", tags={"site": "ams"}, online=True)
    clock.advance(30)
    job = _job(client, "fixed")
    assert job["deviceJobStatistics"]["deviceCount"] == 60
    assert "late-device" not in {r["deviceId"] for r in _rows(client, "fixed")}
    assert len(client.query_all("SELECT * FROM devices")) == 61


# -- cancel -------------------------------------------------------------------------------------------------


def test_cancel_unknown_job_is_404(client: HubClient) -> None:
    assert_error(client.cancel("nope"), 404, "JobNotFound")


def test_cancel_queued_job(manual_client: HubClient) -> None:
    manual_client.put_job("cq", method_job("cq"))
    response = manual_client.cancel("cq")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert ISO7.match(body["endTime"])
    assert _job(manual_client, "cq")["status"] == "cancelled"


def test_cancel_scheduled_job(manual_client: HubClient, clock: ManualClock) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now() + 600))
    manual_client.put_job("cs", method_job("cs", startTime=start))
    clock.advance(2)
    assert _job(manual_client, "cs")["status"] == "scheduled"
    assert manual_client.cancel("cs").json()["status"] == "cancelled"
    clock.advance(700)
    assert _job(manual_client, "cs")["status"] == "cancelled"


def test_cancel_running_job_cancels_unfinished_rows(manual_client: HubClient, clock: ManualClock) -> None:
    manual_client.put_job("cr", method_job("cr"))
    clock.advance(0.8)
    assert _job(manual_client, "cr")["status"] == "running"
    body = manual_client.cancel("cr").json()
    assert body["status"] == "cancelled"
    statuses = {r["status"] for r in _rows(manual_client, "cr")}
    assert "canceled" in statuses  # rows use a single "l"
    assert statuses <= {"completed", "failed", "canceled"}
    stats = body["deviceJobStatistics"]
    assert stats["pendingCount"] == stats["runningCount"] == 0
    clock.advance(60)
    assert _job(manual_client, "cr") == body


def test_cancel_terminal_job_returns_it_unchanged(manual_client: HubClient, clock: ManualClock) -> None:
    manual_client.put_job("done", method_job("done"))
    clock.advance(60)
    before = _job(manual_client, "done")
    assert before["status"] == "completed"
    response = manual_client.cancel("done")
    assert response.status_code == 200
    assert response.json() == before


def test_cancel_running_can_be_refused_with_412(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=30, clock=clock, cancel_running=False) as hub:
        client = HubClient(hub)
        client.put_job("r", method_job("r"))
        assert client.cancel("r").json()["status"] == "cancelled"  # queued jobs can still be cancelled
        client.put_job("r2", method_job("r2"))
        clock.advance(0.7)
        assert_error(client.cancel("r2"), 412, "JobRunPreconditionFailed")


def test_cancel_accepts_an_empty_json_body(client: HubClient) -> None:
    client.put_job("e", method_job("e"))
    response = client.request(
        "POST", "/jobs/v2/e/cancel", data=b"", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200


# -- device rows: method jobs -------------------------------------------------------------------------------


def test_method_rows_have_the_device_job_shape(manual_hub: IoTHubEmulator, clock: ManualClock) -> None:
    client = HubClient(manual_hub)
    client.put_job("shape", method_job("shape", method="ping"))
    clock.advance(60)
    rows = _rows(client, "shape")
    assert len(rows) == 60
    assert [r["deviceId"] for r in rows] == sorted(r["deviceId"] for r in rows)
    for row in rows:
        assert {
            "deviceId",
            "jobId",
            "jobType",
            "status",
            "startTimeUtc",
            "endTimeUtc",
            "createdDateTimeUtc",
            "lastUpdatedDateTimeUtc",
            "outcome",
        } <= set(row)
        assert row["jobId"] == "shape" and row["jobType"] == "scheduleDeviceMethod"
        assert ISO7.match(row["createdDateTimeUtc"]) and ISO7.match(row["lastUpdatedDateTimeUtc"])
        if manual_hub.fleet.is_online(row["deviceId"]):
            assert row["status"] == "completed"
            assert row["outcome"] == {"deviceMethodResponse": {"status": 200, "payload": {"result": "pong"}}}
            assert "error" not in row
        else:
            assert row["status"] == "failed"
            assert row["outcome"] == {"deviceMethodResponse": None}
            assert row["error"] == {
                "code": "DeviceNotOnline",
                "description": "Timed out waiting for device to connect.",
            }


def test_offline_rows_fail_only_after_the_connect_timeout(
    manual_hub: IoTHubEmulator, clock: ManualClock
) -> None:
    client = HubClient(manual_hub)
    body = method_job("ct", method="ping")
    body["cloudToDeviceMethod"]["connectTimeoutInSeconds"] = 20
    client.put_job("ct", body)
    clock.advance(5)
    rows = _rows(client, "ct")
    offline = [r for r in rows if not manual_hub.fleet.is_online(r["deviceId"])]
    assert offline and all(r["status"] == "running" for r in offline)
    assert all(r["status"] == "completed" for r in rows if r not in offline)
    assert _job(client, "ct")["status"] == "running"
    clock.advance(20)
    assert all(
        r["status"] == "failed" for r in _rows(client, "ct") if not manual_hub.fleet.is_online(r["deviceId"])
    )
    assert _job(client, "ct")["status"] == "completed"


def test_failure_rate_makes_devices_answer_500(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=20, clock=clock, failure_rate=1.0, offline_rate=0.0) as hub:
        client = HubClient(hub)
        client.put_job("f", method_job("f"))
        clock.advance(60)
        job = _job(client, "f")
        assert job["status"] == "completed"
        assert job["deviceJobStatistics"]["failedCount"] == 20
        for row in _rows(client, "f"):
            assert row["status"] == "failed"
            response = row["outcome"]["deviceMethodResponse"]
            assert response["status"] == 500 and "error" in response["payload"]
            assert row["error"]["code"]


def test_unknown_method_answers_501(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=10, clock=clock, offline_rate=0.0) as hub:
        client = HubClient(hub)
        client.put_job("u", method_job("u", method="selfDestruct"))
        clock.advance(60)
        rows = _rows(client, "u")
        assert {r["status"] for r in rows} == {"failed"}
        assert {r["outcome"]["deviceMethodResponse"]["status"] for r in rows} == {501}


def test_firmware_update_changes_reported_firmware_of_answering_devices(
    manual_hub: IoTHubEmulator, clock: ManualClock
) -> None:
    client = HubClient(manual_hub)
    client.put_job("fw", method_job("fw", method="firmwareUpdate", payload={"version": "9.9.9"}))
    clock.advance(60)
    rows = {r["deviceId"]: r for r in _rows(client, "fw")}
    updated = client.query_all("SELECT * FROM devices WHERE properties.reported.firmware = '9.9.9'")
    assert {t["deviceId"] for t in updated} == {d for d, r in rows.items() if r["status"] == "completed"}
    assert all(manual_hub.fleet.is_online(t["deviceId"]) for t in updated)
    one = updated[0]
    assert one["version"] == 2 and one["properties"]["reported"]["$version"] == 2
    payload = rows[one["deviceId"]]["outcome"]["deviceMethodResponse"]["payload"]
    assert payload["version"] == "9.9.9" and payload["previousVersion"] != "9.9.9"


def test_firmware_update_without_version_is_answered_400(clock: ManualClock) -> None:
    with IoTHubEmulator(devices=5, clock=clock, offline_rate=0.0) as hub:
        client = HubClient(hub)
        client.put_job("fw", method_job("fw", method="firmwareUpdate", payload={}))
        clock.advance(60)
        assert {r["outcome"]["deviceMethodResponse"]["status"] for r in _rows(client, "fw")} == {400}


# -- device rows: twin jobs ---------------------------------------------------------------------------------


def test_twin_job_patches_twins_and_a_later_query_sees_them(
    manual_hub: IoTHubEmulator, clock: ManualClock
) -> None:
    client = HubClient(manual_hub)
    site = next(d for d in manual_hub.fleet.devices() if not d.online).doc["tags"]["site"]
    before = {t["deviceId"]: t for t in client.query_all(f"SELECT * FROM devices WHERE tags.site = '{site}'")}
    patch = {"tags": {"ring": "pilot", "owner": {"team": "ops"}}, "properties": {"desired": {"interval": 15}}}
    client.put_job("tw", twin_job("tw", patch, condition=f"tags.site = '{site}'"))
    clock.advance(60)
    job = _job(client, "tw")
    assert job["status"] == "completed"
    assert job["deviceJobStatistics"]["succeededCount"] == len(before)
    after = client.query_all("SELECT * FROM devices WHERE tags.ring = 'pilot'")
    assert {t["deviceId"] for t in after} == set(before)
    for twin in after:
        old = before[twin["deviceId"]]
        assert twin["tags"]["owner"] == {"team": "ops"}
        assert twin["tags"]["site"] == site and twin["tags"]["floor"] == old["tags"]["floor"]
        assert twin["properties"]["desired"]["interval"] == 15
        assert twin["version"] == old["version"] + 1 and twin["etag"] != old["etag"]
    # Offline devices are patched too: a twin write is cloud-side.
    assert any(t["connectionState"] == "Disconnected" for t in after)
    rows = _rows(client, "tw")
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["jobType"] for r in rows} == {"scheduleUpdateTwin"}
    assert all(r["outcome"] == {"deviceMethodResponse": None} for r in rows)
    count = client.query("SELECT COUNT() AS n FROM devices WHERE tags.owner.team = 'ops'").json()
    assert count == [{"n": len(before)}]


def test_twin_job_null_deletes_desired_properties_and_tags(
    manual_hub: IoTHubEmulator, clock: ManualClock
) -> None:
    client = HubClient(manual_hub)
    client.put_job("t1", twin_job("t1", {"tags": {"tmp": 1}, "properties": {"desired": {"a": 1, "b": 2}}}))
    clock.advance(60)
    client.put_job("t2", twin_job("t2", {"tags": {"tmp": None}, "properties": {"desired": {"a": None}}}))
    clock.advance(60)
    twin = client.query("SELECT * FROM devices WHERE deviceId = 'device-00001'").json()[0]
    assert "tmp" not in twin["tags"]
    assert "a" not in twin["properties"]["desired"] and twin["properties"]["desired"]["b"] == 2
    assert twin["properties"]["desired"]["$version"] == 3


def test_twin_job_with_stale_etag_fails_rows(manual_hub: IoTHubEmulator, clock: ManualClock) -> None:
    client = HubClient(manual_hub)
    body = twin_job("stale", {"tags": {"x": 1}}, condition="deviceId = 'device-00002'")
    body["updateTwin"]["etag"] = "AAAAAAAAAAk="
    client.put_job("stale", body)
    clock.advance(60)
    (row,) = _rows(client, "stale")
    assert row["status"] == "failed" and row["error"]["code"] == "PreconditionFailed"


# -- history ------------------------------------------------------------------------------------------------


def test_job_history_expires_after_30_days(manual_client: HubClient, clock: ManualClock) -> None:
    manual_client.put_job("old", method_job("old"))
    clock.advance(60)
    assert _job(manual_client, "old")["status"] == "completed"
    clock.advance(29 * 86400)
    assert _job(manual_client, "old")["status"] == "completed"
    clock.advance(2 * 86400)
    assert _job(manual_client, "old")["status"] == "unknown"
    assert manual_client.put_job("old", method_job("old")).status_code == 200


# -- real clock ---------------------------------------------------------------------------------------------


def test_real_clock_job_completes(fast_hub: IoTHubEmulator) -> None:
    client = HubClient(fast_hub)
    client.put_job("rt", method_job("rt", method="reboot"))
    job = _wait_terminal(client, "rt")
    assert job["status"] == "completed"
    assert job["deviceJobStatistics"]["deviceCount"] == 50
