"""The Azure IoT Central harness: the emulator, the connection a user writes, operator factories, the jobs the
application holds, its canaries and fuzz inputs.

What a "typical device job" is on IoT Central: a job runs a capability of one device template (a command, a
writable property) on the devices of a device group, and a device of another template, or one that is not
provisioned, fails it. So the neutral device selection of the shared suites ("*" or tag -> value) becomes the
filter the docs show — ``SELECT * FROM devices WHERE $template = "<gateway template>" AND $provisioned = true`` —
with one condition per tag (the fleet's tags are Central cloud properties), and the job runs the action as a
command of that template. ``matching`` counts the same devices from the emulator's documents, without the filter
engine.
"""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import BackendHarness, FuzzInputs

CONN_ID = "azure_iot_central_default"
API = {"api-version": "2022-07-31"}
TEMPLATE = (
    "dtmi:airflowIotJobs:gateway100;1"  # the fleet's gw-100 devices (airflow_iot_jobs/emulator/iotcentral)
)
WRITABLE = "telemetryIntervalSeconds"  # a writable device property of every template

# Canaries of the secrets suite: whole IoT Central API tokens (the Authorization header value, reference §1.5), the
# application's and a wrong one (same application, token id and expiry; another signature). The signatures are not
# base64 on purpose: the secrets suite hunts for these exact strings, and its "unredacted SAS signature" pattern is
# kept for real signatures (an accidental match on a canary would be counted twice).
_TOKEN = "SharedAccessSignature sr=3f6a2c1e-canary-app&sig={sig}&skn=airflow-canary&se=4102444800000"
API_TOKEN = _TOKEN.format(sig="CANARY-iotcentral-api-token-do-not-leak-0123456789")
WRONG_TOKEN = _TOKEN.format(sig="CANARY-wrong-iotcentral-token-must-stay-hidden-01")


# ------------------------------------------------------------------------------------------------ devices


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f'"{value}"'


def device_filter(devices: Any) -> str:
    """A neutral device selection ("*" or tag -> value, templates allowed) as a Central device-group filter."""
    conditions = [f'$template = "{TEMPLATE}"', "$provisioned = true"]
    if devices != "*":
        conditions += [f"{tag} = {_literal(value)}" for tag, value in devices.items()]
    return "SELECT * FROM devices WHERE " + " AND ".join(conditions)


def command(action: str, payload: Any = None) -> list[dict[str, Any]]:
    """The job data that runs ``action`` as a command of the template."""
    entry: dict[str, Any] = {"type": "command", "target": TEMPLATE, "path": action}
    if payload is not None:
        entry["value"] = payload
    return [entry]


# ------------------------------------------------------------------------------------------------ operators

QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def quick(build: Any) -> Any:
    return lambda **overrides: build(**{**QUICK, **overrides})


def command_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_command",
        "device_filter": device_filter("*"),
        "data": command("reboot"),
    }
    options.update(overrides)
    return IoTCentralJobOperator(**options)


def property_job(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_property",
        "device_group_id": "fuzz-group",
        "data": [{"type": "property", "target": TEMPLATE, "path": WRITABLE, "value": 60}],
        "batch": "25%",
        "cancellation_threshold": "5%",
    }
    options.update(overrides)
    return IoTCentralJobOperator(**options)


