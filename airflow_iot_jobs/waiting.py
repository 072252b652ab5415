"""The waiting logic, written once: poll or defer, one deadline, one verdict, one progress line.

Operators (after launching a job) and sensors (given a job id) both mix in ``JobWaiting``; triggers judge
progress with the same ``CompletionThresholds`` and hand the verdict back to ``execute_complete`` here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.jobs import (
    CompletionThresholds,
    IoTJobsError,
    JobProgress,
    JobServiceError,
    JobThresholdFailure,
    Verdict,
    is_template,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.backends import Backend
    from airflow_iot_jobs.hooks.base import JobsHook
    from airflow_iot_jobs.polling import PollSchedule

MAX_FAILED_DEVICES_IN_XCOM = 100
#: the XCom key a failed task pushes its result dict under (job id, counts, failed_devices) before it fails
FAILURE_XCOM_KEY = "job_result"


class JobWaitTimeout(IoTJobsError):
    """The job neither met nor failed its thresholds before the task's wait timeout."""


def check_thresholds_at_parse(success_threshold: object, failure_threshold: object) -> None:
    """Fail at DAG parse for literal thresholds; templated ones are checked after rendering."""
    CompletionThresholds.parse(
        "100%" if is_template(success_threshold) else success_threshold,
        None if is_template(failure_threshold) else failure_threshold,
    )


@contextlib.contextmanager
def fail_fast_on_permanent_errors() -> Iterator[None]:
    """An error that no retry can fix (bad key, unknown job, invalid request) fails the task without Airflow
    retries; throttling, busy and transient faults stay retryable."""
    try:
        yield
    except JobServiceError as err:
        if err.permanent:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(err)) from None
        raise


def to_seconds(value: timedelta | float | int) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class BackendTask:
    """Mixed into operators and sensors of one backend: the hook built from one ``hook_params`` mapping.

    The backend's operator declares its connection keyword (and any further hook keywords) in its own
    signature, so ``default_args`` reach it; the hook class is imported on first use, never at DAG parse.
    """

    backend: ClassVar[Backend]
    _hook: JobsHook | None = None

    @property
    def hook_params(self) -> dict[str, Any]:
        """What the hook is built from, and all a trigger serialises of it (ids and settings, no secrets)."""
        return {name: getattr(self, name) for name in self.backend.hook_param_names}

    @property
    def hook(self) -> JobsHook:
        if self._hook is None:
            self._hook = self.backend.hook_class()(**self.hook_params)
        return self._hook

    def check_cancel_flags(self, **flags: bool | None) -> None:
        """Refuse, at DAG parse, a cancel the backend cannot perform. A backend whose ``cancel_through`` names a
        hook keyword cancels through that connection when the task sets it (before ``super().__init__``)."""
        through = self.backend.cancel_through
        self.backend.check_cancel_flags(
            cancel_conn_id=getattr(self, through, None) if through else None, **flags
        )


