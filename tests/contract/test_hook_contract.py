"""The hook contract, for every backend's harness, over real HTTP against its emulator: progress / aprogress,
cancel / acancel (where the backend can cancel), failed_devices, count_devices, not-found errors, and a hook built
from ``hook_params`` as operators and triggers build it. (The backends' own hook methods — IoT Hub: job queries,
device job rows and reports, connection strings — are tested in tests/backends/<backend>/.)"""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_iot_jobs.jobs import JobPhase, JobProgress, JobServiceError
from tests.harness import BackendHarness


def wait_terminal(hook, job_id: str) -> JobProgress:
    for _ in range(400):
        progress = hook.progress(job_id)
        if progress.terminal:
            return progress
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


@pytest.fixture
def fleet(harness: BackendHarness, make_emulator):
    """250 devices, about a tenth of which fail (``harness.failing_fleet``: offline devices on IoT Hub and IoT
    Central, failed runs on AWS IoT), a fast clock. A typical job targets ``harness.matching(fleet)`` of
    them (all of them on IoT Hub and AWS IoT; the provisioned devices of one template on IoT Central)."""
    return make_emulator(devices=250, speed=50.0, max_active_jobs=50, **harness.failing_fleet(0.1))


def test_the_hook_is_built_from_hook_params(harness: BackendHarness, fleet):
    hook = harness.hook()
    assert isinstance(hook, harness.backend.hook_class())
    assert hook.backend is harness.backend
    assert hook.supports_cancel is harness.supports_cancel
    assert hook.supports_count is harness.supports_count
    assert set(harness.hook_params()) == set(harness.backend.hook_param_names)


def test_progress_counts_every_targeted_device_until_the_job_ends(harness: BackendHarness, fleet):
    targeted = harness.matching(fleet)
    assert targeted > 50
    job = harness.launch(fleet, "contract-progress", action="ping")
    hook = harness.hook()
    first = hook.progress(job)
    assert first.job_id == job and first.targeted in (0, targeted)
    assert first.succeeded + first.failed + first.running + first.pending <= targeted

    final = wait_terminal(hook, job)
    failing = final.failed
    assert final.phase is JobPhase.COMPLETED or final.phase.terminal
    assert (final.targeted, final.succeeded + final.failed) == (targeted, targeted)
    assert 0 < failing < targeted, "about a tenth of the fleet fails: some devices must fail"
    assert final.running == final.pending == 0
    assert final.to_dict()["job_id"] == job


def test_aprogress_agrees_with_progress(harness: BackendHarness, fleet):
    job = harness.launch(fleet, "contract-async", action="ping")
    final = wait_terminal(harness.hook(), job)

    async def read() -> JobProgress:
        hook = harness.hook()
        try:
            return await hook.aprogress(job)
        finally:
            await hook.aclose()

    again = asyncio.run(read())
    assert (again.job_id, again.targeted, again.succeeded, again.failed) == (
        final.job_id,
        final.targeted,
        final.succeeded,
        final.failed,
    )
    assert again.terminal


def test_failed_devices_name_each_device_and_its_error(harness: BackendHarness, fleet):
    job = harness.launch(fleet, "contract-failed", action="ping")
    final = wait_terminal(harness.hook(), job)
    assert final.failed > 5

    failures = harness.hook().failed_devices(job, limit=5)
    assert len(failures) == 5
    assert len({failure.device_id for failure in failures}) == 5
    assert all(failure.device_id and failure.code for failure in failures)
    everything = harness.hook().failed_devices(job, limit=10_000)
    assert len(everything) == final.failed


@pytest.mark.parametrize("asynchronous", [False, True], ids=["cancel", "acancel"])
def test_cancel_ends_a_running_job_and_returns_its_progress(
    harness: BackendHarness, make_emulator, asynchronous
):
    if not harness.supports_cancel:
        pytest.skip(f"{harness.backend.name} cannot cancel a job")
    emulator = make_emulator(devices=300, speed=0.5, offline_rate=0.0)
    job = harness.launch(emulator, "contract-cancel", action="reboot")

    if asynchronous:

        async def cancel() -> JobProgress:
            hook = harness.hook()
            try:
                return await hook.acancel(job)
            finally:
                await hook.aclose()

        progress = asyncio.run(cancel())
    else:
        progress = harness.hook().cancel(job)

    # (IoT Central's cancel is a stop: the job is paused, resumable, and no longer holds a slot)
    assert progress.job_id == job
    assert progress.phase is JobPhase(harness.cancelled_phase)
    assert progress.terminal is progress.phase.terminal
    assert harness.remote_status(emulator, job)["phase"] == harness.cancelled_phase
    assert harness.hook().progress(job).phase is JobPhase(harness.cancelled_phase)
    assert harness.requests(emulator, "cancel", suffix=job) == 1
    assert progress.succeeded + progress.failed < progress.targeted or progress.targeted == 0, (
        "it ran to its end"
    )


def test_count_devices_counts_what_a_target_selects(harness: BackendHarness, fleet):
    if not harness.supports_count:
        pytest.skip(f"{harness.backend.name} cannot count the devices a target selects")
    hook = harness.hook()
    everything, some = (
        harness.count_target(operator)
        for operator in (
            harness.job_operator(task_id="count_all", devices="*"),
            harness.job_operator(task_id="count_some", devices={"site": "ams"}),
        )
    )
    total = harness.matching(fleet)
    assert hook.count_devices(everything) == total > 0
    job = harness.launch(fleet, "contract-count", devices={"site": "ams"}, action="ping")
    assert hook.count_devices(some) == harness.matching(fleet, {"site": "ams"})
    assert 0 < hook.count_devices(some) == wait_terminal(hook, job).targeted < total


def test_an_unknown_job_is_not_found(harness: BackendHarness, fleet):
    hook = harness.hook()
    with pytest.raises(JobServiceError) as err:
        hook.progress("never-launched")
    assert err.value.status == 404 and err.value.code in harness.codes["not_found"]
    assert err.value.kind == "not_found"

    async def aread() -> None:
        async_hook = harness.hook()
        try:
            await async_hook.aprogress("never-launched")
        finally:
            await async_hook.aclose()

    with pytest.raises(JobServiceError) as err:
        asyncio.run(aread())
    assert err.value.status == 404 and err.value.code in harness.codes["not_found"]
    if harness.supports_cancel:
        with pytest.raises(JobServiceError) as err:
            hook.cancel("never-launched")
        assert err.value.status == 404 and err.value.code in harness.codes["not_found"]


def test_aactive_jobs_counts_the_jobs_that_hold_a_launch_slot(harness: BackendHarness, make_emulator):
    """Optional: a hook that can count the active jobs (what "too many active jobs" counts) answers their number,
    and a job that ends no longer counts; one that cannot answers ``None`` (the launch-slot trigger then retries on
    a backoff). Every backend but AWS IoT (whose limit and active jobs the trigger does not read) can count."""
    from tests.harness.reliability import held_emulator

    emulator = held_emulator(make_emulator, max_active_jobs=5)

    async def count() -> int | None:
        hook = harness.hook()
        try:
            return await hook.aactive_jobs()
        finally:
            await hook.aclose()

    if asyncio.run(count()) is None:
        assert harness.name == "aws", f"{harness.name} should count its active jobs"
        return
    assert asyncio.run(count()) == 0
    first = harness.launch(emulator, "contract-active-1")
    harness.launch(emulator, "contract-active-2")  # held: both stay active
    assert asyncio.run(count()) == 2
    harness.cancel_remote(emulator, first)
    assert asyncio.run(count()) == 1
