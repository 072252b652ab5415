"""``IoTHubEmulator``: the IoT Hub service emulator wired together (fleet, state, auth, HTTP) on 127.0.0.1."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from typing import Any

from airflow_iot_jobs.emulator.base import Emulator
from airflow_iot_jobs.emulator.clock import Clock
from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS
from airflow_iot_jobs.emulator.http import Request
from airflow_iot_jobs.emulator.iothub.auth import (
    OWNER_POLICY,
    POLICY_RIGHTS,
    SasAuthenticator,
    derive_policy_key,
)
from airflow_iot_jobs.emulator.iothub.errors import IoTHubError
from airflow_iot_jobs.emulator.iothub.importexport import IdentityStore, ImportExportJobs, StorageAccount
from airflow_iot_jobs.emulator.iothub.models import DEVICE_RATE, IoTHubState
from airflow_iot_jobs.emulator.iothub.responses import IoTHubResponses
from airflow_iot_jobs.emulator.iothub.twins import TwinView
from airflow_iot_jobs.emulator.throttle import hub_throttle, hub_tier, tier_limits

HOSTNAME_SUFFIX = ".azure-devices.net"


def random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


class IoTHubEmulator(Emulator):
    """An emulated Azure IoT Hub (scheduled jobs, device job rows, twin queries) with a simulated fleet.

    ``with IoTHubEmulator(devices=100) as hub:`` serves on ``hub.endpoint`` until the block ends; point
    clients at ``hub.endpoint`` and sign with ``hub.connection_string`` (whose ``HostName`` is the logical
    ``<hub_name>.azure-devices.net`` that SAS tokens must name in ``sr``).
    """

    service = "iothub"

    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        hub_name: str = "emulated-hub",
        key: str | None = None,
        max_active_jobs: int | None = None,
        offline_rate: float = 0.02,
        failure_rate: float = 0.0,
        speed: float = 1.0,
        port: int = 0,
        clock: Clock | None = None,
        allow_bearer: bool = False,
        unknown_job_mode: str = "unknown",
        *,
        cancel_running: bool = True,
        jobs_query_format: str = "array",
        device_rate: float = DEVICE_RATE,
        storage_connection_string: str | None = None,
        import_export_cancel_unknown: str = "500",
        import_requires_status: bool = True,
        fault_rate: float = 0.0,
        fault_kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        fault_delay: float = 1.0,
        fault_match: str | None = None,
        fault_max_consecutive: int | None = None,
        tier: str | None = None,
        units: int = 1,
    ) -> None:
        """``max_active_jobs``: concurrent scheduled jobs (default 1, S1's; with a ``tier``, the tier's).

        ``tier`` (``"F1"``, ``"S1"``, ``"S2"``, ``"S3"``; default None: no throttling) with ``units``: the tier's
        per-minute throttles on jobs operations and queries (429 ``ThrottlingException`` with ``Retry-After``)
        and its concurrent-job limit, see :mod:`~airflow_iot_jobs.emulator.throttle`.

        ``cancel_running=False`` answers 412 ``JobRunPreconditionFailed`` to cancelling a running job;
        ``jobs_query_format="spec"`` answers ``GET /jobs/v2/query`` with the spec's QueryResult object instead
        of the real service's array; ``device_rate`` is device rows started per emulated second.

        Import/export jobs: ``storage_connection_string`` (``AccountName``/``AccountKey``) is the storage the
        hub's managed identity may use for ``storageAuthenticationType: identityBased`` jobs (without it those
        are refused with 400 ``BlobContainerValidationError``); ``import_export_cancel_unknown="404"`` answers
        ``DELETE /jobs/{unknown}`` with 404 ``JobNotFound`` instead of the real service's 500;
        ``import_requires_status=False`` accepts import lines without ``status``.

        Fault injection: see :class:`~airflow_iot_jobs.emulator.base.Emulator`; only authenticated requests
        fail (a bad token is always answered 401), with IoT Hub's error envelope."""
        if key is None:
            key = random_key()
        try:
            if len(base64.b64decode(key, validate=True)) == 0:
                raise ValueError
        except (binascii.Error, ValueError):
            raise ValueError("key must be non-empty base64") from None
        self.tier = hub_tier(tier, units)
        self.units = units
        if max_active_jobs is None:
            max_active_jobs = 1 if self.tier is None else self.tier.max_concurrent_jobs
        if not hub_name or "." in hub_name or "/" in hub_name:
            raise ValueError(f"hub_name must be a bare name (no dots or slashes), got {hub_name!r}")
        super().__init__(
            devices=devices,
            seed=seed,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            speed=speed,
            port=port,
            clock=clock,
            view=TwinView(),
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            fault_delay=fault_delay,
            fault_match=fault_match,
            fault_max_consecutive=fault_max_consecutive,
        )
        self.hub_name = hub_name
        self.hostname = hub_name + HOSTNAME_SUFFIX
        self.key = key
        self.policy_keys = {policy: derive_policy_key(key, policy) for policy in POLICY_RIGHTS}
        self.state = IoTHubState(
            self.fleet,
            self.timeline,
            max_active_jobs=max_active_jobs,
            device_rate=device_rate,
            cancel_running=cancel_running,
            lock=self.lock,
        )
        self.identities = IdentityStore(seed)
        self.import_export = ImportExportJobs(
            self.state,
            self.identities,
            None
            if storage_connection_string is None
            else StorageAccount.from_connection_string(storage_connection_string),
            unknown_cancel=import_export_cancel_unknown,
            require_status=import_requires_status,
            seed=seed,
        )
        self.authenticator = SasAuthenticator(
            self.hostname, self.policy_keys, self.timeline.now, allow_bearer
        )
        self.app = IoTHubResponses(
            self.state,
            self.authenticator,
            unknown_job_mode,
            jobs_query_format,
            import_export=self.import_export,
            throttle=None if self.tier is None else hub_throttle(self.tier, units, self.timeline.now),
        )
        self.mount(self.app)

    def fault_applies(self, request: Request) -> bool:
        """Faults hit only requests that pass authentication (a bad token is always answered 401)."""
        try:
            self.authenticator.authenticate(request.header("Authorization"), request.path)
        except IoTHubError:
            return False
        return True

    def on_start(self) -> None:
        self.import_export.open()

    def on_stop(self) -> None:
        self.import_export.close()

    # -- credentials -------------------------------------------------------------------------------

    def connection_string_for(self, policy: str = OWNER_POLICY) -> str:
        key = self.policy_keys[policy]
        return f"HostName={self.hostname};SharedAccessKeyName={policy};SharedAccessKey={key}"

    @property
    def connection_string(self) -> str:
        return self.connection_string_for(OWNER_POLICY)

    def info_addresses(self) -> dict[str, Any]:
        connection = {
            "conn_type": "azure_iot_hub",
            "password": self.connection_string,
            "extra": {"endpoint_url": self.endpoint},
        }
        return {
            "hostname": self.hostname,
            "connection_string": self.connection_string,
            "airflow_env": {"AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT": json.dumps(connection)},
        }

    def info_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "hub_name": self.hub_name,
            "max_active_jobs": self.state.max_active_jobs,
            "tier": None if self.tier is None else self.tier.name,
        }
        if self.tier is not None:
            settings.update(units=self.units, **tier_limits(self.app.throttle))
        return settings
