"""One launch-slot trigger for every backend: a deferrable task waits here, not in a worker, while the service
answers "too many active jobs" (``ErrorKind.BUSY``), then launches when it resumes.

The trigger launches nothing. It watches the number of active jobs where the hook can count them
(``JobsHook.aactive_jobs``) and hands back ``{"status": "slot_free"}`` once that number drops below the first one
it read; a hook that cannot count (``None``) gets a backoff interval instead, after which the task simply tries
again (and defers again if the service is still busy). Either way the task makes the next create call, so the
launch stays exactly-once through the operator's own launch strategies. At the deadline it hands back
``{"status": "timeout"}`` with the service's last busy answer, which the task fails with.

The waits for one service in one triggerer share their counts (``SharedCounts``): a count another wait read a moment
ago stands for a fresh read, so twenty tasks waiting for one S1 hub's slot cost one query per interval, not twenty —
the query budget they would otherwise spend (20 a minute per unit) is the one the running jobs' progress reads need.
A count the service throttles is retried after its ``Retry-After``, still in the trigger.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

if TYPE_CHECKING:
    from airflow_iot_jobs.backends import Backend
    from airflow_iot_jobs.hooks.base import JobsHook

#: the longest gap between two reads of the active-job count (and between two tries, for a hook that cannot count)
MAX_SLOT_INTERVAL = 60.0
#: even while the count has not dropped, hand back to the task this often: a slot that freed between the busy
#: answer and the trigger's first read would otherwise go unnoticed until another job ends
RECHECK_SECONDS = 300.0
#: a count read by another wait on the same service at most this long ago stands for a fresh read
SHARED_COUNT_SECONDS = 10.0


class SharedCounts:
    """The latest active-job count per service in this triggerer process, and the read in flight: concurrent
    askers await one read, later ones reuse it while it is younger than their ``max_age``."""

    def __init__(self) -> None:
        self._reads: dict[str, tuple[float, asyncio.Future[int | None]]] = {}

    async def read(self, key: str, count: Callable[[], Awaitable[int | None]], max_age: float) -> int | None:
        loop = asyncio.get_running_loop()
        entry = self._reads.get(key)
        if entry is None or entry[1].get_loop() is not loop or time.monotonic() - entry[0] >= max_age:
            entry = (time.monotonic(), asyncio.ensure_future(count()))
            # (read here too: a failed read whose waiters were all cancelled would otherwise be logged as unread)
            entry[1].add_done_callback(lambda read: read.cancelled() or read.exception())
            self._reads[key] = entry
        # shielded: one waiter cancelled (its task killed) does not cancel the read the others await
        return await asyncio.shield(entry[1])


SHARED_COUNTS = SharedCounts()


def backend_named(name: str) -> Backend:
    from airflow_iot_jobs.backends import BACKENDS

    for backend in BACKENDS:
        if backend.name == name:
            return backend
    raise ValueError(f"no registered backend is named {name!r}")


class LaunchSlotTrigger(BaseTrigger):
    """Waits until the service has a free launch slot, or the absolute deadline ``end_time`` passes.

    :param backend: the backend's name (``Backend.name``): the hook is rebuilt as
        ``backend.hook_class()(**hook_params)``. Kwargs carry a connection *id* and settings, never a secret.
    :param hook_params: the task's hook parameters (``BackendTask.hook_params``).
    :param what: the job being launched, for the log (``"job reboot-…"``).
    :param busy: the service's busy answer, ``{"status", "code", "message"}``: the timeout event carries it back.
    :param retry_after: the service's ``Retry-After`` with that answer: the first wait is at least this long.
    :param attempt: how many times the task has deferred for this launch: the backoff grows with it.
    """

    def __init__(
        self,
        *,
        backend: str,
        hook_params: dict[str, Any],
        end_time: float,
        what: str = "the job",
        busy: dict[str, Any] | None = None,
        poll_interval: float = 30.0,
        max_interval: float = MAX_SLOT_INTERVAL,
        retry_after: float | None = None,
        attempt: int = 0,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.hook_params = dict(hook_params)
        self.end_time = float(end_time)
        self.what = what
        self.busy = dict(busy or {})
        self.poll_interval = float(poll_interval)
        self.max_interval = float(max_interval)
        self.retry_after = None if retry_after is None else float(retry_after)
        self.attempt = int(attempt)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "backend": self.backend,
                "hook_params": self.hook_params,
                "end_time": self.end_time,
                "what": self.what,
                "busy": self.busy,
                "poll_interval": self.poll_interval,
                "max_interval": self.max_interval,
                "retry_after": self.retry_after,
                "attempt": self.attempt,
            },
        )

    def hook(self) -> JobsHook:
        return backend_named(self.backend).hook_class()(**self.hook_params)

    def first_delay(self) -> float:
        """Exponential in the deferrals so far (a hook that cannot count is retried ever less often), capped,
        never shorter than the service's ``Retry-After``."""
        delay = min(self.poll_interval * 2**self.attempt, self.max_interval)
        return max(delay, self.retry_after or 0.0)

    def _event(self, status: str) -> TriggerEvent:
        return TriggerEvent(
            {"status": status, "end_time": self.end_time, "attempt": self.attempt, "busy": self.busy}
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await self._wait()

    def count_key(self) -> str:
        """Which service the count is of: the backend and its connection settings (ids, never a secret)."""
        return json.dumps([self.backend, self.hook_params], sort_keys=True, default=str)

    async def _count(self) -> int | None:
        hook = self.hook()  # its own hook: the read may outlive the wait that started it
        try:
            return await hook.aactive_jobs()
        finally:
            await hook.aclose()

    async def _active(self) -> int | None | JobServiceError:
        """The active-job count (``None``: the hook cannot count), or the throttling answer to wait out; another
        fault while counting is logged and treated as "cannot tell" (the count only decides when to try; the
        launch itself reports what the service says)."""
        try:
            return await SHARED_COUNTS.read(
                self.count_key(), self._count, max_age=min(self.poll_interval, SHARED_COUNT_SECONDS)
            )
        except JobServiceError as err:
            if err.kind is ErrorKind.THROTTLED:
                return err
            self.log.warning(
                "could not count the active jobs (%s); trying the launch again after a pause", err
            )
            return None

    async def _wait(self) -> TriggerEvent:
        started = time.time()
        delay = self.first_delay()
        baseline: int | None = None
        while True:
            active = await self._active()
            remaining = self.end_time - time.time()
            if isinstance(active, JobServiceError):
                delay = max(delay, active.retry_after or 0.0)
                self.log.info(
                    "the service throttled the active-job count (%s); counting again in %.0f s", active, delay
                )
            elif active is None:
                if remaining <= 0:
                    return self._event("timeout")
                self.log.info("service busy, %s not created yet: trying again in %.1f s", self.what, delay)
                await asyncio.sleep(min(delay, remaining))
                return self._event("slot_free" if time.time() < self.end_time else "timeout")
            else:
                if baseline is None:
                    baseline = active
                    self.log.info(
                        "service busy, %s not created yet: %d active job(s) hold its launch slots; waiting for one "
                        "to end (deadline in %.0f s)",
                        self.what,
                        active,
                        max(remaining, 0),
                    )
                if active == 0 or active < baseline:
                    self.log.info("a launch slot is free (%d active job(s)): launching %s", active, self.what)
                    return self._event("slot_free")
            if remaining <= 0:
                return self._event("timeout")
            if time.time() - started >= RECHECK_SECONDS:
                return self._event("slot_free")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, self.max_interval)
