"""IoT Hub state: scheduled jobs, their per-device rows, and the fleet they act on.

The shared :mod:`~airflow_iot_jobs.emulator.engine` replays jobs and rows in time order; this module holds what
is IoT Hub's own: the job request and JobResponse, ``devices.jobs`` rows, what a method or twin row does to a
device and the errors it leaves, max-execution-time expiry, and the queries. IoT Hub runs every job as one
batch at ``device_rate`` rows per emulated second with no abort threshold.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.emulator.clock import Timeline, iso7
from airflow_iot_jobs.emulator.engine import (
    ACTIVE_PHASES,
    COMPLETED,
    FAILED,
    PENDING,
    ROW_STATUS,
    RUNNING,
    TERMINAL_PHASES,
    EngineJob,
    FixedRate,
    JobEngine,
    Policies,
)
from airflow_iot_jobs.emulator.fleet import Fleet
from airflow_iot_jobs.emulator.iothub import errors
from airflow_iot_jobs.emulator.iothub.twins import EtagMismatch, apply_twin_patch

JOB_TYPES = ("scheduleDeviceMethod", "scheduleUpdateTwin")
ACTIVE_STATUSES = ACTIVE_PHASES  # IoT Hub's statuses are the engine's phase names
TERMINAL_STATUSES = TERMINAL_PHASES

QUEUED_SECONDS = 0.5  # emulated seconds a new job stays "queued"
DEVICE_RATE = 100.0  # device rows started per emulated second
DEFAULT_MAX_EXECUTION_SECONDS = 3600  # inferred: what the CLI sends when the caller gives none
DEFAULT_RESPONSE_TIMEOUT = 30
DEFAULT_CONNECT_TIMEOUT = 0
HISTORY_SECONDS = 30 * 86400  # "Job history is retained up to 30 days"

# How a started method row will end (RowTable.plan).
_ANSWER, _OFFLINE, _TIMEOUT = range(3)


@functools.lru_cache(maxsize=256)
def _job_stamp(epoch: float, zulu: bool) -> str:
    """``iso7`` of a job-wide instant: the same few strings on every row of a job (a 1,000,000-row report)."""
    return iso7(epoch, zulu=zulu)


@dataclass(frozen=True)
class JobSpec:
    """A validated ``PUT /jobs/v2/{id}`` request."""

    job_id: str
    job_type: str
    query_condition: str
    condition: Any  # airflow_iot_jobs.query.tree.Condition
    start_time: float | None
    max_execution_seconds: int
    cloud_to_device_method: dict[str, Any] | None = None
    update_twin: dict[str, Any] | None = None

    @property
    def method_name(self) -> str:
        return (self.cloud_to_device_method or {})["methodName"]

    @property
    def payload(self) -> Any:
        return (self.cloud_to_device_method or {}).get("payload")

    def timeout(self, name: str, default: int) -> int:
        value = (self.cloud_to_device_method or {}).get(name)
        return default if value is None else int(value)


@dataclass(kw_only=True)
class ScheduledJob(EngineJob):
    spec: JobSpec
    failure_reason: str | None = None
    status_message: str | None = None

    @classmethod
    def new(cls, spec: JobSpec, seq: int, created: float, queued_until: float) -> ScheduledJob:
        return cls(
            job_id=spec.job_id,
            seq=seq,
            created=created,
            queued_until=queued_until,
            scheduled_for=spec.start_time,
            max_run_seconds=spec.max_execution_seconds,
            spec=spec,
        )

    def statistics(self) -> dict[str, int]:
        if self.rows is None:
            return {
                "deviceCount": 0,
                "failedCount": 0,
                "succeededCount": 0,
                "runningCount": 0,
                "pendingCount": 0,
            }
        counts = self.rows.counts
        return {
            "deviceCount": len(self.rows),
            "failedCount": counts[FAILED],
            "succeededCount": counts[COMPLETED],
            "runningCount": counts[RUNNING],
            "pendingCount": counts[PENDING],
        }

    def to_json(self) -> dict[str, Any]:
        """The JobResponse body."""
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "queryCondition": self.spec.query_condition,
            "createdTime": iso7(self.created),
            "startTime": iso7(self.start_time),
        }
        if self.ended is not None:
            body["endTime"] = iso7(self.ended)
        body["maxExecutionTimeInSeconds"] = self.spec.max_execution_seconds
        body["type"] = self.spec.job_type
        if self.spec.cloud_to_device_method is not None:
            body["cloudToDeviceMethod"] = self.spec.cloud_to_device_method
        if self.spec.update_twin is not None:
            body["updateTwin"] = self.spec.update_twin
        body["status"] = self.status
        if self.failure_reason is not None:
            body["failureReason"] = self.failure_reason
        if self.status_message is not None:
            body["statusMessage"] = self.status_message
        body["deviceJobStatistics"] = self.statistics()
        return body

    def row_json(self, index: int) -> dict[str, Any]:
        """One ``devices.jobs`` row in the shape of the wire contract §1.3."""
        rows = self.rows
        assert rows is not None
        status = rows.status[index]
        row: dict[str, Any] = {
            "deviceId": rows.device_ids[index],
            "jobId": self.job_id,
            "jobType": self.spec.job_type,
            "status": ROW_STATUS[status],
            # Inferred from the docs' sample row: start/end are the job's execution window, not the
            # device's own processing times, and are written without a trailing "Z".
            "startTimeUtc": _job_stamp(self.start_time, False),
            "endTimeUtc": _job_stamp(self.deadline if self.deadline is not None else self.start_time, False),
            "createdDateTimeUtc": _job_stamp(rows.created, True),
            "lastUpdatedDateTimeUtc": iso7(rows.updated[index]),
            "outcome": {"deviceMethodResponse": rows.outcome[index]},
        }
        if rows.error[index] is not None:
            row["error"] = rows.error[index]
        return row


class _RowView(Mapping[str, Any]):
    """A lazy ``devices.jobs`` record for condition matching: fields are computed only when read."""

    __slots__ = ("_job", "_index", "_cache")

    def __init__(self, job: ScheduledJob, index: int) -> None:
        self._job = job
        self._index = index
        self._cache: dict[str, Any] | None = None

    def _row(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = self._job.row_json(self._index)
        return self._cache

    def __getitem__(self, key: str) -> Any:
        rows = self._job.rows
        assert rows is not None
        if key == "jobId":
            return self._job.job_id
        if key == "deviceId":
            return rows.device_ids[self._index]
        if key == "status":
            return ROW_STATUS[rows.status[self._index]]
        if key == "jobType":
            return self._job.spec.job_type
        return self._row()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row())

    def __len__(self) -> int:
        return len(self._row())


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_key: Any | None  # sort key of the last item when more remain, else None


class IoTHubState(JobEngine[ScheduledJob]):
    def __init__(
        self,
        fleet: Fleet,
        timeline: Timeline,
        max_active_jobs: int = 1,
        device_rate: float = DEVICE_RATE,
        cancel_running: bool = True,
        lock: threading.RLock | None = None,
    ) -> None:
        if max_active_jobs < 1:
            raise ValueError("max_active_jobs must be >= 1")
        if not device_rate > 0:
            raise ValueError("device_rate must be > 0")
        super().__init__(timeline, Policies(rate=FixedRate(device_rate)), HISTORY_SECONDS, lock)
        self.fleet = fleet
        self.max_active_jobs = max_active_jobs
        self.device_rate = device_rate
        self.cancel_running = cancel_running

    # -- what a row does to a device ----------------------------------------------------------------

    def select_devices(self, job: ScheduledJob) -> list[str]:
        condition = job.spec.condition
        return [d.device_id for d in self.fleet.devices() if condition.matches(d.doc)]

    def begin_row(self, job: ScheduledJob, index: int, when: float) -> float:
        rows = job.rows
        assert rows is not None
        device_id = rows.device_ids[index]
        salt = job.job_id
        if job.spec.job_type == "scheduleUpdateTwin":
            latency, plan = self.fleet.update_latency(salt, device_id), _ANSWER
        elif device_id not in self.fleet or not self.fleet.is_online(device_id):  # deleted: see finish_row
            latency, plan = (
                float(job.spec.timeout("connectTimeoutInSeconds", DEFAULT_CONNECT_TIMEOUT)),
                _OFFLINE,
            )
        else:
            latency, plan = self.fleet.method_latency(salt, device_id), _ANSWER
            response_timeout = job.spec.timeout("responseTimeoutInSeconds", DEFAULT_RESPONSE_TIMEOUT)
            if latency > response_timeout:
                latency, plan = float(response_timeout), _TIMEOUT
        rows.plan[index] = plan
        return latency

    def finish_row(self, job: ScheduledJob, index: int, when: float) -> int:
        rows = job.rows
        assert rows is not None
        device_id = rows.device_ids[index]
        plan = rows.plan[index]
        device = self.fleet.get(device_id)
        if device is None:  # deleted (an import job) after the job selected it
            rows.error[index] = {
                "code": "DeviceNotFound",
                "description": f"Device '{device_id}' was not found.",
            }
            return FAILED
        if job.spec.job_type == "scheduleUpdateTwin":
            try:
                apply_twin_patch(device.doc, job.spec.update_twin or {}, when)
            except EtagMismatch as exc:
                rows.error[index] = {"code": "PreconditionFailed", "description": str(exc)}
                return FAILED
            return COMPLETED
        if plan == _OFFLINE:
            rows.error[index] = {
                "code": "DeviceNotOnline",
                "description": "Timed out waiting for device to connect.",
            }
            return FAILED
        if plan == _TIMEOUT:
            rows.error[index] = {
                "code": "GatewayTimeout",
                "description": "Timed out waiting for the response from device.",
            }
            return FAILED
        status, payload = self.fleet.invoke_method(
            device_id, job.spec.method_name, job.spec.payload, job.job_id, when
        )
        rows.outcome[index] = {"status": status, "payload": payload}
        if 200 <= status < 300:
            return COMPLETED
        rows.error[index] = {
            "code": "DeviceMethodFailed",
            "description": f"The device answered method '{job.spec.method_name}' with status {status}.",
        }
        return FAILED

    # Inferred: the service's behaviour past maxExecutionTimeInSeconds is not documented beyond
    # "before job is terminated"; we end the job "failed" and fail the unfinished rows "JobExpired".
    def expire_row(self, job: ScheduledJob, index: int) -> None:
        assert job.rows is not None
        job.rows.error[index] = {
            "code": "JobExpired",
            "description": f"The job exceeded its max execution time of {job.spec.max_execution_seconds} "
            "seconds before this device finished.",
        }

    def job_expired(self, job: ScheduledJob) -> None:
        job.failure_reason = (
            f"Job exceeded its max execution time of {job.spec.max_execution_seconds} seconds"
        )
        job.status_message = job.failure_reason

    # -- jobs --------------------------------------------------------------------------------------

    def create_job(self, spec: JobSpec) -> dict[str, Any]:
        with self.lock:
            now = self.advance()
            if spec.job_id in self.jobs:
                raise errors.job_already_exists(spec.job_id)
            if self.active_job_count() >= self.max_active_jobs:
                raise errors.max_active_jobs_exceeded(self.max_active_jobs)
            job = ScheduledJob.new(
                spec, self.next_seq(), created=now, queued_until=now + self.timeline.real(QUEUED_SECONDS)
            )
            self.jobs[spec.job_id] = job
            return {"jobId": spec.job_id, "type": spec.job_type, "status": job.status}

    # -- twins -------------------------------------------------------------------------------------

    def get_twin(self, device_id: str) -> dict[str, Any]:
        with self.lock:
            self.advance()
            if self.fleet.get(device_id) is None:
                raise errors.device_not_found(device_id)
            return self.fleet.doc(device_id)

    def update_twin(self, device_id: str, patch: dict[str, Any], if_match: str | None) -> dict[str, Any]:
        """Update Twin (``PATCH /twins/{id}``): tags and desired properties merged in; ``If-Match`` (an etag or
        ``*``) must match the twin's etag."""
        with self.lock:
            now = self.advance()
            device = self.fleet.get(device_id)
            if device is None:
                raise errors.device_not_found(device_id)
            try:
                apply_twin_patch(device.doc, {**patch, "etag": if_match}, now)
            except EtagMismatch as exc:
                raise errors.precondition_failed(str(exc)) from None
            return self.fleet.doc(device_id)

    def job(self, job_id: str) -> ScheduledJob | None:
        """The live job object (for tests); advances first."""
        with self.lock:
            self.advance()
            return self.jobs.get(job_id)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            self.advance()
            job = self.jobs.get(job_id)
            return None if job is None else job.to_json()

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            now = self.advance()
            job = self.jobs.get(job_id)
            if job is None:
                raise errors.job_not_found(job_id)
            if job.status == "running" and not self.cancel_running:
                raise errors.job_run_precondition_failed(f"Job '{job_id}' is running and cannot be cancelled")
            if job.active:
                self.stop_job(job, now)
            return job.to_json()

    def query_jobs(
        self, job_type: str | None, job_status: str | None, page_size: int, after_seq: int | None
    ) -> Page:
        """JobResponses newest first; ``after_seq`` continues after the job with that sequence number."""
        with self.lock:
            self.advance()
            ordered = sorted(self.jobs.values(), key=lambda j: j.seq, reverse=True)
            selected = [
                job
                for job in ordered
                if (not job_type or job.spec.job_type == job_type)
                and (not job_status or job.status == job_status)
                and (after_seq is None or job.seq < after_seq)
            ]
            page = selected[:page_size]
            more = len(selected) > page_size
            return Page([job.to_json() for job in page], page[-1].seq if more else None)

    def device_job_rows(self, job_id: str) -> list[dict[str, Any]]:
        """All rows of one job (for tests)."""
        with self.lock:
            self.advance()
            job = self.jobs.get(job_id)
            if job is None or job.rows is None:
                return []
            return [job.row_json(i) for i in range(len(job.rows))]

    # -- queries -----------------------------------------------------------------------------------

    def query_devices(self, condition: Any | None, page_size: int, after: str | None) -> Page:
        """Twins (copies) matching ``condition``, by device id, after device id ``after``."""
        with self.lock:
            self.advance()
            items: list[dict[str, Any]] = []
            last: str | None = None
            for device in self.fleet.devices_after(after):
                if condition is None or condition.matches(device.doc):
                    if len(items) == page_size:
                        return Page(items, last)
                    items.append(self.fleet.doc(device.device_id))
                    last = device.device_id
            return Page(items, None)

    def count_devices(self, condition: Any | None) -> int:
        with self.lock:
            self.advance()
            if condition is None:
                return len(self.fleet)
            return sum(1 for device in self.fleet.devices() if condition.matches(device.doc))

    def query_device_jobs(self, condition: Any | None, page_size: int, after: tuple[str, str] | None) -> Page:
        """``devices.jobs`` rows ordered by (deviceId, jobId), after that key."""
        with self.lock:
            self.advance()
            streams = []
            for job in self.jobs.values():
                if job.rows is not None and len(job.rows):
                    streams.append(self._row_keys(job, after))
            items: list[dict[str, Any]] = []
            last: tuple[str, str] | None = None
            for key, job, index in heapq.merge(*streams, key=lambda t: t[0]):
                view = _RowView(job, index)
                if condition is None or condition.matches(view):
                    if len(items) == page_size:
                        return Page(items, last)
                    items.append(job.row_json(index))
                    last = key
            return Page(items, None)

    @staticmethod
    def _row_keys(
        job: ScheduledJob, after: tuple[str, str] | None
    ) -> Iterator[tuple[tuple[str, str], ScheduledJob, int]]:
        rows = job.rows
        assert rows is not None
        # rows.device_ids is sorted (fleet order at evaluation time), so skip ahead by bisection.
        start = 0 if after is None else bisect.bisect_left(rows.device_ids, after[0])
        for index in range(start, len(rows.device_ids)):
            key = (rows.device_ids[index], job.job_id)
            if after is not None and key <= after:
                continue
            yield key, job, index
