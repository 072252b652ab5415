"""Secrets: a canary IoT Hub key, a canary wrong key and a canary storage account key run through a representative
DAG — method job, twin job, deferrable job, sensors (deferrable and poke), a failure path, a 401 path, a task that
logs the connection string, identity export and import on Azurite — and must appear nowhere:

* task logs: the DAG runs in a child process like a worker runs it — every task through Airflow's real task
  supervisor (a forked task process writing its log file under AIRFLOW_HOME/logs, secrets masked), triggers rebuilt
  from the ``trigger`` table in a fresh event loop — and every log file is scanned, with the child's own output;
* XCom values, rendered template fields (``rendered_task_instance_fields``), trigger kwargs stored in the metadata DB
  (``trigger``, decrypted and decoded as the triggerer does), task instances' ``next_kwargs``, and the raw bytes of
  the whole metadata DB file;
* exception messages (the failure paths' errors, raised here directly too).

SAS signatures (``sig=`` followed by anything but a redaction) must not appear either. And masking works: the task
that logs the connection string shows ``***``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow.sdk import DAG, task

from airflow_iot_jobs.operators.iothub import (
    IoTHubDeviceMethodJobOperator,
    IoTHubExportDevicesOperator,
    IoTHubImportDevicesOperator,
    IoTHubTwinUpdateJobOperator,
)
from airflow_iot_jobs.sensors.iothub import IoTHubJobSensor
from tests.reliability import FIGURES, DagProcess

pytest_plugins = ["tests.reliability_plugin"]

HUB_KEY = base64.b64encode(b"CANARY-iothub-key-do-not-leak-0123456789").decode()
WRONG_KEY = base64.b64encode(b"CANARY-wrong-iothub-key-must-stay-hidden-01").decode()
STORAGE_ACCOUNT = "canarystore"
STORAGE_KEY = base64.b64encode(b"CANARY-storage-account-key-do-not-leak-0123456789abcdef").decode()
CANARIES = {"iothub key": HUB_KEY, "wrong iothub key": WRONG_KEY, "storage key": STORAGE_KEY}
# A SAS signature that was not redacted: sig= followed by (url-encoded) base64, not REDACTED / ***.
SAS_SIGNATURE = re.compile(r"sig=(?!REDACTED|\*\*\*)[A-Za-z0-9%+/=]{16,}")
FAST = {"poll_interval": 0.3, "max_poll_interval": 1.0}
DAY = datetime(2026, 3, 3, tzinfo=UTC)
URGENT = {"priority_weight": 100, "weight_rule": "absolute"}  # run first: the sensors must meet a waiting job


def variants(secret: str) -> set[str]:
    """The ways a secret can be written down: raw, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), secret.replace("/", "\\/"), json.dumps(secret)[1:-1]}


def occurrences(place: str, text: str, found: list[str], *, tally: bool = True) -> None:
    """Append every canary (in any of its spellings) and unredacted SAS signature in ``text`` to ``found``."""
    if tally:
        FIGURES.secret_places_scanned += 1
    for name, secret in CANARIES.items():
        for form in variants(secret):
            count = text.count(form)
            if count:
                found.append(f"{name} x{count} in {place}")
                FIGURES.secret_occurrences += count if tally else 0
    for match in SAS_SIGNATURE.finditer(text):
        found.append(f"SAS signature {match.group(0)[:12]}… in {place}")
        FIGURES.secret_occurrences += 1 if tally else 0


def test_the_scanner_finds_what_it_looks_for():
    found: list[str] = []
    samples = {
        "raw": f"key={HUB_KEY}",
        "url-encoded": f"?k={quote(STORAGE_KEY, safe='')}",
        "json": json.dumps({"connection": f"SharedAccessKey={WRONG_KEY}"}),
        # (built here: a literal would sit in this file's source, which the DB's dag_code table stores)
        "sas": "https://a.blob.core.windows.net/c?sv=2026-10-06&sig="
        + quote(base64.b64encode(bytes(32)).decode()),
        "redacted": "sig=REDACTED sig=*** SharedAccessKey=***",
    }
    for place, text in samples.items():
        occurrences(place, text, found, tally=False)
    assert [entry.split(" in ")[-1] for entry in found] == ["raw", "url-encoded", "json", "sas"]


