"""The job engine: jobs move queued -> scheduled -> running -> completed / failed / cancelled, rows one by one.

Nothing runs in the background. Every public method of a backend's state takes the one lock and first
*advances* the engine to the clock's "now": it replays, in time order, every event that fell due since the last
call (a job leaving ``queued``, a scheduled job starting, a row starting or finishing, a job hitting its max
run time, old history expiring). Rows start at the job's rate within the current batch, in device-id order,
and each finishes after the latency the backend gave it. So outcomes depend only on the seed, the requests and
the clock, not on how often anyone polls.

A backend subclasses :class:`JobEngine` and says what its rows do: ``select_devices``, ``begin_row``,
``finish_row`` (and, optionally, what expiry and abort write on the job). The phases below are the engine's
words; a backend maps them onto its own wire statuses.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from airflow_iot_jobs.emulator.clock import Timeline
from airflow_iot_jobs.emulator.engine.policies import Policies
from airflow_iot_jobs.emulator.engine.rows import CANCELED, FAILED, PENDING, RUNNING, RowTable


class Phase:
    """A job's phase (IoT Hub's wire statuses use the same words)."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_PHASES = frozenset({Phase.QUEUED, Phase.SCHEDULED, Phase.RUNNING})
TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})


@dataclass(kw_only=True)
class EngineJob:
    job_id: str
    seq: int
    created: float
    queued_until: float
    scheduled_for: float | None = None  # start at this instant rather than when the queue releases the job
    max_run_seconds: float | None = None  # emulated seconds from the start of running to expiry
    policies: Policies | None = None  # None: the engine's defaults
    status: str = Phase.QUEUED
    run_started: float | None = None
    deadline: float | None = None
    ended: float | None = None
    rows: RowTable | None = None
    batch_start: int = 0  # first row of the current batch
    batch_end: int = 0  # one past its last row
    batch_started: float = 0.0
    batch_failed: int = 0
    batch_finished: int = 0
    paused: bool = False  # no new row starts (rows already running finish); see JobEngine.pause_job
    open_ended: bool = False  # never completes on its own: rows may join while it runs (AWS CONTINUOUS)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def start_time(self) -> float:
        return self.scheduled_for if self.scheduled_for is not None else self.created

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_PHASES


J = TypeVar("J", bound=EngineJob)


