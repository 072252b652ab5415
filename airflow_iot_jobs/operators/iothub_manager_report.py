"""What jobs ran, and how they ended: the IoTHub Manager service's jobs in a time window, counted by type and
status (names, not the service's numbers), with the jobs that failed."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_iot_jobs.backends import IOTHUB_MANAGER
from airflow_iot_jobs.jobs import is_template
from airflow_iot_jobs.validation.iothub_manager import (
    JOB_STATUSES,
    JOB_TYPES,
    enum_name,
    time_window,
    validate_page_size,
)
from airflow_iot_jobs.waiting import BackendTask, fail_fast_on_permanent_errors

if TYPE_CHECKING:
    from airflow.sdk import Context

#: statuses that make a job a failure whatever its counts
FAILED_STATUSES = ("Failed", "Cancelled")


def summarize(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"total", "by_type", "by_status", "failures"}``; a failure is a job that ended Failed or Cancelled, or
    in which a device failed."""
    from airflow_iot_jobs.hooks.iothub_manager_wire import progress_from_job

    by_type: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    total = 0
    for job in jobs:
        total += 1
        progress = progress_from_job(job)
        by_type[progress.job_type or "Unknown"] += 1
        by_status[progress.status] += 1
        if progress.status in FAILED_STATUSES or progress.failed:
            failures.append(
                {
                    "job_id": progress.job_id,
                    "type": progress.job_type,
                    "status": progress.status,
                    "devices": progress.targeted,
                    "failed": progress.failed,
                    "failure_reason": progress.failure_reason,
                }
            )
    return {
        "total": total,
        "by_type": dict(sorted(by_type.items())),
        "by_status": dict(sorted(by_status.items())),
        "failures": failures,
    }


def table(summary: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> str:
    """Jobs by type (rows) and status (columns), then one line per failure."""
    from airflow_iot_jobs.hooks.iothub_manager_wire import status_name, type_name

    statuses = list(summary["by_status"])
    cells = Counter((type_name(job), status_name(job)) for job in jobs)
    header = ["type", *statuses, "total"]
    rows = [header]
    for job_type, count in summary["by_type"].items():
        rows.append([job_type, *(str(cells[job_type, s]) for s in statuses), str(count)])
    rows.append(["total", *(str(summary["by_status"][s]) for s in statuses), str(summary["total"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for failure in summary["failures"]:
        reason = f": {failure['failure_reason']}" if failure["failure_reason"] else ""
        lines.append(
            f"  failed: {failure['job_id']} {failure['type']} {failure['status']}, "
            f"{failure['failed']:,} of {failure['devices']:,} devices failed{reason}"
        )
    return "\n".join(lines)


def write_json_lines(jobs: Iterable[Mapping[str, Any]], destination: str | os.PathLike[str] | Any) -> int:
    """Every job as the service answered it, one JSON object a line, to a local path or an object-storage path
    (anything with ``.open("w")``, e.g. ``ObjectStoragePath``). Returns the count."""
    target = destination if hasattr(destination, "open") else Path(destination)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w") as out:
        for job in jobs:
            out.write(json.dumps(job, separators=(",", ":")) + "\n")
            count += 1
    return count


class IoTHubManagerJobReportOperator(BackendTask, BaseOperator):
    """Lists the jobs created in ``[from_time, to_time]`` (``GET /v1/jobs``), logs them as a table and returns
    ``{"total": n, "by_type": {"ScheduleDeviceMethod": n, …}, "by_status": {"Completed": n, …}, "failures":
    [{"job_id", "type", "status", "devices", "failed", "failure_reason"}, …]}``.

    :param from_time: lower bound of the jobs' creation time: ``NOW``, ``NOW-<ISO 8601 duration>`` (default
        ``NOW-P30D``: the last 30 days), ``NOW+…``, or an ISO 8601 date-time with a zone. Templated.
    :param to_time: upper bound, same forms (default none). Templated.
    :param job_type: only jobs of this type: ``ScheduleDeviceMethod`` (3) or ``ScheduleUpdateTwin`` (4).
    :param job_status: only jobs in this status: a name (``completed``, ``failed`` …) or number (0–7).
    :param output_path: also write every job, as the service answered it, as JSON lines here (a local path or an
        object-storage path). Templated.
    :param page_size: the page size the service uses when it reads the hub (it still answers every job).
    :param iothub_manager_conn_id: an ``iothub_manager`` connection (default ``iothub_manager_default``).
    """

    backend = IOTHUB_MANAGER
    template_fields: Sequence[str] = (
        "from_time",
        "to_time",
        "job_type",
        "job_status",
        "output_path",
        "iothub_manager_conn_id",
    )

    def __init__(
        self,
        *,
        from_time: str | Any | None = "NOW-P30D",
        to_time: str | Any | None = None,
        job_type: str | int | None = None,
        job_status: str | int | None = None,
        output_path: str | os.PathLike[str] | None = None,
        page_size: int | None = None,
        iothub_manager_conn_id: str = IOTHUB_MANAGER.default_conn_id,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_time = from_time
        self.to_time = to_time
        self.job_type = job_type
        self.job_status = job_status
        self.output_path = output_path
        self.page_size = page_size
        self.iothub_manager_conn_id = iothub_manager_conn_id
        self.iothub_conn_id = None  # a hook parameter; a report needs no hub
        if not any(is_template(v) for v in (from_time, to_time, job_type, job_status)):
            self.query()

    def query(self) -> dict[str, Any]:
        """The rendered filters, checked (no request)."""
        start, end = time_window(self.from_time, self.to_time)
        return {
            "job_type": None
            if self.job_type in (None, "")
            else enum_name(self.job_type, "job_type", JOB_TYPES),
            "job_status": None
            if self.job_status in (None, "")
            else enum_name(self.job_status, "job_status", JOB_STATUSES),
            "page_size": None if self.page_size is None else validate_page_size(self.page_size),
            "from_time": start,
            "to_time": end,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        query = self.query()
        with fail_fast_on_permanent_errors():
            jobs = self.hook.list_jobs(**query)  # type: ignore[attr-defined]
        summary = summarize(jobs)
        window = f"{query['from_time'] or 'the beginning'} … {query['to_time'] or 'now'}"
        self.log.info(
            "%s job(s) created %s%s:\n%s",
            f"{summary['total']:,}",
            window,
            "".join(f", {k} {query[k]}" for k in ("job_type", "job_status") if query[k]),
            table(summary, jobs),
        )
        if self.output_path:
            written = write_json_lines(jobs, self.output_path)
            self.log.info("wrote %s job(s) as JSON lines to %s", f"{written:,}", self.output_path)
        return summary
