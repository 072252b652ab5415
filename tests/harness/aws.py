"""The AWS IoT Jobs harness: the emulator, the connection a user writes (the Amazon provider's ``aws``), operator
factories, the jobs the account holds, its canaries and fuzz inputs.

What a "typical device job" is on AWS IoT: a job document (``{"operation": <action>}``) sent to thing groups. The
neutral device selection of the shared suites ("*" or tag -> value) becomes thing groups: "*" is ``fleet`` (every
site group is its child), a tag -> value is the group ``<tag>-<value>`` — the emulator makes ``site-*``,
``model-*`` and ``ring-*``; the harness adds ``floor-<n>`` groups to the registry when it starts an emulator (state,
no request). AWS targets the union of its groups, so a selection names one tag. ``matching`` counts the things
whose attributes hold the selection, from the registry, without the emulator's group expansion.

Where AWS differs from the Azure services, the harness says so through its members:

* the statuses: ``ThrottlingException`` is 400 in ``iot``, ``LimitExceededException`` (the active-jobs limit) is
  410, a wrong secret is 403 ``InvalidSignatureException`` (``codes``);
* the routes: CreateJob is ``PUT /jobs/{jobId}`` and CancelJob ``PUT /jobs/{jobId}/cancel`` (``route_paths``);
* an offline thing never picks its execution up: it stays QUEUED and a SNAPSHOT job never ends (AWS has no
  timeout for a queued execution), so the fleet whose devices fail every job fails them by ``failure_rate``
  (``failing_fleet``);
* jobs take no ``start_time`` (``schedulingConfig.startTime`` is at least 30 minutes ahead).
"""

from __future__ import annotations

import contextlib
import json
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import BackendHarness, FuzzInputs

CONN_ID = "aws_default"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIAIOSFODNN7CANARY0"  # an access key id is not a secret (it shows in every request)

# Canaries of the secrets suite: the account's secret access key and a wrong one (40 characters, with the '/' and
# '+' a real secret has, so the URL-encoded and JSON-escaped spellings differ from the raw one).
SECRET_KEY = "CANARY/aws+secret+access+key+dontleak01"
WRONG_SECRET_KEY = "CANARY/wrong+aws+secret+must+stay+hid02"


# ------------------------------------------------------------------------------------------------ devices


def group_of(devices: Any) -> str:
    """A neutral device selection ("*" or one tag -> value, templates allowed) as a thing-group name."""
    if devices == "*":
        return "fleet"
    if len(devices) != 1:
        raise ValueError(f"an AWS job targets the union of its groups: select one tag, got {devices!r}")
    ((tag, value),) = devices.items()
    return f"{tag}-{value}"


def targets(devices: Any) -> list[str]:
    return [f"thinggroup/{group_of(devices)}"]


def document(action: str = "reboot", payload: Any = None) -> dict[str, Any]:
    """The job document a simulated thing runs: ``operation`` is the action."""
    doc: dict[str, Any] = {"operation": action}
    if payload is not None:
        doc["payload"] = payload
    return doc


# ------------------------------------------------------------------------------------------------ operators

QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def quick(build: Any) -> Any:
    return lambda **overrides: build(**{**QUICK, **overrides})


def snapshot_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_snapshot",
        "targets": targets("*"),
        "document": document("reboot"),
    }
    options.update(overrides)
    return AwsIoTJobOperator(**options)


def continuous_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_continuous",
        "targets": ["thinggroup/ring-canary", "thing/thing-00001"],
        "document": document("firmwareUpdate", {"version": "2.0.0"}),
        "target_selection": "CONTINUOUS",
        "abort_config": {
            "criteriaList": [
                {
                    "failureType": "FAILED",
                    "action": "CANCEL",
                    "thresholdPercentage": 10,
                    "minNumberOfExecutedThings": 5,
                }
            ]
        },
    }
    options.update(overrides)
    return AwsIoTJobOperator(**options)


def sensor(**overrides: Any) -> Any:
    from airflow_iot_jobs.sensors.aws_iot import AwsIoTJobSensor

    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
    }
    options.update(overrides)
    return AwsIoTJobSensor(**options)


