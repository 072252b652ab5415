"""Secrets, for every backend's harness: its canaries (the IoT Hub harness: a canary hub key, a canary wrong key and
a canary storage account key) run through a representative DAG — a device job, a deferrable job, sensors
(deferrable and poke), a failure path, a 401 path, a task that logs the connection's secrets, and the backend's own
tasks (IoT Hub: a twin job, identity export and import on Azurite) — and must appear nowhere:

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
import contextlib
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

from airflow_iot_jobs.emulator.clock import ManualClock
from tests.harness import HARNESSES, BackendHarness, harness_named
from tests.harness.reliability import FIGURES, DagProcess, ticking

pytestmark = pytest.mark.reliability

# Every harness's canaries: a secret of one backend must not show up in another's run either.
CANARIES = {f"{h.name}: {name}": secret for h in HARNESSES for name, secret in h.canaries.items()}
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


def test_the_scanner_finds_what_it_looks_for(harness):
    found: list[str] = []
    secrets = list(harness.canaries.values())
    samples = {
        "raw": f"key={secrets[0]}",
        "url-encoded": f"?k={quote(secrets[-1], safe='')}",
        "json": json.dumps({"connection": f"key={secrets[1 % len(secrets)]}"}),
        # (built here: a literal would sit in this file's source, which the DB's dag_code table stores)
        "sas": "https://a.blob.core.windows.net/c?sv=2026-10-06&sig="
        + quote(base64.b64encode(bytes(32)).decode()),
        "redacted": "sig=REDACTED sig=*** key=***",
    }
    for place, text in samples.items():
        occurrences(place, text, found, tally=False)
    assert [entry.split(" in ")[-1] for entry in found] == ["raw", "url-encoded", "json", "sas"]


# ------------------------------------------------------------------------------------------------ the DAG


def canary_dag(backend: str, **dag_kwargs: Any) -> tuple[DAG, dict[str, str]]:
    """The representative DAG of ``backend``'s harness, and the end state of each of its tasks."""
    harness = harness_named(backend)
    with DAG(
        "secrets_canary",
        schedule=None,
        start_date=DAY,
        render_template_as_native_obj=True,
        params={"site": "ams"},
    ) as dag:
        harness.job_operator(
            task_id="reboot",
            devices={"site": "{{ params.site }}"},
            action="reboot",
            payload={"reason": "canary run {{ ds }}"},
            success_threshold="90%",
            **FAST,
        )
        harness.job_operator(
            task_id="reboot_deferred",
            devices={"ring": "canary"},
            action="ping",
            success_threshold="90%",
            deferrable=True,
            **FAST,
        )
        # Starts a little later, so that both sensors really wait: at its start time, or — where jobs take none —
        # when the test releases the emulator's clock (see ``held_until_the_sensor_waits``).
        later = (
            {"start_time": (datetime.now(UTC) + timedelta(seconds=10)).isoformat()}
            if harness.supports_start_time
            else {}
        )
        launch = harness.job_operator(
            task_id="launch",
            devices={"floor": 1},
            action="ping",
            wait_for_completion=False,
            **later,
            **URGENT,
        )
        sensors = [
            harness.sensor(
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
        harness.job_operator(  # the failure path: failing devices cross failure_threshold 0
            task_id="firmware",
            devices="*",
            action="firmwareUpdate",
            failure_threshold=0,
            cancel_on_failure=True,
            **FAST,
        )
        harness.job_operator(  # a connection with a wrong key: 401 from the service
            task_id="wrong_key", conn_id="canary_wrong", devices="*", action="ping", **FAST
        )

        @task
        def log_the_connection_string() -> str:
            harness_named(backend).log_connection_secrets()
            return "logged"

        log_the_connection_string()
        states = {
            "reboot": "success",
            "reboot_deferred": "success",
            "launch": "success",
            "wait_deferrable": "success",
            "wait_poke": "success",
            "firmware": "failed",
            "wrong_key": "failed",
            "log_the_connection_string": "success",
        }
        states |= harness.secrets_tasks(**dag_kwargs)
    return dag, states


def secrets_dag(backend: str, **dag_kwargs: Any) -> DAG:
    return canary_dag(backend, **dag_kwargs)[0]


# ------------------------------------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def canary_run(harness: BackendHarness, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The representative DAG, run once per backend in a child process like a worker runs it (real task
    supervisor, task log files under AIRFLOW_HOME/logs, triggers rebuilt from the metadata DB)."""
    tmp = tmp_path_factory.mktemp(f"canary-{harness.name}")
    held = not harness.supports_start_time
    emulator = harness.start(
        devices=300,
        seed=5,
        speed=40.0,
        max_active_jobs=20,
        # a fleet's usual few failing devices (offline ones; failed runs on AWS IoT, drawn per job: a higher
        # share fails 2 of the 11 things of the canary ring there, below its 90 %)
        **harness.failing_fleet(0.02),
        key=harness.canary_key,
        **({"clock": ManualClock()} if held else {}),
    )
    with (
        harness.canary_setup(tmp_path_factory) as (services, dag_kwargs, skipped),
        pytest.MonkeyPatch.context() as patch,
    ):
        assert harness.canary_key in harness.connection_json(emulator)
        # (not a fixture of tests/conftest.py: importing conftest in the child would give it another AIRFLOW_HOME)
        for name, value in {
            **harness.env(emulator),
            **harness.env(emulator, conn_id="canary_wrong", key=harness.wrong_key),
            **services,
        }.items():
            patch.setenv(name, value)
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
        kwargs = {"backend": harness.name, **dag_kwargs}
        (dags / "secrets_canary.py").write_text(
            f"from tests.contract.test_secrets import secrets_dag\n\ndag = secrets_dag(**{kwargs!r})\n"
        )
        child = DagProcess(
            "tests.contract.test_secrets:secrets_dag",
            kwargs,
            DAY,
            tmp / "run.log",
            like_a_worker=(dags, "secrets_canary.py"),
            extra_env=own,
        )
        try:
            with held_until_the_sensor_waits(harness, emulator) if held else contextlib.nullcontext():
                result = child.result(timeout=240)
            yield {
                "emulator": emulator,
                "expected": canary_dag(**kwargs)[1],
                "result": result,
                "output": child.output(),
                "home": home,
                "skipped": skipped,
            }
        finally:
            harness.stop(emulator)


@contextlib.contextmanager
def held_until_the_sensor_waits(harness: BackendHarness, emulator: Any) -> Iterator[None]:
    """For a backend whose jobs take no start time: the emulator's clock stands still (the ``launch`` job, the
    DAG's first task, stays pending) until the deferrable sensor has read the job from its trigger — the launch's
    own read, the sensor's first poke, then the trigger's — and from then on runs at a tenth of the real pace, so
    that a job over a single device (IoT Central's canary ring of one template) is still pending when the
    deferrable operator first reads it, a few milliseconds after its create call."""
    reads = [0]

    def waited() -> bool:
        reads[0] = max(reads[0], harness.requests(emulator, "progress", suffix="launch-"))
        return reads[0] >= 3

    with ticking(emulator, step=0.01, interval=0.1, enabled=waited):
        yield


def task_logs(home: Path) -> dict[str, str]:
    """The canary DAG's task log files, by task id (attempts and resumptions concatenated)."""
    logs: dict[str, str] = {}
    for path in sorted((home / "logs" / "dag_id=secrets_canary").rglob("*.log")):
        task_id = path.parent.name.removeprefix("task_id=")
        logs[task_id] = logs.get(task_id, "") + path.read_text(errors="replace")
    return logs


@pytest.mark.slow
def test_no_secret_in_logs_xcom_rendered_fields_trigger_kwargs_or_the_db(harness, canary_run):
    from airflow.models.trigger import Trigger
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    result, output, home = canary_run["result"], canary_run["output"], canary_run["home"]
    expected = canary_run["expected"]
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
        assert {task_id for task_id, _ in rows} >= {"reboot", "reboot_deferred", "launch"}
        for task_id, value in rows:
            occurrences(f"XCom of {task_id}", str(value), found)

        rows = conn.execute(
            "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = 'secrets_canary'"
        ).fetchall()
        assert {task_id for task_id, _ in rows} >= {"reboot", "wait_deferrable", "wrong_key"}
        for task_id, fields in rows:
            occurrences(f"rendered fields of {task_id}", str(fields), found)

        job_ids = set(harness.remote_jobs(canary_run["emulator"]))
        ours = 0
        for trigger_id, classpath, encrypted in conn.execute("SELECT id, classpath, kwargs FROM trigger"):
            decoded = {
                k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(encrypted).items()
            }
            if decoded.get("job_id") not in job_ids:
                continue  # another test's trigger
            ours += 1
            assert set(decoded) >= {"job_id", "hook_params", "end_time"}
            assert set(decoded["hook_params"]) == set(harness.backend.hook_param_names)
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
def test_the_masker_hides_a_logged_connection_string(harness, canary_run):
    logs = task_logs(canary_run["home"])
    log = logs["log_the_connection_string"]
    assert harness.logged_secrets, "the harness names the secrets it logs"
    for label in harness.logged_secrets:
        # (Airflow's logging redacts anything JWT-shaped itself, as eyJ***, before the masker sees it: a bearer
        # token shows so)
        assert f'"{label}: ***"' in log or f'"{label}: eyJ***' in log
    assert harness.canary_key not in log
    for task_id in harness.masked_uri_tasks if canary_run["skipped"] is None else ():
        assert "reading ***" in logs[task_id] or "reading http" in logs[task_id]
        assert SAS_SIGNATURE.search(logs[task_id]) is None


@pytest.mark.slow
def test_failure_paths_name_the_problem_without_the_secret(harness, canary_run):
    logs = task_logs(canary_run["home"])
    assert harness.codes["unauthorized"] in logs["wrong_key"]
    assert "above failure_threshold 0" in logs["firmware"]
    assert harness.wrong_key not in logs["wrong_key"] and harness.canary_key not in logs["firmware"]


@pytest.mark.slow
def test_deferred_tasks_really_deferred_and_resumed(canary_run):
    """The deferrable paths went through the trigger table (so its kwargs were really checked)."""
    assert set(canary_run["result"]["deferred"]) == {"reboot_deferred", "wait_deferrable"}
    logs = task_logs(canary_run["home"])
    for task_id in ("reboot_deferred", "wait_deferrable"):
        assert logs[task_id].count("::group::Pre Execute") == 2, f"{task_id}: one log segment per run"


def test_exception_messages_carry_no_secret(harness, make_emulator, monkeypatch):
    """The errors themselves (str, repr, traceback) for a wrong key and malformed connections."""
    emulator = make_emulator(devices=10, key=harness.canary_key)
    cases = harness.bad_connections(emulator)
    assert "wrong key" in cases
    found: list[str] = []
    for name, conn in cases.items():
        monkeypatch.setenv("AIRFLOW_CONN_CANARY_CASE", json.dumps(conn))
        with pytest.raises(Exception) as info:  # noqa: B017 - any error; what matters is its text
            harness.hook(conn_id="canary_case").progress("x")
        text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
        occurrences(f"exception for {name}", text, found)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
