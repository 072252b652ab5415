"""Shared plumbing for the figures: an isolated Airflow home, emulator connections, process memory, result rows."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import importlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARKER = "BENCH-RESULT "


# ------------------------------------------------------------------------------------------- environment


def isolate_airflow(home: Path | None = None) -> Path:
    """Point Airflow at a throw-away home before anything imports it (no DB is needed: connections come from
    ``AIRFLOW_CONN_*`` variables, as in tests/conftest.py)."""
    home = home or Path(tempfile.mkdtemp(prefix="airflow-iot-jobs-bench-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ.setdefault("PYTHONHASHSEED", "0")
    return home


def quiet_logs() -> None:
    """Per-poll progress lines are part of the real path, but printing them would drown the table."""
    import logging

    logging.disable(logging.INFO)


def use_connection(conn_id: str, info: dict[str, Any]) -> None:
    """Point ``conn_id`` at an emulator: the connection its ``info()`` hands Airflow (``airflow_env``), renamed."""
    (value,) = info["airflow_env"].values()
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = value


def sas_token(hostname: str, connection_string: str, ttl: int = 86400) -> str:
    """An SDK-style SAS token for plain HTTP clients (the comparison loops)."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if p)
    expiry = int(time.time() + ttl)
    sr = quote_plus(hostname)
    digest = hmac.new(base64.b64decode(parts["SharedAccessKey"]), f"{sr}\n{expiry}".encode(), hashlib.sha256)
    sig = quote(base64.b64encode(digest.digest()).decode())
    return f"SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={parts['SharedAccessKeyName']}"


# ------------------------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class BenchBackend:
    """One backend as the figures drive it. The provider's own :class:`~airflow_iot_jobs.backends.Backend` entry
    names its hook, trigger and connection keyword; this adds what only the benchmarks need. Dotted paths, so
    reading the table imports nothing."""

    key: str  # "iothub": a child's command-line argument and ``_serve``'s ``backend`` option
    label: str  # "IoT Hub": what the rows say
    entry_name: str  # the provider's Backend entry in airflow_iot_jobs.backends
    emulator: str  # the emulator class
    sensor: str  # the sensor class (the poke-mode comparison)
    name_option: str | None  # the emulator keyword naming the hub / application (None: it has none)
    devices_option: str = "devices"  # the emulator keyword sizing the fleet (AWS: ``things``)

    def entry(self) -> Any:
        return import_path(f"airflow_iot_jobs.backends.{self.entry_name}")

    def emulator_class(self) -> Any:
        return import_path(self.emulator)

    def sensor_class(self) -> Any:
        return import_path(self.sensor)

    def hook_params(self, conn_id: str) -> dict[str, Any]:
        """What a deferring operator hands its trigger: the connection id plus the entry's further hook keywords
        at their defaults (AWS: ``region_name``, ``verify``, ``botocore_config``)."""
        entry = self.entry()
        return {**entry.hook_params, entry.conn_param: conn_id}

    def hook(self, conn_id: str) -> Any:
        return self.entry().hook_class()(**self.hook_params(conn_id))

    def trigger(self, job_id: str, conn_id: str, **kwargs: Any) -> Any:
        """The backend's trigger as a deferring operator builds it (hook parameters, never a secret)."""
        return self.entry().trigger_class()(job_id=job_id, hook_params=self.hook_params(conn_id), **kwargs)

    @property
    def default_conn_env(self) -> str:
        return f"AIRFLOW_CONN_{self.entry().default_conn_id.upper()}"


BACKENDS: dict[str, BenchBackend] = {
    b.key: b
    for b in (
        BenchBackend(
            key="iothub",
            label="IoT Hub",
            entry_name="IOTHUB",
            emulator="airflow_iot_jobs.emulator.iothub.server.IoTHubEmulator",
            sensor="airflow_iot_jobs.sensors.iothub.IoTHubJobSensor",
            name_option="hub_name",
        ),
        BenchBackend(
            key="iotcentral",
            label="IoT Central",
            entry_name="IOTCENTRAL",
            emulator="airflow_iot_jobs.emulator.iotcentral.server.IoTCentralEmulator",
            sensor="airflow_iot_jobs.sensors.iotcentral.IoTCentralJobSensor",
            name_option="app_subdomain",
        ),
        BenchBackend(
            key="aws",
            label="AWS IoT Jobs",
            entry_name="AWS_IOT",
            emulator="airflow_iot_jobs.emulator.aws.server.AwsIoTEmulator",
            sensor="airflow_iot_jobs.sensors.aws_iot.AwsIoTJobSensor",
            name_option=None,  # one account and region per emulator; its port and random keys tell them apart
            devices_option="things",
        ),
    )
}


