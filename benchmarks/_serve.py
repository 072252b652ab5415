"""``python -m benchmarks._serve '<IoTHubEmulator kwargs as JSON>'``: one emulator in its own process.

Prints the emulator's info as one JSON line, then answers commands read from stdin, one JSON line each:
``count`` (requests answered so far), ``log`` (the whole request log), ``rss`` (MB), ``jobs <n> <prefix>``
(create n method jobs ``<prefix>-<i>`` scheduled a day ahead, straight in the state: they stay active and
cost the measured process nothing to set up). EOF stops it.
"""

from __future__ import annotations

import json
import sys

from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator


def create_scheduled_jobs(hub: IoTHubEmulator, count: int, prefix: str) -> list[str]:
    from airflow_iot_jobs.emulator.iothub.models import JobSpec
    from airflow_iot_jobs.query.iothub import parse_condition

    start = hub.timeline.now() + 86400
    created = []
    for index in range(count):
        job_id = f"{prefix}-{index}"
        hub.state.create_job(
            JobSpec(
                job_id=job_id,
                job_type="scheduleDeviceMethod",
                query_condition="*",
                condition=parse_condition("*"),
                start_time=start,
                max_execution_seconds=3600,
                cloud_to_device_method={"methodName": "reboot", "responseTimeoutInSeconds": 30},
            )
        )
        created.append(job_id)
    return created


def main() -> int:
    options = json.loads(sys.argv[1])
    with IoTHubEmulator(**options) as hub:
        sys.stdout.write(json.dumps(hub.info()) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                answer = {"requests": len(hub.request_log)}
            elif command == "log":
                answer = {"log": list(hub.request_log)}
            elif command == "rss":
                import resource

                answer = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            elif command.startswith("jobs "):
                _, count, prefix = command.split()
                answer = {"created": create_scheduled_jobs(hub, int(count), prefix)}
            else:
                answer = {"error": f"unknown command {command!r}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
