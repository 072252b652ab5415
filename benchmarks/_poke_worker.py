"""``python -m benchmarks._poke_worker <backend> <job_id>``: one poke-mode wait, as a worker's task process holds it.

Imports airflow and the backend's sensor (``IoTHubJobSensor``, ``IoTCentralJobSensor``), builds it with
``mode="poke"`` and pokes the job behind the backend's default connection a few times (the job stays waiting,
so every poke says "not yet"). Reports the process's RSS and the CPU seconds of one poke (median).
"""

from __future__ import annotations

import sys

from benchmarks._common import (
    BACKENDS,
    cpu_seconds,
    emit,
    isolate_airflow,
    median,
    peak_rss_mb,
    quiet_logs,
    rss_mb,
    stop_on_signals,
)

POKES = 5


def main() -> int:
    isolate_airflow()
    quiet_logs()
    import airflow.sdk  # noqa: F401

    sensor_class = BACKENDS[sys.argv[1]].sensor_class()
    sensor = sensor_class(task_id="wait", job_id=sys.argv[2], mode="poke", poke_interval=30)
    costs = []
    for _ in range(POKES):
        before = cpu_seconds()
        done = sensor.poke({})
        costs.append(cpu_seconds() - before)
        assert not done
    emit(
        {
            "rss_mb": rss_mb(),
            "peak_rss_mb": peak_rss_mb(),
            "cpu_per_poke": median(costs[1:]),
            "first_poke": costs[0],
        }
    )
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
