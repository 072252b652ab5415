"""Jobs: create, get, devices, batches and the cancellation threshold, stop / resume / rerun, the 5-job limit, and
what each kind of job data does to the fleet. Time moves only when a test advances the manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from tests.emulator.iotcentral.helpers import TEMPLATES, CentralClient, command_job


def _template_group(client: CentralClient, group_id: str = "gw", template: str = TEMPLATES[0]) -> list[str]:
    client.group(group_id, f'$template = "{template}"')
    return [
        d["id"] for d in client.all_pages("/deviceGroups/{deviceGroupId}/devices", deviceGroupId=group_id)
    ]


def _assert_progress_matches_rows(client: CentralClient, job_id: str) -> dict[str, Any]:
    job = client.get_job(job_id)
    rows = client.rows(job_id)
    counts = {
        s: sum(1 for r in rows if r["status"] == s) for s in ("pending", "running", "completed", "failed")
    }
    progress = job["progress"]
    assert progress["total"] == len(rows)
    assert progress["pending"] == counts["pending"]
    assert progress["completed"] == counts["completed"] and progress["failed"] == counts["failed"]
    return job


def test_a_job_is_pending_then_runs_to_complete(clock: ManualClock, client: CentralClient) -> None:
    members = _template_group(client)
    created = client.job("reboot-all", command_job("gw", description="weekly"))
    assert created.status_code == 200
    body = created.json()
    assert body["id"] == "reboot-all" and body["status"] == "pending" and body["description"] == "weekly"
    assert "progress" not in body and "start" not in body
    clock.advance(1.0)
    running = client.get_job("reboot-all")
    assert running["status"] == "running" and running["progress"]["total"] == len(members) > 0
    clock.advance(120)
    job = _assert_progress_matches_rows(client, "reboot-all")
    rows = client.rows("reboot-all")
    assert [r["id"] for r in rows] == members
    assert job["status"] == "complete" and "start" in job and "end" in job
    failed = {r["id"] for r in rows if r["status"] == "failed"}
    assert job["progress"]["completed"] + job["progress"]["failed"] == len(members)
    # offline devices fail a command; online ones run it
    central_fleet = client.app.fleet
    assert failed == {
        d for d in members if not central_fleet.is_online(d) or not central_fleet.get(d).doc["provisioned"]
    }


def test_existing_job_id_is_a_conflict(client: CentralClient) -> None:
    client.group("g")
    assert client.job("j", command_job("g")).status_code == 200
    again = client.job("j", command_job("g"))
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]


def test_get_and_devices_of_an_unknown_job_are_404(client: CentralClient) -> None:
    assert client.call("GET", "/jobs/{jobId}", jobId="none").status_code == 404
    assert client.call("GET", "/jobs/{jobId}/devices", jobId="none").status_code == 404


def test_batches_run_in_sequence(clock: ManualClock, client: CentralClient) -> None:
    client.group("all")
    client.job("batched", command_job("all", "ping", batch={"type": "number", "value": 10}))
    clock.advance(1.0)
    job = client.app.state.job("batched")
    assert job.batch_end - job.batch_start == 10
    clock.advance(0.5)  # the first batch has started, the rest waits
    rows = client.rows("batched")
    assert all(r["status"] == "pending" for r in rows[10:])
    assert any(r["status"] != "pending" for r in rows[:10])
    clock.advance(600)
    assert client.get_job("batched")["status"] == "complete"


def test_a_percentage_batch_rounds_up() -> None:
    from airflow_iot_jobs.emulator.iotcentral.models import policies_for

    policies = policies_for({"batch": {"type": "percentage", "value": 25}})
    assert policies.batches.batch_end(0, 10) == 3


@pytest.mark.parametrize("per_batch", [True, False])
def test_crossing_the_cancellation_threshold_cancels_the_job(per_batch: bool) -> None:
    clock = ManualClock()
    with IoTCentralEmulator(devices=80, seed=2, clock=clock, failure_rate=0.6, offline_rate=0.0) as app:
        client = CentralClient(app)
        client.group("all")
        body = command_job(
            "all",
            "reboot",
            template=TEMPLATES[0],
            batch={"type": "number", "value": 10},
            cancellationThreshold={"type": "percentage", "value": 20, "batch": per_batch},
        )
        body["data"][0]["target"] = TEMPLATES[0]
        client.job("risky", body)
        clock.advance(600)
        job = _assert_progress_matches_rows(client, "risky")
        assert job["status"] == "cancelled"
        assert job["progress"]["pending"] > 0  # the later devices never ran
        assert "cancellation threshold" in (app.state.job("risky").reason or "")


def test_stop_and_resume(clock: ManualClock, client: CentralClient) -> None:
    client.group("all")
    client.job("slow", command_job("all", "ping", batch={"type": "number", "value": 5}))
    clock.advance(1.0)
    stop = client.call("POST", "/jobs/{jobId}/stop", jobId="slow")
    assert stop.status_code == 204 and stop.content == b""
    clock.advance(600)
    stopped = _assert_progress_matches_rows(client, "slow")
    assert stopped["status"] == "stopped" and stopped["progress"]["pending"] > 0
    before = stopped["progress"]
    clock.advance(600)
    assert client.get_job("slow")["progress"] == before  # nothing moves while stopped
    resume = client.call("POST", "/jobs/{jobId}/resume", jobId="slow")
    assert resume.status_code == 204 and resume.content == b""
    assert client.get_job("slow")["status"] == "running"
    clock.advance(600)
    done = _assert_progress_matches_rows(client, "slow")
    assert done["status"] == "complete" and done["progress"]["pending"] == 0
    assert client.call("POST", "/jobs/{jobId}/resume", jobId="slow").status_code == 409
    assert client.call("POST", "/jobs/{jobId}/stop", jobId="slow").status_code == 409
    assert client.call("POST", "/jobs/{jobId}/stop", jobId="none").status_code == 404


def test_rerun_runs_on_the_failed_devices(clock: ManualClock, client: CentralClient) -> None:
    client.group("all")
    client.job("first", command_job("all"))
    clock.advance(1.0)
    early = client.call("PUT", "/jobs/{jobId}/rerun/{rerunId}", jobId="first", rerunId="again")
    assert early.status_code == 409  # still running
    clock.advance(600)
    failed = [r["id"] for r in client.rows("first") if r["status"] == "failed"]
    assert failed
    rerun = client.call("PUT", "/jobs/{jobId}/rerun/{rerunId}", jobId="first", rerunId="again")
    assert rerun.status_code == 200
    assert rerun.json()["id"] == "again" and rerun.json()["group"] == "all"
    clock.advance(600)
    assert [r["id"] for r in client.rows("again")] == failed
    assert (
        client.call("PUT", "/jobs/{jobId}/rerun/{rerunId}", jobId="first", rerunId="again").status_code == 409
    )
    assert client.call("PUT", "/jobs/{jobId}/rerun/{rerunId}", jobId="none", rerunId="x").status_code == 404


def test_a_sixth_concurrent_job_is_refused(clock: ManualClock, client: CentralClient) -> None:
    client.group("all")
    for index in range(5):
        assert client.job(f"j{index}", command_job("all")).status_code == 200
    sixth = client.job("j5", command_job("all"))
    assert sixth.status_code == 429 and sixth.headers["x-ms-error-code"] == "TooManyJobs"
    assert client.call("GET", "/jobs/{jobId}", jobId="j5").status_code == 404
    # a stopped job frees its slot; resuming it needs one again
    assert client.call("POST", "/jobs/{jobId}/stop", jobId="j0").status_code == 204
    assert client.job("j5", command_job("all")).status_code == 200
    assert client.call("POST", "/jobs/{jobId}/resume", jobId="j0").status_code == 429
    clock.advance(600)
    assert client.job("j6", command_job("all")).status_code == 200


def test_property_cloud_property_and_migration_jobs_change_the_devices(
    clock: ManualClock, client: CentralClient
) -> None:
    members = _template_group(client)
    target = TEMPLATES[0]
    body = {
        "group": "gw",
        "data": [
            {"type": "property", "target": target, "path": "telemetryIntervalSeconds", "value": 15},
            {"type": "property", "target": target, "path": "thermostat.target", "value": 21.5},
        ],
    }
    client.job("props", body)
    clock.advance(60)
    fleet = client.app.fleet
    completed = [r["id"] for r in client.rows("props") if r["status"] == "completed"]
    assert completed
    for device_id in completed:
        doc = fleet.get(device_id).doc
        assert doc["properties"]["telemetryIntervalSeconds"] == 15
        assert doc["properties"]["thermostat"] == {"target": 21.5}
    # the property is now filterable
    client.group("fast", "telemetryIntervalSeconds = 15")
    fast = client.all_pages("/deviceGroups/{deviceGroupId}/devices", deviceGroupId="fast")
    assert sorted(d["id"] for d in fast) == sorted(completed)

    cloud = {
        "group": "gw",
        "data": [{"type": "cloudProperty", "target": target, "path": "Company", "value": "Contoso"}],
    }
    client.job("cloud", cloud)
    clock.advance(60)
    assert client.get_job("cloud")["progress"]["failed"] == sum(
        1 for d in members if not fleet.get(d).doc["provisioned"]
    )

    migrate = {"group": "gw", "data": [{"type": "deviceTemplateMigration", "template": TEMPLATES[2]}]}
    client.job("migrate", migrate)
    clock.advance(60)
    migrated = [r["id"] for r in client.rows("migrate") if r["status"] == "completed"]
    assert migrated and all(fleet.get(d).doc["template"] == TEMPLATES[2] for d in migrated)


def test_a_capability_of_another_template_fails_the_device(clock: ManualClock, client: CentralClient) -> None:
    client.group("gw", f'$template = "{TEMPLATES[1]}"')
    client.job("mismatch", command_job("gw", "ping", template=TEMPLATES[0]))
    clock.advance(60)
    job = client.get_job("mismatch")
    assert job["status"] == "failed" and job["progress"]["failed"] == job["progress"]["total"] > 0


def test_unknown_command_fails_and_firmware_update_reports_the_new_version(
    clock: ManualClock, client: CentralClient
) -> None:
    client.group("gw", f'$template = "{TEMPLATES[0]}" AND $provisioned = true')
    client.job("nope", command_job("gw", "selfDestruct"))
    body = command_job("gw", "firmwareUpdate")
    body["data"][0]["value"] = {"version": "2.0.0"}
    client.job("fw", body)
    clock.advance(60)
    assert client.get_job("nope")["status"] == "failed"
    updated = [r["id"] for r in client.rows("fw") if r["status"] == "completed"]
    assert updated and all(client.app.fleet.get(d).doc["properties"]["firmware"] == "2.0.0" for d in updated)
