"""Figure 2 — call economy: requests per job lifecycle, and how late the end of the job is noticed, per backend.

For each backend, one job of known duration (6,000 devices at 10 rows per emulated second: ~10 emulated minutes)
runs on identical emulators (same seed, same job id, so the same rows and the same end) under three waiters:

* ours, worker: the backend's job operator, ``execute(context)``, with its default intervals;
* ours, deferrable: what a deferred operator does — launch, one read, then the backend's trigger ``run()``;
* the az-CLI-style loop: create the job with one ``PUT``, then ``GET`` it every 10 s until a terminal status.

The jobs: IoT Hub, ``IoTHubDeviceMethodJobOperator`` rebooting every device (``PUT /jobs/v2/{id}``); IoT Central,
``IoTCentralJobOperator`` running the ``reboot`` command over a device group of the provisioned gateway100
devices (``PUT /api/jobs/{id}``). Central's group is written before each run and its request is not counted: one
group serves every job of the application, as an IoT Hub query condition does. Central's emulator starts 50
device rows per emulated second (an inferred rate: Central documents none) and has no option for it, so its
module constant is set to the IoT Hub run's 10 — the same job length over the same number of devices. AWS IoT
Jobs, ``AwsIoTJobOperator`` with the ``{"operation": "reboot"}`` document over the ``fleet`` thing group (given as
its ARN, as the loop has it) of 6,000 things (``CreateJob``, ``PUT /jobs/{id}``); AWS's default rollout, 1,000
things a minute, would notify them in 360 s, so both waiters send ``maximumPerMinute`` 600: 10 things a second,
the same rate. AWS's comparison is what people write with boto3: ``create_job``, then ``describe_job`` every 10 s
until ``COMPLETED`` / ``CANCELED`` (the loop's requests counted from the emulator's log, like the others').

The emulator runs ``SPEED`` times faster than real time, so every wall-clock interval of every waiter is divided
by ``SPEED`` too (the provider's defaults, the schedule's own minimum delay, the loop's 10 s). Latency is the time
between the job's end and the moment the waiter returned, converted back to emulated seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from benchmarks._common import (
    BACKENDS,
    BenchBackend,
    emit,
    isolate_airflow,
    quiet_logs,
    row,
    sas_token,
    stop_on_signals,
    use_connection,
)

SPEED = 100.0
DEVICE_RATE = 10.0  # rows started per emulated second: 600 emulated seconds of rows over 6,000 devices
SEED = 11
JOB_ID = "bench-reboot"
AZ_INTERVAL = 10.0  # emulated seconds between the CLI loop's reads
_tickers: list[threading.Event] = []

HUB_DEVICES = 6000  # the job targets every device
CENTRAL_DEVICES = 18_500  # the group (provisioned gateway100 devices) is about a third: 5,990 for seed 11
CENTRAL_GROUP = "bench-gateways"
CENTRAL_TEMPLATE = "dtmi:airflowIotJobs:gateway100;1"
CENTRAL_FILTER = f'SELECT * FROM devices WHERE $template = "{CENTRAL_TEMPLATE}" AND $provisioned = true'
CENTRAL_DATA = [{"type": "command", "target": CENTRAL_TEMPLATE, "path": "reboot"}]

AWS_THINGS = 6000  # the job targets every thing, through the ``fleet`` group (parent of the site groups)
# the emulator's default account and region; an ARN, as the loop has it (a name costs one DescribeThingGroup)
AWS_GROUP_ARN = "arn:aws:iot:us-east-1:123456789012:thinggroup/fleet"
AWS_TERMINAL = ("COMPLETED", "CANCELED")
AWS_DOCUMENT = {"operation": "reboot"}
# AWS's own default (1,000 things a minute) would roll 6,000 things out in 360 s: set the same 10 things a second
AWS_ROLLOUT = {"maximumPerMinute": int(DEVICE_RATE * 60)}


@dataclass(frozen=True)
class LoopCalls:
    """What the comparison loop sends: one ``PUT url`` with ``body``, then ``GET url`` until ``status`` is one
    of ``terminal``."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    terminal: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One backend's job in this figure: the emulator, what is set up before (not counted), and how each of the
    three waiters launches it."""

    bench: BenchBackend
    options: dict[str, Any]
    operator: Callable[[dict[str, Any]], Any]  # the interval kwargs -> the job operator
    launch: Callable[[Any], None]  # the hook -> the create a deferring operator sends
    loop: Callable[[Any], LoopCalls | Callable[[], str]]  # the emulator -> the loop's requests, or the loop
    setup: Callable[[Any], None] = lambda hook: None
    prepare: Callable[[], dict[str, float]] = dict  # module constants to set first; returns them
    loop_label: str = "az CLI loop"

    @property
    def conn_id(self) -> str:
        return self.bench.entry().default_conn_id


def hub_case() -> Case:
    def operator(kwargs: dict[str, Any]) -> Any:
        from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

        return IoTHubDeviceMethodJobOperator(
            task_id="reboot", job_id=JOB_ID, query_condition="*", method_name="reboot", **kwargs
        )

    def loop(hub: Any) -> LoopCalls:
        return LoopCalls(
            url=f"{hub.endpoint}/jobs/v2/{JOB_ID}",
            params={"api-version": "2021-04-12"},
            headers={"Authorization": sas_token(hub.hostname, hub.connection_string)},
            body={
                "jobId": JOB_ID,
                "type": "scheduleDeviceMethod",
                "queryCondition": "*",
                "cloudToDeviceMethod": {
                    "methodName": "reboot",
                    "responseTimeoutInSeconds": 30,
                    "connectTimeoutInSeconds": 30,
                },
                "maxExecutionTimeInSeconds": 3600,
            },
            terminal=("completed", "failed", "cancelled"),
        )

    return Case(
        bench=BACKENDS["iothub"],
        options={
            "devices": HUB_DEVICES,
            "seed": SEED,
            "speed": SPEED,
            "offline_rate": 0.0,
            "failure_rate": 0.0,
            "max_active_jobs": 1,
            "device_rate": DEVICE_RATE,
        },
        operator=operator,
        launch=lambda hook: hook.create_device_method_job(JOB_ID, "*", "reboot"),
        loop=loop,
    )


def central_case() -> Case:
    def operator(kwargs: dict[str, Any]) -> Any:
        from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator

        return IoTCentralJobOperator(
            task_id="reboot", job_id=JOB_ID, device_group_id=CENTRAL_GROUP, data=CENTRAL_DATA, **kwargs
        )

    def loop(app: Any) -> LoopCalls:
        return LoopCalls(
            url=f"{app.endpoint}/api/jobs/{JOB_ID}",
            params={"api-version": "2022-07-31"},
            headers={"Authorization": app.api_token},
            body={"group": CENTRAL_GROUP, "data": CENTRAL_DATA},
            terminal=("complete", "completed", "failed", "cancelled", "canceled"),
        )

    def setup(hook: Any) -> None:
        hook.put_device_group(CENTRAL_GROUP, {"displayName": "bench gateways", "filter": CENTRAL_FILTER})

    def prepare() -> dict[str, float]:
        from airflow_iot_jobs.emulator.iotcentral import models

        models.DEVICE_RATE = DEVICE_RATE
        return {"emulator.iotcentral.models.DEVICE_RATE": DEVICE_RATE}

    return Case(
        bench=BACKENDS["iotcentral"],
        options={
            "devices": CENTRAL_DEVICES,
            "seed": SEED,
            "speed": SPEED,
            "offline_rate": 0.0,
            "failure_rate": 0.0,
        },
        operator=operator,
        launch=lambda hook: hook.create_job(JOB_ID, {"group": CENTRAL_GROUP, "data": CENTRAL_DATA}),
        loop=loop,
        setup=setup,
        prepare=prepare,
    )


def aws_case() -> Case:
    def operator(kwargs: dict[str, Any]) -> Any:
        from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

        return AwsIoTJobOperator(
            task_id="reboot",
            job_id=JOB_ID,
            targets=[AWS_GROUP_ARN],
            document=AWS_DOCUMENT,
            job_executions_rollout_config=AWS_ROLLOUT,
            **kwargs,
        )

    def loop(aws: Any) -> Callable[[], str]:
        """What people write today: boto3's ``create_job``, then ``describe_job`` every 10 s."""

        def run() -> str:
            import boto3

            iot = boto3.client(
                "iot",
                endpoint_url=aws.endpoint,
                region_name=aws.region,
                aws_access_key_id=aws.aws_access_key_id,
                aws_secret_access_key=aws.aws_secret_access_key,
            )
            iot.create_job(
                jobId=JOB_ID,
                targets=[AWS_GROUP_ARN],
                document=json.dumps(AWS_DOCUMENT),
                jobExecutionsRolloutConfig=AWS_ROLLOUT,
            )
            while (status := iot.describe_job(jobId=JOB_ID)["job"]["status"]) not in AWS_TERMINAL:
                time.sleep(AZ_INTERVAL / SPEED)
            return status

        return run

    return Case(
        bench=BACKENDS["aws"],
        options={
            "things": AWS_THINGS,
            "seed": SEED,
            "speed": SPEED,
            "offline_rate": 0.0,  # an offline thing never takes its execution: the SNAPSHOT job would not end
            "failure_rate": 0.0,
        },
        operator=operator,
        launch=lambda hook: hook.create_job(
            jobId=JOB_ID,
            targets=[AWS_GROUP_ARN],
            document=json.dumps(AWS_DOCUMENT),
            targetSelection="SNAPSHOT",
            jobExecutionsRolloutConfig=AWS_ROLLOUT,
        ),
        loop=loop,
        loop_label="boto3 loop",
    )


