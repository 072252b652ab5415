"""One threshold sensor for every backend: poke, reschedule and deferrable modes with one timeout meaning."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_iot_jobs.jobs import Verdict
from airflow_iot_jobs.validation.common import validate_interval
from airflow_iot_jobs.waiting import (
    JobWaiting,
    check_thresholds_at_parse,
    fail_fast_on_permanent_errors,
    to_seconds,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.jobs import JobProgress


class JobThresholdSensor(JobWaiting, BaseSensorOperator):
    """Waits until a job meets ``success_threshold``; fails (and cancels the job when ``cancel_on_failure``) as
    soon as ``failure_threshold`` is crossed or the job ends below the success threshold.

    ``timeout`` (the sensor's) bounds the wait in every mode: poke and reschedule count from the first poke,
    deferrable hands the trigger the same absolute deadline. Returns the job's progress dict (XCom).
    Deferrable mode polls adaptively between ``poke_interval`` and ``max_poll_interval`` (default
    ``max(poke_interval, 120)``), like the operators.
    """

    template_fields: Sequence[str] = ("job_id", "success_threshold", "failure_threshold")

    def __init__(
        self,
        *,
        job_id: str,
        success_threshold: str | int = "100%",
        failure_threshold: str | int | None = None,
        cancel_on_failure: bool = False,
        cancel_on_kill: bool | None = None,
        allow_no_devices: bool = False,
        max_poll_interval: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        if "poke_interval" in kwargs:
            validate_interval(kwargs["poke_interval"], "poke_interval")
        if max_poll_interval is not None:
            validate_interval(max_poll_interval, "max_poll_interval")
        super().__init__(**kwargs)
        check_thresholds_at_parse(success_threshold, failure_threshold)
        self.check_cancel_flags(cancel_on_failure=cancel_on_failure, cancel_on_kill=cancel_on_kill)
        self.job_id = job_id
        self.success_threshold = success_threshold
        self.failure_threshold = failure_threshold
        self.cancel_on_failure = cancel_on_failure
        self.cancel_on_kill = cancel_on_kill
        self.allow_no_devices = allow_no_devices
        self.max_poll_interval = max_poll_interval
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        self.backend.hook_class().validate_job_id(self.job_id)
        with fail_fast_on_permanent_errors():
            return self._execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        with fail_fast_on_permanent_errors():
            return super().execute_complete(context, event)

    def _execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.thresholds()
        progress = self.poll(self.job_id)
        if progress is not None:
            verdict, reason = self.judge(progress, self.thresholds())
            if verdict is not Verdict.WAIT:
                return self.conclude(progress, verdict, reason)
        timeout = to_seconds(self.timeout)
        poke_interval = to_seconds(self.poke_interval)
        from airflow_iot_jobs.polling import PollSchedule

        schedule = PollSchedule(poke_interval, self.max_poll_interval or max(poke_interval, 120.0))
        self.defer_wait(self.job_id, schedule, time.time() + timeout, timeout=timeout)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        self.backend.hook_class().validate_job_id(self.job_id)
        progress = self.poll(self.job_id)
        if progress is None:
            return False
        verdict, reason = self.judge(progress, self.thresholds())
        if verdict is Verdict.WAIT:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.conclude(progress, verdict, reason))

    def on_wait_timeout(self, progress: JobProgress) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

        message = f"sensor timed out waiting for job {progress.job_id}; last progress: {progress.describe()}"
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)
