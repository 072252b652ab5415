"""What a backend gives the shared suites (``tests/contract/``): one :class:`BackendHarness` per backend.

Adding a backend's tests = one module ``tests/harness/<backend>.py`` that subclasses :class:`BackendHarness`,
an entry in :data:`HARNESSES`, and its backend-only tests under ``tests/backends/<backend>/``. The contract
suites speak only this interface, so they never name a service, an operator or a route.

Standard library only at import: the harness modules import Airflow, the provider and the emulator lazily
(``tests/conftest.py`` isolates Airflow's home before anything imports it).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from airflow_iot_jobs.backends import Backend
    from airflow_iot_jobs.emulator.faults import FaultInjector
    from airflow_iot_jobs.hooks.base import JobsHook

#: The emulator options every harness understands (``start(**options)``), by their neutral names.
EMULATOR_OPTIONS = (
    "devices",  # fleet size
    "seed",
    "speed",  # emulated seconds per real second
    "offline_rate",
    "failure_rate",
    "max_active_jobs",
    "fault_rate",
    "fault_kinds",
    "fault_delay",
    "fault_match",  # a regular expression over "METHOD /path" (see ``routes``)
    "fault_max_consecutive",
    "clock",  # a ManualClock: the emulator's time moves only when the test says so (``release``)
    "key",  # the shared key / secret the emulator accepts (a canary in the secrets suite)
    "tier",  # "F1" | "S1" | "S2" | "S3": the service's throttles and job limits (default None: none)
)


class BackendHarness(ABC):
    """One backend, as the shared suites see it.

    Class attributes a harness sets:

    * ``name`` — the pytest id (``tests/contract/...[iothub]``) and the key in :func:`harness_named`;
    * ``routes`` — ``"create"`` / ``"progress"`` / ``"cancel"``: ``(METHOD, path prefix)`` of the requests that
      create a job, read its progress and cancel it, as the emulator's request log shows them; ``route_paths`` —
      route -> a regular expression the whole path must match too, where a prefix alone would also count other
      requests (IoT Central's cancel is ``POST /api/jobs/{id}/stop``, its resume ``POST /api/jobs/{id}/resume``);
    * ``codes`` — the service's words the suites look for in logs and errors: ``"already_exists_status"`` (int),
      ``"not_found"``, ``"unauthorized"``, ``"throttled"``, ``"busy"``, ``"busy_message"``; and the HTTP statuses
      the emulator answers with (``"already_exists_status"`` is ``None`` with ``service_ids``): ``"unauthorized_status"``, ``"throttled_status"``, ``"busy_status"`` (401 / 429 /
      429 on Azure; AWS IoT: 403, 400 ``ThrottlingException``, 410 ``LimitExceededException``);
    * ``canaries`` — name -> secret the secrets suite hunts for (keys, SAS tokens);
      ``logged_secrets`` — the labels :meth:`log_connection_secrets` logs (each must show as ``***``);
    * ``fuzz`` — :class:`FuzzInputs`: the builders and invalid-input strategies the fuzz suite uses for this
      backend's own parameters;
    * ``cancelled_phase`` — the phase a cancel leaves a job in, as :meth:`remote_status` and the hook's
      :class:`~airflow_iot_jobs.jobs.JobPhase` spell it ("cancelled"; IoT Central's cancel is a stop: "paused");
    * ``service_ids`` — the service picks the job ids (a uuid) and the create call does not answer one: the
      operator marks the job with the task instance's marker (the derived id) and searches for it before and after
      its create call, so a re-sent create is never refused (``codes["already_exists_status"]`` is ``None``) and a
      re-attach is a search that finds the job, with no second create call (:meth:`reattaches`); the harness names
      its own jobs (:meth:`launch`, :meth:`raw_create`) by the same kind of marker (:meth:`jobs_named`), and
      ``requests(route, suffix=...)`` matches a job's id or the beginning of its marker;
    * ``supports_start_time`` — job operators take ``start_time`` (a job that starts later);
    * ``abort_overrides`` — job operator keywords under which the service itself aborts (cancels) a job once a
      fifth of its devices failed (AWS IoT: ``abort_config``), or ``None``: the backend has no abort criteria the
      hook reports as :attr:`~airflow_iot_jobs.jobs.JobProgress.aborted`;
    * ``supports_cancel`` / ``supports_count`` — the harness's hook (built from :meth:`hook_params`) can cancel a
      job / count the devices a target selects: the backend's own flags, or true where the harness's connections
      name the second connection that can (``backend.cancel_through``: IoTHub Manager's ``iothub_conn_id``);
      ``has_cancel_operator`` — the backend has a cancel operator (:meth:`cancel_operator`).

    Methods with a default a harness may override: :meth:`failing_fleet` (emulator options for a fleet where some
    devices fail), :meth:`jobs_named` and :meth:`reattaches` (``service_ids``).
    """

    name: ClassVar[str]
    routes: ClassVar[dict[str, tuple[str, str]]]
    route_paths: ClassVar[dict[str, str]] = {}
    codes: ClassVar[dict[str, Any]]
    canaries: ClassVar[dict[str, str]] = {}
    canary_key: ClassVar[str]  # the key the emulator accepts in the secrets suite (one of ``canaries``)
    wrong_key: ClassVar[str]  # a wrong key (one of ``canaries``): the 401 path
    logged_secrets: ClassVar[tuple[str, ...]] = ()
    masked_uri_tasks: ClassVar[tuple[str, ...]] = ()  # secrets-suite tasks that log "reading <a signed URI>"
    cancelled_phase: ClassVar[str] = "cancelled"
    supports_start_time: ClassVar[bool] = True
    abort_overrides: ClassVar[dict[str, Any] | None] = None
    has_cancel_operator: ClassVar[bool] = True
    service_ids: ClassVar[bool] = False

    # ------------------------------------------------------------------------------------------ the backend

    @property
    @abstractmethod
    def backend(self) -> Backend: ...

    @property
    def supports_cancel(self) -> bool:
        return self.backend.supports_cancel

    @property
    def supports_count(self) -> bool:
        return self.backend.supports_count

    @property
    def conn_id(self) -> str:
        return self.backend.default_conn_id

    def hook(self, conn_id: str | None = None) -> JobsHook:
        """The backend's hook, built from ``hook_params`` as operators and triggers build it."""
        return self.backend.hook_class()(**self.hook_params(conn_id))

    def hook_params(self, conn_id: str | None = None) -> dict[str, Any]:
        return {**self.backend.hook_params, self.backend.conn_param: conn_id or self.conn_id}

    def trigger(self, job_id: str, conn_id: str | None = None, **kwargs: Any) -> Any:
        return self.backend.trigger_class()(job_id=job_id, hook_params=self.hook_params(conn_id), **kwargs)

    # ------------------------------------------------------------------------------------------ the emulator

    @abstractmethod
    def start(self, **options: Any) -> Any:
        """A started emulator (options: :data:`EMULATOR_OPTIONS`)."""

    def stop(self, emulator: Any) -> None:
        emulator.stop()

    @abstractmethod
    def connection(self, emulator: Any, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
        """The Airflow connection a user would write for ``emulator`` (``key``: another key than its own)."""

    def failing_fleet(self, share: float) -> dict[str, float]:
        """Emulator options under which about ``share`` of the devices fail a job, and every job still ends:
        offline devices (IoT Hub and IoT Central time them out or fail them). AWS IoT leaves an offline thing's
        execution QUEUED, so its job would never end: its harness fails runs instead."""
        return {"offline_rate": share, "failure_rate": 0.0}

    def connection_json(self, emulator: Any, **kwargs: Any) -> str:
        return json.dumps(self.connection(emulator, **kwargs))

    def env(self, emulator: Any, conn_id: str | None = None, **kwargs: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}``: the variable a user would export."""
        return {f"AIRFLOW_CONN_{(conn_id or self.conn_id).upper()}": self.connection_json(emulator, **kwargs)}

    @abstractmethod
    def remote_jobs(self, emulator: Any) -> list[str]:
        """The ids of the jobs the emulator holds (read from its state, no request)."""

    @abstractmethod
    def remote_status(self, emulator: Any, job_id: str) -> dict[str, Any]:
        """``{"phase": "queued|running|paused|completed|cancelled|failed", "done": n, "total": n}`` from the
        state."""

    @abstractmethod
    def matching(self, emulator: Any, devices: Any = "*") -> int:
        """How many devices of the emulator's fleet a typical job over ``devices`` (the neutral selection of
        :meth:`job_operator`) targets, read from its state (no request)."""

    def request_log(self, emulator: Any) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the emulator answered (0: the connection was dropped)."""
        return list(emulator.request_log)

    def faults(self, emulator: Any) -> FaultInjector:
        return emulator.faults

    def is_route(self, route: str, method: str, path: str, suffix: str = "") -> bool:
        """Whether a request (``method``, ``path``) of the log is one of ``route`` (a key of ``routes``)."""
        route_method, prefix = self.routes[route]
        whole = self.route_paths.get(route)
        return (
            method == route_method
            and path.startswith(prefix + suffix)
            and (whole is None or re.fullmatch(whole, path) is not None)
        )

    def requests(self, emulator: Any, route: str, status: int | None = None, suffix: str = "") -> int:
        """How many requests of ``route`` (a key of ``routes``) the emulator answered (with ``status``)."""
        return sum(
            1
            for m, path, s in self.request_log(emulator)
            if self.is_route(route, m, path, suffix) and (status is None or s == status)
        )

    def fault_match(self, route: str) -> str:
        """A ``fault_match`` expression for the requests of ``route``."""
        method, prefix = self.routes[route]
        if route in self.route_paths:
            return f"^{method} {self.route_paths[route]}$"
        return f"^{method} {re.escape(prefix)}"

    def release(self, emulator: Any, seconds: float = 600.0) -> None:
        """Let ``seconds`` of a held emulator's time pass at once."""
        emulator.timeline.clock.advance(seconds)

    def jobs_named(self, emulator: Any, name: str) -> list[str]:
        """The ids of the jobs the emulator holds that :meth:`launch` / :meth:`raw_create` made for ``name``: the
        job ``name`` itself where job ids are the client's; with ``service_ids``, every job marked ``name``."""
        return [name] if name in self.remote_jobs(emulator) else []

    def reattaches(self, emulator: Any) -> int:
        """How many launches met the job an earlier attempt created instead of creating another, as the request
        log shows it: create calls answered ``already_exists_status``. (``service_ids``: marker searches that found
        the job; see the harness.)"""
        return self.requests(emulator, "create", self.codes["already_exists_status"])

    @abstractmethod
    def launch(self, emulator: Any, job_id: str, **options: Any) -> str:
        """Create a typical device job directly through the hook (a job the suites did not start with a DAG);
        return its id (``job_id`` itself, or the id the service gave it with ``service_ids``)."""

    @abstractmethod
    def cancel_remote(self, emulator: Any, job_id: str) -> None:
        """End a job in the emulator's state (a user cancelling it elsewhere): frees its slot."""

    @abstractmethod
    def raw_create(self, emulator: Any, job_id: str) -> Any:
        """Create a job with a bare HTTP request (``requests.Response``), signed as the SDK signs it."""

    @abstractmethod
    def raw_get(self, emulator: Any, job_id: str, authorized: bool = True) -> Any:
        """Read a job with a bare HTTP request, with a valid or a wrong credential."""

    # ------------------------------------------------------------------------------------------ operators

    def rollout_job(self, **overrides: Any) -> tuple[type, dict[str, Any]]:
        """The class and keywords of :meth:`job_operator` (a rollout makes one such operator per wave)."""
        operator = self.job_operator(task_id="rollout_probe", **overrides)
        kwargs = dict(operator._BaseOperator__init_kwargs)
        kwargs.pop("task_id", None)
        return type(operator), kwargs

    @abstractmethod
    def job_operator(self, task_id: str = "job", **overrides: Any) -> Any:
        """A typical device job. Neutral keywords: ``devices`` ("*" or tag -> value, templates allowed),
        ``action`` (what the devices run) and ``payload``; any operator keyword passes through."""

    def count_target(self, operator: Any) -> Any:
        """What ``hook.count_devices`` counts for a job operator's target (anything the backend needs for it to
        exist remotely — an IoT Central device group — is created first, as the operator does before counting)."""
        return operator.target(operator.build_request())

    @abstractmethod
    def cancel_operator(self, task_id: str = "cancel", **overrides: Any) -> Any: ...

    @abstractmethod
    def sensor(self, task_id: str = "wait", **overrides: Any) -> Any: ...

    # ------------------------------------------------------------------------------------------ secrets

    def canary_setup(self, tmp_path_factory: Any) -> Any:
        """A context manager for the secrets suite: yields ``(env, dag_kwargs, skipped)`` — extra AIRFLOW_CONN_*
        variables for backend-only canary services, keywords for :meth:`secrets_tasks`, and why something was
        left out (or None)."""
        import contextlib

        return contextlib.nullcontext(({}, {}, None))

    def secrets_tasks(self, **dag_kwargs: Any) -> dict[str, str]:
        """Backend-only tasks added to the secrets suite's DAG (inside its ``with DAG``): task id -> end state."""
        return {}

    @abstractmethod
    def bad_connections(self, emulator: Any) -> dict[str, dict[str, Any]]:
        """Connections that must fail without their secret in the error: ``"wrong key"`` and malformed ones."""

    @abstractmethod
    def log_connection_secrets(self) -> None:
        """Inside a task: read the default connection's secrets through the hook and log each of
        ``logged_secrets`` as ``"<label>: %s"`` (the masker must hide them)."""


class FuzzInputs:
    """What the fuzz suite needs of a backend: operator builders by kind, and invalid-input strategies.

    * ``jobs``: kind -> builder of job operators; ``sensor``, ``cancel``: builders (keywords override the
      typical values; an invalid value slips through as a quick launch that does not wait);
    * ``timeouts`` / ``max_devices``: kind -> builder of the operators that take ``timeout`` / ``max_devices``;
    * ``bad_job_ids``: ids the service refuses (written from its documentation, not the provider's code);
    * ``invalid``: optional, the backend's own invalid inputs the contract suite checks too: case ->
      ``(builder, overrides, field)`` (the error must name ``field``, and no request may be sent).
    """

    def __init__(
        self,
        *,
        jobs: dict[str, Callable[..., Any]],
        sensor: Callable[..., Any],
        cancel: Callable[..., Any] | None,
        timeouts: dict[str, Callable[..., Any]],
        max_devices: dict[str, Callable[..., Any]],
        bad_job_ids: Any,
        targets: Callable[[], Any],
        invalid: dict[str, tuple[Callable[..., Any], dict[str, Any], str]] | None = None,
    ) -> None:
        self.jobs = jobs
        self.sensor = sensor
        self.cancel = cancel
        self.waiting = {**jobs, "sensor": sensor}
        self.timeouts = timeouts
        self.max_devices = max_devices
        self.bad_job_ids = bad_job_ids
        self.targets = targets  # a context manager: the emulator (and stand-ins) that must see zero requests
        self.invalid = invalid or {}


def emulator_fixture(harness: BackendHarness, monkeypatch: Any) -> Iterator[Callable[..., Any]]:
    """The body of a ``make_<backend>`` fixture: start emulators with options, point the default connection at
    the last one started, stop them all at the end."""
    started: list[Any] = []

    def start(**options: Any) -> Any:
        options.setdefault("seed", 7)
        emulator = harness.start(**options)
        started.append(emulator)
        for name, value in harness.env(emulator).items():
            monkeypatch.setenv(name, value)
        return emulator

    yield start
    for emulator in started:
        harness.stop(emulator)


def _harnesses() -> list[BackendHarness]:
    from tests.harness.aws import AWS_HARNESS
    from tests.harness.device_management_api import DEVICE_MANAGEMENT_API_HARNESS
    from tests.harness.iotcentral import IOTCENTRAL_HARNESS
    from tests.harness.iothub import IOTHUB_HARNESS
    from tests.harness.iothub_manager import IOTHUB_MANAGER_HARNESS

    return [
        IOTHUB_HARNESS,
        IOTCENTRAL_HARNESS,
        AWS_HARNESS,
        IOTHUB_MANAGER_HARNESS,
        DEVICE_MANAGEMENT_API_HARNESS,
    ]


HARNESSES: list[BackendHarness] = _harnesses()


def harness_named(name: str) -> BackendHarness:
    for harness in HARNESSES:
        if harness.name == name:
            return harness
    raise KeyError(f"no harness named {name!r}: {[h.name for h in HARNESSES]}")
