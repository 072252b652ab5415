"""Import/export job records, the one-active-job quota, and the workers that really move the blobs.

Service behaviour copied here (contract §1.1, §1.5, §4; cross-checked with a third-party provider's notes from a
live hub, terraform-provider-iothub design doc, Appendix D):

- ``POST /jobs/create`` answers 200 with the job ``enqueued``, ``progress`` 0; the hub names the job (a GUID).
- One active import/export job per hub on every tier: a second one is 403 ``JobQuotaExceeded``.
- The containers are validated on create: missing, unreachable or unauthorised gives 400
  ``BlobContainerValidationError``.
- ``enqueued`` -> ``running`` -> ``completed`` | ``failed`` | ``cancelled``; ``failureReason`` is set only when
  the whole job fails (an import whose lines fail still completes; the lines go to ``importErrors.log``).
- The job record does not echo the container URIs (they come back empty), ``storageAuthenticationType`` or
  ``identity``.
- ``DELETE /jobs/{id}`` cancels at once (204); an unknown (or long-expired) id answers 500 by default (contract
  §1.5), or 404 ``JobNotFound`` (``unknown_cancel="404"``). ``GET /jobs/{id}`` of an unknown id is 404.

Durations are emulated seconds (``ENQUEUED_SECONDS`` in the queue, then ``rate`` devices or lines per second at
most), so a high ``speed`` makes jobs as fast as the blob I/O allows. Workers run in daemon threads; every
access to the fleet holds the hub's lock, a chunk at a time, and blob I/O happens outside it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

from airflow_iot_jobs.emulator.clock import iso7
from airflow_iot_jobs.emulator.iothub import errors
from airflow_iot_jobs.emulator.iothub.importexport.export_lines import encode_line, export_record
from airflow_iot_jobs.emulator.iothub.importexport.identities import IdentityStore
from airflow_iot_jobs.emulator.iothub.importexport.import_lines import ImportApplier
from airflow_iot_jobs.emulator.iothub.importexport.job_properties import IMPORT_ERRORS_BLOB, ImportExportSpec
from airflow_iot_jobs.emulator.iothub.importexport.storage import (
    JOB_CLIENT_OPTIONS,
    PROBE_CLIENT_OPTIONS,
    BlobLines,
    BlockBlobWriter,
    ContainerAccessError,
    StorageAccount,
    check_readable,
    check_writable,
    describe_error,
    open_container,
)
from airflow_iot_jobs.emulator.iothub.models import HISTORY_SECONDS, IoTHubState

ACTIVE_STATUSES = frozenset({"enqueued", "running"})
ENQUEUED_SECONDS = 1.0  # emulated seconds a new job waits before it runs
RUNNING_SECONDS = 2.0  # emulated seconds a job runs at least (with the queue ~3 s, as a small live export)
RATE = 5000.0  # devices (export) or lines (import) per emulated second, at most
CHUNK = 1000  # devices or lines handled per hold of the hub's lock
POLL_SECONDS = 0.05
UNKNOWN_CANCEL_MODES = ("500", "404")


class _Stopped(Exception):
    """The job was cancelled or the emulator is stopping."""


@dataclass
class ImportExportJob:
    spec: ImportExportSpec
    job_id: str
    seq: int
    created: float
    status: str = "enqueued"
    progress: int = 0
    ended: float | None = None
    failure_reason: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The JobProperties body, as the service answers it."""
        spec = self.spec
        body: dict[str, Any] = {"jobId": self.job_id, "startTimeUtc": iso7(self.created)}
        if self.ended is not None:
            body["endTimeUtc"] = iso7(self.ended)
        body.update({"type": spec.job_type, "status": self.status, "progress": self.progress})
        if spec.job_type == "import":
            body["inputBlobContainerUri"] = ""
            body["inputBlobName"] = spec.input_blob
        body["outputBlobContainerUri"] = ""
        if spec.job_type == "export":
            body["outputBlobName"] = spec.output_blob
            body["excludeKeysInExport"] = spec.exclude_keys
        body["failureReason"] = self.failure_reason
        body["includeConfigurations"] = spec.include_configurations
        if spec.include_configurations:
            body["configurationsBlobName"] = spec.configurations_blob
        return body


