"""A real Airflow 3 on 127.0.0.1 (api-server, scheduler, dag-processor, triggerer as separate processes) plus the
IoT Hub emulator, started from the running interpreter's environment and always stopped again.

Each server runs in its own session (process group); stopping walks every descendant too, because Airflow's
task supervisor puts each task process into a group of its own. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "example_dags"
HOST = "127.0.0.1"


class StackError(RuntimeError):
    """Something in the stack did not come up (or did not behave) within its time limit."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; raise StackError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as err:
            result, last_error = None, err
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies (even by SIGKILL), so nothing is left."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Process:
    """One long-running server process, its output in a log file."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        log_dir: Path,
        cwd: Path = ROOT,
        **popen_options: Any,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if name == "emulator" else self._log,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **popen_options,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        stop_all([self], grace)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        if self.popen.stdout:
            self.popen.stdout.close()
        self._log.close()


def stop_all(processes: list[Process], grace: float = 15.0) -> None:
    """SIGTERM each process group and every descendant (task processes sit in groups of their own), wait up
    to ``grace`` seconds for all of them together, then SIGKILL what is left."""
    procs: list[psutil.Process] = []
    groups = {process.popen.pid for process in processes}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(process.popen.pid)
            procs += [root, *root.children(recursive=True)]
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
    for proc in procs:  # one SIGTERM each: a second one makes the scheduler skip its orderly shutdown
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) not in groups:
                proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        names = ", ".join(f"{p.pid} {_cmdline(p)}" for p in alive)
        print(f"e2e: still running {grace:.0f} s after SIGTERM, killing: {names}", file=sys.stderr)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except psutil.Error:
        return "?"


class Emulator:
    """``python -m airflow_iot_jobs.emulator iothub …`` as a user starts it; reads its first JSON line."""

    def __init__(self, log_dir: Path, **options: Any) -> None:
        args = [sys.executable, "-m", "airflow_iot_jobs.emulator", "iothub", "--port", "0"]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.process = Process("emulator", args, dict(os.environ), log_dir)
        line = _readline(self.process.popen, timeout=30)
        if not line:
            self.process.stop()
            raise StackError("the emulator printed nothing:\n" + self.process.tail())
        self.info: dict[str, Any] = json.loads(line)
        self.endpoint: str = self.info["endpoint"]
        self.connection_string: str = self.info["connection_string"]

    def stop(self) -> None:
        self.process.stop()


def _readline(popen: subprocess.Popen, timeout: float) -> str:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(popen.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return popen.stdout.readline().decode()


class Airflow:
    """The four Airflow 3 components from ``sys.executable``'s environment, on SQLite in ``home``.

    Only the API server listens, on 127.0.0.1; the scheduler and triggerer log servers are not started
    (``--skip-serve-logs``: they would bind every interface, and the API server reads the local log files).
    """

    COMPONENTS = {
        "api-server": ["api-server", "--host", HOST, "--workers", "1"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }

    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str] | None = None,
        components: dict[str, list[str]] | None = None,
    ) -> None:
        """``components``: name -> ``airflow`` arguments, instead of :attr:`COMPONENTS` (the scale stack runs two
        Celery workers and starts its triggerers one by one with :meth:`start_component`)."""
        self.home = home
        self.components = dict(self.COMPONENTS if components is None else components)
        self.log_dir = home / "stack-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = self._environment(extra_env or {})
        self.processes: dict[str, Process] = {}
        self._token: str | None = None

    def _environment(self, extra_env: dict[str, str]) -> dict[str, str]:
        # Nothing Airflow-related from the calling process (the unit-test harness sets its own home and may
        # set AIRFLOW_CONN_* variables): the hub connection must come from the metadata DB only.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IOT_JOBS_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__EXPOSE_CONFIG": "False",
                # Find and re-parse the example DAGs within seconds, not minutes.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "IOT_JOBS_EXAMPLE_POLL_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
                **extra_env,
            }
        )
        return env

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self, timeout: float = 180) -> None:
        started = time.monotonic()
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (self.log_dir / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode:
            raise StackError(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}")
        for name, args in self.components.items():
            self.start_component(name, args)
        remaining = max(10.0, timeout - (time.monotonic() - started))
        wait_for("a healthy scheduler, triggerer and DAG processor", self._healthy, remaining)

    def start_component(self, name: str, args: list[str]) -> Process:
        """One more ``python -m airflow <args>`` process, logged to ``<name>.log``."""
        self.processes[name] = Process(name, [sys.executable, "-m", "airflow", *args], self.env, self.log_dir)
        return self.processes[name]

    def _healthy(self) -> bool:
        self.check_alive()
        health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        parts = ["metadatabase", "scheduler", "dag_processor"]
        if any(args[0] == "triggerer" for args in self.components.values()):
            parts.append("triggerer")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if not proc.alive():
                raise StackError(f"airflow {name} exited with {proc.popen.returncode}:\n{proc.tail()}")

    def stop(self) -> None:
        stop_all(list(self.processes.values()))
        for proc in self.processes.values():
            proc.close()

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {name} ---\n{proc.tail(lines)}" for name, proc in self.processes.items())

    # -- REST API as a user (SimpleAuthManager) -------------------------------------------------------------

    @property
    def admin_password(self) -> str:
        """The password the SimpleAuthManager generated for ``admin`` on first start."""
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return wait_for("the generated admin password", lambda: json.loads(path.read_text())["admin"], 30)

    def token(self) -> str:
        if self._token is None:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": self.admin_password},
                timeout=10,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        response = httpx.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=15, **kwargs)
        if response.status_code not in expect:
            raise StackError(f"{method} {path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else None

    # -- DAG runs ---------------------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: str | None = None) -> str:
        """``POST /dags/{dag_id}/dagRuns`` as the UI's trigger form does; returns the run id."""
        run = self.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            json={"logical_date": logical_date, "conf": conf},
        )
        return run["dag_run_id"]

    def watch_run(self, dag_id: str, run_id: str, timeout: float = 180) -> RunWatch:
        """Poll the run and its task instances until the run ends, recording every state each task showed and
        the trigger (and triggerer job) a deferred task instance pointed at."""
        watch = RunWatch(dag_id, run_id)
        base = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

        def ended() -> bool:
            self.check_alive()
            for ti in self.api("GET", f"{base}/taskInstances")["task_instances"]:
                watch.record(ti)
            watch.state = self.api("GET", base)["state"]
            return watch.state in ("success", "failed")

        try:
            wait_for(f"DAG run {dag_id}/{run_id} to end", ended, timeout, interval=0.25)
        except StackError as err:
            raise StackError(f"{err}; task states seen: {watch.states}\n{self.logs()}") from None
        return watch

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path)["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """The task's log as structured events, including the part the triggerer wrote while it was deferred."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        return self.api("GET", path, headers={"Accept": "application/json"})["content"]


class RunWatch:
    """What a DAG run showed while it was polled."""

    def __init__(self, dag_id: str, run_id: str) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.state: str | None = None
        self.states: dict[str, list[str]] = {}
        self.triggers: dict[str, dict[str, Any]] = {}
        self.triggerer_jobs: dict[str, dict[str, Any]] = {}
        self.final: dict[str, dict[str, Any]] = {}

    def record(self, ti: dict[str, Any]) -> None:
        task_id, state = ti["task_id"], ti["state"]
        seen = self.states.setdefault(task_id, [])
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "deferred":
            if ti.get("trigger"):
                self.triggers[task_id] = ti["trigger"]
            if ti.get("triggerer_job"):
                self.triggerer_jobs[task_id] = ti["triggerer_job"]
        self.final[task_id] = ti


@contextlib.contextmanager
def running_stack(home: Path, **emulator_options: Any) -> Iterator[tuple[Airflow, Emulator]]:
    """The emulator (``python -m airflow_iot_jobs.emulator iothub`` with these options) and Airflow, both
    stopped when the block ends, however it ends."""
    home.mkdir(parents=True, exist_ok=True)
    airflow = Airflow(home)
    emulator = None
    try:
        emulator = Emulator(airflow.log_dir, hub_name="e2e-hub", **emulator_options)
        airflow.start()
        yield airflow, emulator
    finally:
        airflow.stop()
        if emulator is not None:
            emulator.stop()
