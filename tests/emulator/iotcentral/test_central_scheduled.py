"""Scheduled jobs: create-or-replace, get, list, merge-patch update, delete, and instances spawned on the
recurrence by the emulator clock (``speed`` accelerates it: at speed 86400 a day lasts one real second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from tests.emulator.iotcentral.helpers import TEMPLATES, CentralClient

MERGE = {"Content-Type": "application/merge-patch+json"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _scheduled(start: float, **schedule: Any) -> dict[str, Any]:
    return {
        "displayName": "nightly ping",
        "group": "all",
        "data": [{"type": "command", "target": TEMPLATES[0], "path": "ping"}],
        "schedule": {"start": _iso(start), **schedule},
    }


@pytest.fixture
def fast() -> tuple[ManualClock, IoTCentralEmulator, CentralClient]:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    app = IoTCentralEmulator(devices=20, seed=1, clock=clock, speed=86400, page_size=3).start()
    client = CentralClient(app)
    client.group("all")
    yield clock, app, client
    app.stop()


def _instances(client: CentralClient, scheduled_id: str) -> list[dict[str, Any]]:
    return client.all_pages("/scheduledJobs/{scheduledJobId}/jobs", scheduledJobId=scheduled_id)


def test_daily_recurrence_ends_after_its_occurrences(
    fast: tuple[ManualClock, IoTCentralEmulator, CentralClient],
) -> None:
    clock, _app, client = fast
    start = clock.now() + 10
    created = client.call(
        "PUT",
        "/scheduledJobs/{scheduledJobId}",
        json_body=_scheduled(start, recurrence="daily", end={"type": "occurrences", "occurrences": 4}),
        scheduledJobId="nightly",
    )
    assert created.status_code == 200
    body = created.json()
    assert body["id"] == "nightly" and body["enabled"] is True and body["completed"] is False
    assert body["etag"].startswith('"')
    assert _instances(client, "nightly") == []
    clock.advance(10)  # occurrence 0
    assert len(_instances(client, "nightly")) == 1
    clock.advance(1.5)  # a day later (one real second at this speed): occurrence 1
    assert len(_instances(client, "nightly")) == 2
    clock.advance(5)  # job history is kept 30 emulated days: 30 real seconds at this speed
    instances = _instances(client, "nightly")
    assert len(instances) == 4 and {job["scheduledJobId"] for job in instances} == {"nightly"}
    assert all(job["status"] == "complete" for job in instances)
    assert (
        client.call("GET", "/scheduledJobs/{scheduledJobId}", scheduledJobId="nightly").json()["completed"]
        is True
    )
    # instances are ordinary jobs
    assert client.get_job(instances[0]["id"])["scheduledJobId"] == "nightly"


def test_weekly_with_an_end_date(fast: tuple[ManualClock, IoTCentralEmulator, CentralClient]) -> None:
    clock, _app, client = fast
    start = clock.now() + 5
    end = (datetime.fromtimestamp(start, tz=UTC) + timedelta(days=15)).date().isoformat()
    client.call(
        "PUT",
        "/scheduledJobs/{scheduledJobId}",
        json_body=_scheduled(start, recurrence="weekly", end={"type": "date", "date": end}),
        scheduledJobId="weekly",
    )
    clock.advance(5 + 20)  # 20 real seconds = 20 emulated days
    assert len(_instances(client, "weekly")) == 3  # day 0, 7, 14
    assert client.call("GET", "/scheduledJobs/{scheduledJobId}", scheduledJobId="weekly").json()["completed"]


def test_monthly_and_one_time(fast: tuple[ManualClock, IoTCentralEmulator, CentralClient]) -> None:
    clock, app, client = fast
    start = clock.now() + 1
    client.call(
        "PUT",
        "/scheduledJobs/{scheduledJobId}",
        json_body=_scheduled(start, recurrence="monthly"),
        scheduledJobId="monthly",
    )
    client.call("PUT", "/scheduledJobs/{scheduledJobId}", json_body=_scheduled(start), scheduledJobId="once")
    clock.advance(1 + 95)  # 95 emulated days: Jan 1, Feb 1, Mar 1, Apr 1
    listed_instances = [job["id"] for job in _instances(client, "monthly")]
    spawned = app.state.scheduled["monthly"].instances
    assert len(spawned) == 4
    # the API lists the instances still in the 30-day job history: only Apr 1 (Mar 1 ended 36 days ago)
    assert listed_instances == spawned[3:]
    assert len(app.state.scheduled["once"].instances) == 1
    listed = client.all_pages("/scheduledJobs")
    assert [(j["id"], j["completed"]) for j in listed] == [("monthly", False), ("once", True)]


def test_disabled_scheduled_jobs_do_not_run(
    fast: tuple[ManualClock, IoTCentralEmulator, CentralClient],
) -> None:
    clock, _app, client = fast
    body = {**_scheduled(clock.now() + 1, recurrence="daily"), "enabled": False}
    client.call("PUT", "/scheduledJobs/{scheduledJobId}", json_body=body, scheduledJobId="off")
    clock.advance(30)
    assert _instances(client, "off") == []


def test_patch_accepts_only_merge_patch_and_merges(
    fast: tuple[ManualClock, IoTCentralEmulator, CentralClient],
) -> None:
    clock, _app, client = fast
    start = clock.now() + 3600
    etag = client.call(
        "PUT",
        "/scheduledJobs/{scheduledJobId}",
        json_body=_scheduled(start, recurrence="daily"),
        scheduledJobId="s",
    ).json()["etag"]
    plain = client.call(
        "PATCH", "/scheduledJobs/{scheduledJobId}", json_body={"enabled": False}, scheduledJobId="s"
    )
    assert plain.status_code == 415 and plain.headers["x-ms-error-code"] == "UnsupportedMediaType"
    patch = {"schedule": {"recurrence": "weekly"}, "description": "patched"}
    response = client.call(
        "PATCH", "/scheduledJobs/{scheduledJobId}", json_body=patch, headers=MERGE, scheduledJobId="s"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["schedule"] == {"start": _iso(start), "recurrence": "weekly"}
    assert body["description"] == "patched" and body["displayName"] == "nightly ping" and body["etag"] != etag
    bad = client.call(
        "PATCH",
        "/scheduledJobs/{scheduledJobId}",
        json_body={"schedule": {"recurrence": "yearly"}},
        headers=MERGE,
        scheduledJobId="s",
    )
    assert bad.status_code == 400 and "recurrence" in bad.json()["error"]["message"]
    missing = client.call(
        "PATCH", "/scheduledJobs/{scheduledJobId}", json_body={}, headers=MERGE, scheduledJobId="x"
    )
    assert missing.status_code == 404


def test_update_is_refused_while_an_instance_runs(
    fast: tuple[ManualClock, IoTCentralEmulator, CentralClient],
) -> None:
    clock, _app, client = fast
    client.call(
        "PUT", "/scheduledJobs/{scheduledJobId}", json_body=_scheduled(clock.now() + 1), scheduledJobId="s"
    )
    clock.advance(1.0)
    instance = _instances(client, "s")[0]
    client.call("POST", "/jobs/{jobId}/stop", jobId=instance["id"])
    response = client.call(
        "PATCH",
        "/scheduledJobs/{scheduledJobId}",
        json_body={"description": "x"},
        headers=MERGE,
        scheduledJobId="s",
    )
    assert response.status_code == 409


def test_delete_and_404s(fast: tuple[ManualClock, IoTCentralEmulator, CentralClient]) -> None:
    clock, _app, client = fast
    client.call(
        "PUT", "/scheduledJobs/{scheduledJobId}", json_body=_scheduled(clock.now() + 60), scheduledJobId="s"
    )
    deleted = client.call("DELETE", "/scheduledJobs/{scheduledJobId}", scheduledJobId="s")
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.call("GET", "/scheduledJobs/{scheduledJobId}", scheduledJobId="s").status_code == 404
    assert client.call("DELETE", "/scheduledJobs/{scheduledJobId}", scheduledJobId="s").status_code == 404
    assert client.call("GET", "/scheduledJobs/{scheduledJobId}/jobs", scheduledJobId="s").status_code == 404


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"schedule": None}, "scheduledJob.schedule: is required"),
        ({"schedule": {"recurrence": "daily"}}, "scheduledJob.schedule.start: is required"),
        ({"schedule": {"start": "tomorrow"}}, "is not an ISO 8601 date-time"),
        (
            {"schedule": {"start": "2030-01-01T00:00:00Z", "recurrence": "yearly"}},
            "recurrence: must be one of",
        ),
        (
            {"schedule": {"start": "2030-01-01T00:00:00Z", "end": {"type": "occurrences", "occurrences": 0}}},
            "occurrences: must be an integer from 1 to 999",
        ),
        (
            {
                "schedule": {
                    "start": "2030-01-01T00:00:00Z",
                    "end": {"type": "occurrences", "occurrences": 1000},
                }
            },
            "occurrences: must be an integer from 1 to 999",
        ),
        (
            {"schedule": {"start": "2030-01-01T00:00:00Z", "end": {"type": "date", "date": "soon"}}},
            "YYYY-MM-DD",
        ),
        ({"schedule": {"start": "2030-01-01T00:00:00Z", "end": {"type": "never"}}}, "end.type: must be"),
        (
            {
                "data": [
                    {"type": "command", "target": "t", "path": "p"},
                    {"type": "cloudProperty", "target": "t", "path": "p", "value": 1},
                ]
            },
            "all entries must be of the same type",
        ),
        ({"enabled": "yes"}, "scheduledJob.enabled: must be true or false"),
        ({"group": None}, "scheduledJob.group: is required"),
    ],
)
def test_scheduled_job_validation(
    fast: tuple[ManualClock, IoTCentralEmulator, CentralClient], change: dict[str, Any], fragment: str
) -> None:
    _clock, _app, client = fast
    body = {**_scheduled(0), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.call("PUT", "/scheduledJobs/{scheduledJobId}", json_body=body, scheduledJobId="bad")
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert (
        client.call(
            "PUT", "/scheduledJobs/{scheduledJobId}", json_body=_scheduled(0), scheduledJobId="bad id"
        ).status_code
        == 400
    )
