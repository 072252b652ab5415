"""What a wait tells people: the progress line and the failed-device lines, the same from worker and triggerer.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_iot_jobs.jobs import CompletionThresholds, DeviceFailure, JobProgress

MAX_FAILED_DEVICES_IN_LOG = 20


def duration(seconds: float) -> str:
    """``45s``, ``3m12s``, ``2h05m``."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(
    progress: JobProgress,
    thresholds: CompletionThresholds,
    elapsed: float | None = None,
    remaining: float | None = None,
) -> str:
    """``job X: 4,213/10,000 succeeded (42.1 %), … [running] · 3m12s elapsed, ~4m10s left · judged by success
    ≥ 95 %, failure > 2 %``."""
    timing = []
    if elapsed is not None:
        timing.append(f"{duration(elapsed)} elapsed")
    if remaining is not None and not progress.terminal:
        timing.append(f"~{duration(remaining)} left")
    parts = [progress.describe()]
    if timing:
        parts.append(", ".join(timing))
    parts.append(f"judged by {thresholds.describe()}")
    return " · ".join(parts)


def failed_device_lines(failures: Sequence[DeviceFailure], total_failed: int) -> list[str]:
    """One line per failed device, at most 20, then how many more there are and where to find them."""
    shown = failures[:MAX_FAILED_DEVICES_IN_LOG]
    lines = [f"  {f.device_id}: {f.code} {f.description}".rstrip() for f in shown]
    more = total_failed - len(shown)
    if more > 0:
        lines.append(f"  … and {more:,} more (see XCom failed_devices)")
    return lines
