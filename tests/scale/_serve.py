"""``python -m tests.scale._serve '<options as JSON>'``: one emulator (``iothub``, ``iothub_manager`` or
``iotcentral``) in its own process, for the scale deployment.

Prints the emulator's info as one JSON line, then answers commands read from stdin, one JSON line each:
``count`` (requests answered so far, by method and route shape), ``jobs`` (every job the service holds: id,
status, and the wall-clock times this process first saw it and first saw it no longer active). A thread notes
those times every 0.2 s, so the test can tell when a task instance's job was being waited on. EOF stops it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

from benchmarks._common import stop_on_signals

_ID = re.compile(r"/(jobs/v2|jobs|devices|deviceGroups)/(?!query\b|v2\b)[^/?]+")


def emulator_class(backend: str) -> Any:
    if backend == "iothub":
        from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

        return IoTHubEmulator
    if backend == "iothub_manager":
        from airflow_iot_jobs.emulator.iothub_manager.server import IoTHubManagerEmulator

        return IoTHubManagerEmulator
    if backend == "iotcentral":
        from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

        return IoTCentralEmulator
    raise ValueError(backend)


def _shape(match: re.Match[str]) -> str:
    return f"/{match.group(1)}/{{id}}"


class JobWatch:
    """Wall-clock first-seen / ended times of every job in the emulator's state."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.seen: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.scan()

    def scan(self) -> None:
        now = time.time()
        with self.emulator.lock:
            jobs = list(self.emulator.state.jobs.values())
            rows = [(job.job_id, str(job.status), bool(job.active)) for job in jobs]
        for job_id, status, active in rows:
            entry = self.seen.setdefault(job_id, {"job_id": job_id, "created": now, "ended": None})
            entry["status"] = status
            if not active and entry["ended"] is None:
                entry["ended"] = now

    def stop(self) -> None:
        self._stop.set()


def main() -> int:
    options = json.loads(sys.argv[1])
    backend = options.pop("backend")
    with emulator_class(backend)(**options) as emulator:
        watch = JobWatch(emulator)
        info = emulator.info()
        if backend == "iothub_manager":
            info["bearer_token"] = emulator.bearer_token
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                log = list(emulator.request_log)
                shapes = Counter(f"{method} {_ID.sub(_shape, path)} {status}" for method, path, status in log)
                answer = {"requests": len(log), "by_route": dict(shapes)}
            elif command == "jobs":
                watch.scan()
                answer = {"jobs": list(watch.seen.values())}
            else:
                answer = {"error": f"unknown command {command!r}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
        watch.stop()
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
