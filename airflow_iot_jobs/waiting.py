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
from airflow_iot_jobs.polling import PollSchedule

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.hooks.base import JobsHook
    from airflow_iot_jobs.triggers.base import JobThresholdTrigger

MAX_FAILED_DEVICES_IN_XCOM = 100
MAX_FAILED_DEVICES_IN_LOG = 20


class JobWaitTimeout(IoTJobsError):
    """The job neither met nor failed its thresholds before the task's wait timeout."""


def check_thresholds_at_parse(success_threshold: object, failure_threshold: object) -> None:
    """Fail at DAG parse for literal thresholds; templated ones are checked after rendering."""
    CompletionThresholds.parse(
        "100%" if is_template(success_threshold) else success_threshold,
        None if is_template(failure_threshold) else failure_threshold,
    )


def is_transient(err: JobServiceError) -> bool:
    """Worth another read later: throttling or a server-side failure."""
    return err.is_throttling or err.status >= 500


@contextlib.contextmanager
def fail_fast_on_permanent_errors() -> Iterator[None]:
    """A 4xx that no retry can fix (bad key, unknown job, invalid request) fails the task without Airflow
    retries; throttling and 5xx stay retryable."""
    try:
        yield
    except JobServiceError as err:
        if 400 <= err.status < 500 and not is_transient(err):
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(err)) from None
        raise


def to_seconds(value: timedelta | float | int) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class JobWaiting:
    """Mixed into BaseOperator / BaseSensorOperator subclasses that wait on one remote job."""

    trigger_path: ClassVar[
        str
    ]  # dotted path of the backend's JobThresholdTrigger, imported only when deferring

    # provided by the operator/sensor using the mixin
    success_threshold: Any
    failure_threshold: Any
    cancel_on_failure: bool
    cancel_on_kill: bool | None
    log: Any
    #: sensors succeed as soon as the threshold is met; operators judge the job they launched when it ends
    early_success: ClassVar[bool] = True

    hook_class: ClassVar[type[JobsHook]]
    _hook: JobsHook | None = None

    @property
    def hook(self) -> JobsHook:
        """The backend hook, built once from the connection id."""
        if self._hook is None:
            self._hook = self.hook_class(**{self.hook_class.conn_name_attr: self.conn_id})
        return self._hook

    @property
    def conn_id(self) -> str:
        raise NotImplementedError

    def thresholds(self) -> CompletionThresholds:
        return CompletionThresholds.parse(self.success_threshold, self.failure_threshold, self.early_success)

    def wait_thresholds(self) -> CompletionThresholds:
        """What the wait itself judges: the user's thresholds, unless the job is one unit of work."""
        return self.thresholds()

    @property
    def cancels_on_kill(self) -> bool:
        return self.cancel_on_failure if self.cancel_on_kill is None else self.cancel_on_kill

    def judge(self, progress: JobProgress, thresholds: CompletionThresholds) -> tuple[Verdict, str]:
        self.log.info("%s", progress.describe())
        return thresholds.evaluate(progress)

    def wait_by_polling(self, job_id: str, schedule: PollSchedule, deadline: float) -> dict[str, Any]:
        thresholds = self.wait_thresholds()
        progress: JobProgress | None = None
        while True:
            try:
                progress = self.hook.progress(job_id)
            except JobServiceError as err:
                if not is_transient(err):
                    raise
                self.log.warning("IoT service busy while reading job %s (%s); will poll again", job_id, err)
                delay = schedule.after_busy(err.retry_after)
            else:
                verdict, reason = self.judge(progress, thresholds)
                if verdict is not Verdict.WAIT:
                    return self.conclude(progress, verdict, reason)
                delay = schedule.after_progress(progress, thresholds, time.time())
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
            if is_transient(err):
                self.log.warning("IoT service busy while reading job %s (%s); will poll again", job_id, err)
                return None
            raise

    def defer_wait(self, job_id: str, schedule: PollSchedule, deadline: float, timeout: float | None) -> None:
        from airflow.sdk.module_loading import import_string

        trigger_class: type[JobThresholdTrigger] = import_string(self.trigger_path)
        thresholds = self.wait_thresholds()
        trigger = trigger_class(
            job_id=job_id,
            conn_id=self.conn_id,
            success_threshold=str(thresholds.success),
            failure_threshold=None if thresholds.failure is None else str(thresholds.failure),
            poll_interval=schedule.base,
            max_poll_interval=schedule.maximum,
            end_time=deadline,
            early_success=self.early_success,
            cancel_on_kill=self.cancels_on_kill,
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
        verdict = Verdict.SUCCESS if status == "success" else Verdict.FAILURE
        self.log.info("%s", progress.describe())
        return self.conclude(progress, verdict, event.get("reason", ""))

    def on_wait_timeout(self, progress: JobProgress) -> dict[str, Any]:
        raise JobWaitTimeout(
            f"job {progress.job_id} did not reach a verdict before the wait timeout; last progress: "
            f"{progress.describe()}"
        )

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        """Success: the XCom dict. Failure: cancel if asked, name the failed devices, fail without retry."""
        result = progress.to_dict()
        if progress.failed:
            failures = self.hook.failed_devices(progress.job_id, limit=MAX_FAILED_DEVICES_IN_XCOM)
            result["failed_devices"] = [f.to_dict() for f in failures]
            shown = failures[:MAX_FAILED_DEVICES_IN_LOG]
            self.log.warning(
                "%d device(s) failed in job %s; first %d: %s",
                progress.failed,
                progress.job_id,
                len(shown),
                ", ".join(f"{f.device_id} ({f.code}: {f.description})" for f in shown),
            )
        if verdict is Verdict.SUCCESS:
            self.log.info("job %s succeeded: %s", progress.job_id, reason)
            return result
        if self.cancel_on_failure and not progress.terminal:
            self.log.warning("cancelling job %s because it failed its thresholds", progress.job_id)
            self.hook.cancel_job(progress.job_id)
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(JobThresholdFailure(f"job {progress.job_id} failed: {reason}")))
