"""Figure 2 — hub call economy: requests per job lifecycle, and how late the end of the job is noticed.

One method job of known duration (6,000 devices at 10 rows per emulated second: ~10 emulated minutes) runs on
identical emulators (same seed, same job id, so the same rows and the same end) under three waiters:

* ours, worker: ``IoTHubDeviceMethodJobOperator(...).execute(context)`` with its default intervals;
* ours, deferrable: what a deferred operator does — launch, one read, then ``IoTHubJobTrigger.run()``;
* the az-CLI-style loop: ``PUT /jobs/v2/{id}`` then ``GET /jobs/v2/{id}`` every 10 s until a terminal status.

The emulator runs ``SPEED`` times faster than real time, so every wall-clock interval of every waiter is divided
by ``SPEED`` too (the provider's defaults, the schedule's own minimum delay, the loop's 10 s). Latency is the time
between the job's ``endTime`` and the moment the waiter returned, converted back to emulated seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

from benchmarks._common import emit, isolate_airflow, quiet_logs, row, sas_token, use_hub

SPEED = 100.0
DEVICES = 6000
DEVICE_RATE = 10.0  # rows started per emulated second: 600 emulated seconds of rows
SEED = 11
JOB_ID = "bench-reboot"
AZ_INTERVAL = 10.0  # emulated seconds between the CLI loop's reads
CONN_ID = "azure_iot_hub_default"
_tickers: list[threading.Event] = []


def hub_options() -> dict[str, Any]:
    return {
        "devices": DEVICES,
        "seed": SEED,
        "speed": SPEED,
        "offline_rate": 0.0,
        "failure_rate": 0.0,
        "max_active_jobs": 1,
        "device_rate": DEVICE_RATE,
    }


def scaled_defaults() -> dict[str, Any]:
    """The operator's own default intervals (read from its signature), divided by SPEED."""
    from airflow_iot_jobs.operators.base import BaseJobOperator

    params = inspect.signature(BaseJobOperator.__init__).parameters
    kwargs = {"poll_interval": params["poll_interval"].default / SPEED}
    if "max_poll_interval" in params and params["max_poll_interval"].default is not None:
        kwargs["max_poll_interval"] = params["max_poll_interval"].default / SPEED
    return kwargs


def scale_schedule_constants() -> dict[str, float]:
    """PollSchedule's floor is a wall-clock constant; divide it by SPEED like every other interval."""
    scaled = {}
    try:
        from airflow_iot_jobs import polling
    except ImportError:
        return scaled
    for name in ("MINIMUM_DELAY",):
        if hasattr(polling, name):
            setattr(polling, name, getattr(polling, name) / SPEED)
            scaled[name] = getattr(polling, name)
    return scaled


def context() -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="bench", task_id="reboot", run_id="manual__bench", map_index=-1, xcom_push=lambda **kw: None
    )
    return {"ti": ti}


def record_times(hub) -> list[tuple[float, str, str]]:
    """Wrap the emulator's app to note when each request arrived (for the details; counts come from the
    emulator's own request log). Also keep the emulator's state current between requests, as a real hub's
    is: it replays due events lazily on the next request, which would bill the waiter that polls rarely for
    the emulator's catching up (several ms of real time, i.e. emulated seconds at SPEED)."""
    times: list[tuple[float, str, str]] = []
    app = hub._http.app
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.002):
            hub.state.advance()

    threading.Thread(target=tick, daemon=True).start()
    _tickers.append(stop)

    def timed(request):
        times.append((time.time(), request.method, request.path))
        return app(request)

    hub._http.app = timed
    return times


def timeline(times: list[tuple[float, str, str]], ended: float) -> list[str]:
    """Each request as '<method> at <emulated seconds relative to the job's end>'."""
    return [f"{method} {(when - ended) * SPEED:+.1f}s" for when, method, _ in times]


def end_of(hub, job_id: str) -> float:
    for stop in _tickers:
        stop.set()
    job = hub.state.job(job_id)
    assert job is not None and job.ended is not None, f"job {job_id} did not end"
    return job.ended


def run_operator(kwargs: dict[str, Any]) -> dict[str, Any]:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
    from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

    with IoTHubEmulator(**hub_options()) as hub:
        use_hub(CONN_ID, hub.connection_string, hub.endpoint)
        times = record_times(hub)
        operator = IoTHubDeviceMethodJobOperator(
            task_id="reboot", job_id=JOB_ID, query_condition="*", method_name="reboot", **kwargs
        )
        started = time.time()
        result = operator.execute(context())
        noticed = time.time()
        ended = end_of(hub, JOB_ID)
        return {
            "requests": len(hub.request_log),
            "gets": sum(1 for m, p, _ in hub.request_log if m == "GET"),
            "latency": (noticed - ended) * SPEED,
            "job_seconds": (ended - started) * SPEED,
            "requests_vs_end": timeline(times, ended),
            "status": result["status"],
        }


