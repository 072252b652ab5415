"""The Device Management API harness (AWS IoT jobs through the ``@softchef/cdk-iot-device-management`` Job API):
the ``aws`` emulator, whose facade serves the Job API under ``/device-management/prod`` on the same port and state,
the connections a user writes, operator factories, the jobs the account holds, its canaries and fuzz inputs.

What a "typical device job" is: the AWS harness's (:mod:`tests.harness.aws`: a job document sent to thing groups,
"*" = ``fleet``, tag -> value = the group ``<tag>-<value>``, the same emulator, things and groups), created with
``POST /jobs`` over thing-group ARNs. Where this backend differs, the harness says so through its members:

* the service picks the job ids (a uuid) and ``POST /jobs`` answers ``{"created": true}`` without one
  (``service_ids``): the task instance's marker ``[airflow:<derived id>]`` ends the job's description, and the
  operator searches for it (``GET /jobs``, then ``GET /jobs/{id}`` per candidate) before and after its create call.
  The harness records the marker of every create call (the request log keeps no body: :func:`track_markers`), so
  ``requests("create", suffix=...)`` counts the create calls for a derived id (``"reboot-"``) or for the job a
  create made (its uuid); a request whose path names a job (progress, cancel) matches a suffix by the job's id or
  its marker. :meth:`launch` and :meth:`raw_create` mark their jobs ``[airflow:<name>]`` (:meth:`jobs_named`). A
  re-sent create is not refused (there is no "already exists"): a re-attach is a marker search that finds the job
  an earlier attempt created, with no second ``POST`` (:meth:`reattaches`);
* routes: ``POST /device-management/prod/jobs``, ``GET …/jobs/{id}``, ``PUT …/jobs/{id}/cancel`` (``routes``);
* errors (``codes``): unknown job 404 ``ResourceNotFoundException``; the active-jobs limit is the create-job
  Lambda's 500 ``{"error": "LimitExceededException: …"}`` (it never maps an error), which the hook classifies
  busy by its type; throttling is API Gateway's 429 ``TooManyRequestsException``;
* auth: the harness's emulators run the Job API with ``auth`` ``iam`` (requests SigV4-signed for
  ``execute-api`` with the account's keys), so a wrong secret access key is API Gateway's 403 and there is a
  secret to leak (the canary: the secret access key, the same one the ``aws`` connection holds);
* counting: the Job API cannot list a thing group's things, so the harness's hooks and operators name
  ``aws_conn_id="aws_default"``, an ``aws`` connection to the same emulator (set by :meth:`env`, as the emulator's
  ``airflow_env`` sets it): ``max_devices`` and the empty-target check work (``supports_count``);
* jobs take no ``start_time`` and the Job API sends no abort config (``supports_start_time``, ``abort_overrides``).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import FuzzInputs
from tests.harness.aws import AwsHarness, bad_job_ids, document, group_of

CONN_ID = "iot_device_management_api_default"
AWS_CONN_ID = "aws_default"  # what the emulator's airflow_env names the aws connection (counts thing groups)
PREFIX = "/device-management/prod"  # the facade's mount: API Gateway's base URL with its stage
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # the emulator's default account (the AWS docs' examples)

# Canaries of the secrets suite: the account's secret access key (both connections hold it) and a wrong one.
SECRET_KEY = "CANARY/devmgmt+secret+access+key+dont01"
WRONG_SECRET_KEY = "CANARY/wrong+devmgmt+secret+stay+hid002"

#: the marker a task instance (or the harness) leaves at the end of a job's description
MARKER = re.compile(r"\[airflow:([^\]\s]+)\]\s*$")


def arn(kind: str, name: str) -> str:
    """An ARN of the emulator's default account and region (known at DAG parse, before any emulator runs)."""
    return f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:{kind}/{name}"


def targets(devices: Any) -> list[str]:
    return [arn("thinggroup", group_of(devices))]


