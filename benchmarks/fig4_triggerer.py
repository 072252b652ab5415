"""Figure 4 — triggerer footprint: 1,000 concurrent deferred waits in one asyncio event loop, per backend.

For each backend (IoT Hub's ``IoTHubJobTrigger``, IoT Central's ``IoTCentralJobTrigger``, AWS's
``AwsIoTJobTrigger``), in its own child process: 10 emulators (child processes too, so their CPU and memory stay
out of the measured one) hold 100 waiting jobs each (IoT Hub and AWS: scheduled a day ahead; IoT Central: pending
for a day); the measured process imports what a triggerer has (airflow, the provider's trigger and hook modules,
httpx; AWS: boto3 and the Amazon provider come with its hook), notes its RSS, then runs 1,000 triggers (one per
job, connections from ``AIRFLOW_CONN_*``) in one event loop, and waits until each has read once (AWS builds a
boto3 client per trigger in a worker thread) before measuring. Per-round CPU is measured at a short fixed interval
(``INTERVAL``; ``max_poll_interval`` equal, so every trigger reads once per interval) as CPU seconds per read,
times 1,000, over a 30 s interval: the share of one core the triggerer spends at the provider's default 30 s.
Added RSS is the growth over the baseline after the rounds.

Comparison: poke mode. A worker-like child process imports airflow and the backend's sensor, pokes the same
emulator a few times, and reports its RSS and CPU per poke; 1,000 poke-mode waits hold 1,000 such processes (and
1,000 worker slots).

``python -m benchmarks.fig4_triggerer`` runs every backend; ``... fig4_triggerer iotcentral`` one.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import psutil

from benchmarks._common import (
    BACKENDS,
    BenchBackend,
    ServedEmulator,
    cpu_seconds,
    emit,
    isolate_airflow,
    quiet_logs,
    row,
    rss_mb,
    run_child,
    stop_on_signals,
    use_connection,
)

EMULATORS = 10
JOBS_PER_EMULATOR = 100
INTERVAL = 5.0  # seconds between a trigger's reads while measuring
ROUNDS = 3
REPORTED_INTERVAL = 30.0
GOAL_MB = 100.0
GOAL_CORE_PCT = 5.0
MIN_AVAILABLE_MB = 2048  # the machine's memory the warm-up leaves to others (AWS: ~14 MB per trigger)
WARM_UP_LIMIT = 480.0  # seconds to wait, at most, for every trigger's first read (AWS: ~5 min of clients)


def conn_id(bench: BenchBackend, index: int) -> str:
    return f"{bench.key}_bench_{index}"


async def measure(triggers: list, emulators: list[ServedEmulator]) -> dict:
    samples: list[float] = []

    async def consume(trigger) -> None:
        async for _event in trigger.run():
            return

    def requests_so_far() -> int:
        return sum(emulator.request_count() for emulator in emulators)

    tasks = [asyncio.create_task(consume(t)) for t in triggers]
    started = time.perf_counter()
    await asyncio.sleep(INTERVAL * 1.5)  # every trigger has read at least once: clients, tokens, settings
    # Building 1,000 clients can outlast that (AWS: a boto3 client each, built in worker threads): wait until
    # every trigger has read once, so the window measures reads, not set-up.
    while requests_so_far() < len(triggers) and time.perf_counter() - started < WARM_UP_LIMIT:
        if psutil.virtual_memory().available < MIN_AVAILABLE_MB * 2**20:  # a shared machine: stop, say so
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise RuntimeError(
                f"stopped while the triggers started: under {MIN_AVAILABLE_MB} MB of memory left at "
                f"{rss_mb():,.0f} MB RSS, {requests_so_far()} of {len(triggers)} triggers had read"
            )
        await asyncio.sleep(INTERVAL / 4)
    warm_up = time.perf_counter() - started
    cpu0, reads0, wall0 = cpu_seconds(), requests_so_far(), time.perf_counter()
    threads = 0
    for _ in range(ROUNDS * 4):
        await asyncio.sleep(INTERVAL / 4)
        samples.append(rss_mb())
        threads = max(threads, threading.active_count())
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
        "warm_up_s": warm_up,
        "threads_max": threads,
    }


def measure_backend(bench: BenchBackend) -> list[dict]:
    emulators = ServedEmulator.many(
        [
            {
                "backend": bench.key,
                bench.devices_option: 50,
                "seed": index,
                **({bench.name_option: f"bench-{bench.key}-{index}"} if bench.name_option else {}),
                "max_active_jobs": JOBS_PER_EMULATOR,
                "offline_rate": 0.0,
            }
            for index in range(EMULATORS)
        ]
    )
    try:
        for index, emulator in enumerate(emulators):
            emulator.ask(f"jobs {JOBS_PER_EMULATOR} wait")
            use_connection(conn_id(bench, index), emulator.info)

        # What a triggerer process has loaded before any IoT trigger runs.
        import airflow.sdk  # noqa: F401
        import httpx  # noqa: F401
        from airflow.triggers.base import BaseTrigger  # noqa: F401

        bench.entry().trigger_class()  # the provider's trigger module, imported before the baseline
        before_hook = rss_mb()
        bench.entry().hook_class()  # and its hook module (AWS: boto3, the Amazon provider): once per process
        baseline = rss_mb()
        end = time.time() + 3600
        triggers = [
            bench.trigger(
                f"wait-{job}",
                conn_id(bench, index),
                poll_interval=INTERVAL,
                max_poll_interval=INTERVAL,
                end_time=end,
            )
            for index in range(EMULATORS)
            for job in range(JOBS_PER_EMULATOR)
        ]
        result = asyncio.run(measure(triggers, emulators))
        count = len(triggers)
        cpu_per_read = result["cpu"] / result["reads"] if result["reads"] else float("nan")
        cpu_per_round = cpu_per_read * count
        core_pct = cpu_per_round / REPORTED_INTERVAL * 100
        added = result["rss_max"] - baseline

        poke = run_child(
            "benchmarks._poke_worker",
            bench.key,
            "wait-0",
            env={
                **os.environ,
                bench.default_conn_env: os.environ[f"AIRFLOW_CONN_{conn_id(bench, 0).upper()}"],
            },
        )
        poke_total_mb = poke["rss_mb"] * count
        poke_core_pct = poke["cpu_per_poke"] * count / REPORTED_INTERVAL * 100
        details = {
            "backend": bench.label,
            "trigger": type(triggers[0]).__name__,
            "triggers": count,
            "emulators": EMULATORS,
            "measured_interval_s": INTERVAL,
            "rounds_measured": ROUNDS,
            "reads_in_window": result["reads"],
            "reads_expected": int(count * result["wall"] / INTERVAL),
            "cpu_seconds_in_window": round(result["cpu"], 3),
            "cpu_ms_per_read": round(cpu_per_read * 1000, 3),
            "cpu_seconds_per_round": round(cpu_per_round, 3),
            "baseline_rss_mb": round(baseline, 1),
            "hook_module_import_mb": round(baseline - before_hook, 1),
            "warm_up_s": round(result["warm_up_s"], 1),
            "threads_max": result["threads_max"],
            "rss_max_mb": round(result["rss_max"], 1),
            "finished_early": result["finished_early"],
            "errors": result["errors"],
            "poke_process_rss_mb": round(poke["rss_mb"], 1),
            "poke_cpu_ms_per_poke": round(poke["cpu_per_poke"] * 1000, 3),
        }
        return [
            row(
                4,
                f"{bench.label}: added RSS, {count} deferred waits (1 event loop)",
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
                f"{bench.label}: CPU at a 30 s interval, {count} deferred waits",
                core_pct,
                poke_core_pct,
                f"{count} poke-mode waits (CPU per poke)",
                f"≤ {GOAL_CORE_PCT:.0f} % of one core",
                core_pct <= GOAL_CORE_PCT,
                unit="% core",
            ),
        ]
    finally:
        for emulator in emulators:
            emulator.stop()


def main(argv: list[str]) -> int:
    """One backend in this process; without an argument, each backend in a child of its own (a fresh RSS
    baseline each, and one backend's event loop never shares the CPU with another's)."""
    isolate_airflow()
    quiet_logs()
    if argv:
        emit(measure_backend(BACKENDS[argv[0]]))
        return 0
    rows: list[dict] = []
    for key in BACKENDS:
        rows += run_child("benchmarks.fig4_triggerer", key, timeout=600)
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main(sys.argv[1:]))