CASES: dict[str, Callable[[], Case]] = {"iothub": hub_case, "iotcentral": central_case, "aws": aws_case}


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


def record_times(emulator) -> list[tuple[float, str, str]]:
    """Wrap the emulator's app to note when each request arrived (for the details; counts come from the
    emulator's own request log). Also keep the emulator's state current between requests, as a real service's
    is: it replays due events lazily on the next request, which would bill the waiter that polls rarely for
    the emulator's catching up (several ms of real time, i.e. emulated seconds at SPEED)."""
    times: list[tuple[float, str, str]] = []
    app = emulator._http.app
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.002):
            emulator.state.advance()

    threading.Thread(target=tick, daemon=True).start()
    _tickers.append(stop)

    def timed(request):
        times.append((time.time(), request.method, request.path))
        return app(request)

    emulator._http.app = timed
    return times


def timeline(times: list[tuple[float, str, str]], ended: float) -> list[str]:
    """Each request as '<method> at <emulated seconds relative to the job's end>'."""
    return [f"{method} {(when - ended) * SPEED:+.1f}s" for when, method, _ in times]


def end_of(emulator, job_id: str) -> Any:
    for stop in _tickers:
        stop.set()
    job = emulator.state.job(job_id)
    assert job is not None and job.ended is not None, f"job {job_id} did not end"
    return job


