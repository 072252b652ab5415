"""The job-launching operator every backend specialises: validate, launch once, then wait (poll or defer)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, conf

from airflow_iot_jobs.jobs import JobAlreadyExistsError, JobServiceError, Verdict
from airflow_iot_jobs.polling import PollSchedule
from airflow_iot_jobs.validation import parse_duration_seconds, validate_interval, validate_job_id
from airflow_iot_jobs.waiting import JobWaiting, check_thresholds_at_parse, fail_fast_on_permanent_errors

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.hooks.base import JobsHook

DEFAULT_WAIT_TIMEOUT = timedelta(days=7)
MAX_LAUNCH_BACKOFF = 60.0


class BaseJobOperator(JobWaiting, BaseOperator):
    """Creates one remote job per task instance and, by default, waits until it meets its thresholds.

    :param job_id: the remote job id; by default derived from the task instance (dag, run, task, map index), so a
        retry, a crashed worker or a cleared task re-attaches to the job already launched instead of launching
        another.
    :param wait_for_completion: wait for a verdict (default) or return right after the launch.
    :param deferrable: wait in the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
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
        (no job is created) when there are more than this; the count is logged either way.
    """

    hook_class: ClassVar[type[JobsHook]]
    job_type: ClassVar[str]
    early_success = False
    shared_template_fields: ClassVar[tuple[str, ...]] = (
        "job_id",
        "success_threshold",
        "failure_threshold",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_devices is not None and (
            isinstance(max_devices, bool) or not isinstance(max_devices, int) or max_devices < 0
        ):
            raise ValueError(
                f"max_devices: must be a non-negative whole number of devices, got {max_devices!r}"
            )
        check_thresholds_at_parse(success_threshold, failure_threshold)
        validate_interval(poll_interval, "poll_interval")
        validate_interval(max_poll_interval, "max_poll_interval")
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
        self._launched_job_id: str | None = None

    # ------------------------------------------------------------------ what a backend operator supplies

    def build_request(self) -> dict[str, Any]:
        """Validate the rendered parameters; return the keyword arguments of ``create_job``. No remote calls."""
        raise NotImplementedError

    def create_job(self, job_id: str, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def existing_job_type(self, job_id: str) -> str | None:
        """The type of an already existing job with this id (used to refuse re-attaching to a foreign job)."""
        return self.hook.progress(job_id).job_type

    def persist_links(self, context: Context, job_id: str) -> None:
        """Store extra-link URLs; default: none."""

    # ------------------------------------------------------------------ the shared flow

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_fast_on_permanent_errors():
            return self.launch_and_wait(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        with fail_fast_on_permanent_errors():
            return super().execute_complete(context, event)

    def launch_and_wait(self, context: Context) -> dict[str, Any]:
        self.thresholds()  # rendered thresholds, checked before any call
        request = self.build_request()
        job_id = validate_job_id(self.job_id) if self.job_id else self.derived_job_id(context)
        wait_seconds = self.wait_seconds()
        deadline = time.time() + wait_seconds
        job_id = self.launch(job_id, request, deadline)
        self._launched_job_id = job_id
        self.persist_links(context, job_id)
        if not self.wait_for_completion:
            return self.hook.progress(job_id).to_dict()
        if self.deferrable:
            progress = self.poll(job_id)
            if progress is not None:
                verdict, reason = self.judge(progress, self.wait_thresholds())
                if verdict is not Verdict.WAIT:
                    return self.conclude(progress, verdict, reason)
            self.defer_wait(job_id, self.poll_schedule(), deadline, timeout=None)
        return self.wait_by_polling(job_id, self.poll_schedule(), deadline)

    def poll_schedule(self) -> PollSchedule:
        return PollSchedule(
            validate_interval(self.poll_interval, "poll_interval"),
            validate_interval(self.max_poll_interval, "max_poll_interval"),
        )

    def derived_job_id(self, context: Context) -> str:
        from airflow_iot_jobs.naming import derive_job_id

        return derive_job_id(context)

    def wait_seconds(self) -> float:
        if self.timeout is None:
            return DEFAULT_WAIT_TIMEOUT.total_seconds()
        return parse_duration_seconds(self.timeout, "timeout")

    def launch(self, job_id: str, request: dict[str, Any], deadline: float) -> str:
        """Create the job exactly once; return its id. "Already exists" means an earlier try reached the
        service: re-attach. Re-sending after "busy" is safe because the job id is fixed, so the service itself
        refuses a second job."""
        try:
            # PUT with a fixed id is idempotent (a duplicate answers 409), so transient faults may be retried too.
            self.retry_while_busy(lambda: self.create_job(job_id, request), deadline, job_id, transient=True)
            self.log.info("created %s job %s", self.job_type, job_id)
        except JobAlreadyExistsError:
            found = self.existing_job_type(job_id)
            if found != self.job_type:
                raise ValueError(
                    f"job_id: {job_id!r} already names a {found} job, not a {self.job_type} job; choose another id"
                ) from None
            self.log.info("job %s already exists (an earlier try launched it): re-attaching", job_id)
        return job_id

    def retry_while_busy(
        self, create: Callable[[], Any], deadline: float, what: str, *, transient: bool = False
    ) -> Any:
        """Call ``create`` until the service stops answering "busy" (too many active jobs, one import/export
        at a time, throttling) — and, with ``transient``, 5xx or a dropped connection — with exponential backoff
        and jitter, until the deadline. Other errors raise at once."""
        from tenacity import Retrying, retry_if_exception, stop_before_delay, wait_exponential, wait_random

        from airflow_iot_jobs.retries import is_transient_fault

        def busy(err: BaseException) -> bool:
            if not isinstance(err, JobServiceError):
                return False
            return err.is_throttling or (transient and is_transient_fault(err))

        def log_busy(state: Any) -> None:
            self.log.warning(
                "service busy, %s not created yet (%s); retrying in %.0f s",
                what,
                state.outcome.exception(),
                state.next_action.sleep,
            )

        retrying = Retrying(
            retry=retry_if_exception(busy),
            wait=wait_exponential(multiplier=2, max=MAX_LAUNCH_BACKOFF) + wait_random(0, 1),
            stop=stop_before_delay(max(deadline - time.time(), 0)),
            before_sleep=log_busy,
            reraise=True,
        )
        return retrying(create)

    def check_blast_radius(self, devices: int, what: str) -> None:
        """Refuse to launch a job over more devices than ``max_devices`` (no job is created)."""
        limit = "" if self.max_devices is None else f" (max_devices {self.max_devices:,})"
        self.log.info("%s: %s device(s)%s", what, f"{devices:,}", limit)
        if self.max_devices is not None and devices > self.max_devices:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"max_devices: {what} would touch {devices:,} devices, more than max_devices={self.max_devices:,}; "
                "no job was created"
            )

    def on_kill(self) -> None:
        job_id = getattr(self, "_launched_job_id", None)
        if job_id and self.cancels_on_kill:
            self.log.warning("task killed: cancelling job %s", job_id)
            self.hook.cancel_job(job_id)