def import_path(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ------------------------------------------------------------------------------------------- measuring


def peak_rss_mb() -> float:
    """This process's peak resident set since it started its program. Linux ``VmHWM`` (reset by exec);
    ``ru_maxrss`` is not, so a child forked from a big parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int | None = None) -> float:
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


# ------------------------------------------------------------------------------------------- process hygiene

#: The signals that end a benchmark run early: ``timeout`` (SIGTERM), Ctrl-C (SIGINT), a closed terminal (SIGHUP).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def stop_on_signals() -> None:
    """Make SIGTERM, SIGINT and SIGHUP raise ``SystemExit(128 + signal)`` in this process's main thread, so that
    its ``finally`` blocks and context managers run and stop every server it started (Azurite, emulators, child
    figures). Further signals are ignored while that cleanup runs. Every benchmark entry point calls this first."""

    def _stop(signum: int, frame: Any) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    for each in STOP_SIGNALS:
        signal.signal(each, _stop)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End ``proc`` (started with ``start_new_session=True``) and everything left in its process group: SIGTERM
    (its own handlers stop what it started outside the group, e.g. Azurite), then SIGKILL after ``grace``."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def run_child(module: str, *args: str, timeout: float = 900, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m <module> args`` and return the JSON it printed after RESULT_MARKER.

    The child runs in its own session; whatever way this call ends (its result, ``timeout``, or this process
    being stopped by a signal), the child's process group is ended (:func:`stop_process_group`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env or os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        stop_process_group(proc)
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    raise RuntimeError(
        f"{module} {' '.join(args)} exited {proc.returncode} without a result:\n"
        f"{stdout[-2000:]}\n{stderr[-4000:]}"
    )


def emit(value: Any) -> None:
    """A child's result: one marked JSON line on stdout."""
    sys.stdout.write(RESULT_MARKER + json.dumps(value) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------------- result rows


def row(
    figure: int,
    metric: str,
    ours: float,
    comparison: float | None,
    comparison_label: str,
    goal: str,
    passed: bool | None,
    unit: str = "",
    ratio: float | None = None,
    no_ratio: bool = False,
    **details: Any,
) -> dict[str, Any]:
    """One line of the table. ``ratio`` defaults to ours / comparison (none with ``no_ratio``)."""
    if ratio is None and not no_ratio and comparison not in (None, 0):
        ratio = ours / comparison
    return {
        "figure": figure,
        "metric": metric,
        "ours": ours,
        "unit": unit,
        "comparison": comparison,
        "comparison_label": comparison_label,
        "ratio": ratio,
        "goal": goal,
        "pass": passed,
        "details": details,
    }


class ServedEmulator:
    """An emulator in a child process (``benchmarks._serve``): its CPU and memory stay out of the measured
    process. ``options``: ``backend`` (a key of :data:`BACKENDS`) and the emulator's keywords.
    ``request_count()`` asks it how many requests it answered."""

    def __init__(self, *, wait: bool = True, **options: Any) -> None:
        self.options = options
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._serve", json.dumps(options)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: dict[str, Any] | None = None
        if wait:
            self.wait_started()

    @classmethod
    def many(cls, options: list[dict[str, Any]]) -> list[ServedEmulator]:
        """Start several at once (the children import the emulator in parallel), then wait for all."""
        served = [cls(wait=False, **opts) for opts in options]
        return [emulator.wait_started() for emulator in served]

    def wait_started(self) -> ServedEmulator:
        if self.info is None:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"emulator with {self.options} did not start")
            self.info = json.loads(line)
            self.endpoint: str = self.info["endpoint"]
        return self

    def ask(self, command: str) -> Any:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def request_count(self) -> int:
        return self.ask("count")["requests"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