class JobEngine(Generic[J]):
    def __init__(
        self,
        timeline: Timeline,
        policies: Policies,
        history_seconds: float,
        lock: threading.RLock | None = None,
    ) -> None:
        self.timeline = timeline
        self.policies = policies
        self.history_seconds = history_seconds
        self.lock = lock if lock is not None else threading.RLock()
        self.jobs: dict[str, J] = {}
        self._seq = 0

    # -- what a backend says ------------------------------------------------------------------------

    def select_devices(self, job: J) -> list[str]:
        """Device ids the job runs on, ascending, decided when it starts running."""
        raise NotImplementedError

    def begin_row(self, job: J, index: int, when: float) -> float:
        """Start row ``index`` (set its ``plan``); returns the emulated seconds until it finishes."""
        raise NotImplementedError

    def finish_row(self, job: J, index: int, when: float) -> int:
        """Finish row ``index`` (apply its effect, set ``outcome`` / ``error``); returns COMPLETED or FAILED."""
        raise NotImplementedError

    def expire_row(self, job: J, index: int) -> None:
        """An unfinished row fails because the job ran out of time (set its ``error``)."""

    def job_expired(self, job: J) -> None:
        """The job ended FAILED on its max run time (e.g. set a failure reason)."""

    def job_aborted(self, job: J) -> None:
        """The abort policy stopped the job (e.g. set a reason)."""

    # -- jobs ---------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.timeline.now()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def active_job_count(self) -> int:
        """Active jobs as of the last advance (call under the lock)."""
        return sum(1 for job in self.jobs.values() if job.active)

    def stop_job(self, job: J, when: float, phase: str = Phase.CANCELLED) -> None:
        """End an active job now: its unfinished rows become canceled."""
        if job.rows is not None:
            rows = job.rows
            for index in rows.unfinished():
                rows.set(index, CANCELED, when)
            rows.stop()
        job.status = phase
        job.ended = when

    def pause_job(self, job: J) -> None:
        """Start no more rows of a running job (IoT Central's stop); rows already running still finish."""
        job.paused = True

    def resume_job(self, job: J, when: float) -> None:
        """Start rows again from ``when``, at the job's rate, where the paused job left off."""
        if not job.paused:
            return
        job.paused = False
        if job.rows is not None:
            offset = self._policies(job).rate.start_offset(job.rows.next_start - job.batch_start)
            job.batch_started = when - self.timeline.real(offset)

    def add_rows(self, job: J, device_ids: list[str], when: float) -> list[int]:
        """Devices that join a running job (AWS: a thing added to a CONTINUOUS job's target group); returns their
        row indexes. They start at the job's rate after the rows already waiting, or from ``when`` when the
        rollout had drained."""
        rows = job.rows
        if rows is None or job.status != Phase.RUNNING:
            raise ValueError(f"job {job.job_id!r} is not running")
        drained = rows.next_start >= len(rows)
        old_total = len(rows)
        added = [rows.append(device_id, when) for device_id in device_ids]
        if drained:
            self._start_batch(job, old_total, when)
        elif job.batch_end == old_total:
            job.batch_end = self._policies(job).batches.batch_end(job.batch_start, len(rows))
        return added

    # -- time ---------------------------------------------------------------------------------------

    def advance(self) -> float:
        """Replay every event due by now, in (time, job creation) order; returns now."""
        with self.lock:
            now = self.timeline.now()
            while True:
                due = []
                for job in self.jobs.values():
                    if job.active:
                        when = self._next_event(job)
                        if when is not None and when <= now:
                            due.append((when, job.seq, job))
                if not due:
                    break
                due.sort(key=lambda t: t[:2])
                job = due[0][2]
                # Run this job's events in a batch until another job's event comes first.
                bound = due[1][:2] if len(due) > 1 else (now, job.seq)
                while job.active:
                    when = self._next_event(job)
                    if when is None or when > now or (when, job.seq) > bound:
                        break
                    self._step(job, when)
            self._expire_history(now)
            return now

    def _policies(self, job: J) -> Policies:
        return job.policies if job.policies is not None else self.policies

    def _next_event(self, job: J) -> float | None:
        if job.status == Phase.QUEUED:
            return job.queued_until
        if job.status == Phase.SCHEDULED:
            return job.start_time
        rows = job.rows
        if rows is None:  # running, but not yet evaluated: cannot happen (start evaluates at once)
            return None
        candidates = []
        if rows.running:
            candidates.append(rows.running[0][0])
        if rows.next_start < job.batch_end and not job.paused:
            candidates.append(self._row_start(job, rows.next_start))
        if job.deadline is not None:
            candidates.append(job.deadline)
        return min(candidates) if candidates else None

    def _row_start(self, job: J, index: int) -> float:
        offset = self._policies(job).rate.start_offset(index - job.batch_start)
        return job.batch_started + self.timeline.real(offset)

    def _step(self, job: J, when: float) -> None:
        """Apply the single earliest event of ``job``, which is due at ``when``."""
        if job.status == Phase.QUEUED:
            if job.start_time > when:
                job.status = Phase.SCHEDULED
            else:
                self._start_running(job, when)
            return
        if job.status == Phase.SCHEDULED:
            self._start_running(job, when)
            return
        rows = job.rows
        assert rows is not None
        if rows.running and rows.running[0][0] <= when:
            _, index = heapq.heappop(rows.running)
            self._finish(job, index, when)
        elif rows.next_start < job.batch_end and self._row_start(job, rows.next_start) <= when:
            self._begin(job, rows.next_start, when)
            rows.next_start += 1
        else:
            self._expire_job(job, when)

    def _start_running(self, job: J, when: float) -> None:
        matched = self.select_devices(job)
        job.status = Phase.RUNNING
        job.run_started = when
        if job.max_run_seconds is not None:
            job.deadline = when + self.timeline.real(job.max_run_seconds)
        job.rows = RowTable(matched, when)
        if not matched and not job.open_ended:
            job.status = Phase.COMPLETED
            job.ended = when
            return
        self._start_batch(job, 0, when)

    def _start_batch(self, job: J, start: int, when: float) -> None:
        assert job.rows is not None
        job.batch_start = start
        job.batch_end = self._policies(job).batches.batch_end(start, len(job.rows))
        job.batch_started = when
        job.batch_failed = job.batch_finished = 0

    def _begin(self, job: J, index: int, when: float) -> None:
        rows = job.rows
        assert rows is not None
        end = when + self.timeline.real(self.begin_row(job, index, when))
        rows.end[index] = end
        rows.set(index, RUNNING, when)
        heapq.heappush(rows.running, (end, index))

    def _finish(self, job: J, index: int, when: float) -> None:
        rows = job.rows
        assert rows is not None
        outcome = self.finish_row(job, index, when)
        rows.set(index, outcome, when)
        job.batch_finished += 1
        job.batch_failed += outcome == FAILED
        if rows.finished and not job.open_ended:
            job.status = Phase.COMPLETED
            job.ended = when
            return
        abort = self._policies(job).abort
        if abort.per_batch:
            stop = abort.should_abort(job.batch_failed, job.batch_finished, job.batch_end - job.batch_start)
        else:
            finished = len(rows) - rows.counts[PENDING] - rows.counts[RUNNING]
            stop = abort.should_abort(rows.counts[FAILED], finished, len(rows))
        if stop:
            self.stop_job(job, when)
            self.job_aborted(job)
        elif job.batch_finished == job.batch_end - job.batch_start:
            self._start_batch(job, job.batch_end, when)

    def _expire_job(self, job: J, when: float) -> None:
        rows = job.rows
        assert rows is not None
        for index in rows.unfinished():
            self.expire_row(job, index)
            rows.set(index, FAILED, when)
        rows.stop()
        job.status = Phase.FAILED
        job.ended = when
        self.job_expired(job)

    def _expire_history(self, now: float) -> None:
        horizon = self.timeline.real(self.history_seconds)
        stale = [j.job_id for j in self.jobs.values() if j.ended is not None and j.ended + horizon <= now]
        for job_id in stale:
            del self.jobs[job_id]
