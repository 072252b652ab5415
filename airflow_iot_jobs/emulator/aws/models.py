"""AWS IoT state: jobs and their executions on the shared job engine, job templates, the registry.

One engine row per targeted thing, in thing-name order; the row *begins* when the rollout notifies the thing (at
the job's ``jobExecutionsRolloutConfig`` rate) and *finishes* when the execution is terminal. What the wire shows
is each :class:`Execution` (AWS's ``JobExecutionStatus``: QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT,
REJECTED, REMOVED, CANCELED); ``jobProcessDetails`` is counted from them on every read.

A simulated thing that is online picks its execution up when notified (IN_PROGRESS), runs the document (see
:meth:`AwsIoTState.run_document`) and reports SUCCEEDED / FAILED / REJECTED, or TIMED_OUT when it outlasts
``timeoutConfig.inProgressTimeoutInMinutes``; ``jobExecutionsRetryConfig`` re-runs FAILED / TIMED_OUT ones under a
new ``executionNumber``. An offline simulated thing never picks its execution up (it stays QUEUED, and a SNAPSHOT
job with one never completes, as on AWS). A thing made by ``CreateThing`` is driven only through the jobs data
plane (``StartNextPendingJobExecution``, ``UpdateJobExecution``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import heapq
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_iot_jobs.emulator.aws import errors
from airflow_iot_jobs.emulator.aws.policies import AbortCriteria, policies_for
from airflow_iot_jobs.emulator.aws.things import Registry, Thing
from airflow_iot_jobs.emulator.clock import Timeline
from airflow_iot_jobs.emulator.engine import (
    CANCELED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    EngineJob,
    FixedRate,
    JobEngine,
    Phase,
    Policies,
)
from airflow_iot_jobs.emulator.fleet import KNOWN_METHODS, Fleet

INF = float("inf")
#: The active-jobs quota (IN_PROGRESS jobs, snapshot and continuous). The job-limits page defines it but our
#: reference does not quote the number; 1000 is chosen as a realistic account default. ``--max-active-jobs``.
MAX_ACTIVE_JOBS = 1000
DELETION_SECONDS = 5.0  # emulated seconds a deleted job shows DELETION_IN_PROGRESS (inferred)
PENDING_LIMIT = 10  # GetPendingJobExecutions returns at most 10 (job-limits page)
MIN_SCHEDULE_LEAD = 30 * 60  # schedulingConfig.startTime at least 30 minutes ahead (job scheduling docs)
MAX_TIMEOUT_MINUTES = (
    10080  # timeoutConfig.inProgressTimeoutInMinutes 1..10080 (API docs; the model says "long")
)
MAX_CONTINUOUS_TARGETS = 100  # AssociateTargetsWithJob: "must not exceed 100" (API docs)
#: CreateJob: the same 100 (AWS's Connected Device Framework: "Jobs: max no. targets 100"); the error code is
#: inferred from AssociateTargetsWithJob's (see README)
MAX_JOB_TARGETS = MAX_CONTINUOUS_TARGETS

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"})
DEVICE_STATUSES = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED")  # what a device may report
ROW = {"SUCCEEDED": COMPLETED, "FAILED": FAILED, "TIMED_OUT": FAILED, "REJECTED": FAILED}
WIRE_JOB = {
    Phase.QUEUED: "IN_PROGRESS",
    Phase.SCHEDULED: "SCHEDULED",
    Phase.RUNNING: "IN_PROGRESS",
    Phase.COMPLETED: "COMPLETED",
    Phase.CANCELLED: "CANCELED",
    Phase.FAILED: "CANCELED",
}
CONFIG_FIELDS = (
    "presignedUrlConfig",
    "jobExecutionsRolloutConfig",
    "abortConfig",
    "timeoutConfig",
    "jobExecutionsRetryConfig",
)
_PARAMETER = re.compile(r"\$\{aws:iot:parameter:([^}]+)\}")


def ms(epoch: float | None) -> int | None:
    """The jobs data plane's times: epoch milliseconds (inferred from the docs' examples; the model says seconds)."""
    return None if epoch is None else int(round(epoch * 1000))


@dataclass
class Attempt:
    end: float  # real instant the attempt ends
    status: str
    number: int  # executionNumber


@dataclass
class Execution:
    job_id: str
    thing_name: str
    thing_arn: str
    queued_at: float
    simulated: bool
    row: int | None = None
    status: str = "QUEUED"
    started_at: float | None = None
    last_updated: float = 0.0
    execution_number: int = 1
    version_number: int = 1
    status_details: dict[str, str] | None = None
    force_canceled: bool | None = None
    notified: bool = False
    attempts: list[Attempt] = field(default_factory=list)  # a simulated thing's plan
    timeout_at: float | None = None
    step_timeout_at: float | None = None
    retries: Counter[str] = field(default_factory=Counter)

    def shown(self, now: float) -> tuple[str, int]:
        """Status and executionNumber as of ``now`` (a simulated run moves through its planned attempts)."""
        if self.status == "IN_PROGRESS" and self.attempts:
            for attempt in self.attempts:
                if attempt.end > now:
                    return "IN_PROGRESS", attempt.number
            return "IN_PROGRESS", self.attempts[-1].number
        return self.status, self.execution_number


@dataclass
class Template:
    template_id: str
    arn: str
    created: float
    fields: dict[str, Any]


@dataclass(kw_only=True)
class AwsJob(EngineJob):
    arn: str
    fields: dict[str, Any]  # the create request's fields as given (and as UpdateJob changed them)
    last_updated: float
    executions: dict[str, Execution] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # terminal executions by status (for abort)
    reason_code: str | None = None
    comment: str | None = None
    force_canceled: bool | None = None
    deleting_until: float | None = None
    rollout_stopped: bool = False

    @property
    def continuous(self) -> bool:
        return self.fields.get("targetSelection") == "CONTINUOUS"

    def wire_status(self) -> str:
        return "DELETION_IN_PROGRESS" if self.deleting_until is not None else WIRE_JOB[self.status]

    def config(self, name: str) -> dict[str, Any]:
        return self.fields.get(name) or {}

    def timeout_seconds(self) -> float | None:
        minutes = self.config("timeoutConfig").get("inProgressTimeoutInMinutes")
        return None if minutes is None else float(minutes) * 60.0

    def document(self, substitute: bool = True) -> str | None:
        document = self.fields.get("document")
        if document is None or not substitute:
            return document
        parameters = self.fields.get("documentParameters") or {}
        return _PARAMETER.sub(lambda m: parameters.get(m.group(1), m.group(0)), document)

    def concurrent(self) -> bool:
        rows = self.rows
        return self.status == Phase.RUNNING and rows is not None and rows.next_start < len(rows)


class AwsIoTState(JobEngine[AwsJob]):
    def __init__(
        self,
        fleet: Fleet,
        timeline: Timeline,
        registry: Registry,
        max_active_jobs: int = MAX_ACTIVE_JOBS,
        lock: threading.RLock | None = None,
    ) -> None:
        if max_active_jobs < 1:
            raise ValueError("max_active_jobs must be >= 1")
        super().__init__(timeline, Policies(rate=FixedRate(1000 / 60)), INF, lock)
        self.fleet = fleet
        self.registry = registry
        self.max_active_jobs = max_active_jobs
        self.templates: dict[str, Template] = {}
        self._timers: set[tuple[str, str]] = set()  # (job, thing) executions a device drives with a timeout
        self._settling: set[str] = set()  # canceled jobs whose in-progress simulated executions still run

    # -- time -------------------------------------------------------------------------------------------

    def emulated(self, real_seconds: float) -> float:
        return real_seconds * self.timeline.speed

    def advance(self) -> float:
        with self.lock:
            now = self.timeline.now()
            self._expire_timers(now)
            super().advance()
            self._settle(now)
            for job_id in [j.job_id for j in self.jobs.values() if j.deleting_until is not None]:
                if self.jobs[job_id].deleting_until <= now:  # type: ignore[operator]
                    self._forget(job_id)
            return now

    def _forget(self, job_id: str) -> None:
        job = self.jobs.pop(job_id)
        self._settling.discard(job_id)
        for thing in job.executions:
            self._timers.discard((job_id, thing))

    def _expire_timers(self, now: float) -> None:
        for key in sorted(self._timers):
            job = self.jobs.get(key[0])
            ex = job.executions.get(key[1]) if job is not None else None
            if job is None or ex is None or ex.status != "IN_PROGRESS":
                self._timers.discard(key)
                continue
            due = min(t for t in (ex.timeout_at, ex.step_timeout_at, INF) if t is not None)
            if due <= now:
                self._timers.discard(key)
                self.device_terminal(job, ex, "TIMED_OUT", due)

    def _settle(self, now: float) -> None:
        """In-progress simulated executions of canceled jobs still finish (a non-forced cancel leaves them)."""
        for job_id in sorted(self._settling):
            job = self.jobs[job_id]
            rows = job.rows
            assert rows is not None
            while rows.running and rows.running[0][0] <= now:
                end, index = heapq.heappop(rows.running)
                ex = job.executions.get(rows.device_ids[index])
                if ex is not None and ex.status == "IN_PROGRESS" and ex.attempts:
                    final = ex.attempts[-1]
                    ex.execution_number = final.number
                    self._set_status(job, ex, final.status, end)
                    rows.set(index, ROW.get(final.status, CANCELED), end)
            if not rows.running or rows.running[0][0] == INF:
                self._settling.discard(job_id)

    # -- what a row does ---------------------------------------------------------------------------------

    def covers(self, job: AwsJob, thing: str) -> bool:
        for target in job.fields["targets"]:
            kind, name = self.registry.parse_target(target)
            if kind == "thing" and name == thing:
                return True
            if kind == "thinggroup" and name in self.registry.groups and self.registry.covers(name, thing):
                return True
        return False

    def resolve_targets(self, targets: list[str]) -> list[str]:
        things: set[str] = set()
        for target in targets:
            kind, name = self.registry.parse_target(target)
            if kind == "thing":
                if name in self.registry.things:
                    things.add(name)
            elif name in self.registry.groups:
                things.update(self.registry.things_in(name, recursive=True))
        return sorted(things)

    def _new_execution(self, job: AwsJob, thing: Thing, when: float) -> Execution:
        ex = Execution(job.job_id, thing.name, thing.arn, when, thing.simulated, last_updated=when)
        job.executions[thing.name] = ex
        return ex

    def select_devices(self, job: AwsJob) -> list[str]:
        when = job.start_time
        names = self.resolve_targets(job.fields["targets"])
        for index, name in enumerate(names):
            self._new_execution(job, self.registry.things[name], when).row = index
        job.last_updated = when
        return names

    def begin_row(self, job: AwsJob, index: int, when: float) -> float:
        assert job.rows is not None
        ex = job.executions.get(job.rows.device_ids[index])
        if ex is None or ex.status in TERMINAL:
            return 0.0
        ex.notified = True
        thing = self.registry.things.get(ex.thing_name)
        if thing is None or not ex.simulated:
            return INF  # a client drives it through the jobs data plane
        device = self.fleet.get(thing.device_id or "")
        if device is None or not device.online:
            return INF  # an offline thing never picks its execution up
        self._set_status(job, ex, "IN_PROGRESS", when)
        return self._plan(job, ex, thing, when)

    def _plan(self, job: AwsJob, ex: Execution, thing: Thing, when: float) -> float:
        """Run the document on the simulated thing, retries included; returns the emulated seconds it takes."""
        timeout = job.timeout_seconds()
        total, number = 0.0, ex.execution_number
        used: Counter[str] = Counter()
        while True:
            status, seconds = self.run_document(job, thing, f"{job.job_id}#{number}", when)
            if timeout is not None and seconds > timeout:
                status, seconds = "TIMED_OUT", timeout
            total += seconds
            ex.attempts.append(Attempt(when + self.timeline.real(total), status, number))
            if status in ("FAILED", "TIMED_OUT") and self._may_retry(job, used, status):
                number += 1
                continue
            return total

    def run_document(self, job: AwsJob, thing: Thing, salt: str, when: float) -> tuple[str, float]:
        """What a simulated thing does with the job document: ``(status, emulated seconds)``.

        ``{"operation": "reboot" | "ping" | "firmwareUpdate", ...}`` runs that fleet method (``firmwareUpdate``
        needs ``"version"``, at the top level or in ``"payload"``): SUCCEEDED, or FAILED on a simulated failure
        (``--failure-rate``), or REJECTED when the thing cannot run it (unknown operation, bad payload).
        ``{"operation": "sleep", "seconds": N}`` works N emulated seconds (what makes timeouts testable). Any other
        document (no ``operation``) is applied like a ``ping``.
        """
        device_id = thing.device_id or ""
        latency = self.fleet.method_latency(salt, device_id)
        document = _json_object(job.document())
        operation = document.get("operation") if document is not None else None
        if operation == "sleep":
            seconds = document.get("seconds", 0) if document is not None else 0
            latency += (
                float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else 0.0
            )
            operation = "ping"
        method = "ping" if operation is None else str(operation)
        payload = (document or {}).get("payload", document)
        status, _ = self.fleet.invoke_method(device_id, method, payload, salt, when)
        if 200 <= status < 300:
            if method == "firmwareUpdate" and isinstance(payload, dict):
                thing.attributes["firmware"] = str(payload.get("version"))
                thing.version += 1
            return "SUCCEEDED", latency
        return (
            "FAILED" if status >= 500 and method in KNOWN_METHODS and status != 501 else "REJECTED"
        ), latency

    def finish_row(self, job: AwsJob, index: int, when: float) -> int:
        assert job.rows is not None
        ex = job.executions.get(job.rows.device_ids[index])
        if ex is None:
            return CANCELED
        if ex.status not in TERMINAL and ex.attempts:
            final = ex.attempts[-1]
            ex.execution_number = final.number
            self._set_status(job, ex, final.status, when)
        return ROW.get(ex.status, CANCELED)

    def _may_retry(self, job: AwsJob, used: Counter[str], status: str) -> bool:
        for criterion in job.config("jobExecutionsRetryConfig").get("criteriaList", []):
            kind = criterion["failureType"]
            if kind in (status, "ALL") and used[kind] < int(criterion["numberOfRetries"]):
                used[kind] += 1
                return True
        return False

    def _set_status(self, job: AwsJob, ex: Execution, status: str, when: float) -> None:
        if status == "IN_PROGRESS" and ex.started_at is None:
            ex.started_at = when
        if status in TERMINAL and ex.status not in TERMINAL:
            job.outcomes[status] += 1
        ex.status = status
        ex.last_updated = when
        ex.version_number += 1
        job.last_updated = max(job.last_updated, when)

    # -- endings ----------------------------------------------------------------------------------------

    def stop_job(self, job: AwsJob, when: float, phase: str = Phase.CANCELLED) -> None:
        """The engine's abort: the job is canceled and its remaining executions with it."""
        self.cancel(job, when, force=True)

    def job_aborted(self, job: AwsJob) -> None:
        policies = job.policies
        abort = policies.abort if policies is not None else None
        job.reason_code = "ABORTED_BY_ABORT_CONFIG"  # inferred wording
        job.comment = abort.reason if isinstance(abort, AbortCriteria) else "Job canceled by its abortConfig."
        job.force_canceled = False

    def _expire_job(self, job: AwsJob, when: float) -> None:
        """``schedulingConfig.endTime`` reached (the engine's deadline): apply ``endBehavior``."""
        job.deadline = None
        behavior = job.config("schedulingConfig").get("endBehavior") or "STOP_ROLLOUT"
        if behavior in ("CANCEL", "FORCE_CANCEL"):
            self.cancel(job, when, force=behavior == "FORCE_CANCEL")
            job.comment = f"Job canceled at its schedulingConfig endTime ({behavior})."
            return
        # STOP_ROLLOUT (inferred): things not notified yet are never notified; their executions are canceled.
        rows = job.rows
        assert rows is not None
        for index in range(rows.next_start, len(rows)):
            ex = job.executions.get(rows.device_ids[index])
            if ex is not None and ex.status not in TERMINAL:
                self._set_status(job, ex, "CANCELED", when)
            rows.set(index, CANCELED, when)
        rows.next_start = job.batch_end = len(rows)
        job.rollout_stopped = True
        if rows.finished and not job.open_ended:
            job.status, job.ended = Phase.COMPLETED, when

    def cancel(self, job: AwsJob, when: float, force: bool) -> None:
        """CancelJob: QUEUED executions are canceled, IN_PROGRESS ones only with ``force`` (else they finish)."""
        rows = job.rows
        for ex in job.executions.values():
            if ex.status == "QUEUED" or (ex.status == "IN_PROGRESS" and force):
                ex.force_canceled = ex.status == "IN_PROGRESS" or None
                self._set_status(job, ex, "CANCELED", when)
                if rows is not None and ex.row is not None and rows.status[ex.row] in (PENDING, RUNNING):
                    rows.set(ex.row, CANCELED, when)
        if rows is not None:
            running = []
            for _end, index in rows.running:
                if rows.status[index] != RUNNING:
                    continue
                ex = job.executions.get(rows.device_ids[index])
                if ex is not None and ex.attempts:
                    # no retry after the cancel: the attempt under way is the last one
                    current = next((a for a in ex.attempts if a.end > when), ex.attempts[-1])
                    ex.attempts = ex.attempts[: ex.attempts.index(current) + 1]
                    running.append((current.end, index))
                else:
                    running.append((INF, index))
            heapq.heapify(running)
            rows.running = running
            rows.next_start = len(rows)
            if any(end != INF for end, _ in running):
                self._settling.add(job.job_id)
        job.status = Phase.CANCELLED
        job.ended = when
        job.force_canceled = force
        job.last_updated = max(job.last_updated, when)

    def device_terminal(self, job: AwsJob, ex: Execution, status: str, when: float) -> None:
        """An execution a client (or its timeout) ended: retry it, or finish its row."""
        self._timers.discard((job.job_id, ex.thing_name))
        ex.timeout_at = ex.step_timeout_at = None
        if status in ("FAILED", "TIMED_OUT") and job.active and self._may_retry(job, ex.retries, status):
            ex.execution_number += 1
            ex.status, ex.started_at, ex.queued_at = "QUEUED", None, when
            ex.last_updated, ex.version_number = when, 1
            ex.status_details = None
            return
        self._set_status(job, ex, status, when)
        self.finish_external(job, ex, when)

    def finish_external(self, job: AwsJob, ex: Execution, when: float) -> None:
        rows = job.rows
        index = ex.row
        if rows is None or index is None or rows.status[index] not in (PENDING, RUNNING):
            return
        if rows.status[index] == RUNNING:
            rows.running = [(end, i) for end, i in rows.running if i != index]
            heapq.heapify(rows.running)
            if job.active:
                self._finish(job, index, when)
            else:
                rows.set(index, ROW.get(ex.status, CANCELED), when)
        elif not job.active:
            rows.set(index, ROW.get(ex.status, CANCELED), when)
        # else: pending; the rollout reaches it later and finishes it at once

    # -- jobs -------------------------------------------------------------------------------------------

    def active_jobs(self) -> int:
        return sum(1 for j in self.jobs.values() if j.wire_status() == "IN_PROGRESS")

    def job(self, job_id: str) -> AwsJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise errors.not_found(f"Job {job_id} does not exist.")
        return job

    def template(self, template_id: str) -> Template:
        template = self.templates.get(template_id)
        if template is None:
            raise errors.not_found(f"Job template {template_id} does not exist.")
        return template

    def template_by_arn(self, arn: str) -> Template:
        for template in self.templates.values():
            if template.arn == arn:
                return template
        raise errors.not_found(f"Job template {arn} does not exist.")

    def create_job(self, job_id: str, fields: dict[str, Any]) -> AwsJob:
        now = self.advance()
        if job_id in self.jobs:
            job = self.jobs[job_id]
            raise errors.already_exists(f"Job {job_id} already exists.", job_id, job.arn)
        fields = copy.deepcopy(fields)
        if fields.get("jobTemplateArn"):
            template = self.template_by_arn(fields["jobTemplateArn"])
            for name, value in template.fields.items():
                if name in ("document", "documentSource", "description", *CONFIG_FIELDS):
                    fields.setdefault(name, copy.deepcopy(value))
        check_job_fields(fields)
        if fields.get("document") is None and fields.get("documentSource") is None:
            raise errors.invalid_request("A job document or document source is required.")
        if fields.get("document") is not None and fields.get("documentSource") is not None:
            raise errors.invalid_request("Specify either document or documentSource, not both.")
        if len(fields["targets"]) > MAX_JOB_TARGETS:
            raise errors.limit_exceeded(
                f"The total number of targets associated with a job must not exceed {MAX_JOB_TARGETS}; got "
                f"{len(fields['targets'])}. Target a thing group instead."
            )
        for target in fields["targets"]:
            kind, name = self.registry.parse_target(target)
            if kind == "thing" and name not in self.registry.things:
                raise errors.not_found(f"Thing {name} cannot be found.")
            if kind == "thinggroup" and name not in self.registry.groups:
                raise errors.not_found(f"ThingGroup {name} does not exist")
        fields.setdefault("targetSelection", "SNAPSHOT")
        start, end = self._schedule(fields.get("schedulingConfig"), now)
        if start is None and self.active_jobs() >= self.max_active_jobs:
            raise errors.limit_exceeded(
                f"The maximum number of active jobs ({self.max_active_jobs}) for this account has been reached."
            )
        job = AwsJob(
            job_id=job_id,
            seq=self.next_seq(),
            created=now,
            queued_until=now,
            scheduled_for=start,
            arn=self.registry.arn("job", job_id),
            fields=fields,
            last_updated=now,
        )
        job.open_ended = job.continuous
        job.deadline = end
        job.policies = self._policies_of(job)
        self.jobs[job_id] = job
        self.advance()
        return job

    def _policies_of(self, job: AwsJob) -> Policies:
        return policies_for(
            job.fields.get("jobExecutionsRolloutConfig"),
            job.fields.get("abortConfig"),
            lambda: dict(job.outcomes),
        )

    def _schedule(self, scheduling: dict[str, Any] | None, now: float) -> tuple[float | None, float | None]:
        if not scheduling:
            return None, None
        start = _string_date(scheduling.get("startTime"), "schedulingConfig.startTime")
        end = _string_date(scheduling.get("endTime"), "schedulingConfig.endTime")
        if start is not None and start < now + self.timeline.real(MIN_SCHEDULE_LEAD):
            raise errors.invalid_request(
                "startTime must be scheduled a minimum of thirty minutes from the current time."
            )
        if end is not None:
            if start is None:
                raise errors.invalid_request("endTime requires a startTime.")
            if end < start + self.timeline.real(MIN_SCHEDULE_LEAD):
                raise errors.invalid_request("endTime must be a minimum of thirty minutes after startTime.")
        return start, end

    def update_job(self, job_id: str, changes: dict[str, Any]) -> None:
        now = self.advance()
        job = self.job(job_id)
        if job.wire_status() not in ("IN_PROGRESS", "SCHEDULED"):
            raise errors.invalid_request(f"Job {job_id} is {job.wire_status()} and cannot be updated.")
        merged = {**job.fields, **copy.deepcopy(changes)}
        check_job_fields(merged)
        job.fields = merged
        job.policies = self._policies_of(job)
        if job.rows is not None and job.status == Phase.RUNNING:
            self._start_batch(job, job.rows.next_start, now)  # the new rate applies from now
            job.batch_end = len(job.rows)
        job.last_updated = now

    def cancel_job(self, job_id: str, force: bool, reason_code: str | None, comment: str | None) -> AwsJob:
        now = self.advance()
        job = self.job(job_id)
        status = job.wire_status()
        if status == "DELETION_IN_PROGRESS":
            raise errors.invalid_request(f"Job {job_id} is being deleted.")
        if status in ("COMPLETED",):
            raise errors.invalid_request(f"Job {job_id} is COMPLETED and cannot be canceled.")
        if status == "CANCELED" and not (force and not job.force_canceled):
            raise errors.invalid_request(f"Job {job_id} is already canceled.")
        self.cancel(job, now, force)
        job.reason_code, job.comment = reason_code, comment
        return job

    def delete_job(self, job_id: str, force: bool) -> None:
        now = self.advance()
        job = self.job(job_id)
        status = job.wire_status()
        if status == "DELETION_IN_PROGRESS":
            return
        if status in ("IN_PROGRESS", "SCHEDULED") and not force:
            raise errors.invalid_state(
                f"Job {job_id} is {status}; only a job in a terminal state (COMPLETED or CANCELED) can be deleted "
                "unless force is true."
            )
        if job.active:
            self.cancel(job, now, force=True)
        job.deleting_until = now + self.timeline.real(DELETION_SECONDS)
        job.last_updated = now

    def associate_targets(self, job_id: str, targets: list[str], comment: str | None) -> AwsJob:
        now = self.advance()
        job = self.job(job_id)
        if not job.continuous:
            raise errors.invalid_request(
                "Targets can be associated only with a job whose targetSelection is CONTINUOUS."
            )
        if job.wire_status() != "IN_PROGRESS":
            raise errors.invalid_request(f"Job {job_id} is {job.wire_status()}; it must be IN_PROGRESS.")
        new = [t for t in targets if t not in job.fields["targets"]]
        if len(job.fields["targets"]) + len(new) > MAX_CONTINUOUS_TARGETS:
            raise errors.limit_exceeded(f"A job can have at most {MAX_CONTINUOUS_TARGETS} targets.")
        for target in new:
            kind, name = self.registry.parse_target(target)
            if (kind == "thing" and name not in self.registry.things) or (
                kind == "thinggroup" and name not in self.registry.groups
            ):
                raise errors.not_found(f"Target {target} does not exist.")
        job.fields["targets"] = [*job.fields["targets"], *new]
        if comment is not None:
            job.comment = comment
        self._join(job, self.resolve_targets(new), now)
        return job

    def _join(self, job: AwsJob, names: list[str], when: float) -> None:
        """Things that a running CONTINUOUS job now covers get executions (and engine rows)."""
        if job.status != Phase.RUNNING or job.rollout_stopped:
            return
        fresh = [n for n in names if n not in job.executions or job.executions[n].status == "REMOVED"]
        if not fresh:
            return
        indexes = self.add_rows(job, fresh, when)
        for name, index in zip(fresh, indexes, strict=True):
            self._new_execution(job, self.registry.things[name], when).row = index
        job.last_updated = when

    def thing_joined(self, thing: str, when: float) -> None:
        for job in sorted(self.jobs.values(), key=lambda j: j.seq):
            if job.continuous and job.deleting_until is None and self.covers(job, thing):
                self._join(job, [thing], when)

    def thing_left(self, thing: str, when: float, deleted: bool = False) -> None:
        """QUEUED executions of jobs that no longer target ``thing`` become REMOVED."""
        for job in sorted(self.jobs.values(), key=lambda j: j.seq):
            ex = job.executions.get(thing)
            if ex is None or ex.status != "QUEUED" or not job.active:
                continue
            if deleted or (job.continuous and not self.covers(job, thing)):
                self._set_status(job, ex, "REMOVED", when)
                self.finish_external(job, ex, when)

    # -- executions -------------------------------------------------------------------------------------

    def execution(
        self, job_id: str, thing: str, execution_number: int | None = None
    ) -> tuple[AwsJob, Execution]:
        job = self.jobs.get(job_id)
        ex = job.executions.get(thing) if job is not None else None
        if (
            job is None
            or ex is None
            or (execution_number is not None and ex.execution_number != execution_number)
        ):
            raise errors.not_found(f"Job execution for job {job_id} on thing {thing} does not exist.")
        return job, ex

    def cancel_execution(
        self, job_id: str, thing: str, force: bool, expected: int | None, details: dict[str, str] | None
    ) -> None:
        now = self.advance()
        job, ex = self.execution(job_id, thing)
        if ex.status in TERMINAL:
            raise errors.invalid_state(
                f"Job execution for job {job_id} on thing {thing} is {ex.status}; it cannot be canceled."
            )
        if ex.status == "IN_PROGRESS" and not force:
            raise errors.invalid_state(
                f"Job execution for job {job_id} on thing {thing} is IN_PROGRESS; set force to cancel it."
            )
        if expected is not None and expected != ex.version_number:
            raise errors.version_conflict(
                f"The expected version {expected} does not match the job execution's version {ex.version_number}."
            )
        ex.force_canceled = ex.status == "IN_PROGRESS" or None
        if details is not None:
            ex.status_details = dict(details)
        self._set_status(job, ex, "CANCELED", now)
        self._timers.discard((job_id, thing))
        self.finish_external(job, ex, now)

    def delete_execution(self, job_id: str, thing: str, execution_number: int, force: bool) -> None:
        now = self.advance()
        job, ex = self.execution(job_id, thing, execution_number)
        if ex.status not in TERMINAL and not force:
            raise errors.invalid_state(
                f"Job execution for job {job_id} on thing {thing} is {ex.status}; only a terminal execution can be "
                "deleted unless force is true."
            )
        if ex.status not in TERMINAL:
            self._set_status(job, ex, "CANCELED", now)
            self.finish_external(job, ex, now)
        job.outcomes[ex.status] -= 1
        del job.executions[thing]
        self._timers.discard((job_id, thing))

    def device_update(
        self,
        job_id: str,
        thing: str,
        status: str,
        details: dict[str, str] | None,
        expected: int | None,
        execution_number: int | None,
        step_minutes: int | None,
    ) -> tuple[AwsJob, Execution]:
        """UpdateJobExecution from the thing (jobs data plane)."""
        now = self.advance()
        job, ex = self.execution(job_id, thing, execution_number)
        if status not in DEVICE_STATUSES:
            raise errors.invalid_request(
                f"status must be one of {', '.join(DEVICE_STATUSES)}; a device cannot set {status}."
            )
        if expected is not None and expected != ex.version_number:
            raise errors.version_conflict(
                f"The expected version {expected} does not match the job execution's version {ex.version_number}."
            )
        if ex.status in TERMINAL:
            raise errors.invalid_state(f"Job execution is {ex.status}; it cannot move to {status}.")
        self._take_over(job, ex)
        if details is not None:
            ex.status_details = dict(details)
        if status == "IN_PROGRESS":
            self._start(job, ex, now, step_minutes)
            return job, ex
        self.device_terminal(job, ex, status, now)
        return job, ex

    def _take_over(self, job: AwsJob, ex: Execution) -> None:
        """A client drives this execution from now on: the simulator lets go of it."""
        if ex.simulated and ex.attempts and ex.status == "IN_PROGRESS":
            rows = job.rows
            if rows is not None and ex.row is not None:
                rows.running = [(INF if i == ex.row else end, i) for end, i in rows.running]
                heapq.heapify(rows.running)
        ex.simulated = False
        ex.attempts = []

    def _start(self, job: AwsJob, ex: Execution, now: float, step_minutes: int | None) -> None:
        first = ex.status == "QUEUED"
        self._set_status(job, ex, "IN_PROGRESS", now)
        timeout = job.timeout_seconds()
        if first and timeout is not None:
            ex.timeout_at = now + self.timeline.real(timeout)
        if step_minutes is not None:
            ex.step_timeout_at = now + self.timeline.real(step_minutes * 60.0)
        if ex.timeout_at is not None or ex.step_timeout_at is not None:
            self._timers.add((job.job_id, ex.thing_name))

    def pending(self, thing: str) -> list[tuple[AwsJob, Execution]]:
        """A thing's notified QUEUED / IN_PROGRESS executions of jobs not SCHEDULED, oldest first (at most 10)."""
        found = [
            (job, job.executions[thing])
            for job in self.jobs.values()
            if thing in job.executions
            and job.wire_status() != "SCHEDULED"
            and job.deleting_until is None
            and job.executions[thing].notified
            and job.executions[thing].status in ("QUEUED", "IN_PROGRESS")
        ]
        found.sort(key=lambda pair: (pair[1].queued_at, pair[0].seq))
        return found[:PENDING_LIMIT]

    def start_next(
        self, thing: str, details: dict[str, str] | None, step_minutes: int | None
    ) -> tuple[AwsJob, Execution] | None:
        now = self.advance()
        self.registry.thing(thing)
        pending = self.pending(thing)
        for job, ex in pending:
            if ex.status == "IN_PROGRESS":
                return job, ex
        for job, ex in pending:
            self._take_over(job, ex)
            if details is not None:
                ex.status_details = dict(details)
            self._start(job, ex, now, step_minutes)
            return job, ex
        return None

    # -- templates ----------------------------------------------------------------------------------------

    def create_template(self, template_id: str, fields: dict[str, Any]) -> Template:
        now = self.advance()
        if template_id in self.templates:
            raise errors.conflict(f"Job template {template_id} already exists.", template_id)
        fields = copy.deepcopy(fields)
        job_arn = fields.pop("jobArn", None)
        if job_arn:
            source = next((j for j in self.jobs.values() if j.arn == job_arn), None)
            if source is None:
                raise errors.not_found(f"Job {job_arn} does not exist.")
            for name in ("document", "documentSource", "description", *CONFIG_FIELDS):
                if name in source.fields:
                    fields.setdefault(name, copy.deepcopy(source.fields[name]))
        if fields.get("document") is None and fields.get("documentSource") is None:
            raise errors.invalid_request("A job template needs a document, a documentSource or a jobArn.")
        check_job_fields(fields)
        template = Template(template_id, self.registry.arn("jobtemplate", template_id), now, fields)
        self.templates[template_id] = template
        return template


