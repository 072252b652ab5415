"""Figure 3 — per-device results of big jobs: failed-device queries, and the full report streamed to a file.

A 100,000-device hub with 1 % method failures (``failure_rate=0.01``, nobody offline) runs one ``*`` job:

* ``IoTHubHook.failed_devices(job_id, limit=<failed>)`` — queries counted in the emulator's request log, against
  the bound ceil(failed / 100) + 1 and against walking every row and filtering on the client;
* the whole report of the job (``write_device_job_report``) in a fresh child process — rows/s and peak RSS —
  next to the limit (httpx fetching the same pages and discarding them) and the comparison (azure-iot-hub's
  ``query_iot_hub`` loop, rows accumulated in a list, which is what the SDK offers).

Then the same on a 1,000,000-device hub (one ``*`` job of 1,000,000 rows): ours and the SDK again. Flat memory
means ours at 1,000,000 rows peaks at most 1.2× its peak at 100,000 rows. The emulators run in this process;
every report runs in its own child so its peak RSS is its own (Linux VmHWM).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    emit,
    isolate_airflow,
    quiet_logs,
    row,
    run_child,
    stop_on_signals,
    use_connection,
)

SMALL, LARGE = 100_000, 1_000_000
SPEED = 1000.0
DEVICE_RATE = 1000.0  # rows started per emulated second: 1,000,000 rows in 1,000 emulated s
GOAL_MEMORY = 1.2
THROUGHPUT_RUNS = 3
GOAL_THROUGHPUT = 0.8
CONN_ID = "azure_iot_hub_default"
JOB_ID = "report"


def run_job(devices: int) -> tuple[Any, Any]:
    """Start a hub, run one ``*`` ping job to its end; returns (hub, progress). The caller stops the hub."""
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    hub = IoTHubEmulator(
        devices=devices,
        seed=5,
        speed=SPEED,
        offline_rate=0.0,
        failure_rate=0.01,
        max_active_jobs=1,
        device_rate=DEVICE_RATE,
    ).start()
    use_connection(CONN_ID, hub.info())
    hook = IoTHubHook(CONN_ID)
    hook.create_device_method_job(JOB_ID, "*", "ping", max_execution_time=7 * 86400)
    while not (progress := hook.progress(JOB_ID)).terminal:
        time.sleep(0.5)
    assert progress.status == "completed", progress
    return hub, progress


def report(mode: str, workdir: Path) -> dict[str, Any]:
    return run_child(
        "benchmarks._report", mode, JOB_ID, str(workdir / f"{mode}.jsonl"), env=os.environ.copy()
    )


def main() -> int:
    isolate_airflow()
    quiet_logs()
    full = "--quick" not in sys.argv
    workdir = Path(tempfile.mkdtemp(prefix="bench-report-"))
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    rows = []
    hub, progress = run_job(SMALL)
    try:
        failed = progress.failed
        before = len(hub.request_log)
        failures = IoTHubHook(CONN_ID).failed_devices(JOB_ID, limit=failed)
        queries = sum(1 for method, path, _ in hub.request_log[before:] if path.startswith("/devices/query"))
        assert len(failures) == failed, (len(failures), failed)
        bound = math.ceil(failed / 100) + 1
        # Throughput is noisy on a shared machine: ours and the limit alternate, best of THROUGHPUT_RUNS each.
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "raw": []}
        for _ in range(THROUGHPUT_RUNS):
            for mode in runs:
                runs[mode].append(report(mode, workdir))
        small = {mode: max(results, key=lambda r: r["rows_per_s"]) for mode, results in runs.items()}
        small["sdk"] = report("sdk", workdir)
    finally:
        hub.stop()
    walk_pages = math.ceil(progress.targeted / 100)
    rows.append(
        row(
            3,
            f"queries for all {failed:,} failed devices of {progress.targeted:,}",
            queries,
            walk_pages,
            "walk every row, filter in the client",
            f"≤ ceil(failed/100)+1 = {bound}",
            queries <= bound,
            unit="queries",
        )
    )

    large: dict[str, Any] = {}
    if full:
        hub, progress_large = run_job(LARGE)
        try:
            large = {mode: report(mode, workdir) for mode in ("ours", "sdk")}
        finally:
            hub.stop()
        assert large["ours"]["rows"] == LARGE, large["ours"]
    ours_small = small["ours"]
    ours_large = large.get("ours", ours_small)
    sdk_large = large.get("sdk", small["sdk"])
    size = f"{ours_large['rows']:,}"
    memory_ratio = ours_large["peak_rss_mb"] / ours_small["peak_rss_mb"]
    rows.append(
        row(
            3,
            f"report peak RSS, {size} rows",
            ours_large["peak_rss_mb"],
            sdk_large["peak_rss_mb"],
            f"azure-iot-hub query_iot_hub loop, {sdk_large['rows']:,} rows",
            f"≤ {GOAL_MEMORY}× ours at {ours_small['rows']:,} rows ({ours_small['peak_rss_mb']:.0f} MB)",
            memory_ratio <= GOAL_MEMORY,
            unit="MB",
            ours_growth=round(memory_ratio, 3),
            ours_label=ours_large["label"],
            ours_small=ours_small,
            ours_large=ours_large,
            sdk_small=small["sdk"],
            sdk_large=large.get("sdk"),
            sdk_growth=round(sdk_large["peak_rss_mb"] / small["sdk"]["peak_rss_mb"], 3),
        )
    )
    raw = small["raw"]
    rows.append(
        row(
            3,
            f"report throughput, {ours_small['rows']:,} rows (best of {THROUGHPUT_RUNS})",
            ours_small["rows_per_s"],
            raw["rows_per_s"],
            "httpx: same pages fetched, discarded (the limit)",
            f"≥ {GOAL_THROUGHPUT:.0%} of the limit",
            ours_small["rows_per_s"] >= GOAL_THROUGHPUT * raw["rows_per_s"],
            unit="rows/s",
            ours_all_rows_per_s=[round(r["rows_per_s"]) for r in runs["ours"]],
            raw_all_rows_per_s=[round(r["rows_per_s"]) for r in runs["raw"]],
            sdk_rows_per_s=small["sdk"]["rows_per_s"],
            ours_rows_per_s_large=ours_large["rows_per_s"],
            sdk_rows_per_s_large=sdk_large["rows_per_s"],
            file_bytes_small=ours_small["file_bytes"],
            file_bytes_large=ours_large["file_bytes"],
        )
    )
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
