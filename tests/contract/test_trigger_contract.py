"""The trigger contract, for every backend's harness: serialisation round trip (no secret), async waits against
the emulator, deadline, a rebuild in a fresh event loop, verdicts returned not acted on, on_kill, unknown jobs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.harness import BackendHarness


def first_event(trigger) -> dict:
    async def run() -> dict:
        event = await anext(trigger.run())
        return event.payload

    return asyncio.run(run())


def make_trigger(harness: BackendHarness, job_id: str, **overrides):
    kwargs = {"success_threshold": "100%", "poll_interval": 0.2, "end_time": time.time() + 60}
    kwargs.update(overrides)
    return harness.trigger(job_id, **kwargs)


@pytest.fixture
def emulator(make_emulator):
    """A 300-device fleet, fast clock, no random failures, no offline devices."""
    return make_emulator(devices=300, speed=50.0, offline_rate=0.0, failure_rate=0.0, max_active_jobs=5)


def test_serialize_rebuild_round_trip_carries_no_secret(harness, make_emulator):
    emulator = make_emulator(devices=20, key=harness.canary_key)
    from airflow.sdk.module_loading import import_string
    from airflow.serialization.serialized_objects import BaseSerialization

    trigger = make_trigger(harness, "job-x", failure_threshold="2%", cancel_on_kill=True)
    classpath, kwargs = trigger.serialize()
    assert classpath == harness.backend.trigger
    assert kwargs["hook_params"] == harness.hook_params()

    stored = BaseSerialization.deserialize(BaseSerialization.serialize(kwargs))
    rebuilt = import_string(classpath)(**stored)
    assert rebuilt.serialize() == (classpath, kwargs)

    text = json.dumps(kwargs)
    assert harness.canary_key not in text and harness.connection(emulator)["password"] not in text
    assert "password" not in text and "connection_string" not in text


def test_trigger_waits_until_success(harness, emulator):
    job = harness.launch(emulator, "trig-ok", devices={"site": "ams"}, action="ping")
    event = first_event(make_trigger(harness, job))
    assert event["status"] == "success"
    assert event["progress"]["job_id"] == job
    assert event["progress"]["succeeded"] == event["progress"]["targeted"] > 0


def test_trigger_deadline_yields_timeout(harness, make_emulator):
    emulator = make_emulator(devices=200, speed=0.5, offline_rate=0.0)
    job = harness.launch(emulator, "slow", action="reboot")
    started = time.monotonic()
    event = first_event(make_trigger(harness, job, end_time=time.time() + 1.0))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 10
    assert event["progress"]["job_id"] == job


def test_trigger_rebuilt_in_a_fresh_event_loop_finishes_the_same_job(harness, make_emulator):
    emulator = make_emulator(devices=300, speed=5.0, offline_rate=0.0)
    job = harness.launch(emulator, "restart")
    trigger = make_trigger(harness, job)

    async def interrupted() -> None:
        task = asyncio.create_task(anext(trigger.run()))
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()  # the triggerer stops: CancelledError must propagate, not be swallowed
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    classpath, kwargs = trigger.serialize()
    event = first_event(harness.backend.trigger_class()(**kwargs))
    assert event["status"] == "success"
    assert harness.remote_jobs(emulator) == [job]
    assert harness.remote_status(emulator, job)["phase"] == "completed"


def test_failure_verdict_is_returned_not_acted_on(harness, make_emulator):
    emulator = make_emulator(devices=300, speed=3.0, failure_rate=0.5, offline_rate=0.0)
    job = harness.launch(emulator, "bad", action="reboot")
    event = first_event(make_trigger(harness, job, failure_threshold="5%", cancel_on_kill=True))
    assert event["status"] == "failure" and "failure_threshold" in event["reason"]
    assert harness.remote_status(emulator, job)["phase"] == "running", "cancelling is the task's decision"


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_on_kill_cancels_only_when_asked(harness, make_emulator, cancel_on_kill):
    if cancel_on_kill and not harness.supports_cancel:
        pytest.skip(f"{harness.backend.name} cannot cancel a job")
    emulator = make_emulator(devices=300, speed=0.5, offline_rate=0.0)
    job = harness.launch(emulator, "killed", action="reboot")
    trigger = make_trigger(harness, job, cancel_on_kill=cancel_on_kill)
    asyncio.run(trigger.cleanup())
    assert harness.remote_status(emulator, job)["phase"] != harness.cancelled_phase
    asyncio.run(trigger.on_kill())
    assert (harness.remote_status(emulator, job)["phase"] == harness.cancelled_phase) is cancel_on_kill


def test_unknown_job_yields_error_event(harness, emulator):
    event = first_event(make_trigger(harness, "never-created"))
    assert event["status"] == "error" and harness.codes["not_found"].split()[-1] in event["message"]
