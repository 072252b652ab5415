"""PollSchedule: adaptive delays from the job's pace, bounded, with backoff when idle or throttled."""

from __future__ import annotations

from airflow_iot_jobs.jobs import CompletionThresholds, JobPhase, JobProgress
from airflow_iot_jobs.polling import PollSchedule

THRESHOLDS = CompletionThresholds.parse("100%", None, early_success=False)


def simulate(
    duration: float, devices: int, schedule: PollSchedule, queued_for: float = 5.0
) -> tuple[int, float]:
    """A job that is queued, then finishes `devices` at a constant pace over `duration` seconds.
    Returns (reads, seconds between the job's end and the read that saw it)."""
    now, reads = 0.0, 0
    end = queued_for + duration
    while True:
        reads += 1
        if now < queued_for:
            progress = JobProgress("j", "queued", JobPhase.PENDING)
        elif now < end:
            done = int(devices * (now - queued_for) / duration)
            progress = JobProgress("j", "running", JobPhase.RUNNING, devices, done, 0, 0, devices - done)
        else:
            return reads, now - end
        now += schedule.after_progress(progress, THRESHOLDS, now)


def test_long_job_needs_far_fewer_reads_than_a_fixed_interval_and_is_noticed_promptly():
    reads, late = simulate(600.0, 10_000, PollSchedule(base=10.0, maximum=120.0))
    fixed_reads, _ = simulate(600.0, 10_000, PollSchedule(base=10.0, maximum=10.0))
    assert fixed_reads >= 60
    assert reads * 5 <= fixed_reads
    assert late <= 10.0


def test_delays_stay_within_bounds_and_idle_backs_off():
    schedule = PollSchedule(base=5.0, maximum=40.0)
    queued = JobProgress("j", "queued", JobPhase.PENDING)
    delays = [schedule.after_progress(queued, THRESHOLDS, t) for t in range(6)]
    assert delays == [5.0, 10.0, 20.0, 40.0, 40.0, 40.0]


def test_failure_pace_brings_the_next_read_forward():
    thresholds = CompletionThresholds.parse("100%", "2%", early_success=False)
    schedule = PollSchedule(base=10.0, maximum=300.0)
    schedule.after_progress(
        JobProgress("j", "running", JobPhase.RUNNING, 10_000, 0, 0, 0, 10_000), thresholds, 0.0
    )
    # 10 devices/s finish, 5 of them fail: the 2 % limit (200) is crossed ~40 s later, long before the end
    delay = schedule.after_progress(
        JobProgress("j", "running", JobPhase.RUNNING, 10_000, 50, 50, 0, 9_900), thresholds, 10.0
    )
    assert 30.0 <= delay <= 45.0


def test_throttling_honours_retry_after_and_backs_off():
    schedule = PollSchedule(base=4.0, maximum=60.0)
    assert schedule.after_busy(None) == 4.0
    assert schedule.after_busy(None) == 8.0
    assert schedule.after_busy(30.0) == 30.0
    assert schedule.after_progress(JobProgress("j", "queued", JobPhase.PENDING), THRESHOLDS, 0.0) == 4.0