class JobWaiting(BackendTask):
    """Mixed into BaseOperator / BaseSensorOperator subclasses that wait on one remote job."""

    # provided by the operator/sensor using the mixin
    success_threshold: Any
    failure_threshold: Any
    cancel_on_failure: bool
    cancel_on_kill: bool | None
    allow_no_devices: bool
    log: Any
    #: sensors succeed as soon as the threshold is met; operators judge the job they launched when it ends
    early_success: ClassVar[bool] = True
    #: judge a job that never ends (AWS CONTINUOUS) once this many devices finished it (CompletionThresholds)
    settle_after: int | None = None
    _wait_started: float | None = None
    _warned: bool = False

    def thresholds(self) -> CompletionThresholds:
        return CompletionThresholds.parse(
            self.success_threshold,
            self.failure_threshold,
            self.early_success,
            self.allow_no_devices,
            self.settle_after,
        )

    def wait_thresholds(self) -> CompletionThresholds:
        """What the wait itself judges: the user's thresholds, unless the job is one unit of work."""
        return self.thresholds()

    @property
    def cancels_on_kill(self) -> bool:
        return self.cancel_on_failure if self.cancel_on_kill is None else self.cancel_on_kill

    def judge(
        self, progress: JobProgress, thresholds: CompletionThresholds, schedule: PollSchedule | None = None
    ) -> tuple[Verdict, str]:
        from airflow_iot_jobs.reporting import progress_line

        now = time.time()
        if self._wait_started is None:
            self._wait_started = now
        remaining = schedule.seconds_to_end(progress, now) if schedule else None
        self.log.info("%s", progress_line(progress, thresholds, now - self._wait_started, remaining))
        if not self._warned and progress.targeted:
            self._warned = True
            for warning in thresholds.warnings(progress.targeted):
                self.log.warning("%s", warning)
        return thresholds.evaluate(progress)

    def wait_by_polling(self, job_id: str, schedule: PollSchedule, deadline: float) -> dict[str, Any]:
        thresholds = self.wait_thresholds()
        progress: JobProgress | None = None
        while True:
            try:
                progress = self.hook.progress(job_id)
            except JobServiceError as err:
                if not err.transient:
                    raise
                self.log.warning("IoT service busy while reading job %s (%s); will poll again", job_id, err)
                delay = schedule.after_busy(err.retry_after)
            else:
                delay = schedule.after_progress(progress, thresholds, time.time())
                verdict, reason = self.judge(progress, thresholds, schedule)
                if verdict is not Verdict.WAIT:
                    return self.conclude(progress, verdict, reason)
            remaining = deadline - time.time()
            if remaining <= 0:
                raise JobWaitTimeout(
                    f"job {job_id} did not reach a verdict before the wait timeout; last progress: "
                    f"{progress.describe() if progress else 'none (service busy)'}"
                )
            time.sleep(min(delay, remaining))

    def poll(self, job_id: str) -> JobProgress | None:
        """One progress read; a busy service (429, 5xx) is logged and waited out, not fatal."""
        try:
            return self.hook.progress(job_id)
        except JobServiceError as err:
            if err.transient:
                self.log.warning("IoT service busy while reading job %s (%s); will poll again", job_id, err)
                return None
            raise

    def defer_wait(self, job_id: str, schedule: PollSchedule, deadline: float, timeout: float | None) -> None:
        thresholds = self.wait_thresholds()
        trigger = self.backend.trigger_class()(
            job_id=job_id,
            hook_params=self.hook_params,
            success_threshold=str(thresholds.success),
            failure_threshold=None if thresholds.failure is None else str(thresholds.failure),
            poll_interval=schedule.base,
            max_poll_interval=schedule.maximum,
            end_time=deadline,
            early_success=self.early_success,
            allow_no_devices=thresholds.allow_no_devices,
            settle_after=thresholds.settle_after,
            cancel_on_kill=self.cancels_on_kill,
            started_at=self._wait_started or time.time(),
        )
        self.defer(  # type: ignore[attr-defined]
            trigger=trigger,
            method_name="execute_complete",
            timeout=None if timeout is None else timedelta(seconds=timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event:
            raise IoTJobsError("the trigger ended without an event")
        status = event.get("status")
        if status == "error":
            raise IoTJobsError(f"waiting for job {event.get('job_id')} failed: {event.get('message')}")
        progress = JobProgress.from_event(event["progress"])
        if status == "timeout":
            return self.on_wait_timeout(progress)
        # The trigger already logged the final progress line; say only the verdict from here.
        verdict = Verdict.SUCCESS if status == "success" else Verdict.FAILURE
        return self.conclude(progress, verdict, event.get("reason", ""))

    def on_wait_timeout(self, progress: JobProgress) -> dict[str, Any]:
        raise JobWaitTimeout(
            f"job {progress.job_id} did not reach a verdict before the wait timeout; last progress: "
            f"{progress.describe()}"
        )

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        """Success: the XCom dict. Failure: cancel if asked, name the failed devices, push the same dict
        under ``job_result`` for a downstream task, and fail without retry."""
        from airflow_iot_jobs.reporting import failed_device_lines

        result = progress.to_dict()
        if progress.failed:
            failures = self.hook.failed_devices(progress.job_id, limit=MAX_FAILED_DEVICES_IN_XCOM)
            result["failed_devices"] = [f.to_dict() for f in failures]
            self.log.warning(
                "%s device(s) failed in job %s:\n%s",
                f"{progress.failed:,}",
                progress.job_id,
                "\n".join(failed_device_lines(failures, progress.failed)),
            )
        if verdict is Verdict.SUCCESS:
            self.log.info("job %s succeeded: %s", progress.job_id, reason)
            return result
        cancel_note = ""
        if self.cancel_on_failure and not progress.terminal:
            cancel_note = self.cancel_failed_job(progress.job_id)
        self.fail(result, f"job {progress.job_id} failed: {reason}{cancel_note}")

    def cancel_failed_job(self, job_id: str) -> str:
        """Cancel a job that failed its thresholds. A job that ended between the last read and the cancel (the
        service refuses to cancel it) is no error; any other refusal is named in the failure, which still
        reports the breach: ``""`` or ``"; cancelling it failed: …"``."""
        self.log.warning("cancelling job %s because it failed its thresholds", job_id)
        try:
            self.hook.cancel(job_id)
            return ""
        except JobServiceError as err:
            refusal = err
        with contextlib.suppress(JobServiceError):
            now = self.hook.progress(job_id)
            if now.terminal:
                self.log.info("job %s ended (%s) before the cancel reached it", job_id, now.status)
                return ""
        self.log.warning("could not cancel job %s: %s", job_id, refusal)
        return f"; cancelling it failed: {refusal}"

    def fail(self, result: dict[str, Any], message: str) -> Any:
        """Push ``result`` under :data:`FAILURE_XCOM_KEY` (so a ``one_failed`` task can act on it), then fail
        without Airflow retries."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        if getattr(self, "do_xcom_push", True):
            with contextlib.suppress(Exception):  # outside a task run (unit use) there is no context
                get_current_context()["ti"].xcom_push(key=FAILURE_XCOM_KEY, value=result)
        raise AirflowFailException(str(JobThresholdFailure(message)))
