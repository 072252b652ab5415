"""``IoTCentralEmulator``: the IoT Central data-plane emulator wired together (fleet, state, auth, HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from airflow_iot_jobs.emulator.base import Emulator
from airflow_iot_jobs.emulator.clock import Clock
from airflow_iot_jobs.emulator.dispatch import path_prefix
from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS
from airflow_iot_jobs.emulator.http import Request
from airflow_iot_jobs.emulator.iotcentral.auth import ApiToken, ApiTokenAuthenticator
from airflow_iot_jobs.emulator.iotcentral.devices import CentralView
from airflow_iot_jobs.emulator.iotcentral.errors import CentralError
from airflow_iot_jobs.emulator.iotcentral.models import MAX_ACTIVE_JOBS, CentralState
from airflow_iot_jobs.emulator.iotcentral.responses import PAGE_SIZE, CentralResponses
from airflow_iot_jobs.emulator.iotcentral.urls import BASE_PATH
from airflow_iot_jobs.emulator.throttle import (
    CENTRAL_MAX_ACTIVE_JOBS,
    central_throttle,
    check_tier,
    tier_limits,
)

BASE_DOMAIN = "azureiotcentral.com"


class IoTCentralEmulator(Emulator):
    """An emulated IoT Central application (jobs, scheduled jobs, device groups) over a simulated fleet.

    ``with IoTCentralEmulator(devices=100) as app:`` serves ``/api/...`` on ``app.endpoint``; send
    ``Authorization: <app.api_token>`` (a fresh API token per start unless ``api_token`` is given).
    """

    service = "iotcentral"

    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        app_subdomain: str = "emulated-app",
        api_token: str | None = None,
        max_active_jobs: int | None = None,
        allow_bearer: bool = False,
        page_size: int = PAGE_SIZE,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        speed: float = 1.0,
        port: int = 0,
        clock: Clock | None = None,
        *,
        fault_rate: float = 0.0,
        fault_kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        fault_delay: float = 1.0,
        fault_match: str | None = None,
        fault_max_consecutive: int | None = None,
        tier: str | None = None,
    ) -> None:
        """``max_active_jobs``: jobs running at the same time (default 5, Central's limit). ``tier`` (any of
        ``F1``, ``S1``, ``S2``, ``S3``; default None: no throttling): Central's per-application limits, the same for
        every name: 20 API requests per second (429 ``TooManyRequests`` with ``Retry-After``) and 5 running jobs."""
        if not app_subdomain or "." in app_subdomain or "/" in app_subdomain:
            raise ValueError(f"app_subdomain must be a bare name (no dots or slashes), got {app_subdomain!r}")
        super().__init__(
            devices=devices,
            seed=seed,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            speed=speed,
            port=port,
            clock=clock,
            view=CentralView(),
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            fault_delay=fault_delay,
            fault_match=fault_match,
            fault_max_consecutive=fault_max_consecutive,
        )
        self.app_subdomain = app_subdomain
        self.tier = check_tier(tier)
        if max_active_jobs is None:
            max_active_jobs = MAX_ACTIVE_JOBS if self.tier is None else CENTRAL_MAX_ACTIVE_JOBS
        self.token = ApiToken.issue(self.timeline.now()) if api_token is None else ApiToken.parse(api_token)
        self.state = CentralState(self.fleet, self.timeline, max_active_jobs=max_active_jobs, lock=self.lock)
        self.authenticator = ApiTokenAuthenticator(self.token, self.timeline.now, allow_bearer)
        self.app = CentralResponses(
            self.state,
            self.authenticator,
            page_size=page_size,
            throttle=None if self.tier is None else central_throttle(self.timeline.now),
        )
        self.mount(self.app, path_prefix(BASE_PATH))
        self.mount(self.app)  # other paths: 401 / 404 in Central's envelope

    @property
    def api_token(self) -> str:
        """The whole ``Authorization`` header value."""
        return self.token.value

    @property
    def hostname(self) -> str:
        return f"{self.app_subdomain}.{BASE_DOMAIN}"

    def fault_applies(self, request: Request) -> bool:
        """Faults hit only requests that pass authentication (a bad token is always answered 401)."""
        try:
            self.authenticator.authenticate(request.header("Authorization"))
        except CentralError:
            return False
        return True

    def info_addresses(self) -> dict[str, Any]:
        connection = {
            "conn_type": "azure_iot_central",
            "host": self.app_subdomain,
            "password": self.api_token,
            "extra": {"endpoint_url": self.endpoint},
        }
        return {
            "app_subdomain": self.app_subdomain,
            "hostname": self.hostname,
            "api_token": self.api_token,
            "airflow_env": {"AIRFLOW_CONN_AZURE_IOT_CENTRAL_DEFAULT": json.dumps(connection)},
        }

    def info_settings(self) -> dict[str, Any]:
        return {
            "app_id": self.token.app_id,
            "max_active_jobs": self.state.max_active_jobs,
            "tier": self.tier,
            **tier_limits(self.app.throttle),
        }