class ImportExportJobs:
    """All import/export jobs of one emulated hub."""

    def __init__(
        self,
        state: IoTHubState,
        identities: IdentityStore,
        storage_account: StorageAccount | None = None,
        *,
        unknown_cancel: str = "500",
        require_status: bool = True,
        rate: float = RATE,
        seed: int = 0,
    ) -> None:
        if unknown_cancel not in UNKNOWN_CANCEL_MODES:
            raise ValueError("unknown_cancel must be '500' or '404'")
        if not rate > 0:
            raise ValueError("rate must be > 0")
        self.state = state
        self.identities = identities
        self.storage_account = storage_account
        self.unknown_cancel = unknown_cancel
        self.rate = rate
        self.seed = seed
        self.applier = ImportApplier(state.fleet, identities, require_status=require_status)
        self.configurations: list[bytes] = []  # lines of the last imported configurations blob
        self.jobs: dict[str, ImportExportJob] = {}
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- API -----------------------------------------------------------------------------------------

    def create(self, spec: ImportExportSpec) -> dict[str, Any]:
        with self.state.lock:
            self._check_quota()
        containers = self._containers(spec, PROBE_CLIENT_OPTIONS)
        self._validate(spec, *containers)
        with self.state.lock:
            self._check_quota()
            if self._closed:
                raise errors.server_error("The emulator is stopping")
            self._seq += 1
            digest = hashlib.sha256(f"{self.seed}|import-export|{self._seq}".encode()).digest()
            job = ImportExportJob(
                spec=spec,
                job_id=str(uuid.UUID(bytes=digest[:16], version=4)),
                seq=self._seq,
                created=self.state.now(),
            )
            self.jobs[job.job_id] = job
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"iothub-{spec.job_type}-{job.job_id[:8]}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
            return job.to_json()

    def get(self, job_id: str) -> dict[str, Any]:
        with self.state.lock:
            self._expire()
            job = self.jobs.get(job_id)
            if job is None:
                raise errors.job_not_found(job_id)
            return job.to_json()

    def list(self) -> list[dict[str, Any]]:
        with self.state.lock:
            self._expire()
            return [job.to_json() for job in sorted(self.jobs.values(), key=lambda j: j.seq)]

    def cancel(self, job_id: str) -> None:
        with self.state.lock:
            self._expire()
            job = self.jobs.get(job_id)
            if job is None:
                if self.unknown_cancel == "404":
                    raise errors.job_not_found(job_id)
                # The live service answers 500 here (contract §1.5).
                raise errors.server_error(f"Job '{job_id}' could not be cancelled")
            if job.active:
                job.status = "cancelled"
                job.ended = self.state.now()
                job.stop.set()

    def job(self, job_id: str) -> ImportExportJob | None:
        """The live record (for tests)."""
        with self.state.lock:
            return self.jobs.get(job_id)

    def open(self) -> None:
        """Accept jobs again after :meth:`close` (the emulator was restarted)."""
        with self.state.lock:
            self._closed = False

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (the emulator is stopping)."""
        with self.state.lock:
            self._closed = True
            for job in self.jobs.values():
                job.stop.set()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    # -- helpers -------------------------------------------------------------------------------------

    def _check_quota(self) -> None:
        self._expire()
        for job in self.jobs.values():
            if job.active:
                raise errors.job_quota_exceeded(
                    "Job quota has been exceeded: only one import or export job can be active at a time "
                    f"(job '{job.job_id}' is {job.status})"
                )

    def _expire(self) -> None:
        now = self.state.now()
        horizon = self.state.timeline.real(HISTORY_SECONDS)
        for job_id in [
            j.job_id for j in self.jobs.values() if j.ended is not None and j.ended + horizon <= now
        ]:
            del self.jobs[job_id]

    def _containers(
        self, spec: ImportExportSpec, options: dict[str, Any]
    ) -> tuple[ContainerClient | None, ContainerClient]:
        try:
            source = None
            if spec.input_uri is not None:
                source = open_container(
                    spec.input_uri, spec.auth_type, self.storage_account, "input", options
                )
            target = open_container(spec.output_uri, spec.auth_type, self.storage_account, "output", options)
        except ContainerAccessError as exc:
            raise errors.blob_container_validation_error(str(exc)) from None
        return source, target

    @staticmethod
    def _validate(spec: ImportExportSpec, source: ContainerClient | None, target: ContainerClient) -> None:
        try:
            if source is not None:
                check_readable(source, spec.input_blob, "input")
            check_writable(
                target, spec.output_blob if spec.job_type == "export" else IMPORT_ERRORS_BLOB, "output"
            )
        except ContainerAccessError as exc:
            raise errors.blob_container_validation_error(str(exc)) from None
        finally:
            for container in (source, target):
                if container is not None:
                    container.close()

    # -- workers -------------------------------------------------------------------------------------

    def _run(self, job: ImportExportJob) -> None:
        source = target = None
        try:
            self._wait_until(job, job.created + self.state.timeline.real(ENQUEUED_SECONDS))
            with self.state.lock:
                if job.status != "enqueued":
                    return
                job.status = "running"
            source, target = self._containers(job.spec, JOB_CLIENT_OPTIONS)
            if job.spec.job_type == "export":
                self._export(job, target)
            else:
                assert source is not None
                self._import(job, source, target)
            with self.state.lock:
                if job.status == "running":
                    job.status, job.progress, job.ended = "completed", 100, self.state.now()
        except _Stopped:
            pass
        except errors.IoTHubError as exc:
            self._fail(job, exc.message)
        except ContainerAccessError as exc:
            self._fail(job, str(exc))
        except AzureError as exc:
            self._fail(job, f"A blob storage operation failed: {describe_error(exc)}")
        except Exception:  # never let a worker die silently or leak a traceback into the job record
            self._fail(job, "An internal error occurred while running the job")
        finally:
            for container in (source, target):
                if container is not None:
                    container.close()

    def _fail(self, job: ImportExportJob, reason: str) -> None:
        with self.state.lock:
            if job.active:
                job.status, job.failure_reason, job.ended = "failed", reason, self.state.now()

    def _checkpoint(self, job: ImportExportJob) -> None:
        if job.stop.is_set():
            raise _Stopped

    def _wait_until(self, job: ImportExportJob, when: float) -> None:
        """Sleep until the hub's clock reaches ``when`` (a manual clock only moves when a test moves it)."""
        while True:
            self._checkpoint(job)
            remaining = when - self.state.now()
            if remaining <= 0:
                return
            job.stop.wait(min(POLL_SECONDS, remaining))

    def _pace(self, job: ImportExportJob, started: float, done: int, *, last: bool = False) -> None:
        """Hold the job to ``rate`` (and, before it publishes its blobs, to ``RUNNING_SECONDS``)."""
        seconds = done / self.rate
        if last:
            seconds = max(seconds, RUNNING_SECONDS)
        self._wait_until(job, started + self.state.timeline.real(seconds))

    def _set_progress(self, job: ImportExportJob, done: int, total: int) -> None:
        with self.state.lock:
            if job.status == "running":
                job.progress = min(99, done * 100 // max(total, 1))

    def _export(self, job: ImportExportJob, target: ContainerClient) -> None:
        spec = job.spec
        fleet = self.state.fleet
        writer = BlockBlobWriter(target.get_blob_client(spec.output_blob))
        started = self.state.now()
        after: str | None = None
        done = 0
        while True:
            self._checkpoint(job)
            lines: list[bytes] = []
            with self.state.lock:
                self.state.advance()
                for device in fleet.devices_after(after):
                    authentication = self.identities.authentication(device.device_id)
                    lines.append(encode_line(export_record(device.doc, authentication, spec.exclude_keys)))
                    after = device.device_id
                    if len(lines) >= CHUNK:
                        break
                remaining = len(fleet) - done - len(lines)
            if not lines:
                break
            for line in lines:
                writer.write(line)
            done += len(lines)
            self._set_progress(job, done, done + max(remaining, 0))
            self._pace(job, started, done)
        self._pace(job, started, done, last=True)
        writer.commit()
        if spec.include_configurations:
            configurations = BlockBlobWriter(target.get_blob_client(spec.configurations_blob))
            for line in self.configurations:
                configurations.write(line + b"\n")
            configurations.commit()

    def _import(self, job: ImportExportJob, source: ContainerClient, target: ContainerClient) -> None:
        spec = job.spec
        lines = BlobLines(source.get_blob_client(spec.input_blob), "input", source)
        log = BlockBlobWriter(target.get_blob_client(IMPORT_ERRORS_BLOB))
        started = self.state.now()
        done = 0
        batch: list[bytes] = []
        for raw in lines:
            batch.append(raw)
            if len(batch) >= CHUNK:
                self._apply(job, batch, log)
                done += len(batch)
                batch = []
                self._set_progress(job, lines.consumed, lines.size)
                self._pace(job, started, done)
        if batch:
            self._apply(job, batch, log)
            done += len(batch)
        if spec.include_configurations:
            configurations = BlobLines(source.get_blob_client(spec.configurations_blob), "input", source)
            imported = [line for line in configurations if line.strip()]
            with self.state.lock:
                self.configurations = imported
        self._pace(job, started, done, last=True)
        log.commit()

    def _apply(self, job: ImportExportJob, batch: list[bytes], log: BlockBlobWriter) -> None:
        self._checkpoint(job)
        with self.state.lock:
            if job.status != "running":  # cancelled since the checkpoint
                raise _Stopped
            self.state.advance()
            now = self.state.now()
            entries = [self.applier.apply(raw, now) for raw in batch]
        for entry in entries:
            if entry is not None:
                log.write(encode_line(entry))
