"""IoTHubJobTrigger: serialisation round trip, async waits against the emulator, deadline, on_kill."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.triggers.iothub import IoTHubJobTrigger


def first_event(trigger: IoTHubJobTrigger) -> dict:
    async def run() -> dict:
        event = await anext(trigger.run())
        return event.payload

    return asyncio.run(run())


def make_trigger(job_id: str, **overrides) -> IoTHubJobTrigger:
    kwargs = {
        "job_id": job_id,
        "hook_params": {"iothub_conn_id": "azure_iot_hub_default"},
        "success_threshold": "100%",
        "poll_interval": 0.2,
        "end_time": time.time() + 60,
    }
    kwargs.update(overrides)
    return IoTHubJobTrigger(**kwargs)


def test_serialize_rebuild_round_trip_carries_no_secret(hub):
    from airflow.sdk.module_loading import import_string
    from airflow.serialization.serialized_objects import BaseSerialization

    trigger = make_trigger("job-x", failure_threshold="2%", cancel_on_kill=True)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger"

    stored = BaseSerialization.deserialize(BaseSerialization.serialize(kwargs))
    rebuilt = import_string(classpath)(**stored)
    assert rebuilt.serialize() == (classpath, kwargs)

    text = json.dumps(kwargs)
    assert hub.key not in text and "SharedAccessKey" not in text and "connection_string" not in text


def test_trigger_waits_until_success(hub):
    hook = IoTHubHook()
    hook.create_device_method_job("trig-ok", "tags.site = 'ams'", "ping")
    event = first_event(make_trigger("trig-ok"))
    assert event["status"] == "success"
    assert event["progress"]["job_id"] == "trig-ok"
    assert event["progress"]["succeeded"] == event["progress"]["targeted"] > 0


def test_trigger_deadline_yields_timeout(make_hub):
    make_hub(devices=200, speed=0.5, offline_rate=0.0)
    IoTHubHook().create_device_method_job("slow", "*", "reboot")
    started = time.monotonic()
    event = first_event(make_trigger("slow", end_time=time.time() + 1.0))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 10
    assert event["progress"]["job_id"] == "slow"


def test_trigger_rebuilt_in_a_fresh_event_loop_finishes_the_same_job(make_hub):
    hub = make_hub(devices=300, speed=5.0, offline_rate=0.0)
    IoTHubHook().create_twin_update_job("restart", "*", tags={"x": 1})
    trigger = make_trigger("restart")

    async def interrupted() -> None:
        task = asyncio.create_task(anext(trigger.run()))
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()  # the triggerer stops: CancelledError must propagate, not be swallowed
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    classpath, kwargs = trigger.serialize()
    event = first_event(IoTHubJobTrigger(**kwargs))
    assert event["status"] == "success"
    assert list(hub.state.jobs) == ["restart"]
    assert hub.state.get_job("restart")["status"] == "completed"


def test_failure_verdict_is_returned_not_acted_on(make_hub):
    hub = make_hub(devices=300, speed=3.0, failure_rate=0.5, offline_rate=0.0)
    IoTHubHook().create_device_method_job("bad", "*", "reboot")
    event = first_event(make_trigger("bad", failure_threshold="5%", cancel_on_kill=True))
    assert event["status"] == "failure" and "failure_threshold" in event["reason"]
    assert hub.state.get_job("bad")["status"] == "running", "cancelling is the task's decision, not cleanup's"


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_on_kill_cancels_only_when_asked(make_hub, cancel_on_kill):
    hub = make_hub(devices=300, speed=0.5, offline_rate=0.0)
    IoTHubHook().create_device_method_job("killed", "*", "reboot")
    trigger = make_trigger("killed", cancel_on_kill=cancel_on_kill)
    asyncio.run(trigger.cleanup())
    assert hub.state.get_job("killed")["status"] != "cancelled"
    asyncio.run(trigger.on_kill())
    assert (hub.state.get_job("killed")["status"] == "cancelled") is cancel_on_kill


def test_unknown_job_yields_error_event(hub):
    event = first_event(make_trigger("never-created"))
    assert event["status"] == "error" and "JobNotFound" in event["message"]