# ------------------------------------------------------------------------------------------------ the DAG


def secrets_dag(with_storage: bool) -> DAG:
    with DAG(
        "secrets_canary",
        schedule=None,
        start_date=DAY,
        render_template_as_native_obj=True,
        params={"site": "ams"},
    ) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.site = '{{ params.site }}'",
            method_name="reboot",
            payload={"reason": "canary run {{ ds }}"},
            success_threshold="90%",
            **FAST,
        )
        IoTHubTwinUpdateJobOperator(
            task_id="tag", query_condition="tags.site = 'sea'", tags={"window": "{{ ds }}"}, **FAST
        )
        IoTHubDeviceMethodJobOperator(
            task_id="reboot_deferred",
            query_condition="tags.ring = 'canary'",
            method_name="ping",
            success_threshold="90%",
            deferrable=True,
            **FAST,
        )
        launch = IoTHubDeviceMethodJobOperator(  # starts a little later, so that both sensors really wait
            task_id="launch",
            query_condition="tags.floor = 1",
            method_name="ping",
            start_time=(datetime.now(UTC) + timedelta(seconds=10)).isoformat(),
            wait_for_completion=False,
            **URGENT,
        )
        sensors = [
            IoTHubJobSensor(
                task_id=f"wait_{mode}",
                job_id="{{ ti.xcom_pull(task_ids='launch')['job_id'] }}",
                success_threshold="90%",
                deferrable=mode == "deferrable",
                poke_interval=0.3,
                timeout=120,
                **URGENT,
            )
            for mode in ("deferrable", "poke")
        ]
        launch >> sensors[0] >> sensors[1]  # the deferrable one first, while the job has not started
        IoTHubDeviceMethodJobOperator(  # the failure path: offline devices cross failure_threshold 0
            task_id="firmware",
            query_condition="*",
            method_name="firmwareUpdate",
            failure_threshold=0,
            cancel_on_failure=True,
            **FAST,
        )
        IoTHubDeviceMethodJobOperator(  # a connection with a wrong key: 401 from the hub
            task_id="wrong_key",
            iothub_conn_id="canary_wrong",
            query_condition="*",
            method_name="ping",
            **FAST,
        )

        @task
        def log_the_connection_string() -> str:
            import logging

            from airflow_iot_jobs.hooks.iothub import IoTHubHook

            settings = IoTHubHook().settings  # registers the secrets with the masker
            log = logging.getLogger("airflow.task")
            log.info("connection string: %s", settings.connection_string)
            log.info("shared access key: %s", settings.shared_access_key)
            return "logged"

        log_the_connection_string()

        if with_storage:
            export = IoTHubExportDevicesOperator(
                task_id="export", wasb_conn_id="canary_storage", container="canary-exports", **FAST
            )
            IoTHubImportDevicesOperator(
                task_id="import",
                wasb_conn_id="canary_storage",
                input_container="canary-imports",
                devices=[{"id": "canary-new-1", "importMode": "create", "status": "enabled"}],
                **FAST,
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
    return dag


# ------------------------------------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def canary_storage(tmp_path_factory) -> Any:
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
    try:
        yield server, reason
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory, canary_storage) -> Iterator[dict[str, Any]]:
    """The representative DAG, run once for the module in a child process like a worker runs it (real task
    supervisor, task log files under AIRFLOW_HOME/logs, triggers rebuilt from the metadata DB)."""
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    tmp = tmp_path_factory.mktemp("canary")
    azurite, skipped = canary_storage
    hub = IoTHubEmulator(
        devices=300, seed=5, speed=40.0, offline_rate=0.05, failure_rate=0.0, max_active_jobs=20, key=HUB_KEY
    )
    with hub, pytest.MonkeyPatch.context() as patch:
        assert HUB_KEY in hub.connection_string
        # (not tests.conftest.connection_json: importing conftest in the child would give it another AIRFLOW_HOME)
        owner = {
            "conn_type": "azure_iot_hub",
            "password": hub.connection_string,
            "extra": {"endpoint_url": hub.endpoint},
        }
        patch.setenv("AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT", json.dumps(owner))
        wrong = {
            "conn_type": "azure_iot_hub",
            "password": hub.connection_string.replace(HUB_KEY, WRONG_KEY),
            "extra": {"endpoint_url": hub.endpoint},
        }
        patch.setenv("AIRFLOW_CONN_CANARY_WRONG", json.dumps(wrong))
        if azurite is not None:
            connection_string = (
                f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};AccountKey={STORAGE_KEY};"
                f"BlobEndpoint={azurite.url}/{STORAGE_ACCOUNT};"
            )
            storage = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
            patch.setenv("AIRFLOW_CONN_CANARY_STORAGE", json.dumps(storage))
        # An Airflow home of its own: the DB and the logs hold this run and nothing else, so every byte of them
        # can be scanned (same fernet key, so this process can decrypt the trigger kwargs).
        from airflow.configuration import conf

        home = tmp / "airflow-home"
        home.mkdir()
        own = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key"),
        }
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env={**os.environ, **own},
            check=True,
            capture_output=True,
        )
        dags = tmp / "dags"
        dags.mkdir()
        (dags / "secrets_canary.py").write_text(
            "from tests.test_secrets import secrets_dag\n\n"
            f"dag = secrets_dag(with_storage={azurite is not None})\n"
        )
        child = DagProcess(
            "tests.test_secrets:secrets_dag",
            {"with_storage": azurite is not None},
            DAY,
            tmp / "run.log",
            like_a_worker=(dags, "secrets_canary.py"),
            extra_env=own,
        )
        result = child.result(timeout=240)
        yield {
            "hub": hub,
            "result": result,
            "output": child.output(),
            "home": home,
            "skipped": skipped,
        }


