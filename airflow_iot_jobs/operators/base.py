"""The job-launching operator every backend specialises: validate, launch exactly once, then wait.

A backend operator supplies ``build_request`` (validate the rendered parameters; no remote call), ``target``
(what ``count_devices`` counts) and ``create_job``; everything else — the blast-radius count, "no device
matched", dry runs, launching exactly once, waiting for the service's free slot, polling or deferring, the
verdict — lives here once. Two launch strategies, chosen by ``launch_strategy``:

* ``"client_id"``: the job id is ours (derived from the task instance); a retry that meets "already exists"
  re-attaches to the job an earlier try launched;
* ``"server_id"``: the service picks the id; the task instance owns a *marker* the job carries (a blob name, a
  description), ``find_job(marker)`` looks for it before every create and before any re-send.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, conf

from airflow_iot_jobs.jobs import ErrorKind, JobPhase, JobServiceError, Verdict, is_template
from airflow_iot_jobs.validation.common import parse_duration_seconds, validate_interval
from airflow_iot_jobs.waiting import (
    BackendTask,
    JobWaiting,
    check_thresholds_at_parse,
    fail_fast_on_permanent_errors,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.polling import PollSchedule

DEFAULT_WAIT_TIMEOUT = timedelta(days=7)
MAX_LAUNCH_BACKOFF = 60.0


def check_max_devices(value: object) -> int | None:
    """A non-negative whole number of devices; a digit string from a rendered template counts as one."""
    if value is None or is_template(value):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_devices: must be a non-negative whole number of devices, got {value!r}")
    return value


def check_flag(value: object, field: str) -> bool | None:
    """A yes/no option; ``"true"`` / ``"false"`` from a rendered template (a params form) count as one."""
    if is_template(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{field}: must be true or false, got {value!r}")


class BaseJobOperator(JobWaiting, BaseOperator):
    """Creates one remote job per task instance and, by default, waits until it meets its thresholds.

    :param job_id: the remote job id; by default derived from the task instance (dag, run, task, map index), so a
        retry, a crashed worker or a cleared task re-attaches to the job already launched instead of launching
        another. The rendered-template view shows the id that is used.
    :param wait_for_completion: wait for a verdict (default) or return right after the launch.
    :param deferrable: wait in the triggerer instead of a worker slot (default ``[operators] default_deferrable``):
        for the job's verdict, and for a free launch slot while the service answers "too many active jobs".
    :param poll_interval: seconds before the first progress reads, while the job's pace is unknown.
    :param max_poll_interval: the longest gap between reads (default 120 s). In between, the wait is adaptive:
        it predicts from the job's pace when it ends (or would cross the failure threshold) and reads then, and
        backs off when the service throttles. Set it equal to ``poll_interval`` for a fixed interval.
    :param timeout: how long to wait for a verdict (seconds or timedelta; default 7 days).
    :param success_threshold: ``"95%"`` of targeted devices, or a device count such as ``10`` (default ``"100%"``).
    :param failure_threshold: fail as soon as more than this share or count of devices failed (default none).
    :param cancel_on_failure: cancel the remote job when the failure threshold is crossed.
    :param cancel_on_kill: cancel the remote job when the task is killed (default: same as cancel_on_failure).
    :param max_devices: blast-radius guard: count the devices the job would touch first and refuse to launch
        (no job is created) when there are more than this; the count is logged either way. Templated.
    :param allow_no_devices: a target that matches no device is a success (default: the task fails, naming the
        target, and no job is created).
    :param dry_run: count and log the targets, return the plan, launch nothing. Templated (a params form's
        boolean, or ``"true"`` / ``"false"``).
    """

    early_success = False
    launch_strategy: ClassVar[str] = "client_id"
    job_type: ClassVar[str | None] = None
    shared_template_fields: ClassVar[tuple[str, ...]] = (
        "job_id",
        "success_threshold",
        "failure_threshold",
        "max_devices",
        "dry_run",
    )
    template_fields: Sequence[str] = shared_template_fields

    def __init__(
        self,
        *,
        job_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        max_poll_interval: float = 120.0,
        timeout: timedelta | float | None = None,
        success_threshold: str | int = "100%",
        failure_threshold: str | int | None = None,
        cancel_on_failure: bool = False,
        cancel_on_kill: bool | None = None,
        max_devices: int | None = None,
        allow_no_devices: bool = False,
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_max_devices(max_devices)
        check_flag(dry_run, "dry_run")
        check_thresholds_at_parse(success_threshold, failure_threshold)
        self.check_cancel_flags(cancel_on_failure=cancel_on_failure, cancel_on_kill=cancel_on_kill)
        validate_interval(poll_interval, "poll_interval")
        validate_interval(max_poll_interval, "max_poll_interval")
        if job_id is not None and self.launch_strategy == "server_id":
            raise ValueError(f"job_id: {self.backend.name} chooses the ids of these jobs; leave job_id unset")
        self.job_id = job_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.success_threshold = success_threshold
        self.failure_threshold = failure_threshold
        self.cancel_on_failure = cancel_on_failure
        self.cancel_on_kill = cancel_on_kill
        self.max_devices = max_devices
        self.allow_no_devices = allow_no_devices
        self.dry_run = dry_run
        self._launched_job_id: str | None = None
        # a launch resumed after waiting for a slot keeps its deadline (and its backoff)
        self._launch_deadline: float | None = None
        self._launch_attempt = 0

    # ------------------------------------------------------------------ what a backend operator supplies

    def build_request(self) -> dict[str, Any]:
        """Validate the rendered parameters; return what ``create_job`` needs. No remote calls."""
        raise NotImplementedError

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        """Send the create call; return the job id (``job_id`` itself for client-chosen ids)."""
        raise NotImplementedError

    def target(self, request: dict[str, Any]) -> Any:
        """What ``hook.count_devices`` counts for this request; ``None``: the job targets no device set."""
        return None

    def describe_target(self, request: dict[str, Any]) -> str:
        return repr(self.target(request))

    def marker(self, context: Context, request: dict[str, Any]) -> str:
        """``server_id`` strategy: what the job carries that only this task instance writes."""
        raise NotImplementedError

    def find_job(self, marker: str) -> str | None:
        """``server_id`` strategy: the id of the job carrying ``marker``, if one exists."""
        raise NotImplementedError

    def existing_job_type(self, job_id: str) -> str | None:
        """The type of an already existing job with this id (used to refuse re-attaching to a foreign job)."""
        return self.hook.progress(job_id).job_type

    # ------------------------------------------------------------------ the shared flow

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if self.job_id is None and self.launch_strategy == "client_id":
            self.job_id = self.derived_job_id(context)  # shown in the rendered-template view

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_fast_on_permanent_errors():
            return self.launch_and_wait(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self._launched_job_id = (event or {}).get("job_id")
        with fail_fast_on_permanent_errors():
            return super().execute_complete(context, event)

    def execute_launch(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed from :class:`~airflow_iot_jobs.triggers.launch_slot.LaunchSlotTrigger`: launch now that a slot
        is free (the launch strategies re-attach to a job an earlier try created), or fail at the deadline with
        the service's last busy answer."""
        event = event or {}
        self._launch_deadline = float(event["end_time"]) if "end_time" in event else None
        self._launch_attempt = int(event.get("attempt", 0)) + 1
        if event.get("status") != "slot_free":
            busy = event.get("busy") or {}
            self.log.error(
                "no launch slot became free before the wait timeout; the service's last answer follows"
            )
            raise JobServiceError(
                int(busy.get("status", 0)),
                str(busy.get("code", "Busy")),
                str(busy.get("message", "the service had no free launch slot before the wait timeout")),
                kind=ErrorKind.BUSY,
            )
        with fail_fast_on_permanent_errors():
            return self.launch_and_wait(context)

    def launch_and_wait(self, context: Context) -> dict[str, Any]:
        self.thresholds()  # rendered thresholds, checked before any call
        self.max_devices = check_max_devices(self.max_devices)
        self.dry_run = check_flag(self.dry_run, "dry_run")
        request = self.build_request()
        if self.launch_strategy == "client_id":
            job_id = self.hook.validate_job_id(self.job_id or self.derived_job_id(context))
        else:
            job_id = None
        if self.dry_run:
            return self.plan(job_id, request)
        deadline = self._launch_deadline or time.time() + self.wait_seconds()
        try:
            if self.launch_strategy == "client_id":
                assert job_id is not None
                job_id = self.launch_with_own_id(job_id, request, deadline)
            else:
                job_id = self.launch_with_service_id(self.marker(context, request), request, deadline)
        except JobServiceError as err:
            if not (self.deferrable and err.busy and time.time() < deadline):
                raise
            self.defer_launch(err, deadline, job_id or f"the {self.job_type} job")
        self._launched_job_id = job_id  # the extra link reads it when the task ends
        if not self.wait_for_completion:
            return self.hook.progress(job_id).to_dict()
        schedule = self.poll_schedule()
        if self.deferrable:
            progress = self.poll(job_id)
            if progress is not None:
                verdict, reason = self.judge(progress, self.wait_thresholds())
                if verdict is not Verdict.WAIT:
                    return self.conclude(progress, verdict, reason)
            self.defer_wait(job_id, schedule, deadline, timeout=None)
        return self.wait_by_polling(job_id, schedule, deadline)

    def poll_schedule(self) -> PollSchedule:
        from airflow_iot_jobs.polling import PollSchedule

        return PollSchedule(
            validate_interval(self.poll_interval, "poll_interval"),
            validate_interval(self.max_poll_interval, "max_poll_interval"),
        )

    def derived_job_id(self, context: Context) -> str:
        from airflow_iot_jobs.naming import DEFAULT_MAX_LENGTH, derive_job_id

        # Derived ids stay short and readable whatever a backend allows.
        return derive_job_id(context, min(self.backend.hook_class().max_job_id_length, DEFAULT_MAX_LENGTH))

    def wait_seconds(self) -> float:
        if self.timeout is None:
            return DEFAULT_WAIT_TIMEOUT.total_seconds()
        return parse_duration_seconds(self.timeout, "timeout")

    # ------------------------------------------------------------------ targets

    def count_targets(self, request: dict[str, Any]) -> int | None:
        """The devices the job would touch, when the backend can count them (logged with the limit)."""
        target = self.target(request)
        if target is None or not self.hook.supports_count:
            return None
        at_most = self.count_bound()
        return self.log_count(self.hook.count_devices(target, at_most=at_most), request, at_most)

    def count_bound(self) -> int | None:
        """Where a paged count may stop: a launch needs to know "none" or "more than max_devices"; a dry run
        reports the whole count."""
        if self.dry_run or not self.hook.counts_by_paging:
            return None
        return 1 if self.max_devices is None else int(self.max_devices) + 1

    def log_count(self, devices: int, request: dict[str, Any], at_most: int | None = None) -> int:
        limit = "" if self.max_devices is None else f" (max_devices {int(self.max_devices):,})"
        at_least = "at least " if at_most is not None and devices >= at_most else ""
        self.log.info(
            "%s matches %s%s device(s)%s", self.describe_target(request), at_least, f"{devices:,}", limit
        )
        return devices

    def check_targets(self, job_id: str | None, request: dict[str, Any]) -> None:
        """Before a launch: refuse an empty target (unless allowed) and one larger than ``max_devices``.
        A job that already exists (a retry) is re-attached whatever the count says now."""
        needs_count = self.max_devices is not None or not self.allow_no_devices
        devices = self.count_targets(request) if needs_count else None
        if devices is None:
            return
        too_many = self.max_devices is not None and devices > int(self.max_devices)
        if (devices == 0 and not self.allow_no_devices) or too_many:
            if job_id is not None and self.job_exists(job_id):
                return
            from airflow.sdk.exceptions import AirflowFailException

            if too_many:
                bound = self.count_bound()
                at_least = "at least " if bound is not None and devices >= bound else ""
                raise AirflowFailException(
                    f"max_devices: {self.describe_target(request)} would touch {at_least}{devices:,} devices, more than "
                    f"max_devices={int(self.max_devices):,}; no job was created"
                )
            raise AirflowFailException(
                f"no device matches {self.describe_target(request)}; no job was created. Check the target, or "
                "pass allow_no_devices=True if an empty set is normal for this task"
            )

    def job_exists(self, job_id: str) -> bool:
        try:
            return self.hook.progress(job_id).phase is not JobPhase.UNKNOWN
        except JobServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                return False
            raise

    def plan(self, job_id: str | None, request: dict[str, Any]) -> dict[str, Any]:
        """``dry_run``: what would be launched, and over how many devices; nothing is created."""
        devices = self.count_targets(request)
        plan = {
            "dry_run": True,
            "job_id": job_id,
            "job_type": self.job_type,
            "target": self.describe_target(request),
            "devices": devices,
        }
        self.log.info(
            "dry run: would launch %s job %s over %s device(s); nothing was created",
            self.job_type,
            job_id or "(id chosen by the service)",
            "an unknown number of" if devices is None else f"{devices:,}",
        )
        return plan

    # ------------------------------------------------------------------ launching exactly once

    def launch_with_own_id(self, job_id: str, request: dict[str, Any], deadline: float) -> str:
        """Create the job under our id; "already exists" means an earlier try reached the service: re-attach.
        Re-sending after "busy" or a transient fault is safe because the id is fixed: the service itself
        refuses a second job."""
        self.check_targets(job_id, request)
        try:
            self.retry_while_busy(lambda: self.create_job(job_id, request), deadline, job_id, transient=True)
            self.log.info("created %s job %s", self.job_type, job_id)
        except JobServiceError as err:
            if err.kind is not ErrorKind.ALREADY_EXISTS:
                raise
            found = self.existing_job_type(job_id)
            if self.job_type is not None and found != self.job_type:
                raise ValueError(
                    f"job_id: {job_id!r} already names a {found} job, not a {self.job_type} job; choose another id"
                ) from None
            self.log.info("job %s already exists (an earlier try launched it): re-attaching", job_id)
        return job_id

    def launch_with_service_id(self, marker: str, request: dict[str, Any], deadline: float) -> str:
        """Find the job this task instance's marker names, else create one; never re-send a create without
        looking first (an earlier attempt may have reached the service although no answer came back)."""
        if existing := self.find_job(marker):
            self.log.info("job %s for %s already exists (an earlier try): re-attaching", existing, marker)
            return existing
        self.check_targets(None, request)
        attempts = 0

        def create_once() -> str:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and (found := self.find_job(marker)):
                return found
            try:
                return self.create_job(None, request)
            except JobServiceError as err:
                if err.transient and (found := self.find_job(marker)):
                    return found
                raise

        job_id = self.retry_while_busy(create_once, deadline, f"the {self.job_type} job", transient=True)
        self.log.info("created %s job %s", self.job_type, job_id)
        return job_id

    def defer_launch(self, err: JobServiceError, deadline: float, what: str) -> None:
        """Deferrable: wait for a launch slot in the triggerer, not in a worker; ``execute_launch`` resumes."""
        from airflow_iot_jobs.triggers.launch_slot import LaunchSlotTrigger

        self.log.warning(
            "service busy, %s not created yet (%s); deferring until a launch slot is free", what, err
        )
        trigger = LaunchSlotTrigger(
            backend=self.backend.name,
            hook_params=self.hook_params,
            end_time=deadline,
            what=what,
            busy={"status": err.status, "code": err.code, "message": err.message},
            poll_interval=validate_interval(self.poll_interval, "poll_interval"),
            retry_after=err.retry_after,
            attempt=self._launch_attempt,
        )
        self.defer(trigger=trigger, method_name="execute_launch", timeout=None)

    def retry_while_busy(
        self, create: Callable[[], Any], deadline: float, what: str, *, transient: bool = False
    ) -> Any:
        """Call ``create`` until the service stops answering "busy" (a launch slot taken) or throttled — and,
        with ``transient``, 5xx or a dropped connection — with exponential backoff and jitter, until the
        deadline. Other errors raise at once; so does "busy" for a deferrable task, which waits for the slot in
        the triggerer instead (``defer_launch``)."""
        from tenacity import Retrying, retry_if_exception, wait_exponential, wait_random

        def busy(err: BaseException) -> bool:
            if not isinstance(err, JobServiceError):
                return False
            if err.busy:
                return not self.deferrable
            return err.kind is ErrorKind.THROTTLED or (transient and err.transient)

        def log_busy(state: Any) -> None:
            self.log.warning(
                "service busy, %s not created yet (%s); retrying in %.0f s",
                what,
                state.outcome.exception(),
                state.next_action.sleep,
            )

        backoff = wait_exponential(multiplier=2, max=MAX_LAUNCH_BACKOFF) + wait_random(0, 1)

        def until_the_deadline(state: Any) -> float:
            # The last wait is cut short, so the last try is made at the deadline rather than a backoff before it.
            return max(min(backoff(state), deadline - time.time()), 0.0)

        retrying = Retrying(
            retry=retry_if_exception(busy),
            wait=until_the_deadline,
            stop=lambda state: time.time() >= deadline,
            before_sleep=log_busy,
            reraise=True,
        )
        return retrying(create)

    def on_kill(self) -> None:
        job_id = getattr(self, "_launched_job_id", None)
        if job_id and self.cancels_on_kill:
            self.log.warning("task killed: cancelling job %s", job_id)
            self.hook.cancel(job_id)


class JobCancelOperator(BackendTask, BaseOperator):
    """Cancels a job; returns its progress dict after the cancel. A backend subclass sets ``backend`` and takes
    its connection keyword."""

    template_fields: Sequence[str] = ("job_id",)

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.backend.supports_cancel:
            raise ValueError(f"{type(self).__name__}: {self.backend.name} has no way to cancel a job")
        self.job_id = job_id

    def execute(self, context: Context) -> dict[str, Any]:
        job_id = self.backend.hook_class().validate_job_id(self.job_id)
        with fail_fast_on_permanent_errors():
            progress = self.hook.cancel(job_id)
        self._launched_job_id = job_id
        self.log.info("cancel requested: %s", progress.describe())
        return progress.to_dict()
