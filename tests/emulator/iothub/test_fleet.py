"""The simulated fleet: determinism for a seed, twin patch semantics, scale."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock, iso7, parse_iso
from airflow_iot_jobs.emulator.fleet import Fleet
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from airflow_iot_jobs.emulator.iothub.twins import EtagMismatch, TwinView, apply_twin_patch
from tests.emulator.iothub.helpers import HubClient, method_job, twin_job

START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def twin_fleet(**kwargs: object) -> Fleet:
    return Fleet(view=TwinView(), **kwargs)  # type: ignore[arg-type]


def test_same_seed_same_fleet() -> None:
    a, b = twin_fleet(devices=300, seed=42, epoch=1e9), twin_fleet(devices=300, seed=42, epoch=1e9)
    assert a.snapshot() == b.snapshot()
    assert [d.online for d in a.devices()] == [d.online for d in b.devices()]
    assert twin_fleet(devices=300, seed=43, epoch=1e9).snapshot() != a.snapshot()


def test_fleet_shape() -> None:
    fleet = twin_fleet(devices=2000, seed=1, offline_rate=0.1)
    ids = fleet.ids()
    assert ids[0] == "device-00001" and ids[-1] == "device-02000"
    offline = sum(1 for d in fleet.devices() if not d.online)
    assert 120 < offline < 280
    tags = [d.doc["tags"] for d in fleet.devices()]
    assert {t["site"] for t in tags} == {"ams", "sea", "sgp", "fra"}
    assert {t["floor"] for t in tags} == {1, 2, 3, 4, 5}
    assert {t["ring"] for t in tags} == {"canary", "early", "broad"}
    twin = fleet.doc("device-00001")
    assert twin["properties"]["desired"]["$version"] == 1
    assert twin["capabilities"] == {"iotEdge": False}


def _run_jobs(seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    clock = ManualClock(START)
    with IoTHubEmulator(
        devices=120, seed=seed, clock=clock, failure_rate=0.2, offline_rate=0.1, speed=3.0
    ) as hub:
        client = HubClient(hub)
        client.put_job("fw", method_job("fw", method="firmwareUpdate", payload={"version": "2.0.0"}))
        clock.advance(0.4)
        client.get_job("fw")  # polling mid-job must not change outcomes
        clock.advance(60)
        client.put_job("tw", twin_job("tw", {"tags": {"wave": 1}}, condition="tags.ring = 'canary'"))
        clock.advance(60)
        rows = client.query_all("SELECT * FROM devices.jobs")
        jobs = [client.get_job("fw").json(), client.get_job("tw").json()]
        twins = client.query_all("SELECT * FROM devices")
        return rows, jobs, twins


def test_same_seed_same_job_outcomes() -> None:
    first, second = _run_jobs(9), _run_jobs(9)
    assert first == second
    rows = first[0]
    assert {r["status"] for r in rows if r["jobId"] == "fw"} == {"completed", "failed"}
    assert _run_jobs(10)[0] != rows


def test_outcomes_do_not_depend_on_polling() -> None:
    def run(polls: int) -> list[dict]:
        local = ManualClock(START)
        with IoTHubEmulator(devices=40, seed=2, clock=local, failure_rate=0.3) as hub:
            client = HubClient(hub)
            client.put_job("p", method_job("p", method="ping"))
            for _ in range(polls):
                local.advance(10 / max(polls, 1))
                client.get_job("p")
            local.advance(60)
            return client.query_all("SELECT * FROM devices.jobs")

    assert run(0) == run(7) == run(50)


def test_twin_patch_semantics() -> None:
    fleet = twin_fleet(devices=2, seed=0)
    before = fleet.doc("device-00001")
    twin = fleet.get("device-00001").doc  # live
    apply_twin_patch(
        twin,
        {"etag": "*", "tags": {"site": "xyz", "extra": {"a": 1}}, "properties": {"desired": {"k": 1}}},
        1.0,
    )
    apply_twin_patch(
        twin, {"etag": "*", "tags": {"extra": None}, "properties": {"desired": {"k": None}}}, 2.0
    )
    after = fleet.doc("device-00001")
    assert after["tags"]["site"] == "xyz" and "extra" not in after["tags"]
    assert after["tags"]["floor"] == before["tags"]["floor"]
    assert "k" not in after["properties"]["desired"]
    assert after["version"] == before["version"] + 2 and after["etag"] != before["etag"]
    apply_twin_patch(twin, {"etag": after["etag"], "tags": {"ok": True}}, 3.0)
    with pytest.raises(EtagMismatch):
        apply_twin_patch(twin, {"etag": after["etag"], "tags": {"ok": False}}, 4.0)


def test_time_formats_round_trip() -> None:
    stamp = iso7(1_700_000_000.25)
    assert stamp == "2023-11-14T22:13:20.2500000Z"
    assert parse_iso(stamp) == pytest.approx(1_700_000_000.25)
    assert parse_iso("2023-11-14T22:13:20") == 1_700_000_000
    assert parse_iso("2023-11-14T23:13:20+01:00") == 1_700_000_000


@pytest.mark.timeout(120)
def test_ten_thousand_device_job_finishes() -> None:
    with IoTHubEmulator(devices=10_000, seed=1, speed=100.0, offline_rate=0.02) as hub:
        client = HubClient(hub)
        client.put_job("big", method_job("big", method="ping"))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job = client.get_job("big").json()
            if job["status"] == "completed":
                break
            time.sleep(0.1)
        assert job["status"] == "completed", job
        stats = job["deviceJobStatistics"]
        assert stats["deviceCount"] == 10_000
        assert stats["succeededCount"] + stats["failedCount"] == 10_000
        first = client.query("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'big'")
        assert len(first.json()) == 100 and first.headers["x-ms-continuation"]