def marker_of(description: Any) -> str | None:
    """The name in a description's ``[airflow:<name>]`` marker (a derived job id, or a harness job's name)."""
    match = MARKER.search(str(description or ""))
    return match.group(1) if match else None


# ------------------------------------------------------------------------------------------------ the markers of creates

_LOGS: weakref.WeakKeyDictionary[Any, list[tuple[str, str, int, str, bool]]] = weakref.WeakKeyDictionary()


def track_markers(emulator: Any) -> None:
    """Record ``(method, path, status, marker, held)`` for every request the emulator answers: ``marker`` is the
    description marker of a ``POST /jobs`` (in its body, which the request log does not keep); ``held`` whether
    the account held a job with a marker when the request was answered. The fault injector decides on every request,
    body read, in the thread that serves it, before the server records it: the marker is kept there, per thread."""
    log: list[tuple[str, str, int, str, bool]] = []
    _LOGS[emulator] = log
    local = threading.local()
    decide, server = emulator.faults.decide, emulator._http
    record = server.record

    def deciding(request: Any) -> Any:
        marker = ""
        if request.method == "POST" and request.path == f"{PREFIX}/jobs":
            with contextlib.suppress(Exception):
                marker = marker_of(json.loads(request.body).get("description")) or ""
        local.marker = marker
        return decide(request)

    def recording(method: str, path: str, status: int) -> None:
        held = False
        if method == "GET" and path == f"{PREFIX}/jobs":
            with emulator.lock:
                held = any(marker_of(job.fields.get("description")) for job in emulator.state.jobs.values())
        log.append((method, path, status, getattr(local, "marker", ""), held))
        local.marker = ""
        record(method, path, status)

    emulator.faults.decide = deciding
    server.record = recording


# ------------------------------------------------------------------------------------------------ operators

QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def quick(build: Any) -> Any:
    return lambda **overrides: build(**{**QUICK, **overrides})


def snapshot_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_snapshot",
        "targets": targets("*"),
        "document": document("reboot"),
        "aws_conn_id": AWS_CONN_ID,
    }
    options.update(overrides)
    return DeviceManagementApiJobOperator(**options)


def continuous_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_continuous",
        "targets": [arn("thinggroup", "ring-canary"), arn("thing", "thing-00001")],
        "document": document("firmwareUpdate", {"version": "2.0.0"}),
        "target_selection": "CONTINUOUS",
        "description": "firmware 2.0.0 for the canary ring",
        "aws_conn_id": AWS_CONN_ID,
    }
    options.update(overrides)
    return DeviceManagementApiJobOperator(**options)


def sensor(**overrides: Any) -> Any:
    from airflow_iot_jobs.sensors.device_management_api import DeviceManagementApiJobSensor

    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
    }
    options.update(overrides)
    return DeviceManagementApiJobSensor(**options)