def cancel(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.aws_iot import AwsIoTCancelJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_cancel"}
    options.update(overrides)
    return AwsIoTCancelJobOperator(**options)


def delete(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.aws_iot import AwsIoTDeleteJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_delete", "job_id": "some-job"}
    options.update(overrides)
    return AwsIoTDeleteJobOperator(**options)


# ------------------------------------------------------------------------------------------------ fuzz inputs

# The iot model's JobId (written out here from the API reference, not imported): length 1-64, pattern
# [a-zA-Z0-9_-]+. An empty id names no job.
VALID_JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
JOB_ID_CHARS = string.ascii_letters + string.digits + "_-"


def bad_job_ids() -> Any:
    from hypothesis import strategies as st

    from tests.contract.fuzzing import text

    return st.one_of(
        text.filter(lambda s: not VALID_JOB_ID.fullmatch(s)),
        st.text(JOB_ID_CHARS, min_size=65, max_size=200),
        st.sampled_from(
            [
                "",
                " ",
                "has space",
                "dot.inside",
                "slash/inside",
                "colon:inside",
                "percent%20",
                "é-accent",
                "a" * 65,
            ]
        ),
    )


@contextlib.contextmanager
def fuzz_targets() -> Iterator[Any]:
    """The account: it must see zero requests."""
    from tests.contract.fuzzing import Targets

    account = AWS_HARNESS.start(devices=20, seed=1, speed=50.0, max_active_jobs=50)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", AWS_HARNESS.connection_json(account))
            yield Targets(account)
    finally:
        account.stop()


# ------------------------------------------------------------------------------------------------ signing


def signed(
    emulator: Any, method: str, path: str, body: dict[str, Any] | None = None, secret: str | None = None
) -> Any:
    """A bare HTTP request to the ``iot`` plane, SigV4-signed as botocore signs it (``secret``: another one)."""
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from airflow_iot_jobs.emulator.aws.wire import signing_name

    url = f"{emulator.endpoint}{path}"
    data = b"" if body is None else json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = Credentials(emulator.aws_access_key_id, secret or emulator.aws_secret_access_key)
    SigV4Auth(credentials, signing_name("iot"), emulator.region).add_auth(request)
    return requests.request(method, url, data=data, headers=dict(request.headers), timeout=10)


# ------------------------------------------------------------------------------------------------ the harness

#: the engine's phase -> the neutral phase of ``remote_status`` (an IN_PROGRESS job is queued until it runs)
PHASES = {
    "queued": "queued",
    "scheduled": "queued",
    "running": "running",
    "completed": "completed",
    "cancelled": "cancelled",
    "failed": "failed",
}


class AwsHarness(BackendHarness):
    name = "aws"
    routes = {
        "create": ("PUT", "/jobs/"),
        "progress": ("GET", "/jobs/"),
        "cancel": ("PUT", "/jobs/"),
    }
    # CreateJob and CancelJob share the PUT /jobs/ prefix; DescribeJob's GET /jobs/{jobId} is also the prefix of
    # GetJobDocument and ListJobExecutionsForJob.
    route_paths = {
        "create": r"/jobs/[^/]+",
        "progress": r"/jobs/[^/]+",
        "cancel": r"/jobs/[^/]+/cancel",
    }
    codes = {
        "already_exists_status": 409,  # ResourceAlreadyExistsException
        "not_found": "404 ResourceNotFoundException",
        "not_found_message": "Job {job_id} does not exist.",
        "unauthorized": "403 InvalidSignatureException",
        "unauthorized_status": 403,
        "throttled": "400 ThrottlingException",  # iot's model: ThrottlingException is 400
        "throttled_status": 400,
        "throttled_message": "HTTP 400 ThrottlingException: Injected fault: too many requests",
        "busy": "410 LimitExceededException",
        "busy_status": 410,
        "busy_message": "The maximum number of active jobs (1) for this account has been reached.",
    }
    canaries = {"aws secret access key": SECRET_KEY, "wrong aws secret access key": WRONG_SECRET_KEY}
    canary_key = SECRET_KEY
    wrong_key = WRONG_SECRET_KEY
    logged_secrets = ("secret access key",)
    # schedulingConfig.startTime must be at least 30 minutes ahead: the job operator takes no start_time.
    supports_start_time = False
    # The job's own abort criteria: AWS cancels it (reasonCode ABORTED_BY_ABORT_CONFIG) once a fifth of at least
    # ten finished executions FAILED.
    abort_overrides = {
        "abort_config": {
            "criteriaList": [
                {
                    "failureType": "FAILED",
                    "action": "CANCEL",
                    "thresholdPercentage": 20,
                    "minNumberOfExecutedThings": 10,
                }
            ]
        }
    }

    @property
    def backend(self) -> Any:
        from airflow_iot_jobs.backends import AWS_IOT

        return AWS_IOT

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
            bad_job_ids=bad_job_ids(),
            targets=fuzz_targets,
        )

    # -- the emulator

    def failing_fleet(self, share: float) -> dict[str, float]:
        """An offline thing's execution stays QUEUED (AWS times out IN_PROGRESS executions only), so a SNAPSHOT
        job over it never ends: the devices that fail are failed runs."""
        return {"offline_rate": 0.0, "failure_rate": share}

    def start(self, **options: Any) -> Any:
        from airflow_iot_jobs.emulator.aws.server import AwsIoTEmulator

        if "devices" in options:
            options["things"] = options.pop("devices")
        if "key" in options:
            options["aws_secret_access_key"] = options.pop("key")
        options.setdefault("aws_access_key_id", ACCESS_KEY_ID)
        options.setdefault("region", REGION)
        emulator = AwsIoTEmulator(**options)
        self.add_floor_groups(emulator)
        return emulator.start()

    @staticmethod
    def add_floor_groups(emulator: Any) -> None:
        """``floor-<n>`` thing groups (the emulator groups things by site, model and ring only)."""
        registry = emulator.registry
        with emulator.lock:
            now = emulator.timeline.now()
            for thing in sorted(registry.things.values(), key=lambda t: t.name):
                floor = thing.attributes.get("floor")
                if floor is None:
                    continue
                group = f"floor-{floor}"
                if group not in registry.groups:
                    registry.create_group(group, None, now, attributes={"floor": floor})
                registry.add_to_group(thing.name, group)

    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        """``key``: another secret access key for the account's key id."""
        return {
            "conn_type": self.backend.conn_type,
            "login": emulator.aws_access_key_id,
            "password": key if key is not None else emulator.aws_secret_access_key,
            "extra": {"region_name": emulator.region, "endpoint_url": emulator.endpoint, **extra},
        }

    def remote_jobs(self, emulator: Any) -> list[str]:
        with emulator.lock:
            return list(emulator.state.jobs)

    def remote_status(self, emulator: Any, job_id: str) -> dict[str, Any]:
        with emulator.lock:
            emulator.state.advance()  # the state moves on reads; no request is sent
            job = emulator.state.job(job_id)
            statuses = [ex.status for ex in job.executions.values()]
            phase = str(job.status)
        return {
            "phase": PHASES[phase],
            "done": statuses.count("SUCCEEDED"),
            "total": len(statuses),
        }

    def matching(self, emulator: Any, devices: Any = "*") -> int:
        """The simulated things whose attributes hold the selection (every one for "*")."""
        with emulator.lock:
            things = [thing for thing in emulator.registry.things.values() if thing.simulated]
        selection = {} if devices == "*" else devices
        return sum(
            1
            for thing in things
            if all(thing.attributes.get(tag) == str(value) for tag, value in selection.items())
        )

    def launch(self, emulator: Any, job_id: str, **options: Any) -> str:
        from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

        group = emulator.registry.arn("thinggroup", group_of(options.get("devices", "*")))
        AwsIoTJobsHook().create_job(
            jobId=job_id,
            targets=[group],
            document=json.dumps(document(options.get("action", "ping"))),
        )
        return job_id

    def cancel_remote(self, emulator: Any, job_id: str) -> None:
        with emulator.lock:  # what a user's CancelJob from the console does
            emulator.state.cancel_job(job_id, force=False, reason_code=None, comment=None)

    def raw_create(self, emulator: Any, job_id: str) -> Any:
        body = {
            "targets": [emulator.registry.arn("thinggroup", "fleet")],
            "document": json.dumps(document("ping")),
        }
        return signed(emulator, "PUT", f"/jobs/{job_id}", body)

    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        return signed(emulator, "GET", f"/jobs/{job_id}", secret=None if authorized else WRONG_SECRET_KEY)

    # -- operators

    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

        options: dict[str, Any] = {
            "task_id": task_id,
            "targets": targets(overrides.pop("devices", "*")),
            "document": document(overrides.pop("action", "reboot"), overrides.pop("payload", None)),
        }
        if "conn_id" in overrides:
            options[self.backend.conn_param] = overrides.pop("conn_id")
        options.update(overrides)
        return AwsIoTJobOperator(**options)

    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any:
        return cancel(task_id=task_id, **overrides)

    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any:
        return sensor(task_id=task_id, **overrides)

    # -- secrets

    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        base = {
            "conn_type": "aws",
            "extra": {"region_name": emulator.region, "endpoint_url": emulator.endpoint},
        }
        return {
            "wrong key": self.connection(emulator, key=WRONG_SECRET_KEY),
            "unknown key id": {**base, "login": "AKIAUNKNOWNKEY000000", "password": SECRET_KEY},
            "another region": self.connection(emulator, region_name="eu-west-1"),
        }

    def log_connection_secrets(self) -> None:
        import logging

        from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

        credentials = AwsIoTJobsHook().get_credentials()  # read from the connection (its password is masked)
        logging.getLogger("airflow.task").info("secret access key: %s", credentials.secret_key)


AWS_HARNESS = AwsHarness()
