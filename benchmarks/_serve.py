"""``python -m benchmarks._serve '<options as JSON>'``: one emulator in its own process.

Options: ``backend`` (``iothub``, ``iotcentral`` or ``aws``, see ``_common.BACKENDS``; default ``iothub``) and the
emulator's own keywords. Prints the emulator's info as one JSON line, then answers commands read from stdin, one
JSON line each: ``count`` (requests answered so far), ``log`` (the whole request log), ``rss`` (MB),
``jobs <n> <prefix>`` (create n jobs ``<prefix>-<i>`` that start a day from now, straight in the state: they stay
active and cost the measured process nothing to set up). EOF stops it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks._common import BACKENDS, stop_on_signals

DAY = 86400.0


def hub_waiting_job(emulator: Any, job_id: str) -> None:
    """An IoT Hub method job scheduled a day ahead (status ``scheduled``)."""
    from airflow_iot_jobs.emulator.iothub.models import JobSpec
    from airflow_iot_jobs.query.iothub import parse_condition

    emulator.state.create_job(
        JobSpec(
            job_id=job_id,
            job_type="scheduleDeviceMethod",
            query_condition="*",
            condition=parse_condition("*"),
            start_time=emulator.timeline.now() + DAY,
            max_execution_seconds=3600,
            cloud_to_device_method={"methodName": "reboot", "responseTimeoutInSeconds": 30},
        )
    )


def central_waiting_job(emulator: Any, job_id: str) -> None:
    """An IoT Central command job that stays ``pending`` for a day (Central has no start time on a job: this
    is the queue a new job waits in, held longer), over a device group of every device."""
    from airflow_iot_jobs.emulator.iotcentral.models import CentralJob, policies_for

    if "bench-all" not in emulator.state.groups:
        emulator.state.put_group("bench-all", {"displayName": "bench-all", "filter": "SELECT * FROM devices"})
    body = {
        "group": "bench-all",
        "data": [{"type": "command", "target": "dtmi:airflowIotJobs:gateway100;1", "path": "reboot"}],
    }
    with emulator.lock:
        now = emulator.timeline.now()
        emulator.state.jobs[job_id] = CentralJob(
            job_id=job_id,
            seq=emulator.state.next_seq(),
            created=now,
            queued_until=now + DAY,
            policies=policies_for(body),
            body=body,
        )


def aws_waiting_job(emulator: Any, job_id: str) -> None:
    """An AWS IoT snapshot job over the ``fleet`` thing group, scheduled a day ahead (status ``SCHEDULED``, which
    the active-jobs quota does not count), as IoT Hub's is; created in the state, like the others."""
    from datetime import UTC, datetime

    start = datetime.fromtimestamp(emulator.timeline.now() + DAY, tz=UTC).strftime("%Y-%m-%dT%H:%M")
    emulator.state.create_job(
        job_id,
        {
            "targets": [emulator.registry.arn("thinggroup", "fleet")],
            "document": '{"operation": "reboot"}',
            "schedulingConfig": {"startTime": start},
        },
    )


WAITING_JOB = {"iothub": hub_waiting_job, "iotcentral": central_waiting_job, "aws": aws_waiting_job}


def main() -> int:
    options = json.loads(sys.argv[1])
    key = options.pop("backend", "iothub")
    with BACKENDS[key].emulator_class()(**options) as emulator:
        sys.stdout.write(json.dumps(emulator.info()) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                answer = {"requests": len(emulator.request_log)}
            elif command == "log":
                answer = {"log": list(emulator.request_log)}
            elif command == "rss":
                import resource

                answer = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            elif command.startswith("jobs "):
                _, count, prefix = command.split()
                created = [f"{prefix}-{index}" for index in range(int(count))]
                for job_id in created:
                    WAITING_JOB[key](emulator, job_id)
                answer = {"created": created}
            else:
                answer = {"error": f"unknown command {command!r}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
