"""A job that fails its thresholds is cancelled when asked (``cancel_on_failure``). The job may end between the
progress read that judged it and the cancel call; the service then refuses the cancel (AWS: ``Job … is COMPLETED
and cannot be canceled``). That refusal must not hide the breach: the task still fails with the threshold message
and the failed devices, on every backend that can cancel, against its emulator."""

from __future__ import annotations

import dataclasses
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_iot_jobs.jobs import JobPhase, Verdict
from tests.harness import BackendHarness


def test_a_job_that_ended_before_the_cancel_still_fails_with_its_breach(
    harness: BackendHarness, make_emulator
):
    if not harness.supports_cancel:
        pytest.skip(f"{harness.backend.name} cannot cancel a job")
    emulator = make_emulator(devices=30, speed=50.0, max_active_jobs=5, **harness.failing_fleet(0.3))
    job = harness.launch(emulator, "breach-ended", action="ping")
    hook = harness.hook()
    for _ in range(400):
        final = hook.progress(job)
        if final.terminal:
            break
        time.sleep(0.05)
    assert final.terminal and final.failed > 0
    stale = dataclasses.replace(final, phase=JobPhase.RUNNING)  # what the operator read just before it ended

    operator = harness.job_operator(task_id="breach", cancel_on_failure=True)
    with pytest.raises(AirflowFailException) as failure:
        operator.conclude(stale, Verdict.FAILURE, "1 failed device exceeds failure_threshold 0 devices")

    message = str(failure.value)
    assert f"job {job} failed: 1 failed device exceeds failure_threshold 0 devices" in message
    assert "cancelling it failed" not in message
    assert harness.requests(emulator, "cancel", suffix=job) == 1
    assert harness.remote_status(emulator, job)["phase"] == final.phase.value
