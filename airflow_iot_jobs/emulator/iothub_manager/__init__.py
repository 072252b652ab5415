"""Emulated Azure IoT Remote Monitoring "IoTHub Manager" web service: ``/v1/jobs`` and ``/v1/deviceProperties``
(reference/central-aws-remote-monitoring.md §4; seed 000_3c1e7845db0349d7.txt), in front of the IoT Hub
emulator.

``python -m airflow_iot_jobs.emulator iothub-manager --port 0 --devices N --seed S [--auth]`` prints one JSON
line (``endpoint``, ``iothub_endpoint``, ``iothub_connection_string``, ``airflow_env``, with ``--auth`` a
``bearer_token``), then ``export AIRFLOW_CONN_…`` lines, and serves until SIGINT / SIGTERM.

The service is a thin web layer over the hub's job client, and so is this package: it owns no jobs. Every
action reads and writes the hub emulator's state (``IoTHubManagerEmulator.hub``: same process, same fleet,
clock and lock) and validates through the hub's own request validation; a job posted here is a hub job and the
other way round.

What is copied from the service's C# code: the routes; ``JobApiModel`` in PascalCase with null fields omitted;
enums as numbers (JobType ScheduleDeviceMethod 3, ScheduleUpdateTwin 4; JobStatus Unknown 0 … Queued 7;
DeviceJobStatus Pending 0 … Canceled 5), and names or numbers accepted in query strings as ASP.NET binds them
(any case; an unreadable value binds nothing and filters nothing); TimeSpans as ``hh:mm:ss``; ``EndTimeUtc``
only for Completed, Failed, Cancelled; ``GET /v1/jobs`` one bare array of every page, filtered in memory on
``CreatedTimeUtc`` between ``from`` and ``to`` (``NOW``, ``NOW±<xs:duration>``, a date-time; unreadable =
MinValue / MaxValue); ``GET /v1/jobs/{id}`` never 404 (an unknown id is what the hub answers for it: Type 0,
Status 0); ``POST /v1/jobs``: ``UpdateTwin`` -> twin job, else ``MethodParameter`` -> method job, else
``NotSupportedException`` (500); the response is the hub's create answer through the model (JobId, Type,
Status); the exceptions filter's envelope ``{"Message", "ExceptionMessage", "ExceptionType"}`` and statuses;
the auth middleware (only requests with ``X-Source``; 401 ``{"Error": "Authentication required"}``; 403 for
an action the token's roles lack).

Inferred (the sources do not say; see README.md): the hub-error-to-exception mapping, the defaults
``MaxExecutionTimeInSeconds`` 3600 (seed; the code reads ``?? 0``) and a 30 s method response timeout, an
absent twin ``ETag`` sent as ``*``, the device-properties lists, HS256 tokens signed by the emulator.

Layers, moto-style: ``models`` (JobApiModel and the bindings), ``responses`` (middleware, controllers,
exceptions filter), ``urls``, ``errors``, ``auth``, ``cli``; ``server.IoTHubManagerEmulator`` ties them to the
hub on the shared ``Emulator`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub_manager.server import IoTHubManagerEmulator

__all__ = ["IoTHubManagerEmulator"]


def __getattr__(name: str) -> Any:
    if name == "IoTHubManagerEmulator":
        from airflow_iot_jobs.emulator.iothub_manager.server import IoTHubManagerEmulator

        return IoTHubManagerEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
