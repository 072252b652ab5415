"""The Azure IoT Hub harness: the emulator, the connection a user writes, operator factories, the jobs the hub
holds, its canaries and fuzz inputs — and the ``make_hub`` / ``hub`` fixtures of the IoT-Hub-only tests
(loaded as a plugin by ``tests/conftest.py``)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import BackendHarness, FuzzInputs, emulator_fixture

CONN_ID = "azure_iot_hub_default"
API = {"api-version": "2021-04-12"}
FUZZ_STORAGE_CONN = "fuzz_storage"

# Canaries of the secrets suite: the hub's key, a wrong key, the canary blob storage account's key.
HUB_KEY = base64.b64encode(b"CANARY-iothub-key-do-not-leak-0123456789").decode()
WRONG_KEY = base64.b64encode(b"CANARY-wrong-iothub-key-must-stay-hidden-01").decode()
STORAGE_ACCOUNT = "canarystore"
STORAGE_KEY = base64.b64encode(b"CANARY-storage-account-key-do-not-leak-0123456789abcdef").decode()


# ------------------------------------------------------------------------------------------------ connections


def connection_json(hub, **extra: object) -> str:
    """The Airflow connection (AIRFLOW_CONN_* JSON) a user would write for this emulator."""
    return json.dumps(
        {
            "conn_type": "azure_iot_hub",
            "password": hub.connection_string,
            "extra": {"endpoint_url": hub.endpoint, **extra},
        }
    )


def use_hub(monkeypatch: pytest.MonkeyPatch, hub, conn_id: str = CONN_ID) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(hub))


def sas(hub: Any) -> dict[str, str]:
    from azure.iot.hub.auth import SasToken

    return {"Authorization": str(SasToken(hub.hostname, hub.policy_keys["iothubowner"], "iothubowner"))}


def condition(devices: Any) -> str:
    """A neutral device selection ("*" or tag -> value) as an IoT Hub query condition."""
    if devices == "*":
        return "*"
    return " AND ".join(
        f"tags.{tag} = " + (f"'{value}'" if isinstance(value, str) else str(value))
        for tag, value in devices.items()
    )


# ------------------------------------------------------------------------------------------------ operators


def method(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_method", "query_condition": "*", "method_name": "reboot"}
    options.update(overrides)
    return IoTHubDeviceMethodJobOperator(**options)


def twin(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub import IoTHubTwinUpdateJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_twin", "query_condition": "*", "tags": {"ok": 1}}
    options.update(overrides)
    return IoTHubTwinUpdateJobOperator(**options)


def sensor(**overrides: Any) -> Any:
    from airflow_iot_jobs.sensors.iothub import IoTHubJobSensor

    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
    }
    options.update(overrides)
    return IoTHubJobSensor(**options)


def cancel(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub import IoTHubCancelJobOperator

    options: dict[str, Any] = {"task_id": "fuzz_cancel"}
    options.update(overrides)
    return IoTHubCancelJobOperator(**options)


def export(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_export",
        "wasb_conn_id": FUZZ_STORAGE_CONN,
        "container": "exports",
    }
    options.update(overrides)
    return IoTHubExportDevicesOperator(**options)


def importer(**overrides: Any) -> Any:
    from airflow_iot_jobs.operators.iothub import IoTHubImportDevicesOperator

    options: dict[str, Any] = {
        "task_id": "fuzz_import",
        "wasb_conn_id": FUZZ_STORAGE_CONN,
        "input_container": "imports",
        "devices": [{"id": "dev-1", "importMode": "create", "status": "enabled"}],
    }
    options.update(overrides)
    return IoTHubImportDevicesOperator(**options)


# Should an invalid value slip through, the launch returns at once instead of waiting for the job.
QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def quick(build: Any) -> Any:
    return lambda **overrides: build(**{**QUICK, **overrides})


# ------------------------------------------------------------------------------------------------ fuzz inputs

# IoT Hub job ids: the identity registry's 128-character rule (written out here, not imported)
VALID_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]{0,127}")
JOB_ID_CHARS = string.ascii_letters + string.digits + "-._"


def bad_job_ids() -> Any:
    from hypothesis import strategies as st

    from tests.contract.fuzzing import text

    return st.one_of(
        text.filter(lambda s: not VALID_JOB_ID.fullmatch(s)),
        st.text(JOB_ID_CHARS, min_size=129, max_size=300).map(lambda s: "a" + s),
        st.sampled_from(
            ["", " ", "-lead", ".dot", "has space", "slash/inside", "percent%20", "é-accent", "a" * 129]
        ),
    )


@contextlib.contextmanager
def fuzz_targets() -> Iterator[Any]:
    """The hub and a recording stand-in for the blob service: both must see zero requests."""
    from airflow_iot_jobs.emulator.http import EmulatorHTTPServer, Response
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
    from tests.contract.fuzzing import Targets

    storage = EmulatorHTTPServer(lambda request: Response.json({"error": "fuzz"}, status=403)).start()
    key = "ZnV6ei1rZXk="
    storage_conn = {
        "conn_type": "wasb",
        "extra": {
            "connection_string": f"DefaultEndpointsProtocol=http;AccountName=fuzz;AccountKey={key};"
            f"BlobEndpoint={storage.endpoint}/fuzz;"
        },
    }
    with (
        IoTHubEmulator(devices=20, seed=1, speed=50.0, max_active_jobs=50) as hub,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT", connection_json(hub))
        patch.setenv(f"AIRFLOW_CONN_{FUZZ_STORAGE_CONN.upper()}", json.dumps(storage_conn))
        yield Targets(hub, storage)
    storage.stop()


# ------------------------------------------------------------------------------------------------ the harness


class IoTHubHarness(BackendHarness):
    name = "iothub"
    routes = {
        "create": ("PUT", "/jobs/v2/"),
        "progress": ("GET", "/jobs/v2/"),
        "cancel": ("POST", "/jobs/v2/"),
    }
    codes = {
        "already_exists_status": 409,
        "not_found": "404 JobNotFound",
        "not_found_message": "IoT Hub has no job '{job_id}'",
        "unauthorized": "401 IotHubUnauthorizedAccess",
        "unauthorized_status": 401,
        "throttled": "429 ThrottlingException",
        "throttled_status": 429,
        "throttled_message": "HTTP 429 ThrottlingException: Injected fault: too many requests",
        "busy": "429 ThrottlingMaxActiveJobCountExceeded",
        "busy_status": 429,
        "busy_message": "The maximum number of active jobs (1) has been reached",
    }
    canaries = {"iothub key": HUB_KEY, "wrong iothub key": WRONG_KEY, "storage key": STORAGE_KEY}
    canary_key = HUB_KEY
    wrong_key = WRONG_KEY
    logged_secrets = ("connection string", "shared access key")
    masked_uri_tasks = ("read_export",)

    @property
    def backend(self) -> Any:
        from airflow_iot_jobs.backends import IOTHUB

        return IOTHUB

    @property
    def fuzz(self) -> FuzzInputs:
        return FuzzInputs(
            jobs={"method": quick(method), "twin": quick(twin)},
            sensor=sensor,
            cancel=cancel,
            timeouts={"method": quick(method), "twin": quick(twin), "export": quick(export)},
            max_devices={"method": quick(method), "twin": quick(twin), "import": quick(importer)},
            bad_job_ids=bad_job_ids(),
            targets=fuzz_targets,
        )

    # -- the emulator

    def start(self, **options: Any) -> Any:
        from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

        hub = IoTHubEmulator(**options)
        hub.start()
        return hub

    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        connection_string = emulator.connection_string
        if key is not None:
            connection_string = connection_string.split("SharedAccessKey=")[0] + "SharedAccessKey=" + key
        return {
            "conn_type": self.backend.conn_type,
            "password": connection_string,
            "extra": {"endpoint_url": emulator.endpoint, **extra},
        }

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
        from airflow_iot_jobs.hooks.iothub import IoTHubHook

        IoTHubHook().create_device_method_job(
            job_id, condition(options.get("devices", "*")), options.get("action", "ping")
        )
        return job_id

    def cancel_remote(self, emulator: Any, job_id: str) -> None:
        emulator.state.cancel_job(job_id)

    def raw_create(self, emulator: Any, job_id: str) -> Any:
        import requests

        body = {
            "jobId": job_id,
            "type": "scheduleUpdateTwin",
            "queryCondition": "*",
            "updateTwin": {"etag": "*", "tags": {"a": 1}},
        }
        return requests.put(
            f"{emulator.endpoint}/jobs/v2/{job_id}", params=API, json=body, headers=sas(emulator), timeout=10
        )

    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        import requests

        headers = sas(emulator) if authorized else {"Authorization": "nope"}
        return requests.get(f"{emulator.endpoint}/jobs/v2/{job_id}", params=API, headers=headers, timeout=10)

    # -- operators

    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator

        options: dict[str, Any] = {
            "task_id": task_id,
            "query_condition": condition(overrides.pop("devices", "*")),
            "method_name": overrides.pop("action", "reboot"),
        }
        if "conn_id" in overrides:
            options[self.backend.conn_param] = overrides.pop("conn_id")
        options.update(overrides)
        return IoTHubDeviceMethodJobOperator(**options)

    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any:
        return cancel(task_id=task_id, **overrides)

    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any:
        return sensor(task_id=task_id, **overrides)

    # -- secrets

    @contextlib.contextmanager
    def canary_setup(
        self, tmp_path_factory: Any
    ) -> Iterator[tuple[dict[str, str], dict[str, Any], str | None]]:
        """An Azurite of its own whose account key is the canary (and the well-known one, for readiness)."""
        from tests.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AzuriteError, start_azurite

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AZURITE_ACCOUNTS", f"{ACCOUNT_NAME}:{ACCOUNT_KEY};{STORAGE_ACCOUNT}:{STORAGE_KEY}")
            try:
                server = start_azurite(tmp_path_factory.mktemp("canary-azurite"))
            except AzuriteError as err:
                server, reason = None, f"Azurite is not available ({err}): export/import left out"
            else:
                reason = None
        env: dict[str, str] = {}
        if server is not None:
            connection_string = (
                f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};AccountKey={STORAGE_KEY};"
                f"BlobEndpoint={server.url}/{STORAGE_ACCOUNT};"
            )
            storage = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
            env["AIRFLOW_CONN_CANARY_STORAGE"] = json.dumps(storage)
        try:
            yield env, {"with_storage": server is not None}, reason
        finally:
            if server is not None:
                server.stop()

    def secrets_tasks(self, with_storage: bool = False, **_: Any) -> dict[str, str]:
        """A twin job, and identity export and import on the canary Azurite, with a task that reads the export
        through a SAS URI (masked)."""
        from airflow.sdk import task

        from airflow_iot_jobs.operators.iothub import (
            IoTHubExportDevicesOperator,
            IoTHubImportDevicesOperator,
            IoTHubTwinUpdateJobOperator,
        )

        fast = {"poll_interval": 0.3, "max_poll_interval": 1.0}
        IoTHubTwinUpdateJobOperator(
            task_id="tag", query_condition="tags.site = 'sea'", tags={"window": "{{ ds }}"}, **fast
        )
        states = {"tag": "success"}
        if with_storage:
            export = IoTHubExportDevicesOperator(
                task_id="export", wasb_conn_id="canary_storage", container="canary-exports", **fast
            )
            IoTHubImportDevicesOperator(
                task_id="import",
                wasb_conn_id="canary_storage",
                input_container="canary-imports",
                devices=[{"id": "canary-new-1", "importMode": "create", "status": "enabled"}],
                **fast,
            )

            @task
            def read_export(exported: dict[str, Any]) -> int:
                import logging

                from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage

                storage = DeviceBlobStorage(wasb_conn_id="canary_storage")
                uri = storage.container_uri("canary-exports", "rl")
                logging.getLogger("airflow.task").info("reading %s", uri)  # a SAS URI: masked
                return sum(1 for _ in storage.iter_lines(BlobLocation(uri, exported["blob_name"])))

            read_export(export.output)
            states |= {"export": "success", "import": "success", "read_export": "success"}
        return states

    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        key = emulator.key if hasattr(emulator, "key") else HUB_KEY
        return {
            "wrong key": self.connection(emulator, key=WRONG_KEY),
            "malformed connection string": {
                "conn_type": "azure_iot_hub",
                "password": f"HostName={emulator.hostname};SharedAccessKey={key}",
            },
            "part without =": {
                "conn_type": "azure_iot_hub",
                "password": f"HostName={emulator.hostname};{key}",
            },
        }

    def log_connection_secrets(self) -> None:
        import logging

        from airflow_iot_jobs.hooks.iothub import IoTHubHook

        settings = IoTHubHook().settings  # registers the secrets with the masker
        log = logging.getLogger("airflow.task")
        log.info("connection string: %s", settings.connection_string)
        log.info("shared access key: %s", settings.shared_access_key)


IOTHUB_HARNESS = IoTHubHarness()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def make_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start an emulator with the given options and point the default connection at it."""
    yield from emulator_fixture(IOTHUB_HARNESS, monkeypatch)


@pytest.fixture
def hub(make_hub):
    """A 300-device fleet, fast clock, no random failures, no offline devices."""
    return make_hub(devices=300, speed=50.0, offline_rate=0.0, failure_rate=0.0, max_active_jobs=5)
