"""When to read a job's progress next: adaptive, informed by the job's pace and by the service's throttling.

Hub quotas are small (S1: 100 job operations a minute per unit), so a fixed short interval wastes them on jobs
that run for an hour, and a fixed long interval notices the end late. Instead the schedule measures the pace
(devices finished per second since the job was first seen running), predicts when the job ends or when it
would cross the failure threshold, and polls then — never sooner than ``minimum``, never later than
``maximum``. Without a pace (queued, scheduled, stalled) it starts at ``base`` and backs off geometrically.
Standard library only; the same object drives the worker's poll loop and the triggerer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_iot_jobs.jobs import CompletionThresholds, JobPhase, JobProgress

MINIMUM_DELAY = 2.0
IDLE_BACKOFF = 2.0
BUSY_BACKOFF = 2.0
OVERSHOOT = 1.02  # aim just after the predicted end, so one poll usually sees it


@dataclass
class PollSchedule:
    base: float
    maximum: float
    _first_running: tuple[float, int, int] | None = field(default=None, init=False)
    _idle_delay: float | None = field(default=None, init=False)
    _busy_delay: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.maximum = max(self.maximum, self.base)

    @property
    def minimum(self) -> float:
        return min(self.base, MINIMUM_DELAY)

    def after_progress(self, progress: JobProgress, thresholds: CompletionThresholds, now: float) -> float:
        """The delay before the next read, given the snapshot just read at ``now``."""
        self._busy_delay = None
        finished = progress.succeeded + progress.failed
        if progress.phase is not JobPhase.RUNNING or not progress.targeted:
            return self._idle()
        if self._first_running is None:
            self._first_running = (now, finished, progress.failed)
            self._idle_delay = None
            return self._clamp(self.base)
        started, finished_then, failed_then = self._first_running
        elapsed = now - started
        pace = (finished - finished_then) / elapsed if elapsed > 0 else 0.0
        if pace <= 0:
            return self._idle()
        self._idle_delay = None
        eta = max(progress.targeted - finished, 0) / pace
        failure_pace = (progress.failed - failed_then) / elapsed
        if thresholds.failure is not None and failure_pace > 0:
            room = float(thresholds.failure.devices(progress.targeted)) + 1 - progress.failed
            eta = min(eta, max(room, 0.0) / failure_pace)
        return self._clamp(eta * OVERSHOOT)

    def seconds_to_end(self, progress: JobProgress, now: float) -> float | None:
        """The job's expected remaining time at its measured pace; ``None`` while the pace is unknown."""
        if self._first_running is None or progress.phase is not JobPhase.RUNNING:
            return None
        started, finished_then, _ = self._first_running
        elapsed = now - started
        pace = (progress.finished - finished_then) / elapsed if elapsed > 0 else 0.0
        return max(progress.targeted - progress.finished, 0) / pace if pace > 0 else None

    def after_busy(self, retry_after: float | None = None) -> float:
        """The delay after the service said "busy" (429, 5xx): its Retry-After, else exponential backoff."""
        self._busy_delay = min((self._busy_delay or self.base / BUSY_BACKOFF) * BUSY_BACKOFF, self.maximum)
        return max(retry_after or 0.0, self._busy_delay)

    def _idle(self) -> float:
        self._idle_delay = self.base if self._idle_delay is None else self._idle_delay * IDLE_BACKOFF
        return self._clamp(self._idle_delay)

    def _clamp(self, delay: float) -> float:
        return min(max(delay, self.minimum), self.maximum)