def resume(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iotcentral import IoTCentralResumeJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_resume", "job_id": "some-job"}
    options.update(overrides)
    return IoTCentralResumeJobOperator(**options)


def rerun(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iotcentral import IoTCentralRerunJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_rerun", "job_id": "some-job"}
    options.update(overrides)
    return IoTCentralRerunJobOperator(**options)


def sensor(**overrides: Any) -> Any:
    from airflow_iot_jobs.sensors.iotcentral import IoTCentralJobSensor

    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
    }
    options.update(overrides)
    return IoTCentralJobSensor(**options)


def stop(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iotcentral import IoTCentralStopJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_stop"}
    options.update(overrides)
    return IoTCentralStopJobOperator(**options)


# ------------------------------------------------------------------------------------------------ fuzz inputs

# The spec's rule for jobId (and every other path id): pattern ^[a-zA-Z0-9_-]*$, maxLength 255 (written out here
# from /work/shared/reference/specs/iotcentral-2022-07-31-jobs-extract.json, not imported). An empty id names
# no job (the path would be the collection's).
VALID_JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,255}")
JOB_ID_CHARS = string.ascii_letters + string.digits + "_-"


def bad_job_ids() -> Any:
    from hypothesis import strategies as st

    from tests.contract.fuzzing import text

    return st.one_of(
        text.filter(lambda s: not VALID_JOB_ID.fullmatch(s)),
        st.text(JOB_ID_CHARS, min_size=256, max_size=400),
        st.sampled_from(
            [
                "",
                " ",
                "has space",
                "dot.inside",
                "slash/inside",
                "percent%20",
                "é-accent",
                "tab\there",
                "a" * 256,
            ]
        ),
    )


@contextlib.contextmanager
def fuzz_targets() -> Iterator[Any]:
    """The application: it must see zero requests."""
    from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator
    from tests.contract.fuzzing import Targets

    with (
        IoTCentralEmulator(devices=20, seed=1, speed=50.0, max_active_jobs=50) as app,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", IOTCENTRAL_HARNESS.connection_json(app))
        yield Targets(app)


# ------------------------------------------------------------------------------------------------ the harness

#: the emulator's wire status -> the neutral phase of ``remote_status``
PHASES = {
    "pending": "queued",
    "running": "running",
    "stopped": "paused",
    "complete": "completed",
    "cancelled": "cancelled",
    "failed": "failed",
}


class IoTCentralHarness(BackendHarness):
    name = "iotcentral"
    routes = {
        "create": ("PUT", "/api/jobs/"),
        "progress": ("GET", "/api/jobs/"),
        "cancel": ("POST", "/api/jobs/"),
    }
    route_paths = {"cancel": r"/api/jobs/[^/]+/stop"}
    codes = {
        "already_exists_status": 409,
        "not_found": "404 NotFound",
        "not_found_message": "Job with id '{job_id}' was not found.",
        "unauthorized": "401 Unauthorized",
        "unauthorized_status": 401,
        "throttled": "429 ThrottlingException",
        "throttled_status": 429,
        "throttled_message": "HTTP 429 ThrottlingException: Injected fault: too many requests",
        "busy": "429 TooManyJobs",
        "busy_status": 429,
        "busy_message": "You can't run more than 1 jobs at the same time in this application.",
    }
    canaries = {"iotcentral api token": API_TOKEN, "wrong iotcentral api token": WRONG_TOKEN}
    canary_key = API_TOKEN
    wrong_key = WRONG_TOKEN
    logged_secrets = ("api token",)
    # Central has no cancel: its stop pauses a job (resumable), which frees its slot.
    cancelled_phase = "paused"
    # Central jobs start when created (a later start is a scheduled job, another resource).
    supports_start_time = False

    @property
    def backend(self) -> Any:
        from airflow_iot_jobs.backends import IOTCENTRAL

        return IOTCENTRAL

    @property
    def fuzz(self) -> FuzzInputs:
        return FuzzInputs(
            jobs={"command": quick(command_job), "property": quick(property_job)},
            sensor=sensor,
            cancel=stop,
            timeouts={
                "command": quick(command_job),
                "property": quick(property_job),
                "resume": quick(resume),
                "rerun": quick(rerun),
            },
            max_devices={
                "command": quick(command_job),
                "property": quick(property_job),
                "rerun": quick(rerun),
            },
            bad_job_ids=bad_job_ids(),
            targets=fuzz_targets,
        )

    # -- the emulator

    def start(self, **options: Any) -> Any:
        from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

        if "key" in options:
            options["api_token"] = options.pop("key")
        return IoTCentralEmulator(**options).start()

    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        """``key``: a whole API token, or another signature in the application's own token."""
        token = emulator.api_token
        if key is not None:
            token = (
                key if key.startswith("SharedAccessSignature ") else re.sub(r"sig=[^&]*", f"sig={key}", token)
            )
        return {
            "conn_type": self.backend.conn_type,
            "host": emulator.app_subdomain,
            "password": token,
            "extra": {"endpoint_url": emulator.endpoint, **extra},
        }

    def remote_jobs(self, emulator: Any) -> list[str]:
        with emulator.lock:
            return list(emulator.state.jobs)

    def remote_status(self, emulator: Any, job_id: str) -> dict[str, Any]:
        with emulator.lock:
            job = emulator.state.job(job_id).to_json()
        progress = job.get("progress") or {}
        return {
            "phase": PHASES[job["status"]],
            "done": progress.get("completed", 0),
            "total": progress.get("total", 0),
        }

    def matching(self, emulator: Any, devices: Any = "*") -> int:
        """The fleet's provisioned devices of the template, with every cloud property tag -> value."""
        with emulator.lock:
            docs = [device.doc for device in emulator.fleet.devices()]
        selection = {} if devices == "*" else devices
        return sum(
            1
            for doc in docs
            if doc["template"] == TEMPLATE
            and doc["provisioned"]
            and all(doc["cloudProperties"].get(tag) == value for tag, value in selection.items())
        )

    def launch(self, emulator: Any, job_id: str, **options: Any) -> str:
        from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook
        from airflow_iot_jobs.operators.iotcentral import filter_group_id

        selection = device_filter(options.get("devices", "*"))
        group = filter_group_id(selection)
        hook = IoTCentralHook()
        hook.put_device_group(group, {"displayName": "contract suites", "filter": selection})
        hook.create_job(job_id, {"group": group, "data": command(options.get("action", "ping"))})
        return job_id

    def cancel_remote(self, emulator: Any, job_id: str) -> None:
        emulator.state.stop(job_id)  # what a user's Stop in the application does

    def raw_create(self, emulator: Any, job_id: str) -> Any:
        import requests

        with emulator.lock:  # the group comes from the state: the request log shows the job's PUT alone
            if "raw-everything" not in emulator.state.groups:
                emulator.state.put_group(
                    "raw-everything", {"displayName": "everything", "filter": "SELECT * FROM devices"}
                )
        body = {
            "group": "raw-everything",
            "data": [{"type": "property", "target": TEMPLATE, "path": WRITABLE, "value": 60}],
        }
        headers = {"Authorization": emulator.api_token}
        return requests.put(
            f"{emulator.endpoint}/api/jobs/{job_id}", params=API, json=body, headers=headers, timeout=10
        )

    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        import requests

        headers = {"Authorization": emulator.api_token if authorized else "nope"}
        return requests.get(f"{emulator.endpoint}/api/jobs/{job_id}", params=API, headers=headers, timeout=10)

    # -- operators

    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        from airflow_iot_jobs.operators.iotcentral import IoTCentralJobOperator

        options: dict[str, Any] = {
            "task_id": task_id,
            "device_filter": device_filter(overrides.pop("devices", "*")),
            "data": command(overrides.pop("action", "reboot"), overrides.pop("payload", None)),
        }
        if "conn_id" in overrides:
            options[self.backend.conn_param] = overrides.pop("conn_id")
        options.update(overrides)
        return IoTCentralJobOperator(**options)

    def count_target(self, operator: Any) -> Any:
        request = operator.build_request()
        operator.ensure_filter_group(request)  # the filter's device group, as the operator writes it
        return operator.target(request)

    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any:
        return stop(task_id=task_id, **overrides)

    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any:
        return sensor(task_id=task_id, **overrides)

    # -- secrets

    def secrets_tasks(self, **_: Any) -> dict[str, str]:
        """A device group written as code (its filter is a rendered field)."""
        from airflow_iot_jobs.operators.iotcentral import IoTCentralDeviceGroupOperator

        IoTCentralDeviceGroupOperator(
            task_id="device_group",
            device_group_id="canary-gateways",
            filter=device_filter({"site": "{{ params.site }}"}),
            description="canary run {{ ds }}",
        )
        return {"device_group": "success"}

    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        token = emulator.api_token
        base = {"conn_type": self.backend.conn_type, "extra": {"endpoint_url": emulator.endpoint}}
        return {
            "wrong key": self.connection(emulator, key=WRONG_TOKEN),
            "token without its scheme": {
                **base,
                "host": emulator.app_subdomain,
                "password": token.removeprefix("SharedAccessSignature "),
            },
            "no application": {**base, "password": token},
            "part without =": {
                **base,
                "host": emulator.app_subdomain,
                "password": token.replace("&skn=", "&skn"),
            },
        }

    def log_connection_secrets(self) -> None:
        import logging

        from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

        settings = IoTCentralHook().settings  # registers the secrets with the masker
        logging.getLogger("airflow.task").info("api token: %s", settings.api_token)


IOTCENTRAL_HARNESS = IoTCentralHarness()
