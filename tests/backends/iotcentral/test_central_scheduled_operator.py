"""IoTCentralScheduledJobOperator: a Central scheduled job as code — created, left alone, merge-patched,
deleted, dry-run, and waited on — as real DAG runs against the IoT Central emulator on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iotcentral import IoTCentralScheduledJobOperator, filter_group_id
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = "dtmi:airflowIotJobs:gateway100;1"
GATEWAYS = f'SELECT * FROM devices WHERE $template = "{TEMPLATE}"'
READY_GATEWAYS = GATEWAYS + " AND $provisioned = true"  # an unprovisioned device fails every job
SET_INTERVAL = [{"type": "property", "target": TEMPLATE, "path": "telemetryIntervalSeconds", "value": 60}]
NIGHTLY = {
    "start": "2027-01-01T02:00:00Z",
    "recurrence": "daily",
    "end": {"type": "occurrences", "occurrences": 30},
}


def scheduled(task_id: str = "schedule", **overrides):
    options = {
        "scheduled_job_id": "nightly-interval",
        "device_filter": GATEWAYS,
        "data": SET_INTERVAL,
        "schedule": NIGHTLY,
        "batch": "10%",
        "cancellation_threshold": {"type": "percentage", "value": 5, "batch": True},
        "display_name": "Nightly interval",
    }
    options.update(overrides)
    return IoTCentralScheduledJobOperator(task_id=task_id, **options)


def run_one(request, suffix: str = "", **overrides):
    dag_id = request.node.name.replace("[", "_").replace("]", "") + suffix
    with DAG(dag_id=dag_id, schedule=None, start_date=START) as dag:
        scheduled(**overrides)
    return run_dag(dag)


def writes(app) -> list[tuple[str, str, int]]:
    return [r for r in app.request_log if r[0] in ("PUT", "PATCH", "DELETE") and "/scheduledJobs/" in r[1]]


def held(scheduled_job_id: str = "nightly-interval") -> dict:
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    return IoTCentralHook().get_scheduled_job(scheduled_job_id)


def test_creates_the_declared_scheduled_job_then_sends_nothing_when_nothing_differs(central, request, logs):
    first = run_one(request)

    assert first.state == "success", first.states
    job = held()
    assert job["group"] == filter_group_id(GATEWAYS)
    assert job["data"] == SET_INTERVAL
    assert job["batch"] == {"type": "percentage", "value": 10}
    assert job["cancellationThreshold"] == {"type": "percentage", "value": 5, "batch": True}
    assert job["schedule"]["recurrence"] == "daily" and job["schedule"]["end"] == NIGHTLY["end"]
    assert datetime.fromisoformat(job["schedule"]["start"]) == datetime(2027, 1, 1, 2, tzinfo=UTC)
    assert job["enabled"] is True and job["displayName"] == "Nightly interval"
    assert first.xcoms["schedule"]["id"] == "nightly-interval"
    assert [r[:2] for r in writes(central)] == [("PUT", "/api/scheduledJobs/nightly-interval")]
    assert "created scheduled job nightly-interval" in logs()

    again = run_one(request, "_again", schedule={**NIGHTLY, "start": "2027-01-01T03:00:00+01:00"})

    assert again.state == "success", again.states
    assert len(writes(central)) == 1, "the same declaration (the start in another zone) sends nothing"
    assert "nightly-interval is as declared; nothing sent" in logs()


def test_a_changed_declaration_sends_one_merge_patch_of_the_differences(central, request, logs):
    run_one(request)
    changed = run_one(
        request,
        "_changed",
        schedule={"start": NIGHTLY["start"], "recurrence": "weekly"},
        batch=None,
        enabled=False,
    )

    assert changed.state == "success", changed.states
    patches = [r for r in writes(central) if r[0] == "PATCH"]
    assert patches == [("PATCH", "/api/scheduledJobs/nightly-interval", 200)]
    job = held()
    assert job["schedule"] == {"start": job["schedule"]["start"], "recurrence": "weekly"}
    assert "batch" not in job and job["enabled"] is False
    assert job["cancellationThreshold"]["value"] == 5, "what did not change is kept"
    text = logs()
    assert "schedule.recurrence: 'daily' -> 'weekly'" in text
    assert "schedule.end: {'type': 'occurrences', 'occurrences': 30} -> removed" in text
    assert "batch: {'type': 'percentage', 'value': 10} -> removed" in text
    assert "enabled: True -> False" in text


def test_dry_run_reports_the_changes_and_sends_nothing(central, request, logs):
    run_one(request)
    before = len(writes(central))
    planned = run_one(request, "_plan", schedule={**NIGHTLY, "recurrence": "monthly"}, dry_run=True)

    assert planned.state == "success", planned.states
    assert len(writes(central)) == before
    plan = planned.xcoms["schedule"]
    assert plan["dry_run"] is True and plan["changes"] == ["schedule.recurrence: 'daily' -> 'monthly'"]
    assert plan["devices"] > 0
    assert held()["schedule"]["recurrence"] == "daily"


def test_state_absent_deletes_it_and_is_quiet_when_already_gone(central, request, logs):
    run_one(request)
    gone = run_one(request, "_gone", state="absent")
    again = run_one(request, "_again", state="absent")

    assert gone.state == again.state == "success"
    assert [r for r in writes(central) if r[0] == "DELETE"] == [
        ("DELETE", "/api/scheduledJobs/nightly-interval", 204),
        ("DELETE", "/api/scheduledJobs/nightly-interval", 404),
    ]
    text = logs()
    assert "scheduled job nightly-interval deleted" in text
    assert "scheduled job nightly-interval is already absent" in text
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    assert "nightly-interval" not in [job["id"] for job in IoTCentralHook().list_scheduled_jobs()]


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_wait_for_completion_judges_the_next_run_with_the_thresholds(make_central, request, logs, deferrable):
    make_central(devices=120, speed=200.0)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    result = run_one(
        request,
        schedule={
            "start": soon.isoformat(),
            "recurrence": "daily",
            "end": {"type": "occurrences", "occurrences": 1},
        },
        device_filter=READY_GATEWAYS,
        wait_for_completion=True,
        deferrable=deferrable,
        success_threshold="90%",
        poll_interval=0.3,
        max_poll_interval=1.0,
        timeout=120,
    )

    assert result.state == "success", result.states
    progress = result.xcoms["schedule"]
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    hook = IoTCentralHook()
    instances = [job["id"] for job in hook.scheduled_job_instances("nightly-interval")]
    assert progress["job_id"] in instances
    gateways = hook.count_devices(filter_group_id(READY_GATEWAYS))
    assert 0 < progress["targeted"] == gateways < 120 and progress["succeeded"] >= 0.9 * gateways
    text = logs()
    assert f"scheduled job nightly-interval started job {progress['job_id']}" in text
    # the run starts ~2 s after the schedule is written: the deferrable task waits for it in the triggerer
    assert ("DateTimeTrigger" in text) is deferrable


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"data": [SET_INTERVAL[0], {"type": "command", "target": TEMPLATE, "path": "reboot"}]},
            "data: all entries of a scheduled job must be of the same type",
        ),
        (
            {"schedule": {**NIGHTLY, "end": {"type": "occurrences", "occurrences": 1000}}},
            "schedule.end.occurrences",
        ),
        ({"schedule": {**NIGHTLY, "recurrence": "hourly"}}, "schedule.recurrence: must be one of daily"),
        ({"schedule": {"start": "2027-01-01T02:00:00"}}, "schedule.start"),
        (
            {"schedule": json.dumps({"recurrence": "daily"})},
            "schedule.start: the first run's date-time is required",
        ),
        ({"scheduled_job_id": "nightly interval"}, "scheduled_job_id"),
        ({"enabled": "yes"}, "enabled: must be true or false"),
    ],
    ids=["mixed-types", "occurrences", "recurrence", "naive-start", "no-start", "bad-id", "enabled"],
)
def test_bad_declarations_fail_before_any_request(central, request, logs, overrides, message):
    result = run_one(request, **overrides)

    assert result.state == "failed"
    assert message in logs()
    assert writes(central) == [] and not any("/scheduledJobs" in r[1] for r in central.request_log)


def test_parse_time_rules():
    with pytest.raises(ValueError, match="job_id: a scheduled job's runs get their ids from IoT Central"):
        scheduled(job_id="x")
    with pytest.raises(ValueError, match="schedule: a scheduled job that should exist needs a schedule"):
        scheduled(schedule=None)
    with pytest.raises(ValueError, match="state: must be 'present' or 'absent'"):
        scheduled(state="gone")
    assert scheduled(state="absent", data=None, schedule=None, device_filter=None).state == "absent"