def task_logs(home: Path) -> dict[str, str]:
    """The canary DAG's task log files, by task id (attempts and resumptions concatenated)."""
    logs: dict[str, str] = {}
    for path in sorted((home / "logs" / "dag_id=secrets_canary").rglob("*.log")):
        task_id = path.parent.name.removeprefix("task_id=")
        logs[task_id] = logs.get(task_id, "") + path.read_text(errors="replace")
    return logs


@pytest.mark.slow
def test_no_secret_in_logs_xcom_rendered_fields_trigger_kwargs_or_the_db(canary_run):
    from airflow.models.trigger import Trigger
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    result, output, home = canary_run["result"], canary_run["output"], canary_run["home"]
    expected = {
        "reboot": "success",
        "tag": "success",
        "reboot_deferred": "success",
        "launch": "success",
        "wait_deferrable": "success",
        "wait_poke": "success",
        "firmware": "failed",
        "wrong_key": "failed",
        "log_the_connection_string": "success",
    }
    if canary_run["skipped"] is None:
        expected |= {"export": "success", "import": "success", "read_export": "success"}
    assert result["states"] == expected, output[-4000:]
    found: list[str] = []

    # The task log files (every task, every attempt), any other log file, and the child's own output (the
    # triggers ran there: what they logged is not masked, so it must hold no secret at all).
    logs = task_logs(home)
    assert set(logs) == set(expected), f"task log files: {sorted(logs)}"
    for path in sorted((home / "logs").rglob("*")):
        if path.is_file():
            occurrences(f"log file {path.relative_to(home)}", path.read_text(errors="replace"), found)
    occurrences("the worker's own output (trigger logs)", output, found)

    with sqlite3.connect(home / "airflow.db") as conn:
        rows = conn.execute("SELECT task_id, value FROM xcom WHERE dag_id = 'secrets_canary'").fetchall()
        assert {task_id for task_id, _ in rows} >= {"reboot", "tag", "reboot_deferred", "launch"}
        for task_id, value in rows:
            occurrences(f"XCom of {task_id}", str(value), found)

        rows = conn.execute(
            "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = 'secrets_canary'"
        ).fetchall()
        assert {task_id for task_id, _ in rows} >= {"reboot", "wait_deferrable", "wrong_key"}
        for task_id, fields in rows:
            occurrences(f"rendered fields of {task_id}", str(fields), found)

        job_ids = set(canary_run["hub"].state.jobs)
        ours = 0
        for trigger_id, classpath, encrypted in conn.execute("SELECT id, classpath, kwargs FROM trigger"):
            decoded = {
                k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(encrypted).items()
            }
            if decoded.get("job_id") not in job_ids:
                continue  # another test's trigger
            ours += 1
            assert set(decoded) >= {"job_id", "hook_params", "end_time"}
            assert set(decoded["hook_params"]) == {"iothub_conn_id"}
            occurrences(f"trigger {trigger_id} kwargs (stored)", encrypted, found)
            occurrences(f"trigger {trigger_id} kwargs ({classpath})", json.dumps(decoded, default=str), found)
        assert ours >= 2, "the deferrable operator and sensor stored no trigger: they did not defer"

        for task_id, next_kwargs in conn.execute(
            "SELECT task_id, next_kwargs FROM task_instance WHERE dag_id = 'secrets_canary'"
        ):
            occurrences(f"next_kwargs of {task_id}", str(next_kwargs), found)

    for path in sorted(home.glob("airflow.db*")):
        occurrences(f"metadata DB file {path.name}", path.read_bytes().decode("latin-1"), found)

    assert found == [], "secrets leaked:\n" + "\n".join(found)


