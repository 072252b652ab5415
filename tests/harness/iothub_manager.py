"""The Azure IoTHub Manager (Remote Monitoring) harness: the service's emulator and the IoT Hub it fronts, the
connections a user writes, operator factories, the jobs the hub holds, its canaries and fuzz inputs.

What a "typical device job" is here: a device-method job (``POST /v1/jobs`` with a ``MethodParameter``) over an
IoT Hub query condition, as on IoT Hub ("*" = every device, tag -> value = ``tags.<tag> = <value>``); the service
schedules it on the hub behind it, so the job ids follow the hub's rules and a duplicate JobId is the service's
409 ``ConflictingResourceException`` (the operator re-attaches to the job of its fixed id).

Where the service differs, the harness says so through its members:

* it can neither cancel a job nor count devices; the documented way to have both is a hook / operator given
  ``iothub_conn_id``, a connection to the hub behind the service. The harness's connections do that
  (``hub_conn_id``, set by :meth:`env` from the emulator's ``hub``), so ``supports_cancel`` and ``supports_count``
  are true and the cancel requests are the hub's ``POST /jobs/v2/{id}/cancel`` (:meth:`request_log` merges the
  hub's log in). There is no cancel operator of its own (``has_cancel_operator``);
* the create call is ``POST /v1/jobs``: its JobId is in the body, not the path. The harness records it per
  request (:func:`track_job_ids`), so ``requests("create", suffix=<job id>)`` counts the create calls of a job;
* the hub's active-jobs limit surfaces as the service's 500 ``IotHubThrottledException`` (``busy_status``);
* auth: the emulator always runs with ``auth``; the connection's password is a bearer JWT signed with a fixed
  key (the canary), a wrong key is another JWT signed with another key (401 ``{"Error": ...}``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import BackendHarness, FuzzInputs
from tests.harness.iothub import bad_job_ids, condition

CONN_ID = "iothub_manager_default"
HUB_CONN_ID = "azure_iot_hub_default"  # what the emulator's airflow_env names the hub's connection

# The emulator's JWT settings (its defaults; written out here, not imported) and a fixed signing key, so that the
# bearer token — the canary — is one known string.
JWT_ISSUER = "https://sts.windows.net/emulated-tenant/"
JWT_AUDIENCE = "emulated-remote-monitoring"
JWT_KEY = b"CANARY-iothub-manager-jwt-signing-key-0123"
WRONG_JWT_KEY = b"CANARY-wrong-iothub-manager-jwt-signing-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def jwt(key: bytes, subject: str) -> str:
    """An HS256 bearer token for the emulator's issuer and audience, role ``admin``, valid 2023 to 2100."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": subject,
        "roles": ["admin"],
        "iat": 1_700_000_000,
        "nbf": 1_700_000_000,
        "exp": 4_102_444_800,
    }
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    return signing_input + "." + _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


# Canaries of the secrets suite: the bearer token, a token signed with a wrong key, the fronted hub's owner key.
TOKEN = jwt(JWT_KEY, "canary-user")
WRONG_TOKEN = jwt(WRONG_JWT_KEY, "canary-user")
HUB_KEY = base64.b64encode(b"CANARY-manager-hub-key-do-not-leak-0123456789").decode()


# ------------------------------------------------------------------------------------------------ job ids of creates

_JOB_IDS: weakref.WeakKeyDictionary[Any, list[tuple[str, str, int, str]]] = weakref.WeakKeyDictionary()


def track_job_ids(emulator: Any) -> None:
    """Record ``(method, path, status, JobId)`` for every request the service answers (the JobId of a create call
    is in its body, which the request log does not keep). The fault injector decides on every request, body read,
    in the thread that serves it, before the server records it: the JobId is kept there, per thread."""
    log: list[tuple[str, str, int, str]] = []
    _JOB_IDS[emulator] = log
    local = threading.local()
    decide, server = emulator.faults.decide, emulator._http
    record = server.record

    def deciding(request: Any) -> Any:
        job_id = ""
        if request.method == "POST":
            with contextlib.suppress(Exception):
                job_id = str(json.loads(request.body).get("JobId") or "")
        local.job_id = job_id
        return decide(request)

    def recording(method: str, path: str, status: int) -> None:
        log.append((method, path, status, getattr(local, "job_id", "")))
        local.job_id = ""
        record(method, path, status)

    emulator.faults.decide = deciding
    server.record = recording


# ------------------------------------------------------------------------------------------------ operators

QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def quick(build: Any) -> Any:
    return lambda **overrides: build(**{**QUICK, **overrides})


def method(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerMethodJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_method",
        "query_condition": "*",
        "method_name": "reboot",
        "iothub_conn_id": HUB_CONN_ID,
    }
    options.update(overrides)
    return IoTHubManagerMethodJobOperator(**options)


def twin(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerTwinUpdateJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_twin",
        "query_condition": "*",
        "tags": {"ok": 1},
        "iothub_conn_id": HUB_CONN_ID,
    }
    options.update(overrides)
    return IoTHubManagerTwinUpdateJobOperator(**options)