def kinds(log: list[tuple[str, str, int]]) -> dict[str, int]:
    """Requests by route (``GET /api/jobs/{job}``, ``POST /devices/query`` …), ids and query strings folded."""
    folded = Counter()
    for method, path, _status in log:
        path = path.split("?", 1)[0].replace(JOB_ID, "{job}").replace(CENTRAL_GROUP, "{group}")
        folded[f"{method} {path}"] += 1
    return dict(folded.most_common())


# ------------------------------------------------------------------------------------------- the waiters


def wait_operator(case: Case, emulator: Any, kwargs: dict[str, Any]) -> str:
    return case.operator(kwargs).execute(context())["status"]


def wait_trigger(case: Case, emulator: Any, kwargs: dict[str, Any]) -> str:
    hook = case.bench.hook(case.conn_id)
    case.launch(hook)
    hook.progress(JOB_ID)  # the operator's one read before it defers
    trigger = case.bench.trigger(
        JOB_ID,
        case.conn_id,
        poll_interval=kwargs["poll_interval"],
        max_poll_interval=kwargs.get("max_poll_interval", kwargs["poll_interval"]),
        end_time=time.time() + 3600,
        early_success=False,
    )

    async def first_event() -> dict[str, Any]:
        return (await anext(trigger.run())).payload

    return asyncio.run(first_event())["status"]