# -- checks the model does not state ------------------------------------------------------------------------


def check_job_fields(fields: dict[str, Any]) -> None:
    timeout = (fields.get("timeoutConfig") or {}).get("inProgressTimeoutInMinutes")
    if timeout is not None and not 1 <= int(timeout) <= MAX_TIMEOUT_MINUTES:
        raise errors.invalid_request(
            f"timeoutConfig.inProgressTimeoutInMinutes must be from 1 to {MAX_TIMEOUT_MINUTES}, got {timeout}."
        )
    exponential = (fields.get("jobExecutionsRolloutConfig") or {}).get("exponentialRate")
    if exponential is not None:
        criteria = exponential.get("rateIncreaseCriteria") or {}
        if ("numberOfNotifiedThings" in criteria) == ("numberOfSucceededThings" in criteria):
            raise errors.invalid_request(
                "rateIncreaseCriteria must set exactly one of numberOfNotifiedThings and numberOfSucceededThings."
            )
    for criterion in (fields.get("abortConfig") or {}).get("criteriaList", []):
        if not float(criterion["thresholdPercentage"]) > 0:
            raise errors.invalid_request("abortConfig thresholdPercentage must be greater than 0.")
    kinds = [c["failureType"] for c in (fields.get("jobExecutionsRetryConfig") or {}).get("criteriaList", [])]
    if len(set(kinds)) != len(kinds):
        raise errors.invalid_request("jobExecutionsRetryConfig criteriaList repeats a failureType.")


def _string_date(text: str | None, name: str) -> float | None:
    """``schedulingConfig`` times: ISO 8601 ``yyyy-MM-dd'T'HH:mm`` (UTC)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid_request(
            f"{name} {text!r} is not an ISO 8601 date-time (yyyy-MM-dd'T'HH:mm)."
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _json_object(document: str | None) -> dict[str, Any] | None:
    if not document:
        return None
    try:
        value = json.loads(document)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -- paging --------------------------------------------------------------------------------------------------


def encode_token(scope: str, after: Any) -> str:
    raw = json.dumps({"s": scope, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, scope: str) -> Any:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data, dict) or data.get("s") != scope or "a" not in data:
            raise ValueError
        return data["a"]
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.invalid_request("The pagination token is invalid.") from None
