"""One threshold trigger for every backend: async polls, an absolute deadline, plain-data kwargs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_iot_jobs.jobs import CompletionThresholds, JobProgress, JobServiceError, Verdict
from airflow_iot_jobs.polling import PollSchedule
from airflow_iot_jobs.waiting import is_transient

if TYPE_CHECKING:
    from airflow_iot_jobs.hooks.base import JobsHook


class JobThresholdTrigger(BaseTrigger):
    """Waits until a job meets its success threshold, crosses its failure threshold, ends, or the deadline passes.

    Kwargs carry the connection *id*, never a key or token. Cancelling the remote job happens only in
    ``on_kill`` (a user killed the task), never in ``cleanup`` (which also runs on every triggerer restart); a
    failure verdict goes back to the task, which cancels from the worker if asked.
    """

    hook_class: ClassVar[type[JobsHook]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fail when the class is defined, not later in the triggerer out of sight of the deferring task.
        if not hasattr(cls, "hook_class"):
            raise AttributeError(f"{cls.__name__} must set hook_class")

    def __init__(
        self,
        *,
        job_id: str,
        conn_id: str,
        success_threshold: str = "100%",
        failure_threshold: str | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float | None = None,
        end_time: float,
        cancel_on_kill: bool = False,
        early_success: bool = True,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.conn_id = conn_id
        self.success_threshold = success_threshold
        self.failure_threshold = failure_threshold
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval or poll_interval)
        self.end_time = float(end_time)
        self.cancel_on_kill = cancel_on_kill
        self.early_success = early_success
        self.thresholds = CompletionThresholds.parse(success_threshold, failure_threshold, early_success)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "conn_id": self.conn_id,
                "success_threshold": self.success_threshold,
                "failure_threshold": self.failure_threshold,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "early_success": self.early_success,
            },
        )

    def hook(self) -> JobsHook:
        return self.hook_class(**{self.hook_class.conn_name_attr: self.conn_id})

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
        last_line = ""
        while True:
            try:
                progress = await hook.aprogress(self.job_id)
            except JobServiceError as err:
                if not is_transient(err):
                    yield self._event("error", progress, message=str(err))
                    return
                self.log.warning(
                    "IoT service busy while reading job %s (%s); will poll again", self.job_id, err
                )
                delay = schedule.after_busy(err.retry_after)
            else:
                verdict, reason = self.thresholds.evaluate(progress)
                line = progress.describe()
                if line != last_line:  # thousands of waits: log progress, not every unchanged poll
                    self.log.info("%s", line)
                    last_line = line
                if verdict is not Verdict.WAIT:
                    yield self._event(verdict.value, progress, reason=reason)
                    return
                delay = schedule.after_progress(progress, self.thresholds, time.time())
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
                await hook.acancel_job(self.job_id)
            finally:
                await hook.aclose()