def sensor(**overrides: Any) -> Any:
    from airflow_iot_jobs.sensors.iothub_manager import IoTHubManagerJobSensor

    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
        "iothub_conn_id": HUB_CONN_ID,
    }
    options.update(overrides)
    return IoTHubManagerJobSensor(**options)


@contextlib.contextmanager
def fuzz_targets() -> Iterator[Any]:
    """The service and the hub behind it (counts go there): both must see zero requests."""
    from tests.contract.fuzzing import Targets

    manager = IOTHUB_MANAGER_HARNESS.start(devices=20, seed=1, speed=50.0, max_active_jobs=50)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in IOTHUB_MANAGER_HARNESS.env(manager).items():
                patch.setenv(name, value)
            yield Targets(manager, manager.hub)
    finally:
        manager.stop()


# ------------------------------------------------------------------------------------------------ the harness


class IoTHubManagerHarness(BackendHarness):
    name = "iothub_manager"
    routes = {
        "create": ("POST", "/v1/jobs"),
        "progress": ("GET", "/v1/jobs/"),
        "cancel": ("POST", "/jobs/v2/"),  # on the hub (iothub_conn_id): the service has no cancel route
    }
    route_paths = {
        "create": r"/v1/jobs",
        "progress": r"/v1/jobs/[^/]+",
        "cancel": r"/jobs/v2/[^/]+/cancel",
    }
    codes = {
        "already_exists_status": 409,  # ConflictingResourceException
        "not_found": "404 JobNotFound",  # the service answers status Unknown; the hook makes it a 404
        "not_found_message": "no job '{job_id}'",
        "unauthorized": "401 Unauthorized",
        "unauthorized_status": 401,
        "throttled": "429 Exception",
        "throttled_status": 429,
        "throttled_message": "HTTP 429 Exception: Injected fault: too many requests",
        "busy": "500 IotHubThrottledException",  # the hub's ThrottlingMaxActiveJobCountExceeded, passed on
        "busy_status": 500,
        "busy_message": "The maximum number of active jobs (1) has been reached",
    }
    canaries = {
        "iothub manager bearer token": TOKEN,
        "wrong iothub manager bearer token": WRONG_TOKEN,
        "iothub manager's hub key": HUB_KEY,
    }
    canary_key = TOKEN
    wrong_key = WRONG_TOKEN
    logged_secrets = ("bearer token", "hub connection string")
    hub_conn_id = HUB_CONN_ID
    has_cancel_operator = False

    @property
    def backend(self) -> Any:
        from airflow_iot_jobs.backends import IOTHUB_MANAGER

        return IOTHUB_MANAGER

    @property
    def supports_cancel(self) -> bool:
        return True  # through the hub: hook_params name iothub_conn_id

    @property
    def supports_count(self) -> bool:
        return True

    def hook_params(self, conn_id: str | None = None) -> dict[str, Any]:
        return {**super().hook_params(conn_id), "iothub_conn_id": self.hub_conn_id}

    @property
    def fuzz(self) -> FuzzInputs:
        return FuzzInputs(
            jobs={"method": quick(method), "twin": quick(twin)},
            sensor=sensor,
            cancel=None,
            timeouts={"method": quick(method), "twin": quick(twin)},
            max_devices={"method": quick(method), "twin": quick(twin)},
            bad_job_ids=bad_job_ids(),  # the hub's rule: the service passes the id on
            targets=fuzz_targets,
        )

    # -- the emulator

    def start(self, **options: Any) -> Any:
        from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator

        key = options.pop("key", None)
        if key not in (None, TOKEN):
            raise ValueError(
                "the IoTHub Manager emulator accepts the harness's canary token (key=TOKEN) only"
            )
        options.setdefault("hub_key", HUB_KEY)
        emulator = IoTHubManagerEmulator(auth=True, jwt_key=JWT_KEY, **options)
        track_job_ids(emulator)
        return emulator.start()

    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        """``key``: another bearer token than the canary."""
        connection: dict[str, Any] = {
            "conn_type": self.backend.conn_type,
            "host": emulator.endpoint,
            "password": TOKEN if key is None else key,
        }
        if extra:
            connection["extra"] = extra
        return connection

    def hub_connection(self, emulator: Any) -> dict[str, Any]:
        return {
            "conn_type": "azure_iot_hub",
            "password": emulator.hub.connection_string,
            "extra": {"endpoint_url": emulator.hub.endpoint},
        }

    def env(self, emulator: Any, conn_id: str | None = None, **kwargs: Any) -> dict[str, str]:
        """The service's connection and the hub's (``iothub_conn_id``), as the emulator's ``airflow_env``."""
        return {
            **super().env(emulator, conn_id, **kwargs),
            f"AIRFLOW_CONN_{self.hub_conn_id.upper()}": json.dumps(self.hub_connection(emulator)),
        }

    def request_log(self, emulator: Any) -> list[tuple[str, str, int]]:
        """The service's requests, then the hub's (the cancels and counts through ``iothub_conn_id``)."""
        return [*emulator.request_log, *emulator.hub.request_log]

    def requests(self, emulator: Any, route: str, status: int | None = None, suffix: str = "") -> int:
        if route != "create" or not suffix:
            return super().requests(emulator, route, status, suffix)
        return sum(
            1
            for m, path, s, job_id in list(_JOB_IDS[emulator])
            if self.is_route("create", m, path)
            and job_id.startswith(suffix)
            and (status is None or s == status)
        )

    def release(self, emulator: Any, seconds: float = 600.0) -> None:
        """Catch a held clock up with the wall clock first, then let ``seconds`` pass: the operators always send
        ``StartTimeUtc`` (the worker's now), so a job created while the clock stood still starts at a moment the
        held clock has not reached yet."""
        import time

        clock = emulator.timeline.clock
        clock.advance(max(0.0, time.time() - clock.now()) + seconds)

    def remote_jobs(self, emulator: Any) -> list[str]:
        return list(emulator.state.jobs)

    def remote_status(self, emulator: Any, job_id: str) -> dict[str, Any]:
        job = emulator.state.get_job(job_id)
        stats = job.get("deviceJobStatistics") or {}
        return {
            "phase": job["status"],
            "done": stats.get("succeededCount", 0),
            "total": stats.get("deviceCount", 0),
        }

    def matching(self, emulator: Any, devices: Any = "*") -> int:
        """Every device of the hub for "*", else those whose twin tags hold every tag -> value."""
        with emulator.lock:
            docs = [device.doc for device in emulator.fleet.devices()]
        if devices == "*":
            return len(docs)
        return sum(1 for doc in docs if all(doc["tags"].get(tag) == value for tag, value in devices.items()))

    def launch(self, emulator: Any, job_id: str, **options: Any) -> str:
        from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook

        IoTHubManagerHook().create_device_method_job(
            job_id, condition(options.get("devices", "*")), options.get("action", "ping")
        )
        return job_id

    def cancel_remote(self, emulator: Any, job_id: str) -> None:
        emulator.state.cancel_job(job_id)

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        """What the reverse proxy sends: ``X-Source`` makes the service check the bearer token."""
        return {"X-Source": "external", "Authorization": f"Bearer {token}"}

    def raw_create(self, emulator: Any, job_id: str) -> Any:
        import requests

        body = {
            "JobId": job_id,
            "QueryCondition": "*",
            "MaxExecutionTimeInSeconds": 3600,
            "MethodParameter": {
                "Name": "ping",
                "ResponseTimeout": "00:00:30",
                "ConnectionTimeout": "00:00:30",
            },
        }
        return requests.post(
            f"{emulator.endpoint}/v1/jobs", json=body, headers=self.headers(TOKEN), timeout=10
        )

    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        import requests

        token = TOKEN if authorized else WRONG_TOKEN
        return requests.get(f"{emulator.endpoint}/v1/jobs/{job_id}", headers=self.headers(token), timeout=10)

    # -- operators

    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerMethodJobOperator

        options: dict[str, Any] = {
            "task_id": task_id,
            "query_condition": condition(overrides.pop("devices", "*")),
            "method_name": overrides.pop("action", "reboot"),
            "iothub_conn_id": self.hub_conn_id,
        }
        if "conn_id" in overrides:
            options[self.backend.conn_param] = overrides.pop("conn_id")
        options.update(overrides)
        return IoTHubManagerMethodJobOperator(**options)

    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any:
        raise NotImplementedError(
            "the IoTHub Manager service has no cancel route, so no cancel operator (has_cancel_operator)"
        )

    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any:
        return sensor(task_id=task_id, **overrides)

    # -- secrets

    def secrets_tasks(self, **_: Any) -> dict[str, str]:
        """A twin-update job through the service."""
        from airflow_iot_jobs.operators.iothub_manager import IoTHubManagerTwinUpdateJobOperator

        IoTHubManagerTwinUpdateJobOperator(
            task_id="tag",
            query_condition="tags.site = 'sea'",
            tags={"window": "{{ ds }}"},
            iothub_conn_id=self.hub_conn_id,
            poll_interval=0.3,
            max_poll_interval=1.0,
        )
        return {"tag": "success"}

    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        return {
            "wrong key": self.connection(emulator, key=WRONG_TOKEN),
            "no host": {"conn_type": self.backend.conn_type, "password": TOKEN},
            "not an http url": {
                "conn_type": self.backend.conn_type,
                "host": "ftp://" + emulator.endpoint.split("://", 1)[1],
                "password": TOKEN,
            },
        }

    def log_connection_secrets(self) -> None:
        import logging

        from airflow_iot_jobs.hooks.iothub import IoTHubHook
        from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook

        token = IoTHubManagerHook().settings.token  # registers the token with the masker
        hub = IoTHubHook(iothub_conn_id=self.hub_conn_id).settings
        log = logging.getLogger("airflow.task")
        log.info("bearer token: %s", token)
        log.info("hub connection string: %s", hub.connection_string)


IOTHUB_MANAGER_HARNESS = IoTHubManagerHarness()
