"""Emulated Azure IoT Hub service API (scheduled jobs, device job rows, twin queries).

Layers, moto-style: ``models`` (state, on the shared job engine), ``twins`` (IoT Hub's view of a fleet
device), ``responses`` (HTTP handlers), ``urls`` (routes), ``errors``, ``auth``, ``cli`` (the subcommand);
``server.IoTHubEmulator`` ties them together on the shared ``Emulator`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

__all__ = ["IoTHubEmulator"]


def __getattr__(name: str) -> Any:
    if name == "IoTHubEmulator":
        from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

        return IoTHubEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