def cancel(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiCancelJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_cancel"}
    options.update(overrides)
    return DeviceManagementApiCancelJobOperator(**options)


def delete(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiDeleteJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_delete", "job_id": "some-job"}
    options.update(overrides)
    return DeviceManagementApiDeleteJobOperator(**options)


#: the job operator's own invalid inputs (case -> overrides of a snapshot job, the field its error must name)
INVALID_JOBS: dict[str, tuple[dict[str, Any], str]] = {
    "thing-group name, not an ARN": ({"targets": ["thinggroup/fleet"]}, "targets"),
    "thing name, not an ARN": ({"targets": ["thing-00001"]}, "targets"),
    "no targets": ({"targets": []}, "targets"),
    "no document": ({"document": None}, "document"),
    "empty document": ({"document": {}}, "document"),
    "bad target_selection": ({"target_selection": "SOMETIMES"}, "target_selection"),
    "a job_id (the service picks it)": ({"job_id": "my-job"}, "job_id"),
    "a valid-looking job_id": ({"job_id": "reboot-fleet-2026"}, "job_id"),
    "max_devices over a thing group without aws_conn_id": (
        {"max_devices": 10, "aws_conn_id": None},
        "max_devices",
    ),
    "success_threshold above 100 %": ({"success_threshold": "101%"}, "success_threshold"),
    "negative failure_threshold": ({"failure_threshold": -1}, "failure_threshold"),
    "description too long for the marker": ({"description": "x" * 2028}, "description"),
}


@contextlib.contextmanager
def fuzz_targets() -> Iterator[Any]:
    """The account, both planes (the Job API and the ``iot`` plane aws_conn_id counts through): zero requests."""
    from tests.contract.fuzzing import Targets

    account = DEVICE_MANAGEMENT_API_HARNESS.start(devices=20, seed=1, speed=50.0, max_active_jobs=50)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in DEVICE_MANAGEMENT_API_HARNESS.env(account).items():
                patch.setenv(name, value)
            yield Targets(account)
    finally:
        account.stop()


# ------------------------------------------------------------------------------------------------ signing


def signed(
    emulator: Any, method: str, path: str, body: dict[str, Any] | None = None, secret: str | None = None
) -> Any:
    """A bare HTTP request to the Job API, SigV4-signed for ``execute-api`` as the hook signs it (``secret``:
    another one)."""
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{emulator.device_management_api_url}{path}"
    data = b"" if body is None else json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = Credentials(emulator.aws_access_key_id, secret or emulator.aws_secret_access_key)
    SigV4Auth(credentials, "execute-api", emulator.region).add_auth(request)
    return requests.request(method, url, data=data, headers=dict(request.headers), timeout=10)


# ------------------------------------------------------------------------------------------------ the harness


class DeviceManagementApiHarness(AwsHarness):
    name = "device_management_api"
    routes = {
        "create": ("POST", f"{PREFIX}/jobs"),
        "progress": ("GET", f"{PREFIX}/jobs/"),
        "cancel": ("PUT", f"{PREFIX}/jobs/"),
    }
    # POST /jobs is also the prefix of POST /job-templates; GET /jobs/{id} of its document, executions...
    route_paths = {
        "create": re.escape(PREFIX) + r"/jobs",
        "progress": re.escape(PREFIX) + r"/jobs/[^/]+",
        "cancel": re.escape(PREFIX) + r"/jobs/[^/]+/cancel",
    }
    codes = {
        "already_exists_status": None,  # nothing refuses a second create: the service picks the ids
        "not_found": "404 ResourceNotFoundException",
        "not_found_message": "Job {job_id} does not exist.",
        "unauthorized": "403 InvalidSignatureException",
        "unauthorized_status": 403,
        "throttled": "429 TooManyRequestsException",  # API Gateway's throttle
        "throttled_status": 429,
        "throttled_message": "HTTP 429 TooManyRequestsException: Too Many Requests",
        "busy": "500 LimitExceededException",  # the create-job Lambda's SDK error, never mapped
        "busy_status": 500,
        "busy_message": "The maximum number of active jobs (1) for this account has been reached.",
    }
    canaries = {
        "device management api secret access key": SECRET_KEY,
        "wrong device management api secret access key": WRONG_SECRET_KEY,
    }
    canary_key = SECRET_KEY
    wrong_key = WRONG_SECRET_KEY
    logged_secrets = ("secret access key",)
    service_ids = True
    supports_start_time = False
    # The Job API's POST /jobs takes targets, document, targetSelection and description only: no abort config.
    abort_overrides = None
    aws_conn_id = AWS_CONN_ID

    @property
    def backend(self) -> Any:
        from airflow_iot_jobs.backends import DEVICE_MANAGEMENT_API

        return DEVICE_MANAGEMENT_API

    @property
    def supports_count(self) -> bool:
        return True  # thing groups are counted through aws_conn_id (hook_params)

    def hook_params(self, conn_id: str | None = None) -> dict[str, Any]:
        return {**super().hook_params(conn_id), "aws_conn_id": self.aws_conn_id}

    @property
    def fuzz(self) -> FuzzInputs:
        return FuzzInputs(
            jobs={"snapshot": quick(snapshot_job), "continuous": quick(continuous_job)},
            sensor=sensor,
            cancel=cancel,
            timeouts={
                "snapshot": quick(snapshot_job),
                "continuous": quick(continuous_job),
                "delete": delete,
            },
            max_devices={"snapshot": quick(snapshot_job), "continuous": quick(continuous_job)},
            bad_job_ids=bad_job_ids(),  # the sensor's, cancel's and delete's job ids: AWS IoT's rule
            targets=fuzz_targets,
            invalid={
                case: (quick(snapshot_job), overrides, field)
                for case, (overrides, field) in INVALID_JOBS.items()
            },
        )

    # -- the emulator

    def start(self, **options: Any) -> Any:
        options.setdefault("device_management_auth", "iam")
        options.setdefault("key", SECRET_KEY)
        emulator = super().start(**options)
        track_markers(emulator)
        return emulator

    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        """The Job API's connection (auth ``iam``: the account's keys); ``key``: another secret access key."""
        return {
            "conn_type": self.backend.conn_type,
            "host": emulator.device_management_api_url,
            "login": emulator.aws_access_key_id,
            "password": key if key is not None else emulator.aws_secret_access_key,
            "extra": {"auth": "iam", "region": emulator.region, **extra},
        }

    def env(self, emulator: Any, conn_id: str | None = None, **kwargs: Any) -> dict[str, str]:
        """The Job API's connection and the ``aws`` one (``aws_conn_id``: it counts thing groups), as the
        emulator's ``airflow_env``; the ``aws`` one always holds the account's own key."""
        return {
            **super().env(emulator, conn_id, **kwargs),
            f"AIRFLOW_CONN_{self.aws_conn_id.upper()}": json.dumps(self.aws_connection(emulator)),
        }

    @staticmethod
    def aws_connection(emulator: Any) -> dict[str, Any]:
        """The Amazon provider's ``aws`` connection to the same account (what ``aws_conn_id`` names)."""
        return {
            "conn_type": "aws",
            "login": emulator.aws_access_key_id,
            "password": emulator.aws_secret_access_key,
            "extra": {"region_name": emulator.region, "endpoint_url": emulator.endpoint},
        }

    def marked_jobs(self, emulator: Any) -> dict[str, str | None]:
        """Job id -> the name in its description's marker (None: no marker)."""
        with emulator.lock:
            return {
                job_id: marker_of(job.fields.get("description"))
                for job_id, job in emulator.state.jobs.items()
            }

    def jobs_named(self, emulator: Any, name: str) -> list[str]:
        return [job_id for job_id, marker in self.marked_jobs(emulator).items() if marker == name]

    def _names(self, emulator: Any, job_id: str) -> tuple[str, ...]:
        marker = self.marked_jobs(emulator).get(job_id)
        return (job_id,) if marker is None else (job_id, marker)

    def requests(self, emulator: Any, route: str, status: int | None = None, suffix: str = "") -> int:
        """``suffix``: the job's id or the beginning of its marker (a derived id: ``"reboot-"``); a create call
        matches by the marker in its body, or when it created the job whose id is ``suffix``."""
        if not suffix:
            return super().requests(emulator, route, status)
        markers = self.marked_jobs(emulator)
        wanted = {suffix, markers.get(suffix) or suffix}
        count = 0
        for method, path, answered, marker, _held in list(_LOGS[emulator]):
            if not self.is_route(route, method, path) or (status is not None and answered != status):
                continue
            if route == "create":
                names = (marker,) if marker else ()
            else:
                job_id = path.removeprefix(self.routes[route][1]).split("/", 1)[0]
                names = (job_id, markers.get(job_id) or "")
            if any(n and (n.startswith(suffix) or n in wanted) for n in names):
                count += 1
        return count

    def reattaches(self, emulator: Any) -> int:
        """Marker searches (``GET /jobs``) answered while the account held a marked job, less one per create call
        answered 200 (the creator's own search, which learns its new job's id): a search that found the job of an
        earlier attempt. Until a creator killed between its create call and that search is followed by a search,
        the count is one short (the retry matrix compares it with its value when the next attempt starts)."""
        log = list(_LOGS[emulator])
        searches = sum(1 for m, p, s, _mk, held in log if m == "GET" and p == f"{PREFIX}/jobs" and held)
        creates = sum(1 for m, p, s, _mk, _h in log if self.is_route("create", m, p) and s == 200)
        return searches - creates

    def launch(self, emulator: Any, job_id: str, **options: Any) -> str:
        """A job marked ``[airflow:<job_id>]`` through the hook; returns the id the service gave it."""
        from airflow_iot_jobs.hooks.device_management_api import DeviceManagementApiHook

        hook = DeviceManagementApiHook(aws_conn_id=self.aws_conn_id)
        hook.create_job(
            targets=[emulator.registry.arn("thinggroup", group_of(options.get("devices", "*")))],
            document=json.dumps(document(options.get("action", "ping"))),
            description=f"[airflow:{job_id}]",
        )
        found = hook.find_job(f"airflow:{job_id}")
        assert found is not None, f"the Job API does not list the job marked {job_id!r}"
        return found

    def raw_create(self, emulator: Any, job_id: str) -> Any:
        """``POST /jobs`` marked ``[airflow:<job_id>]`` (the service answers ``{"created": true}``, no id)."""
        body = {
            "targets": [emulator.registry.arn("thinggroup", "fleet")],
            "document": json.dumps(document("ping")),
            "targetSelection": "SNAPSHOT",
            "description": f"[airflow:{job_id}]",
        }
        return signed(emulator, "POST", "/jobs", body)

    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        return signed(emulator, "GET", f"/jobs/{job_id}", secret=None if authorized else WRONG_SECRET_KEY)

    # -- operators

    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        from airflow_iot_jobs.operators.device_management_api import DeviceManagementApiJobOperator

        options: dict[str, Any] = {
            "task_id": task_id,
            "targets": targets(overrides.pop("devices", "*")),
            "document": document(overrides.pop("action", "reboot"), overrides.pop("payload", None)),
            "aws_conn_id": self.aws_conn_id,
        }
        if "conn_id" in overrides:
            options[self.backend.conn_param] = overrides.pop("conn_id")
        options.update(overrides)
        return DeviceManagementApiJobOperator(**options)

    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any:
        return cancel(task_id=task_id, **overrides)

    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any:
        return sensor(task_id=task_id, **overrides)

    # -- secrets

    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        base = {"conn_type": self.backend.conn_type, "host": emulator.device_management_api_url}
        return {
            "wrong key": self.connection(emulator, key=WRONG_SECRET_KEY),
            "unknown key id": {
                **base,
                "login": "AKIAUNKNOWNKEY000000",
                "password": SECRET_KEY,
                "extra": {"auth": "iam", "region": emulator.region},
            },
            "another region": self.connection(emulator, region="eu-west-1"),
            "secret without key id": {
                **base,
                "password": SECRET_KEY,
                "extra": {"auth": "iam", "region": emulator.region},
            },
            "unknown auth mode": {**self.connection(emulator), "extra": {"auth": "sigv5"}},
            "no host": {
                "conn_type": self.backend.conn_type,
                "login": emulator.aws_access_key_id,
                "password": SECRET_KEY,
                "extra": {"auth": "iam", "region": emulator.region},
            },
        }

    def log_connection_secrets(self) -> None:
        import logging

        from airflow_iot_jobs.hooks.device_management_api import DeviceManagementApiHook

        settings = DeviceManagementApiHook().settings  # read from the connection (its secrets are masked)
        logging.getLogger("airflow.task").info("secret access key: %s", settings.secret_key)


DEVICE_MANAGEMENT_API_HARNESS = DeviceManagementApiHarness()