def wait_az_loop(case: Case, emulator: Any, kwargs: dict[str, Any]) -> str:
    """What ``az iot hub job create`` / ``az iot central job create`` followed by ``... job show`` in a 10 s
    loop sends (AWS: the case's own loop, boto3's ``describe_job`` every 10 s)."""
    import requests

    calls = case.loop(emulator)
    if callable(calls):
        return calls()
    session = requests.Session()
    session.headers.update(calls.headers)
    session.put(calls.url, params=calls.params, json=calls.body, timeout=30).raise_for_status()
    while True:
        job = session.get(calls.url, params=calls.params, timeout=30).json()
        if job["status"] in calls.terminal:
            return job["status"]
        time.sleep(AZ_INTERVAL / SPEED)


def measure(case: Case, waiter: Callable[[Case, Any, dict[str, Any]], str], kwargs: dict[str, Any]) -> dict:
    with case.bench.emulator_class()(**case.options) as emulator:
        use_connection(case.conn_id, emulator.info())
        case.setup(case.bench.hook(case.conn_id))
        setup_requests = len(emulator.request_log)
        times = record_times(emulator)
        started = time.time()
        status = waiter(case, emulator, kwargs)
        noticed = time.time()
        job = end_of(emulator, JOB_ID)
        log = emulator.request_log[setup_requests:]
        return {
            "requests": len(log),
            "gets": sum(1 for m, _, _ in log if m == "GET"),
            "by_route": kinds(log),
            "setup_requests": setup_requests,
            "devices_targeted": len(job.rows) if job.rows is not None else 0,
            "latency": (noticed - job.ended) * SPEED,
            "job_seconds": (job.ended - started) * SPEED,
            "requests_vs_end": timeline(times, job.ended),
            "status": status,
        }


def backend_rows(case: Case, kwargs: dict[str, Any], scaled_constants: dict[str, float]) -> list[dict]:
    label = case.bench.label
    az = measure(case, wait_az_loop, kwargs)
    worker = measure(case, wait_operator, kwargs)
    deferred = measure(case, wait_trigger, kwargs)
    settings = {
        "backend": label,
        "speed": SPEED,
        "devices": case.options[case.bench.devices_option],
        "devices_targeted": az["devices_targeted"],
        "device_rate": DEVICE_RATE,
        "operator_kwargs_real_seconds": kwargs,
        "operator_kwargs_emulated_seconds": {k: v * SPEED for k, v in kwargs.items()},
        "scaled_constants": scaled_constants,
        "setup_requests_not_counted": az["setup_requests"],
        "job_emulated_seconds": round(az["job_seconds"], 1),
    }
    rows = []
    for waiter, ours in (("worker (operator.execute)", worker), ("deferrable (trigger)", deferred)):
        rows.append(
            row(
                2,
                f"{label}: requests per job, {waiter}",
                ours["requests"],
                az["requests"],
                f"{case.loop_label} (GET every 10 s)",
                "≥ 5× fewer (ratio ≤ 0.20)",
                ours["requests"] * 5 <= az["requests"],
                unit="requests",
                ours_gets=ours["gets"],
                az_gets=az["gets"],
                ours_by_route=ours["by_route"],
                az_by_route=az["by_route"],
                **settings,
            )
        )
        rows.append(
            row(
                2,
                f"{label}: end noticed after, {waiter}",
                ours["latency"],
                az["latency"],
                case.loop_label,
                "≤ 10 s (emulated)",
                ours["latency"] <= AZ_INTERVAL,
                unit="s emulated",
                status=ours["status"],
                az_status=az["status"],
                ours_requests_vs_end=ours["requests_vs_end"],
                az_last_requests_vs_end=az["requests_vs_end"][-3:],
            )
        )
    return rows


def main(argv: list[str]) -> int:
    """Every backend, or those named: ``python -m benchmarks.fig2_hub_calls iotcentral``."""
    isolate_airflow()
    quiet_logs()
    kwargs = scaled_defaults()
    scaled_constants = scale_schedule_constants()
    rows = []
    for key in argv or list(CASES):
        case = CASES[key]()
        rows += backend_rows(case, kwargs, {**scaled_constants, **case.prepare()})
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main(sys.argv[1:]))
