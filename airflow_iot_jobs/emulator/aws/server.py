"""``AwsIoTEmulator``: the AWS IoT Jobs emulator wired together (fleet, registry, state, SigV4, both planes)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable
from typing import Any

from airflow_iot_jobs.emulator.aws.device_management_api import PREFIX as DEVICE_MANAGEMENT_PREFIX
from airflow_iot_jobs.emulator.aws.device_management_api import DeviceManagementApi
from airflow_iot_jobs.emulator.aws.errors import AwsError
from airflow_iot_jobs.emulator.aws.models import MAX_ACTIVE_JOBS, AwsIoTState
from airflow_iot_jobs.emulator.aws.responses import AwsApp, ControlPlane, DataPlane
from airflow_iot_jobs.emulator.aws.sigv4 import SigV4Verifier
from airflow_iot_jobs.emulator.aws.things import Registry
from airflow_iot_jobs.emulator.aws.wire import signing_name
from airflow_iot_jobs.emulator.base import Emulator
from airflow_iot_jobs.emulator.clock import Clock
from airflow_iot_jobs.emulator.dispatch import path_prefix, signed_for
from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS
from airflow_iot_jobs.emulator.http import Request
from airflow_iot_jobs.emulator.throttle import AWS_MAX_ACTIVE_JOBS, aws_throttle, check_tier, tier_limits

ACCOUNT_ID = "123456789012"  # the account id of the AWS docs' examples


def _access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def _secret_access_key() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


class AwsIoTEmulator(Emulator):
    """An emulated AWS IoT account in one region: things, thing groups, jobs, job templates, and the jobs data plane.

    ``with AwsIoTEmulator(things=100) as aws:`` serves both planes on ``aws.endpoint``; sign requests (SigV4) with
    ``aws.aws_access_key_id`` / ``aws.aws_secret_access_key`` (random per start unless given) for ``aws.region``.
    """

    service = "aws"

    def __init__(
        self,
        things: int = 1000,
        seed: int = 0,
        region: str = "us-east-1",
        account_id: str = ACCOUNT_ID,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        max_active_jobs: int | None = None,
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
        device_management_auth: str = "none",
    ) -> None:
        """``max_active_jobs``: IN_PROGRESS jobs allowed (default 1000; with a tier 100). ``tier`` (any of ``F1``,
        ``S1``, ``S2``, ``S3``; default None: no throttling): the account's default quotas, the same for every name:
        10 requests per second per control-plane jobs API (``ThrottlingException``, 400) and 100 active jobs
        (``LimitExceededException``)."""
        if not region or "/" in region:
            raise ValueError(f"region must be a region name such as us-east-1, got {region!r}")
        if not (account_id.isdigit() and len(account_id) == 12):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        super().__init__(
            devices=things,
            seed=seed,
            offline_rate=offline_rate,
            failure_rate=failure_rate,
            speed=speed,
            port=port,
            clock=clock,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            fault_delay=fault_delay,
            fault_match=fault_match,
            fault_max_consecutive=fault_max_consecutive,
        )
        self.region = region
        self.tier = check_tier(tier)
        if max_active_jobs is None:
            max_active_jobs = MAX_ACTIVE_JOBS if self.tier is None else AWS_MAX_ACTIVE_JOBS
        self.account_id = account_id
        self.aws_access_key_id = aws_access_key_id or _access_key_id()
        self.aws_secret_access_key = aws_secret_access_key or _secret_access_key()
        self.registry = Registry(region, account_id)
        self.registry.populate(self.fleet, self.timeline.now())
        self.state = AwsIoTState(self.fleet, self.timeline, self.registry, max_active_jobs, lock=self.lock)
        self.verifier = SigV4Verifier({self.aws_access_key_id: self.aws_secret_access_key}, region)
        self.control = ControlPlane(self.state)
        self.iot = AwsApp(
            "iot",
            self.state,
            self.verifier,
            self.control.handlers(),
            throttle=None if self.tier is None else aws_throttle(self.timeline.now),
        )
        self.jobs_data = AwsApp(
            "iot-jobs-data", self.state, self.verifier, DataPlane(self.state, self.control).handlers()
        )
        # The softchef Job API (API Gateway + Lambdas) over the same operations, under its own path prefix.
        self.device_management = DeviceManagementApi(
            self.control.handlers(), self.state.lock, self.verifier, region, device_management_auth, seed=seed
        )
        self.mount(self.device_management, path_prefix(DEVICE_MANAGEMENT_PREFIX))
        # Both planes share paths (/things/{thingName}/jobs/...): the SigV4 credential scope's service picks one.
        self.mount(self.jobs_data, signed_for(signing_name("iot-jobs-data")))
        self.mount(self.iot, signed_for(signing_name("iot")))
        self.mount(self.iot)  # unsigned or foreign requests: the front door's 403 in iot's envelope

    def fault_applies(self, request: Request) -> bool:
        """Faults hit only requests whose signature checks out (a bad signature is always answered 403); on the
        Job API, only requests that pass its authorization."""
        if path_prefix(DEVICE_MANAGEMENT_PREFIX)(request):
            return self.device_management.authorized(request)
        try:
            self.verifier.verify(request)
        except AwsError:
            return False
        return True

    def info_addresses(self) -> dict[str, Any]:
        connection = {
            "conn_type": "aws",
            "login": self.aws_access_key_id,
            "password": self.aws_secret_access_key,
            "extra": {"region_name": self.region, "endpoint_url": self.endpoint},
        }
        api = self.device_management
        device_management = {
            "conn_type": "iot_device_management_api",
            "host": self.device_management_api_url,
            "extra": {"auth": api.auth, "region": self.region},
        }
        if api.auth == "iam":
            device_management["login"] = self.aws_access_key_id
            device_management["password"] = self.aws_secret_access_key
        elif api.auth == "cognito":
            device_management["password"] = api.id_token
        return {
            "region": self.region,
            "account_id": self.account_id,
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "jobs_data_endpoint": self.endpoint,
            "device_management_api_url": self.device_management_api_url,
            "device_management_auth": api.auth,
            **({"device_management_id_token": api.id_token} if api.id_token else {}),
            "airflow_env": {
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
                "AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT": json.dumps(device_management),
            },
        }

    @property
    def device_management_api_url(self) -> str:
        """The Job API's base URL, stage included (API Gateway's ``https://{id}.execute-api.../prod``)."""
        return self.endpoint + DEVICE_MANAGEMENT_PREFIX

    def info_settings(self) -> dict[str, Any]:
        return {
            "things": len(self.registry.things),
            "thing_groups": sorted(self.registry.groups),
            "max_active_jobs": self.state.max_active_jobs,
            "tier": self.tier,
            **tier_limits(self.iot.throttle),
        }
