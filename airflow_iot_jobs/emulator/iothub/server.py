"""``IoTHubEmulator``: the IoT Hub service emulator wired together (fleet, state, auth, HTTP) on 127.0.0.1."""

from __future__ import annotations

import base64
import binascii
import os
from types import TracebackType
from typing import Any

from airflow_iot_jobs.emulator.clock import Clock, Timeline
from airflow_iot_jobs.emulator.fleet import Fleet
from airflow_iot_jobs.emulator.http import (
    DEFAULT_FAULT_KINDS,
    EmulatorHTTPServer,
    FaultInjector,
    Request,
    Response,
)
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

HOSTNAME_SUFFIX = ".azure-devices.net"


def random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


class IoTHubEmulator:
    """An emulated Azure IoT Hub (scheduled jobs, device job rows, twin queries) with a simulated fleet.

    ``with IoTHubEmulator(devices=100) as hub:`` serves on ``hub.endpoint`` until the block ends; point
    clients at ``hub.endpoint`` and sign with ``hub.connection_string`` (whose ``HostName`` is the logical
    ``<hub_name>.azure-devices.net`` that SAS tokens must name in ``sr``).
    """

    def __init__(
        self,
        devices: int = 1000,
        seed: int = 0,
        hub_name: str = "emulated-hub",
        key: str | None = None,
        max_active_jobs: int = 1,
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
        fault_kinds: str | tuple[str, ...] = DEFAULT_FAULT_KINDS,
        fault_delay: float = 1.0,
        fault_match: str | None = None,
        fault_max_consecutive: int | None = None,
    ) -> None:
        """``cancel_running=False`` answers 412 ``JobRunPreconditionFailed`` to cancelling a running job;
        ``jobs_query_format="spec"`` answers ``GET /jobs/v2/query`` with the spec's QueryResult object instead
        of the real service's array; ``device_rate`` is device rows started per emulated second.

        Import/export jobs: ``storage_connection_string`` (``AccountName``/``AccountKey``) is the storage the
        hub's managed identity may use for ``storageAuthenticationType: identityBased`` jobs (without it those
        are refused with 400 ``BlobContainerValidationError``); ``import_export_cancel_unknown="404"`` answers
        ``DELETE /jobs/{unknown}`` with 404 ``JobNotFound`` instead of the real service's 500;
        ``import_requires_status=False`` accepts import lines without ``status``.

        Fault injection (``hub.faults``, see :class:`~airflow_iot_jobs.emulator.http.FaultInjector`): a share
        ``fault_rate`` of authenticated requests whose ``"METHOD /path"`` matches the regex ``fault_match`` fails
        with one of ``fault_kinds`` (500, 503, 429, reset, reset-after, slow; ``slow`` waits ``fault_delay``
        seconds), never more than ``fault_max_consecutive`` in a row (default: no cap), deterministically for
        ``seed``."""
        if key is None:
            key = random_key()
        try:
            if len(base64.b64decode(key, validate=True)) == 0:
                raise ValueError
        except (binascii.Error, ValueError):
            raise ValueError("key must be non-empty base64") from None
        if not hub_name or "." in hub_name or "/" in hub_name:
            raise ValueError(f"hub_name must be a bare name (no dots or slashes), got {hub_name!r}")
        self.hub_name = hub_name
        self.hostname = hub_name + HOSTNAME_SUFFIX
        self.key = key
        self.seed = seed
        self.timeline = Timeline(clock, speed)
        self.policy_keys = {policy: derive_policy_key(key, policy) for policy in POLICY_RIGHTS}
        fleet = Fleet(
            devices=devices,
            seed=seed,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            epoch=self.timeline.now(),
        )
        self.state = IoTHubState(
            fleet,
            self.timeline,
            max_active_jobs=max_active_jobs,
            device_rate=device_rate,
            cancel_running=cancel_running,
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
        authenticator = SasAuthenticator(self.hostname, self.policy_keys, self.timeline.now, allow_bearer)
        self.app = IoTHubResponses(
            self.state, authenticator, unknown_job_mode, jobs_query_format, import_export=self.import_export
        )
        self.faults = FaultInjector(
            fault_rate,
            fault_kinds,
            seed,
            delay=fault_delay,
            match=fault_match,
            max_consecutive=fault_max_consecutive,
            error_response=self._fault_response,
            applies_to=lambda request: _authenticated(authenticator, request),
        )
        self._http = EmulatorHTTPServer(self.app, port, faults=self.faults)

    def _fault_response(self, status: int, code: str, message: str, headers: Any) -> Response:
        numeric = {500: 500001, 503: 503000, 429: 429001}.get(status, status * 1000)
        return IoTHubError(status, code, numeric, message, headers=headers).to_response(self.timeline.now())

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> IoTHubEmulator:
        self.import_export.open()
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()
        self.import_export.close()

    def __enter__(self) -> IoTHubEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials -----------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def endpoint(self) -> str:
        return self._http.endpoint

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        return self._http.request_log

    @property
    def fleet(self) -> Fleet:
        return self.state.fleet

    def add_device(self, device_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Register a device while the hub runs (``tags=``, ``online=``); returns a copy of its twin."""
        with self.state.lock:
            device = self.fleet.add_device(device_id, now=self.timeline.now(), **kwargs)
            return self.fleet.twin(device.device_id)

    def set_device_online(self, device_id: str, online: bool) -> None:
        with self.state.lock:
            self.state.advance()
            self.fleet.set_online(device_id, online, now=self.timeline.now())

    def connection_string_for(self, policy: str = OWNER_POLICY) -> str:
        key = self.policy_keys[policy]
        return f"HostName={self.hostname};SharedAccessKeyName={policy};SharedAccessKey={key}"

    @property
    def connection_string(self) -> str:
        return self.connection_string_for(OWNER_POLICY)

    def info(self) -> dict[str, Any]:
        """What the CLI prints as its first line."""
        return {
            "service": "iothub",
            "endpoint": self.endpoint,
            "hostname": self.hostname,
            "connection_string": self.connection_string,
            "devices": len(self.fleet),
            "seed": self.seed,
            "port": self.port,
            "hub_name": self.hub_name,
            "max_active_jobs": self.state.max_active_jobs,
            "speed": self.timeline.speed,
            "fault_rate": self.faults.rate,
            "fault_kinds": list(self.faults.kinds),
        }


def _authenticated(authenticator: SasAuthenticator, request: Request) -> bool:
    """Faults hit only requests that pass authentication (a bad token is always answered 401)."""
    try:
        authenticator.authenticate(request.header("Authorization"), request.path)
    except IoTHubError:
        return False
    return True