@pytest.mark.slow
def test_the_masker_hides_a_logged_connection_string(canary_run):
    log = task_logs(canary_run["home"])["log_the_connection_string"]
    assert '"connection string: ***"' in log
    assert '"shared access key: ***"' in log
    assert HUB_KEY not in log
    if canary_run["skipped"] is None:
        export_log = task_logs(canary_run["home"])["read_export"]
        assert "reading ***" in export_log or "reading http" in export_log
        assert SAS_SIGNATURE.search(export_log) is None


@pytest.mark.slow
def test_failure_paths_name_the_problem_without_the_secret(canary_run):
    logs = task_logs(canary_run["home"])
    assert "401 IotHubUnauthorizedAccess" in logs["wrong_key"]
    assert "above failure_threshold 0" in logs["firmware"]
    assert WRONG_KEY not in logs["wrong_key"] and HUB_KEY not in logs["firmware"]


@pytest.mark.slow
def test_deferred_tasks_really_deferred_and_resumed(canary_run):
    """The deferrable paths went through the trigger table (so its kwargs were really checked)."""
    assert set(canary_run["result"]["deferred"]) == {"reboot_deferred", "wait_deferrable"}
    logs = task_logs(canary_run["home"])
    for task_id in ("reboot_deferred", "wait_deferrable"):
        assert logs[task_id].count("::group::Pre Execute") == 2, f"{task_id}: one log segment per run"


def test_exception_messages_carry_no_secret(make_hub, monkeypatch):
    """The errors themselves (str, repr, traceback) for a wrong key and malformed connection strings."""
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    hub = make_hub(devices=10, key=HUB_KEY)
    wrong = hub.connection_string.replace(HUB_KEY, WRONG_KEY)
    cases = {
        "wrong key": {
            "conn_type": "azure_iot_hub",
            "password": wrong,
            "extra": {"endpoint_url": hub.endpoint},
        },
        "malformed connection string": {
            "conn_type": "azure_iot_hub",
            "password": f"HostName={hub.hostname};SharedAccessKey={HUB_KEY}",
        },
        "part without =": {"conn_type": "azure_iot_hub", "password": f"HostName={hub.hostname};{HUB_KEY}"},
    }
    found: list[str] = []
    for name, conn in cases.items():
        monkeypatch.setenv("AIRFLOW_CONN_CANARY_CASE", json.dumps(conn))
        with pytest.raises(Exception) as info:  # noqa: B017 - any error; what matters is its text
            IoTHubHook(iothub_conn_id="canary_case").get_job("x")
        text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
        occurrences(f"exception for {name}", text, found)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
