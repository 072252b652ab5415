"""IoT Central state: device groups, jobs (on the shared job engine) and scheduled jobs.

A job runs on the devices its group's filter selects when it leaves ``pending``, in batches (``batch``: N devices
or N % of them, one batch after the other) at ``DEVICE_RATE`` devices per emulated second, and is cancelled when
its ``cancellationThreshold`` is reached (per batch or over the job) — the engine's ``FixedBatches`` and
``FailureThreshold`` policies. Stop pauses it (rows already running finish), resume goes on where it stopped,
rerun runs a copy on the devices that failed. What a row does to a device is in :meth:`CentralState.finish_row`.

Wire statuses (reference §1.4; the docs' vocabulary, which the live service uses, not the spec examples'):
job ``pending`` / ``running`` / ``stopped`` / ``complete`` / ``cancelled`` / ``failed``; device ``pending`` /
``running`` / ``completed`` / ``failed``.
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_iot_jobs.emulator.clock import Timeline, iso7
from airflow_iot_jobs.emulator.engine import (
    CANCELED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    EngineJob,
    FailureThreshold,
    FixedBatches,
    FixedRate,
    JobEngine,
    NoAbort,
    NoBatches,
    Phase,
    Policies,
)
from airflow_iot_jobs.emulator.fleet import Fleet, merge_patch
from airflow_iot_jobs.emulator.iotcentral import devices, errors
from airflow_iot_jobs.emulator.iotcentral.schedules import Schedule
from airflow_iot_jobs.emulator.iotcentral.validation import DATA_TYPES
from airflow_iot_jobs.query.iotcentral import matcher
from airflow_iot_jobs.query.tree import Condition

QUEUED_SECONDS = 1.0  # emulated seconds a new job stays "pending" (docs: "The initial job status is pending")
DEVICE_RATE = 50.0  # device rows started per emulated second (inferred; Central documents no rate)
HISTORY_SECONDS = 30 * 86400  # "Job history is kept for 30 days"
MAX_ACTIVE_JOBS = 5  # concepts-quotas-limits.md: 5 concurrent job executions

#: Fields of a Job / ScheduledJob the client writes (everything else is read-only).
JOB_FIELDS = (
    "displayName",
    "description",
    "group",
    "batch",
    "cancellationThreshold",
    "data",
    "organizations",
)
ROW_WIRE = {
    PENDING: "pending",
    RUNNING: "running",
    COMPLETED: "completed",
    FAILED: "failed",
    CANCELED: "pending",
}


def _etag() -> str:
    return f'"{uuid.uuid4()}"'


def policies_for(body: dict[str, Any]) -> Policies:
    batch = body.get("batch")
    threshold = body.get("cancellationThreshold")
    return Policies(
        rate=FixedRate(DEVICE_RATE),
        batches=NoBatches()
        if batch is None
        else FixedBatches(float(batch["value"]), percentage=batch["type"] == "percentage"),
        abort=NoAbort()
        if threshold is None
        else FailureThreshold(
            float(threshold["value"]),
            percentage=threshold["type"] == "percentage",
            per_batch=bool(threshold.get("batch", False)),
        ),
    )


@dataclass(kw_only=True)
class CentralJob(EngineJob):
    body: dict[str, Any]  # the client's fields (JOB_FIELDS)
    scheduled_job_id: str | None = None
    only_devices: list[str] | None = None  # a rerun: the devices that failed in the original
    reason: str | None = None  # why it ended as it did (not on the wire: the spec's Job has no such field)

    @property
    def running(self) -> bool:
        """Pending or running, not stopped: what counts against the concurrent-job limit."""
        return self.active and not self.paused

    def wire_status(self) -> str:
        if self.status in (Phase.QUEUED, Phase.SCHEDULED):
            return "stopped" if self.paused else "pending"
        if self.status == Phase.RUNNING:
            return "stopped" if self.paused else "running"
        if self.status == Phase.CANCELLED:
            return "cancelled"
        rows = self.rows
        # Inferred: "failed" when the job reached devices and every one failed; "complete" otherwise.
        if rows is not None and len(rows) and rows.counts[FAILED] == len(rows):
            return "failed"
        return "complete"

    def progress(self) -> dict[str, int]:
        rows = self.rows
        if rows is None:
            return {"total": 0, "pending": 0, "completed": 0, "failed": 0}
        counts = rows.counts
        return {
            "total": len(rows),
            "pending": counts[PENDING] + counts[CANCELED],
            "completed": counts[COMPLETED],
            "failed": counts[FAILED],
        }

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.job_id}
        if self.scheduled_job_id is not None:
            body["scheduledJobId"] = self.scheduled_job_id
        body.update(copy.deepcopy(self.body))
        if self.run_started is not None:
            body["start"] = iso7(self.run_started)
        if self.ended is not None:
            body["end"] = iso7(self.ended)
        if self.rows is not None:
            body["progress"] = self.progress()
        body["status"] = self.wire_status()
        return body

    def device_rows(self) -> list[dict[str, str]]:
        rows = self.rows
        if rows is None:
            return []
        return [{"id": rows.device_ids[i], "status": ROW_WIRE[rows.status[i]]} for i in range(len(rows))]


@dataclass
class ScheduledJobRecord:
    scheduled_job_id: str
    seq: int
    body: dict[str, Any]  # the client's fields plus schedule, enabled
    etag: str
    schedule: Schedule
    next_k: int
    instances: list[str] = field(default_factory=list)

    def to_json(self, completed: bool) -> dict[str, Any]:
        return {
            "etag": self.etag,
            "id": self.scheduled_job_id,
            **copy.deepcopy(self.body),
            "completed": completed,
        }


@dataclass
class DeviceGroup:
    group_id: str
    seq: int
    body: dict[str, Any]
    etag: str
    condition: Condition

    def to_json(self) -> dict[str, Any]:
        return {"id": self.group_id, **copy.deepcopy(self.body), "etag": self.etag}


class CentralState(JobEngine[CentralJob]):
    def __init__(
        self,
        fleet: Fleet,
        timeline: Timeline,
        max_active_jobs: int = MAX_ACTIVE_JOBS,
        lock: threading.RLock | None = None,
    ) -> None:
        if max_active_jobs < 1:
            raise ValueError("max_active_jobs must be >= 1")
        super().__init__(timeline, Policies(rate=FixedRate(DEVICE_RATE)), HISTORY_SECONDS, lock)
        self.fleet = fleet
        self.max_active_jobs = max_active_jobs
        self.groups: dict[str, DeviceGroup] = {}
        self.scheduled: dict[str, ScheduledJobRecord] = {}

    # -- time: scheduled jobs spawn their instances before the engine replays -----------------------------

    def advance(self) -> float:
        with self.lock:
            now = self.timeline.now()
            for record in sorted(self.scheduled.values(), key=lambda r: r.seq):
                if not record.body.get("enabled", True):
                    continue
                while (
                    when := record.schedule.occurrence(record.next_k, self.timeline)
                ) is not None and when <= now:
                    self._spawn(record, when)
                    record.next_k += 1
            return super().advance()

    def _spawn(self, record: ScheduledJobRecord, when: float) -> None:
        # Instance ids are GUIDs, stable for (scheduled job, occurrence). Inferred: an instance runs even when
        # five jobs are already running (the docs say nothing of scheduled instances and the limit).
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.scheduled_job_id}/{record.next_k}"))
        body = {k: copy.deepcopy(record.body[k]) for k in JOB_FIELDS if k in record.body}
        job = CentralJob(
            job_id=job_id,
            seq=self.next_seq(),
            created=when,
            queued_until=when + self.timeline.real(QUEUED_SECONDS),
            policies=policies_for(body),
            body=body,
            scheduled_job_id=record.scheduled_job_id,
        )
        self.jobs[job_id] = job
        record.instances.append(job_id)

    def scheduled_completed(self, record: ScheduledJobRecord) -> bool:
        return record.schedule.occurrence(record.next_k, self.timeline) is None

    # -- what a row does to a device -------------------------------------------------------------------

    def select_devices(self, job: CentralJob) -> list[str]:
        if job.only_devices is not None:
            return sorted(d for d in job.only_devices if d in self.fleet)
        group = self.groups.get(str(job.body["group"]))
        if group is None:  # deleted after the job was created
            return []
        condition = group.condition
        return [d.device_id for d in self.fleet.devices() if condition.matches(devices.filter_record(d.doc))]

    def begin_row(self, job: CentralJob, index: int, when: float) -> float:
        assert job.rows is not None
        device_id = job.rows.device_ids[index]
        latency = 0.0
        for entry in job.body["data"]:
            if DATA_TYPES[entry["type"]] == "command":
                latency += self.fleet.method_latency(job.job_id, device_id)
            else:
                latency += self.fleet.update_latency(job.job_id, device_id)
        return latency

    def finish_row(self, job: CentralJob, index: int, when: float) -> int:
        assert job.rows is not None
        device = self.fleet.get(job.rows.device_ids[index])
        if device is None or not device.doc["provisioned"]:
            return FAILED  # inferred: an unprovisioned device cannot take a job
        doc = device.doc
        for entry in job.body["data"]:
            kind = DATA_TYPES[entry["type"]]
            if kind == "deviceTemplateMigration":
                devices.migrate_template(doc, entry["template"])
                continue
            if entry["target"] != doc["template"]:
                return FAILED  # inferred: the capability is not in this device's template
            if kind == "cloudProperty":
                devices.write_cloud_property(doc, entry["path"], entry.get("value"))
            elif not device.online:
                return (
                    FAILED  # inferred: an offline device neither acknowledges a property nor runs a command
                )
            elif kind == "property":
                devices.write_property(doc, entry["path"], entry.get("value"), when)
            else:
                status, _payload = self.fleet.invoke_method(
                    device.device_id, entry["path"], entry.get("value"), job.job_id, when
                )
                if not 200 <= status < 300:
                    return FAILED
        return COMPLETED

    def job_aborted(self, job: CentralJob) -> None:
        threshold = job.body["cancellationThreshold"]
        scope = "a batch" if threshold.get("batch") else "the job"
        unit = "%" if threshold["type"] == "percentage" else " devices"
        job.reason = (
            f"Cancelled: failures in {scope} reached the cancellation threshold of {threshold['value']}{unit}"
        )

    # -- device groups ---------------------------------------------------------------------------------

    def put_group(self, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            fields = {
                k: copy.deepcopy(body[k])
                for k in ("displayName", "description", "filter", "organizations")
                if k in body
            }
            existing = self.groups.get(group_id)
            seq = existing.seq if existing is not None else self.next_seq()
            group = DeviceGroup(group_id, seq, fields, _etag(), matcher(fields["filter"]))
            self.groups[group_id] = group
            return group.to_json()

    def group(self, group_id: str) -> DeviceGroup:
        group = self.groups.get(group_id)
        if group is None:
            raise errors.not_found("Device group", group_id)
        return group

    def list_groups(self) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            return [(g.seq, g.to_json()) for g in sorted(self.groups.values(), key=lambda g: g.seq)]

    def delete_group(self, group_id: str) -> None:
        with self.lock:
            self.group(group_id)
            del self.groups[group_id]

    def group_devices(self, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            self.advance()
            condition = self.group(group_id).condition
            return [
                (d.device_id, devices.device_json(d.doc))
                for d in self.fleet.devices()
                if condition.matches(devices.filter_record(d.doc))
            ]

    # -- jobs ------------------------------------------------------------------------------------------

    def running_job_count(self) -> int:
        return sum(1 for job in self.jobs.values() if job.running)

    def _admit(self, job_id: str) -> float:
        now = self.advance()
        if job_id in self.jobs:
            raise errors.already_exists("Job", job_id)
        if self.running_job_count() >= self.max_active_jobs:
            raise errors.too_many_jobs(self.max_active_jobs)
        return now

    def create_job(
        self, job_id: str, body: dict[str, Any], only_devices: list[str] | None = None
    ) -> CentralJob:
        with self.lock:
            now = self._admit(job_id)
            if only_devices is None and str(body["group"]) not in self.groups:
                raise errors.bad_request(f"job.group: device group '{body['group']}' was not found.")
            fields = {k: copy.deepcopy(body[k]) for k in JOB_FIELDS if k in body}
            job = CentralJob(
                job_id=job_id,
                seq=self.next_seq(),
                created=now,
                queued_until=now + self.timeline.real(QUEUED_SECONDS),
                policies=policies_for(fields),
                body=fields,
                only_devices=only_devices,
            )
            self.jobs[job_id] = job
            return job

    def job(self, job_id: str) -> CentralJob:
        """The live job (advanced to now); 404 when unknown."""
        with self.lock:
            self.advance()
            job = self.jobs.get(job_id)
            if job is None:
                raise errors.not_found("Job", job_id)
            return job

    def list_jobs(self, scheduled_job_id: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            self.advance()
            return [
                (job.seq, job.to_json())
                for job in sorted(self.jobs.values(), key=lambda j: j.seq)
                if scheduled_job_id is None or job.scheduled_job_id == scheduled_job_id
            ]

    def stop(self, job_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            if not job.active:  # inferred: 409 for a job that has already ended
                raise errors.conflict(
                    f"Job '{job_id}' has ended ({job.wire_status()}) and cannot be stopped."
                )
            self.pause_job(job)

    def resume(self, job_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            if not (job.active and job.paused):  # inferred: 409 for a job that is not stopped
                raise errors.conflict(
                    f"Job '{job_id}' is {job.wire_status()}, not stopped; it cannot be resumed."
                )
            if self.running_job_count() >= self.max_active_jobs:
                raise errors.too_many_jobs(self.max_active_jobs)
            self.resume_job(job, self.timeline.now())

    def rerun(self, job_id: str, rerun_id: str) -> CentralJob:
        """A new job ``rerun_id`` like ``job_id``, on the devices that failed in it."""
        with self.lock:
            original = self.job(job_id)
            if original.active:  # inferred: only an ended job has a final list of failed devices
                raise errors.conflict(
                    f"Job '{job_id}' is {original.wire_status()}; rerun it once it has ended."
                )
            rows = original.rows
            failed = (
                []
                if rows is None
                else [rows.device_ids[i] for i in range(len(rows)) if rows.status[i] == FAILED]
            )
            return self.create_job(rerun_id, original.body, only_devices=failed)

    # -- scheduled jobs --------------------------------------------------------------------------------

    def scheduled_job(self, scheduled_job_id: str) -> ScheduledJobRecord:
        with self.lock:
            self.advance()
            record = self.scheduled.get(scheduled_job_id)
            if record is None:
                raise errors.not_found("Scheduled job", scheduled_job_id)
            return record

    def scheduled_json(self, record: ScheduledJobRecord) -> dict[str, Any]:
        return record.to_json(self.scheduled_completed(record))

    def put_scheduled_job(self, scheduled_job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            now = self.advance()
            existing = self.scheduled.get(scheduled_job_id)
            if existing is not None:
                self._check_no_running_instances(existing)
            fields = {k: copy.deepcopy(body[k]) for k in (*JOB_FIELDS, "schedule", "enabled") if k in body}
            # The spec example answers a create with enabled true; the docs' example shows false. An omitted
            # "enabled" is taken as true (the job runs), which is what a client that omits it expects.
            fields.setdefault("enabled", True)
            schedule = Schedule.from_json(fields["schedule"])
            record = ScheduledJobRecord(
                scheduled_job_id,
                existing.seq if existing is not None else self.next_seq(),
                fields,
                _etag(),
                schedule,
                schedule.first_from(now, self.timeline),
                existing.instances if existing is not None else [],
            )
            self.scheduled[scheduled_job_id] = record
            self.advance()
            return self.scheduled_json(record)

    def patch_scheduled_job(self, scheduled_job_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """The stored job merged with ``patch`` (RFC 7396); the caller validates the result."""
        with self.lock:
            record = self.scheduled_job(scheduled_job_id)
            self._check_no_running_instances(record)
            merged = copy.deepcopy(record.body)
            merge_patch(merged, {k: v for k, v in patch.items() if k not in ("id", "etag", "completed")})
            return merged

    def _check_no_running_instances(self, record: ScheduledJobRecord) -> None:
        # scheduledjobs_update example: "update is not allowed if there are any active running job instances";
        # the 409 is inferred.
        if any(self.jobs[j].active for j in record.instances if j in self.jobs):
            raise errors.conflict(
                f"Scheduled job '{record.scheduled_job_id}' has running job instances; update is not allowed."
            )

    def list_scheduled_jobs(self) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            self.advance()
            return [
                (r.seq, self.scheduled_json(r)) for r in sorted(self.scheduled.values(), key=lambda r: r.seq)
            ]

    def delete_scheduled_job(self, scheduled_job_id: str) -> None:
        with self.lock:
            self.scheduled_job(scheduled_job_id)
            del self.scheduled[scheduled_job_id]
