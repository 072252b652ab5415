"""The shared job engine on its own: a toy backend whose rows take fixed times, under each rollout policy."""

from __future__ import annotations

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock, Timeline
from airflow_iot_jobs.emulator.engine import (
    COMPLETED,
    FAILED,
    EngineJob,
    FailureThreshold,
    FixedBatches,
    FixedRate,
    JobEngine,
    Phase,
    Policies,
)

T0 = 1_000_000.0


class ToyEngine(JobEngine[EngineJob]):
    """Rows take 1 emulated second; devices named ``bad-*`` fail."""

    def __init__(self, clock: ManualClock, devices: list[str], policies: Policies) -> None:
        super().__init__(Timeline(clock), policies, history_seconds=3600)
        self.devices = devices
        self.started: dict[str, float] = {}

    def select_devices(self, job: EngineJob) -> list[str]:
        return list(self.devices)

    def begin_row(self, job: EngineJob, index: int, when: float) -> float:
        assert job.rows is not None
        self.started[job.rows.device_ids[index]] = when - T0
        return 1.0

    def finish_row(self, job: EngineJob, index: int, when: float) -> int:
        assert job.rows is not None
        return FAILED if job.rows.device_ids[index].startswith("bad") else COMPLETED

    def submit(self, job_id: str = "j", policies: Policies | None = None) -> EngineJob:
        job = EngineJob(job_id=job_id, seq=self.next_seq(), created=T0, queued_until=T0, policies=policies)
        self.jobs[job_id] = job
        return job


def run(devices: list[str], policies: Policies, seconds: float = 100) -> tuple[ToyEngine, EngineJob]:
    clock = ManualClock(T0)
    engine = ToyEngine(clock, devices, policies)
    job = engine.submit()
    clock.advance(seconds)
    engine.advance()
    return engine, job


def test_default_policies_start_rows_at_a_fixed_rate() -> None:
    engine, job = run([f"d{i}" for i in range(5)], Policies(rate=FixedRate(2.0)))
    assert engine.started == {"d0": 0.0, "d1": 0.5, "d2": 1.0, "d3": 1.5, "d4": 2.0}
    assert job.status == Phase.COMPLETED and job.ended == T0 + 3.0


def test_batches_run_one_after_the_other() -> None:
    devices = [f"d{i}" for i in range(5)]
    engine, job = run(devices, Policies(rate=FixedRate(10.0), batches=FixedBatches(2)))
    # Batch [d0, d1] starts at 0 and ends at 1.1; [d2, d3] then starts; [d4] after that one ends.
    assert engine.started == pytest.approx({"d0": 0.0, "d1": 0.1, "d2": 1.1, "d3": 1.2, "d4": 2.2})
    assert job.status == Phase.COMPLETED
    assert job.rows is not None and job.rows.counts[COMPLETED] == 5


def test_percentage_batches_round_up() -> None:
    assert FixedBatches(30, percentage=True).batch_end(0, 10) == 3
    assert FixedBatches(1, percentage=True).batch_end(9, 10) == 10
    with pytest.raises(ValueError):
        FixedBatches(150, percentage=True)


def test_abort_threshold_cancels_the_rest() -> None:
    devices = ["bad-1", "bad-2", "d3", "d4", "d5", "d6"]
    policies = Policies(rate=FixedRate(1.0), abort=FailureThreshold(2))
    engine, job = run(devices, policies)
    # bad-2 finishes (2nd failure) at 2.0, before d3 would start at that same instant (finishes go first).
    assert job.status == Phase.CANCELLED and job.ended == T0 + 2.0
    assert set(engine.started) == {"bad-1", "bad-2"}
    assert job.rows is not None
    assert [job.rows.status[i] for i in range(6)] == [FAILED, FAILED, 4, 4, 4, 4]  # 4: canceled


def test_per_batch_percentage_threshold_looks_at_the_batch_only() -> None:
    devices = ["d1", "d2", "d3", "bad-4", "d5", "d6"]
    per_batch = FailureThreshold(50, percentage=True, per_batch=True)
    _, job = run(devices, Policies(rate=FixedRate(100.0), batches=FixedBatches(3), abort=per_batch))
    assert job.status == Phase.COMPLETED  # 1 of 3 in the second batch: below 50 %
    strict = FailureThreshold(30, percentage=True, per_batch=True)
    _, job = run(devices, Policies(rate=FixedRate(100.0), batches=FixedBatches(3), abort=strict))
    assert job.status == Phase.CANCELLED


def test_threshold_of_finished_waits_for_min_finished() -> None:
    threshold = FailureThreshold(50, percentage=True, of="finished", min_finished=3)
    assert not threshold.should_abort(failed=2, finished=2, total=100)
    assert threshold.should_abort(failed=2, finished=3, total=100)
    assert not FailureThreshold(50, percentage=True).should_abort(failed=2, finished=3, total=100)


def test_max_run_time_fails_unfinished_rows() -> None:
    clock = ManualClock(T0)
    engine = ToyEngine(clock, [f"d{i}" for i in range(10)], Policies(rate=FixedRate(1.0)))
    job = engine.submit()
    job.max_run_seconds = 3.5
    clock.advance(10)
    engine.advance()
    assert job.status == Phase.FAILED and job.ended == T0 + 3.5
    assert job.rows is not None and job.rows.counts[COMPLETED] == 3 and job.rows.counts[FAILED] == 7


def test_an_open_ended_job_takes_rows_while_it_runs_and_never_completes_on_its_own() -> None:
    clock = ManualClock(T0)
    engine = ToyEngine(clock, ["d0", "d1"], Policies(rate=FixedRate(1.0)))
    job = engine.submit()
    job.open_ended = True
    clock.advance(10)
    engine.advance()
    assert job.status == Phase.RUNNING and job.rows is not None and job.rows.finished
    # The rollout had drained: joined rows start from the moment they join, at the job's rate.
    assert engine.add_rows(job, ["d2", "d3"], clock.now()) == [2, 3]
    clock.advance(10)
    engine.advance()
    assert engine.started["d2"] == 10.0 and engine.started["d3"] == 11.0
    assert job.status == Phase.RUNNING and job.rows.counts[COMPLETED] == 4
    # Rows that join while others still wait start behind them.
    engine.add_rows(job, ["d4", "d5"], clock.now())
    engine.add_rows(job, ["d6"], clock.now())
    clock.advance(10)
    engine.advance()
    assert [engine.started[d] for d in ("d4", "d5", "d6")] == [20.0, 21.0, 22.0]


def test_an_empty_open_ended_job_keeps_running() -> None:
    clock = ManualClock(T0)
    engine = ToyEngine(clock, [], Policies(rate=FixedRate(1.0)))
    job = engine.submit()
    job.open_ended = True
    engine.advance()
    assert job.status == Phase.RUNNING
    engine.add_rows(job, ["d0"], clock.now())
    clock.advance(5)
    engine.advance()
    assert engine.started == {"d0": 0.0} and job.status == Phase.RUNNING
