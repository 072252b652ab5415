"""Figure 4 — triggerer footprint: 1,000 concurrent ``IoTHubJobTrigger`` waits in one asyncio event loop.

10 emulators (child processes, so their CPU and memory stay out of this one) hold 100 scheduled jobs each;
this process imports what a triggerer has (airflow, the provider's trigger, httpx), notes its RSS, then runs
1,000 triggers (one per job, connections from ``AIRFLOW_CONN_*``) in one event loop. Per-round CPU is measured
at a short fixed interval (``INTERVAL``; ``max_poll_interval`` equal, so every trigger reads once per interval)
as CPU seconds per read, times 1,000, over a 30 s interval: the share of one core the triggerer spends at the
provider's default 30 s. Added RSS is the growth over the baseline after the rounds.

Comparison: poke mode. A worker-like child process imports airflow and ``IoTHubJobSensor``, pokes the same hub
a few times, and reports its RSS and CPU per poke; 1,000 poke-mode waits hold 1,000 such processes (and 1,000
worker slots).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time

from benchmarks._common import (
    ServedHub,
    cpu_seconds,
    emit,
    isolate_airflow,
    quiet_logs,
    row,
    rss_mb,
    run_child,
    use_hub,
)

HUBS = 10
JOBS_PER_HUB = 100
INTERVAL = 5.0  # seconds between a trigger's reads while measuring
ROUNDS = 3
REPORTED_INTERVAL = 30.0
GOAL_MB = 100.0
GOAL_CORE_PCT = 5.0


def conn_id(index: int) -> str:
    return f"iothub_bench_{index}"


async def measure(triggers: list, hubs: list[ServedHub]) -> dict:
    samples: list[float] = []

    async def consume(trigger) -> None:
        async for _event in trigger.run():
            return

    def requests_so_far() -> int:
        return sum(hub.request_count() for hub in hubs)

    tasks = [asyncio.create_task(consume(t)) for t in triggers]
    await asyncio.sleep(INTERVAL * 1.5)  # every trigger has read at least once: clients, tokens, settings
    cpu0, reads0, wall0 = cpu_seconds(), requests_so_far(), time.perf_counter()
    for _ in range(ROUNDS * 4):
        await asyncio.sleep(INTERVAL / 4)
        samples.append(rss_mb())
    cpu1, reads1, wall1 = cpu_seconds(), requests_so_far(), time.perf_counter()
    finished = sum(1 for t in tasks if t.done())
    errors = [repr(t.exception())[:200] for t in tasks if t.done() and t.exception()][:3]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "cpu": cpu1 - cpu0,
        "reads": reads1 - reads0,
        "wall": wall1 - wall0,
        "rss_max": max(samples),
        "rss_end": samples[-1],
        "finished_early": finished,
        "errors": errors,
    }


def main() -> int:
    isolate_airflow()
    quiet_logs()
    hubs = ServedHub.many(
        [
            {
                "devices": 50,
                "seed": index,
                "hub_name": f"bench-hub-{index}",
                "max_active_jobs": JOBS_PER_HUB,
                "offline_rate": 0.0,
            }
            for index in range(HUBS)
        ]
    )
    try:
        for index, hub in enumerate(hubs):
            hub.ask(f"jobs {JOBS_PER_HUB} wait")
            use_hub(conn_id(index), hub.connection_string, hub.endpoint)

        # What a triggerer process has loaded before any IoT trigger runs.
        import airflow.sdk  # noqa: F401
        import httpx  # noqa: F401
        from airflow.triggers.base import BaseTrigger  # noqa: F401

        from airflow_iot_jobs.triggers.iothub import IoTHubJobTrigger

        baseline = rss_mb()
        extra = {}
        if "max_poll_interval" in inspect.signature(IoTHubJobTrigger.__init__).parameters:
            extra["max_poll_interval"] = INTERVAL
        end = time.time() + 3600
        triggers = [
            IoTHubJobTrigger(
                job_id=f"wait-{job}",
                hook_params={"iothub_conn_id": conn_id(index)},
                poll_interval=INTERVAL,
                end_time=end,
                **extra,
            )
            for index in range(HUBS)
            for job in range(JOBS_PER_HUB)
        ]
        result = asyncio.run(measure(triggers, hubs))
        count = len(triggers)
        cpu_per_read = result["cpu"] / result["reads"] if result["reads"] else float("nan")
        cpu_per_round = cpu_per_read * count
        core_pct = cpu_per_round / REPORTED_INTERVAL * 100
        added = result["rss_max"] - baseline

        poke = run_child(
            "benchmarks._poke_worker",
            "wait-0",
            env={
                **os.environ,
                "AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT": os.environ[f"AIRFLOW_CONN_{conn_id(0).upper()}"],
            },
        )
        poke_total_mb = poke["rss_mb"] * count
        poke_core_pct = poke["cpu_per_poke"] * count / REPORTED_INTERVAL * 100
        details = {
            "triggers": count,
            "hubs": HUBS,
            "measured_interval_s": INTERVAL,
            "rounds_measured": ROUNDS,
            "reads_in_window": result["reads"],
            "reads_expected": int(count * result["wall"] / INTERVAL),
            "cpu_seconds_in_window": round(result["cpu"], 3),
            "cpu_ms_per_read": round(cpu_per_read * 1000, 3),
            "cpu_seconds_per_round": round(cpu_per_round, 3),
            "baseline_rss_mb": round(baseline, 1),
            "rss_max_mb": round(result["rss_max"], 1),
            "finished_early": result["finished_early"],
            "errors": result["errors"],
            "poke_process_rss_mb": round(poke["rss_mb"], 1),
            "poke_cpu_ms_per_poke": round(poke["cpu_per_poke"] * 1000, 3),
        }
        emit(
            [
                row(
                    4,
                    f"added RSS, {count} deferred waits (1 event loop)",
                    added,
                    poke_total_mb,
                    f"{count} poke-mode worker processes",
                    f"≤ {GOAL_MB:.0f} MB",
                    added <= GOAL_MB,
                    unit="MB",
                    **details,
                ),
                row(
                    4,
                    f"CPU at a 30 s interval, {count} deferred waits",
                    core_pct,
                    poke_core_pct,
                    f"{count} poke-mode waits (CPU per poke)",
                    f"≤ {GOAL_CORE_PCT:.0f} % of one core",
                    core_pct <= GOAL_CORE_PCT,
                    unit="% core",
                ),
            ]
        )
    finally:
        for hub in hubs:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
