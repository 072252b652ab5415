"""Throttling and errors that can never succeed, IoT-Hub-only part (the rest is tests/contract/test_throttling.py):
import/export ``JobQuotaExceeded``, a create ``POST /jobs/create`` never re-sent blindly (the service picks
import/export job ids), a job id owned by another job type, twin etags, a blob container the hub may not write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator, IoTHubTwinUpdateJobOperator
from tests.contract.test_throttling import fails_at_once, one_task_dag, reboot
from tests.dag_runs import run_dag
from tests.harness.iothub import IOTHUB_HARNESS
from tests.harness.reliability import held_emulator, record_jobs, requests_matching, ticking, when

pytestmark = pytest.mark.reliability

STORAGE_CONN = "reliability_storage"


def use_storage(monkeypatch: pytest.MonkeyPatch, azurite) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{STORAGE_CONN.upper()}",
        json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string}}),
    )


def export_jobs(hub) -> list[dict[str, Any]]:
    """The hub's import/export jobs, read from its state (no request)."""
    return [job.to_json() for job in list(hub.import_export.jobs.values())]


# ------------------------------------------------------------------------------------------------ import/export quota


def export(**overrides: Any) -> IoTHubExportDevicesOperator:
    options = {
        "task_id": "export",
        "wasb_conn_id": STORAGE_CONN,
        "container": "reliability-exports",
        "poll_interval": 0.3,
    }
    options.update(overrides)
    return IoTHubExportDevicesOperator(**options)


def blocking_export(hub, azurite) -> str:
    uri = azurite.container_sas_url("reliability-blocker")
    job = IoTHubHook().create_import_export_job(
        {"type": "export", "outputBlobContainerUri": uri, "excludeKeysInExport": True}
    )
    return job["jobId"]


@pytest.mark.slow
def test_job_quota_exceeded_waits_for_the_running_export_then_exports_once(
    make_hub, request, azurite_or_skip, monkeypatch, logs
):
    hub = held_emulator(make_hub, devices=50)
    use_storage(monkeypatch, azurite_or_skip)
    blocker = blocking_export(hub, azurite_or_skip)

    freed: list[bool] = []

    def free_the_slot() -> None:
        hub.import_export.cancel(blocker)
        freed.append(True)

    with (
        ticking(hub, enabled=lambda: bool(freed)),
        when(lambda: requests_matching(hub, "POST", "/jobs/create", 403) >= 2, free_the_slot),
    ):
        result = run_dag(one_task_dag(request, lambda: export(timeout=120)))
    text = logs()

    assert result.states == {"export": "success"}, text[-3000:]
    mine = [j for j in export_jobs(hub) if j["jobId"] != blocker]
    record_jobs(len(mine))
    assert len(mine) == 1 and mine[0]["jobId"] == result.xcoms["export"]["job_id"]
    assert result.xcoms["export"]["device_count"] == 50
    assert "JobQuotaExceeded" in text and "service busy" in text


@pytest.mark.slow
def test_job_quota_exceeded_until_the_timeout_fails_with_the_service_code(
    make_hub, request, azurite_or_skip, monkeypatch, logs
):
    hub = held_emulator(make_hub, devices=50)
    use_storage(monkeypatch, azurite_or_skip)
    blocker = blocking_export(hub, azurite_or_skip)

    result = run_dag(one_task_dag(request, lambda: export(timeout=5)))
    text = logs()

    assert result.states == {"export": "failed"}
    assert [j["jobId"] for j in export_jobs(hub)] == [blocker]
    assert requests_matching(hub, "POST", "/jobs/create", 403) >= 2
    assert "403 JobQuotaExceeded" in text and "only one import or export job can be active" in text


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(("reset-after",), id="answer-lost"),
        pytest.param(("reset-after", "reset-after", "reset-after"), id="answer-lost-repeatedly"),
        # The answer is lost and the lookup that follows fails 4 times too: the re-send must look first.
        pytest.param(
            (None, "reset-after", "503", "503", "503", "503"), id="answer-lost-and-the-lookup-fails"
        ),
        pytest.param((None, "500", "reset"), id="not-applied"),
    ],
)
def test_reset_after_on_post_jobs_create_never_starts_a_second_export(
    make_hub, request, azurite_or_skip, monkeypatch, script
):
    hub = make_hub(devices=50, speed=50.0, fault_match=r"^(POST /jobs/create|GET /jobs)$")
    use_storage(monkeypatch, azurite_or_skip)
    hub.faults.script(*script)

    result = run_dag(one_task_dag(request, lambda: export(timeout=60)))

    exports = export_jobs(hub)
    record_jobs(len(exports))
    assert len(exports) == 1, f"{len(exports)} export jobs for one task instance: {exports}"
    assert result.states == {"export": "success"}
    assert result.xcoms["export"]["job_id"] == exports[0]["jobId"]