def run_trigger(kwargs: dict[str, Any]) -> dict[str, Any]:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
    from airflow_iot_jobs.hooks.iothub import IoTHubHook
    from airflow_iot_jobs.triggers.iothub import IoTHubJobTrigger

    with IoTHubEmulator(**hub_options()) as hub:
        use_hub(CONN_ID, hub.connection_string, hub.endpoint)
        times = record_times(hub)
        hook = IoTHubHook(CONN_ID)
        started = time.time()
        hook.create_device_method_job(JOB_ID, "*", "reboot")
        hook.progress(JOB_ID)  # the operator's one read before it defers
        trigger_kwargs = {"poll_interval": kwargs["poll_interval"]}
        if "max_poll_interval" in inspect.signature(IoTHubJobTrigger.__init__).parameters:
            trigger_kwargs["max_poll_interval"] = kwargs.get("max_poll_interval", kwargs["poll_interval"])
        trigger = IoTHubJobTrigger(
            job_id=JOB_ID,
            hook_params={"iothub_conn_id": CONN_ID},
            end_time=time.time() + 3600,
            early_success=False,
            **trigger_kwargs,
        )

        async def first_event() -> dict[str, Any]:
            return (await anext(trigger.run())).payload

        event = asyncio.run(first_event())
        noticed = time.time()
        ended = end_of(hub, JOB_ID)
        return {
            "requests": len(hub.request_log),
            "gets": sum(1 for m, p, _ in hub.request_log if m == "GET"),
            "latency": (noticed - ended) * SPEED,
            "job_seconds": (ended - started) * SPEED,
            "requests_vs_end": timeline(times, ended),
            "status": event["status"],
        }


def run_az_loop() -> dict[str, Any]:
    """What ``az iot hub job create`` followed by ``az iot hub job show`` in a 10 s loop sends."""
    import requests

    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    with IoTHubEmulator(**hub_options()) as hub:
        times = record_times(hub)
        session = requests.Session()
        session.headers["Authorization"] = sas_token(hub.hostname, hub.connection_string)
        url = f"{hub.endpoint}/jobs/v2/{JOB_ID}"
        params = {"api-version": "2021-04-12"}
        body = {
            "jobId": JOB_ID,
            "type": "scheduleDeviceMethod",
            "queryCondition": "*",
            "cloudToDeviceMethod": {
                "methodName": "reboot",
                "responseTimeoutInSeconds": 30,
                "connectTimeoutInSeconds": 30,
            },
            "maxExecutionTimeInSeconds": 3600,
        }
        started = time.time()
        session.put(url, params=params, json=body, timeout=30).raise_for_status()
        while True:
            job = session.get(url, params=params, timeout=30).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(AZ_INTERVAL / SPEED)
        noticed = time.time()
        ended = end_of(hub, JOB_ID)
        return {
            "requests": len(hub.request_log),
            "gets": sum(1 for m, p, _ in hub.request_log if m == "GET"),
            "latency": (noticed - ended) * SPEED,
            "job_seconds": (ended - started) * SPEED,
            "requests_vs_end": timeline(times, ended),
            "status": job["status"],
        }


def main() -> int:
    isolate_airflow()
    quiet_logs()
    kwargs = scaled_defaults()
    scaled_constants = scale_schedule_constants()
    az = run_az_loop()
    worker = run_operator(kwargs)
    deferred = run_trigger(kwargs)
    settings = {
        "speed": SPEED,
        "devices": DEVICES,
        "device_rate": DEVICE_RATE,
        "operator_kwargs_real_seconds": kwargs,
        "operator_kwargs_emulated_seconds": {k: v * SPEED for k, v in kwargs.items()},
        "scaled_constants": scaled_constants,
        "job_emulated_seconds": round(az["job_seconds"], 1),
    }
    rows = []
    for label, ours in (("worker (operator.execute)", worker), ("deferrable (trigger)", deferred)):
        rows.append(
            row(
                2,
                f"requests per job, {label}",
                ours["requests"],
                az["requests"],
                "az CLI loop (GET every 10 s)",
                "≥ 5× fewer (ratio ≤ 0.20)",
                ours["requests"] * 5 <= az["requests"],
                unit="requests",
                ours_gets=ours["gets"],
                az_gets=az["gets"],
                **settings,
            )
        )
        rows.append(
            row(
                2,
                f"end noticed after, {label}",
                ours["latency"],
                az["latency"],
                "az CLI loop",
                "≤ 10 s (emulated)",
                ours["latency"] <= AZ_INTERVAL,
                unit="s emulated",
                status=ours["status"],
                ours_requests_vs_end=ours["requests_vs_end"],
                az_last_requests_vs_end=az["requests_vs_end"][-3:],
            )
        )
    emit(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
