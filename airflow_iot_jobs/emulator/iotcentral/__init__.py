"""Emulated Azure IoT Central data-plane API 2022-07-31: jobs, scheduled jobs, device groups.

Layers, moto-style: ``devices`` (Central's view of a fleet device), ``models`` (state, on the shared job engine),
``schedules`` (scheduled-job recurrence), ``validation`` (request bodies and ids, per the spec), ``responses``
(HTTP handlers), ``urls`` (routes, checked against the spec extract's ``paths``), ``errors``, ``auth``, ``cli``
(the subcommand); ``server.IoTCentralEmulator`` ties them together on the shared ``Emulator`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

__all__ = ["IoTCentralEmulator"]


def __getattr__(name: str) -> Any:
    if name == "IoTCentralEmulator":
        from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

        return IoTCentralEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
