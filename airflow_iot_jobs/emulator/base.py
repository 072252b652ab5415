"""The wiring every emulated backend shares: clock, fleet, fault injector, dispatcher, HTTP server, lifecycle.

A backend subclasses :class:`Emulator`, builds its state and app(s) over ``self.fleet`` / ``self.timeline`` /
``self.lock``, mounts them on ``self.dispatcher`` and fills in the :meth:`Emulator.info` hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, ClassVar, Self

from airflow_iot_jobs.emulator.clock import Clock, Timeline
from airflow_iot_jobs.emulator.dispatch import Dispatcher, Selector
from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS, FaultInjector
from airflow_iot_jobs.emulator.fleet import DeviceView, Fleet
from airflow_iot_jobs.emulator.http import EmulatorHTTPServer, Handler, Request


class Emulator:
    """Serves ``self.dispatcher`` on 127.0.0.1 (``port=0``: any free port) with a simulated fleet.

    Faults (``self.faults``, see :class:`~airflow_iot_jobs.emulator.faults.FaultInjector`): a share
    ``fault_rate`` of the requests :meth:`fault_applies` to, whose ``"METHOD /path"`` matches the regex
    ``fault_match``, fails with one of ``fault_kinds``, never more than ``fault_max_consecutive`` in a row,
    deterministically for ``seed``.
    """

    service: ClassVar[str] = "emulator"

    def __init__(
        self,
        *,
        devices: int = 1000,
        seed: int = 0,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        speed: float = 1.0,
        port: int = 0,
        clock: Clock | None = None,
        view: DeviceView | None = None,
        fault_rate: float = 0.0,
        fault_kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        fault_delay: float = 1.0,
        fault_match: str | None = None,
        fault_max_consecutive: int | None = None,
    ) -> None:
        self.seed = seed
        self.timeline = Timeline(clock, speed)
        self.lock = threading.RLock()  # one lock over the fleet and every app's state
        self.fleet = Fleet(
            devices=devices,
            seed=seed,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            epoch=self.timeline.now(),
            view=view,
        )
        self.faults = FaultInjector(
            fault_rate,
            fault_kinds,
            seed,
            delay=fault_delay,
            match=fault_match,
            max_consecutive=fault_max_consecutive,
            applies_to=self.fault_applies,
        )
        self.dispatcher = Dispatcher()
        self._http = EmulatorHTTPServer(self.dispatcher, port, faults=self.faults)

    def mount(self, app: Handler, selector: Selector | None = None) -> None:
        """Serve ``app`` for the requests ``selector`` picks (None: every request no other app picks)."""
        if selector is None:
            self.dispatcher.fallback = app
        else:
            self.dispatcher.add(selector, app)

    def fault_applies(self, request: Request) -> bool:
        """Whether a fault may hit ``request`` (backends narrow it, e.g. to authenticated requests)."""
        return True

    # -- lifecycle ---------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Open what the backend needs before the first request."""

    def on_stop(self) -> None:
        """Release it after the last one."""

    def start(self) -> Self:
        self.on_start()
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()
        self.on_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and facts -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def endpoint(self) -> str:
        return self._http.endpoint

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        return self._http.request_log

    def add_device(self, device_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Register a device while the emulator runs (``tags=``, ``online=``); returns a copy of its document."""
        with self.lock:
            device = self.fleet.add_device(device_id, now=self.timeline.now(), **kwargs)
            return self.fleet.doc(device.device_id)

    def info_addresses(self) -> dict[str, Any]:
        """Where and how clients connect, besides ``endpoint`` (hostnames, connection strings)."""
        return {}

    def info_settings(self) -> dict[str, Any]:
        """The backend's own settings worth printing."""
        return {}

    def info(self) -> dict[str, Any]:
        """What the CLI prints as its first line."""
        return {
            "service": self.service,
            "endpoint": self.endpoint,
            **self.info_addresses(),
            "devices": len(self.fleet),
            "seed": self.seed,
            "port": self.port,
            **self.info_settings(),
            "speed": self.timeline.speed,
            "fault_rate": self.faults.rate,
            "fault_kinds": list(self.faults.kinds),
        }
