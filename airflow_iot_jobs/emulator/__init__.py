"""Local emulators that speak the real wire protocols of the supported IoT job services.

Importing this package is cheap; backends load on first use, e.g.
``from airflow_iot_jobs.emulator.iothub import IoTHubEmulator``.
Run ``python -m airflow_iot_jobs.emulator --help``.

Shared core: ``base`` (the ``Emulator`` wiring), ``cli`` (shared flags, backend registry), ``dispatch`` (several
apps over one state), ``engine`` (job rows and rollout policies), ``faults``, ``fleet``, ``http``, ``clock``;
one package per backend (``iothub``, ``iotcentral``, ``aws``).
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
