"""One threshold trigger for every backend: async polls, an absolute deadline, plain-data kwargs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_iot_jobs.jobs import CompletionThresholds, JobProgress, JobServiceError, Verdict
from airflow_iot_jobs.polling import PollSchedule
from airflow_iot_jobs.reporting import progress_line

if TYPE_CHECKING:
    from airflow_iot_jobs.backends import Backend
    from airflow_iot_jobs.hooks.base import JobsHook


class JobThresholdTrigger(BaseTrigger):
    """Waits until a job meets its success threshold, crosses its failure threshold, ends, or the deadline passes.

    Kwargs carry the hook's parameters (a connection *id*, region, ...), never a key or token: the trigger
    rebuilds the hook with ``backend.hook_class()(**hook_params)``. Cancelling the remote job happens only in
    ``on_kill`` (a user killed the task), never in ``cleanup`` (which also runs on every triggerer restart); a
    failure verdict goes back to the task, which cancels from the worker if asked.
    """

    backend: ClassVar[Backend]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fail when the class is defined, not later in the triggerer out of sight of the deferring task.
        if not hasattr(cls, "backend"):
            raise AttributeError(f"{cls.__name__} must set backend")

    def __init__(
        self,
        *,
        job_id: str,
        hook_params: dict[str, Any],
        success_threshold: str = "100%",
        failure_threshold: str | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float | None = None,
        end_time: float,
        cancel_on_kill: bool = False,
        early_success: bool = True,
        allow_no_devices: bool = False,
        started_at: float | None = None,
        settle_after: int | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.hook_params = dict(hook_params)
        self.success_threshold = success_threshold
        self.failure_threshold = failure_threshold
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval or poll_interval)
        self.end_time = float(end_time)
        self.cancel_on_kill = cancel_on_kill
        self.early_success = early_success
        self.allow_no_devices = allow_no_devices
        self.started_at = float(started_at) if started_at is not None else time.time()
        self.settle_after = settle_after
        self.thresholds = CompletionThresholds.parse(
            success_threshold, failure_threshold, early_success, allow_no_devices, settle_after
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "hook_params": self.hook_params,
                "success_threshold": self.success_threshold,
                "failure_threshold": self.failure_threshold,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "early_success": self.early_success,
                "allow_no_devices": self.allow_no_devices,
                "started_at": self.started_at,
                "settle_after": self.settle_after,
            },
        )

    def hook(self) -> JobsHook:
        return self.backend.hook_class()(**self.hook_params)

    def _event(self, status: str, progress: JobProgress | None, **extra: Any) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "job_id": self.job_id, **extra}
        if progress is not None:
            payload["progress"] = progress.to_event()
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook()
        try:
            async for event in self._wait(hook):
                yield event
        finally:
            await hook.aclose()

    async def _wait(self, hook: JobsHook) -> AsyncIterator[TriggerEvent]:
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        progress: JobProgress | None = None
        last_counts = ""
        while True:
            try:
                progress = await hook.aprogress(self.job_id)
            except JobServiceError as err:
                if not err.transient:
                    yield self._event("error", progress, message=str(err))
                    return
                self.log.warning(
                    "IoT service busy while reading job %s (%s); will poll again", self.job_id, err
                )
                delay = schedule.after_busy(err.retry_after)
            else:
                now = time.time()
                delay = schedule.after_progress(progress, self.thresholds, now)
                verdict, reason = self.thresholds.evaluate(progress)
                counts = progress.describe()
                if counts != last_counts:  # thousands of waits: log progress, not every unchanged poll
                    remaining = schedule.seconds_to_end(progress, now)
                    line = progress_line(progress, self.thresholds, now - self.started_at, remaining)
                    self.log.info("%s", line)
                    last_counts = counts
                if verdict is not Verdict.WAIT:
                    yield self._event(verdict.value, progress, reason=reason)
                    return
            remaining = self.end_time - time.time()
            if remaining <= 0:
                if progress is None:
                    yield self._event("error", None, message="deadline passed while the service was busy")
                else:
                    yield self._event("timeout", progress)
                return
            await asyncio.sleep(min(delay, remaining))

    async def on_kill(self) -> None:
        if self.cancel_on_kill:
            self.log.warning("task killed: cancelling job %s", self.job_id)
            hook = self.hook()
            try:
                await hook.acancel(self.job_id)
            finally:
                await hook.aclose()