@pytest.mark.parametrize("case", ["id-of-another-job-type"])
def test_a_4xx_that_can_never_succeed_fails_at_once_with_the_service_code(make_hub, request, logs, case):
    """(The shared cases — unknown job, wrong key — are in tests/contract/test_throttling.py.)"""
    hub = make_hub(devices=50, speed=50.0)
    IoTHubHook().create_twin_update_job("shared-id", "*", tags={"x": 1})
    make_task = reboot(IOTHUB_HARNESS, task_id="t", job_id="shared-id")
    fails_at_once(
        IOTHUB_HARNESS,
        hub,
        request,
        logs,
        make_task,
        "already names a scheduleUpdateTwin job",
        "choose another id",
    )


def test_twin_etag_mismatch_fails_the_task_once_with_the_device_error(make_hub, request, logs):
    hub = make_hub(devices=40, speed=50.0, offline_rate=0.0)
    result = run_dag(
        one_task_dag(
            request,
            lambda: IoTHubTwinUpdateJobOperator(
                task_id="tag", query_condition="*", tags={"x": 1}, etag="AAAAAAAAAAk=", poll_interval=0.3
            ),
            retries=2,
        )
    )
    text = logs()

    assert result.states == {"tag": "failed"}
    assert result.tries == {"tag": 1}, "a threshold failure is final: no Airflow retry"
    record_jobs(len(hub.state.jobs))
    assert len(hub.state.jobs) == 1
    assert "PreconditionFailed" in text and "does not match" in text


@pytest.mark.slow
def test_export_to_a_container_the_hub_cannot_write_fails_at_once(
    make_hub, request, azurite_or_skip, monkeypatch, logs
):
    hub = make_hub(devices=20, speed=50.0)
    read_only = azurite_or_skip.container_sas_url("reliability-read-only", permissions="rl")
    result = run_dag(
        one_task_dag(request, lambda: export(container_uri=read_only, container=None, timeout=60))
    )
    text = logs()

    assert result.states == {"export": "failed"}
    assert requests_matching(hub, "POST", "/jobs/create") == 1
    assert export_jobs(hub) == []
    assert "400 BlobContainerValidationError" in text
    assert "sig=" not in text.replace("sig=REDACTED", ""), "a SAS signature reached the log"


# ------------------------------------------------------------------------------------------------ launch-slot counts


def test_a_throttled_active_job_count_is_waited_out_in_the_trigger(make_hub, logs):
    """A count the hub throttles (429 past the hook's own retries) is not a free slot: the trigger waits for its
    Retry-After and counts again, and hands back only when the blocking job has ended."""
    import asyncio
    import time

    from airflow_iot_jobs.triggers.launch_slot import LaunchSlotTrigger

    hub = held_emulator(make_hub, max_active_jobs=1, fault_match="^GET /jobs/v2/query")
    blocker = IOTHUB_HARNESS.launch(hub, "blocker")
    hub.faults.script("429", "429", "429", "429")  # one count, every attempt of the hook
    operator = IOTHUB_HARNESS.job_operator(task_id="t", deferrable=True)
    trigger = LaunchSlotTrigger(
        backend=IOTHUB_HARNESS.backend.name,
        hook_params=operator.hook_params,
        end_time=time.time() + 60,
        poll_interval=0.2,
    )

    async def main() -> tuple[bool, str]:
        wait = asyncio.ensure_future(anext(trigger.run()))
        done, _ = await asyncio.wait(
            [wait], timeout=4
        )  # throttled, then counting 1 active job: still waiting
        await asyncio.to_thread(IOTHUB_HARNESS.cancel_remote, hub, blocker)
        return bool(done), (await asyncio.wait_for(wait, timeout=60)).payload["status"]

    handed_back_early, status = asyncio.run(main())

    assert [f.kind for f in hub.faults.log] == ["429"] * 4
    assert not handed_back_early, "a throttled count was taken for a free slot"
    assert status == "slot_free"
    assert "throttled the active-job count" in logs()
