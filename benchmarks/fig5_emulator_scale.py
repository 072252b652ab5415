"""Figure 5 — emulator scale: a 1,000,000-device hub starts, and a method job over ~100,000 of its devices ends.

The hub runs in this process (the runner starts each figure in its own): start time and RSS right after
``start()``, then ``PUT /jobs/v2/{id}`` of a ``ping`` job on ``tags.site = 'ams' AND tags.floor <= 2`` (≈10 % of
the fleet) and ``GET`` every 0.2 s until it ends. At ``SPEED`` 1000 the job's own emulated duration (rows
start at 100 per emulated second) is ~1 s of wall time, so the figure is the emulator's processing cost. For
scale, a 100,000-device hub is started the same way first (×10 = linear).
"""

from __future__ import annotations

import sys
import time

from benchmarks._common import emit, peak_rss_mb, row, rss_mb, sas_token, stop_on_signals

DEVICES = 1_000_000
SMALL = 100_000
SPEED = 1000.0
CONDITION = "tags.site = 'ams' AND tags.floor <= 2"
GOAL_SECONDS = 30.0


def start(devices: int):
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    began = time.perf_counter()
    hub = IoTHubEmulator(devices=devices, seed=1, speed=SPEED, max_active_jobs=1).start()
    return hub, time.perf_counter() - began


def main() -> int:
    import requests

    small, small_seconds = start(SMALL)
    small.stop()
    del small
    base = rss_mb()
    hub, seconds = start(DEVICES)
    started_rss = rss_mb()
    try:
        session = requests.Session()
        session.headers["Authorization"] = sas_token(hub.hostname, hub.connection_string)
        url = f"{hub.endpoint}/jobs/v2/scale"
        params = {"api-version": "2021-04-12"}
        body = {
            "jobId": "scale",
            "type": "scheduleDeviceMethod",
            "queryCondition": CONDITION,
            "cloudToDeviceMethod": {"methodName": "ping", "responseTimeoutInSeconds": 30},
            "maxExecutionTimeInSeconds": 86400,
        }
        began = time.perf_counter()
        session.put(url, params=params, json=body, timeout=120).raise_for_status()
        while True:
            job = session.get(url, params=params, timeout=120).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        job_seconds = time.perf_counter() - began
        stats = job["deviceJobStatistics"]
        state = hub.state.job("scale")
        emulated = (state.ended - state.created) * SPEED
    finally:
        hub.stop()
    targeted = stats["deviceCount"]
    emit(
        [
            row(
                5,
                f"start a {DEVICES:,}-device hub",
                seconds,
                small_seconds * DEVICES / SMALL,
                f"{SMALL:,}-device start × {DEVICES // SMALL} (linear)",
                "starts; report time and RSS",
                True,
                unit="s",
                rss_after_start_mb=round(started_rss, 1),
                rss_added_mb=round(started_rss - base, 1),
                small_start_s=round(small_seconds, 2),
            ),
            row(
                5,
                f"method job over {targeted:,} devices of {DEVICES:,}",
                job_seconds,
                emulated / SPEED,
                f"the job's own emulated length ({emulated:,.0f} s) at speed {SPEED:g}",
                f"≤ {GOAL_SECONDS:.0f} s",
                job["status"] == "completed" and job_seconds <= GOAL_SECONDS,
                unit="s",
                status=job["status"],
                statistics=stats,
                peak_rss_mb=round(peak_rss_mb(), 1),
            ),
        ]
    )
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
