"""``IoTHubManagerEmulator``: the Remote Monitoring IoTHub Manager web service in front of an emulated IoT Hub."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from airflow_iot_jobs.emulator.base import Emulator
from airflow_iot_jobs.emulator.clock import Clock
from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS
from airflow_iot_jobs.emulator.http import Request
from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
from airflow_iot_jobs.emulator.iothub_manager.auth import AUDIENCE, ISSUER, JwtAuthority
from airflow_iot_jobs.emulator.iothub_manager.responses import ManagerResponses

DEFAULT_MAX_ACTIVE_JOBS = None  # the hub's: 1 (S1) without a tier, the tier's with one


class IoTHubManagerEmulator(Emulator):
    """The IoTHub Manager ``/v1`` API on ``endpoint``, fronting an :class:`IoTHubEmulator` (``.hub``) that serves
    the hub's own REST API on ``hub.endpoint``. One fleet, one clock, one lock and one job state: a job posted to
    ``/v1/jobs`` is a hub job (``hub.state``), and a job created on the hub is listed on ``/v1/jobs``.

    ``auth=True``: requests carrying ``X-Source`` need ``Authorization: Bearer <bearer_token>`` (see
    :mod:`~airflow_iot_jobs.emulator.iothub_manager.auth`; :meth:`issue_token` makes others). Faults
    (``fault_*``) hit the manager's requests that pass auth; the hub has its own injector (``hub.faults``), which
    the manager's in-process calls never meet.
    """

    service = "iothub-manager"

    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        *,
        auth: bool = False,
        jwt_key: bytes | None = None,
        jwt_issuer: str = ISSUER,
        jwt_audience: str = AUDIENCE,
        hub_name: str = "emulated-hub",
        hub_key: str | None = None,
        hub_port: int = 0,
        max_active_jobs: int | None = DEFAULT_MAX_ACTIVE_JOBS,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        speed: float = 1.0,
        port: int = 0,
        clock: Clock | None = None,
        fault_rate: float = 0.0,
        fault_kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        fault_delay: float = 1.0,
        fault_match: str | None = None,
        fault_max_consecutive: int | None = None,
        tier: str | None = None,
        units: int = 1,
    ) -> None:
        """``tier`` / ``units``: the fronted hub's (see :class:`IoTHubEmulator`); the manager's calls spend the hub's
        throttles, and a throttled hub call is answered as the service's exception filter answers it (500
        ``IotHubThrottledException``)."""
        self.hub = IoTHubEmulator(
            devices=devices,
            seed=seed,
            hub_name=hub_name,
            key=hub_key,
            max_active_jobs=max_active_jobs,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            speed=speed,
            port=hub_port,
            clock=clock,
            tier=tier,
            units=units,
        )
        # The base builds its own fleet and clock; this service has none of its own: it adopts the hub's.
        super().__init__(
            devices=0,
            seed=seed,
            speed=speed,
            port=port,
            clock=clock,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            fault_delay=fault_delay,
            fault_match=fault_match,
            fault_max_consecutive=fault_max_consecutive,
        )
        self.fleet, self.timeline, self.lock = self.hub.fleet, self.hub.timeline, self.hub.lock
        self.state = self.hub.state
        self.authority = (
            JwtAuthority(self.timeline.now, key=jwt_key, issuer=jwt_issuer, audience=jwt_audience)
            if auth
            else None
        )
        self.bearer_token = None if self.authority is None else self.authority.issue()
        self.app = ManagerResponses(self.hub, self.authority)
        self.mount(self.app)

    @property
    def auth(self) -> bool:
        return self.authority is not None

    def issue_token(self, roles: Iterable[str] = ("admin",), **kwargs: Any) -> str:
        """Another JWT (``roles=("readOnly",)``, ``lifetime=-600`` ...); only with ``auth=True``."""
        if self.authority is None:
            raise RuntimeError("auth is off: start the emulator with auth=True")
        return self.authority.issue(roles, **kwargs)

    def fault_applies(self, request: Request) -> bool:
        """Faults hit only requests that pass the auth middleware (a bad token is always answered 401)."""
        return self.app.authenticate(request)

    def on_start(self) -> None:
        self.hub.start()

    def on_stop(self) -> None:
        self.hub.stop()

    def info_addresses(self) -> dict[str, Any]:
        connection: dict[str, Any] = {"conn_type": "iothub_manager", "host": self.endpoint}
        if self.bearer_token is not None:
            connection["password"] = self.bearer_token
        hub_connection = {
            "conn_type": "azure_iot_hub",
            "password": self.hub.connection_string,
            "extra": {"endpoint_url": self.hub.endpoint},
        }
        addresses: dict[str, Any] = {
            "iothub_endpoint": self.hub.endpoint,
            "iothub_hostname": self.hub.hostname,
            "iothub_connection_string": self.hub.connection_string,
        }
        if self.bearer_token is not None:
            addresses["bearer_token"] = self.bearer_token
        addresses["airflow_env"] = {
            "AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT": json.dumps(connection),
            "AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT": json.dumps(hub_connection),
        }
        return addresses

    def info_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "auth": self.auth,
            "hub_name": self.hub.hub_name,
            "max_active_jobs": self.state.max_active_jobs,
            "tier": None if self.hub.tier is None else self.hub.tier.name,
        }
        if self.hub.tier is not None:
            settings["units"] = self.hub.units
        if self.authority is not None:
            settings["jwt_issuer"] = self.authority.issuer
            settings["jwt_audience"] = self.authority.audience
        return settings
