"""The shared job engine: device rows, time-ordered replay, and the rollout policies a backend picks.

``rows`` (per-device row table), ``policies`` (batches, abort thresholds, rollout rate), ``runner`` (the
queued -> scheduled -> running -> terminal flow that advances jobs to the clock's now).
"""

from __future__ import annotations

from airflow_iot_jobs.emulator.engine.policies import (
    AbortPolicy,
    BatchPolicy,
    FailureThreshold,
    FixedBatches,
    FixedRate,
    NoAbort,
    NoBatches,
    Policies,
    RatePolicy,
)
from airflow_iot_jobs.emulator.engine.rows import (
    CANCELED,
    COMPLETED,
    FAILED,
    PENDING,
    ROW_STATUS,
    RUNNING,
    RowTable,
)
from airflow_iot_jobs.emulator.engine.runner import (
    ACTIVE_PHASES,
    TERMINAL_PHASES,
    EngineJob,
    JobEngine,
    Phase,
)

__all__ = [
    "ACTIVE_PHASES",
    "CANCELED",
    "COMPLETED",
    "FAILED",
    "PENDING",
    "ROW_STATUS",
    "RUNNING",
    "TERMINAL_PHASES",
    "AbortPolicy",
    "BatchPolicy",
    "EngineJob",
    "FailureThreshold",
    "FixedBatches",
    "FixedRate",
    "JobEngine",
    "NoAbort",
    "NoBatches",
    "Phase",
    "Policies",
    "RatePolicy",
    "RowTable",
]
