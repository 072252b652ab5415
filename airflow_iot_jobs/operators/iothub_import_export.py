"""Identity export and import jobs: the device registry to and from blob storage, as one task each way.

Import them from ``airflow_iot_jobs.operators.iothub``. The service picks import/export job ids itself, so
exactly-once launching works through the blob name: each task instance writes its own blob name, and a retried
task finds the job an earlier try created (``GET /jobs``) before creating one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.hooks.blob_storage import (
    EXPORT_PERMISSIONS,
    IMPORT_PERMISSIONS,
    BlobLocation,
    DeviceBlobStorage,
    strip_sas,
)
from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.jobs import CompletionThresholds, JobProgress, Verdict
from airflow_iot_jobs.links import IoTHubJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.validation import validate_blob_name, validate_container_name, validate_device_id

if TYPE_CHECKING:
    from airflow.sdk import Context

IMPORT_MODES = (
    "create",
    "update",
    "updateIfMatchETag",
    "delete",
    "deleteIfMatchETag",
    "createOrUpdate",
    "updateTwin",
    "updateTwinIfMatchETag",
)
_IMPORT_MODES_BY_LOWER = {mode.lower(): mode for mode in IMPORT_MODES}
STORAGE_AUTHENTICATION_TYPES = ("keyBased", "identityBased")
ERROR_LOG_BLOB = "importErrors.log"
MAX_REPORTED_FAILURES = 100
LOG_CLOCK_SKEW = timedelta(minutes=5)


class IoTHubRegistryJobOperator(BaseJobOperator):
    """What export and import share: the hub and storage connections, blob locations, the one-unit wait."""

    hook_class = IoTHubHook
    trigger_path = "airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger"
    operator_extra_links = (IoTHubJobLink(),)
    registry_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iothub_conn_id",
        "wasb_conn_id",
        "blob_name",
    )

    def __init__(
        self,
        *,
        iothub_conn_id: str = IoTHubHook.default_conn_name,
        wasb_conn_id: str | None = None,
        blob_name: str | None = None,
        storage_authentication_type: str = "keyBased",
        identity: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if storage_authentication_type not in STORAGE_AUTHENTICATION_TYPES:
            raise ValueError(
                f"storage_authentication_type: must be one of {', '.join(STORAGE_AUTHENTICATION_TYPES)}, "
                f"got {storage_authentication_type!r}"
            )
        self.iothub_conn_id = iothub_conn_id
        self.wasb_conn_id = wasb_conn_id
        self.blob_name = blob_name
        self.storage_authentication_type = storage_authentication_type
        self.identity = identity
        self._storage: DeviceBlobStorage | None = None

    @property
    def conn_id(self) -> str:
        return self.iothub_conn_id

    @property
    def storage(self) -> DeviceBlobStorage:
        if self._storage is None:
            self._storage = DeviceBlobStorage(wasb_conn_id=self.wasb_conn_id)
        return self._storage

    def resolve_container(self, uri: str | None, container: str | None, permissions: str, field: str) -> str:
        """A container URI for the service: given as a SAS URI, or made here (short-lived, least privilege);
        for identity-based auth a plain container URL (the hub's managed identity needs access)."""
        if uri:
            if not uri.startswith(("https://", "http://")):
                raise ValueError(f"{field}_uri: must be an http(s) container URL, got {strip_sas(uri)!r}")
            from airflow.sdk.log import mask_secret

            mask_secret(uri)
            return uri
        if not container:
            raise ValueError(
                f"{field} / {field}_uri: give a container name (with wasb_conn_id) or a container URI"
            )
        if self.storage_authentication_type == "identityBased":
            return f"{self.storage.service.url.rstrip('/')}/{container}"
        return self.storage.container_uri(container, permissions)

    def check_storage_names(self, container: str | None, field: str) -> None:
        """Container and blob names follow Azure's rules: checked before the storage account or hub is called."""
        if container is not None:
            validate_container_name(container, field)
        if self.blob_name is not None:
            validate_blob_name(self.blob_name, "blob_name")

    def job_properties(self, **properties: Any) -> dict[str, Any]:
        properties["storageAuthenticationType"] = self.storage_authentication_type
        if self.identity:
            properties["identity"] = {"userAssignedIdentity": self.identity}
        return {key: value for key, value in properties.items() if value is not None}

    def derived_blob_name(self, context: Context, default_file: str) -> str:
        from airflow_iot_jobs.naming import derive_job_id

        return self.blob_name or f"airflow/{derive_job_id(context)}/{default_file}"

    def launch_registry_job(
        self, job_type: str, blob_name: str, properties: dict[str, Any], deadline: float
    ) -> str:
        """Find the job an earlier try created for this blob, else create one (waiting while another
        import/export job holds the hub's only slot)."""
        existing = self.hook.find_import_export_job(job_type, blob_name)
        if existing:
            self.log.info(
                "%s job %s for %s already exists (an earlier try): re-attaching",
                job_type,
                existing["jobId"],
                blob_name,
            )
            return existing["jobId"]
        from airflow_iot_jobs.jobs import JobServiceError
        from airflow_iot_jobs.retries import is_transient_fault

        attempts = 0

        def create_once() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            # A re-send: an earlier attempt may have reached the hub although no answer came back (a dropped
            # connection, a 5xx, and then a failed lookup too): never send it again without looking first.
            if attempts > 1 and (found := self.hook.find_import_export_job(job_type, blob_name)):
                return found
            try:
                return self.hook.create_import_export_job(properties)
            except JobServiceError as err:
                # The request may have reached the hub before the fault: look before sending it again.
                if is_transient_fault(err) and (
                    found := self.hook.find_import_export_job(job_type, blob_name)
                ):
                    return found
                raise

        created = self.retry_while_busy(create_once, deadline, f"the {job_type} job", transient=True)
        self.log.info("created %s job %s", job_type, created["jobId"])
        return created["jobId"]

    def wait_thresholds(self) -> CompletionThresholds:
        return CompletionThresholds.parse("100%", None, early_success=False)

    def persist_links(self, context: Context, job_id: str) -> None:
        if self.do_xcom_push:
            IoTHubJobLink.persist(context, self.hook.portal_url())

    def job_failed(self, progress: JobProgress, reason: str) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        detail = progress.failure_reason or reason
        raise AirflowFailException(
            f"{progress.job_type or 'registry'} job {progress.job_id} {progress.status}: {detail}"
        )


class IoTHubExportDevicesOperator(IoTHubRegistryJobOperator):
    """Exports the device identities (and optionally configurations) to a blob container.

    :param container: container name in the ``wasb_conn_id`` account (created if missing), or
    :param container_uri: a container SAS URI (write + list) given directly.
    :param blob_name: the export blob (default ``airflow/<task instance id>/devices.txt``; templated).
    :param exclude_keys: leave authentication keys out of the export (default True: keys are secrets).
    :param include_configurations: also export configurations (``configurations.txt``).
    :param count_devices: count the exported devices by streaming the blob once (default True).
    :param storage_authentication_type: ``keyBased`` (SAS) or ``identityBased`` (the hub's managed identity).

    Returns ``{"job_id", "status", "blob_url" (no SAS token), "container_url", "blob_name", "device_count"}``.
    """

    job_type = "export"
    template_fields: Sequence[str] = (*IoTHubRegistryJobOperator.registry_template_fields, "container")

    def __init__(
        self,
        *,
        container: str | None = None,
        container_uri: str | None = None,
        exclude_keys: bool = True,
        include_configurations: bool = False,
        count_devices: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.container = container
        self.container_uri = container_uri
        self.exclude_keys = exclude_keys
        self.include_configurations = include_configurations
        self.count_devices = count_devices
        self._location: BlobLocation | None = None

    def build_request(self) -> dict[str, Any]:
        self.check_storage_names(self.container, "container")
        if not isinstance(self.exclude_keys, bool):
            raise ValueError(f"exclude_keys: must be True or False, got {self.exclude_keys!r}")
        return {}

    def launch(self, job_id: str, request: dict[str, Any], deadline: float) -> str:
        uri = self.resolve_container(self.container_uri, self.container, EXPORT_PERMISSIONS, "container")
        self._location = BlobLocation(uri, self._blob_name)
        properties = self.job_properties(
            type="export",
            outputBlobContainerUri=uri,
            outputBlobName=self._blob_name,
            excludeKeysInExport=self.exclude_keys,
            includeConfigurations=self.include_configurations or None,
        )
        return self.launch_registry_job("export", self._blob_name, properties, deadline)

    def execute(self, context: Context) -> dict[str, Any]:
        self._blob_name = self.derived_blob_name(context, "devices.txt")
        return super().execute(context)

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        if verdict is not Verdict.SUCCESS:
            self.job_failed(progress, reason)
        location = self._location or BlobLocation(self.container_uri or "", self._blob_name)
        result: dict[str, Any] = {
            "job_id": progress.job_id,
            "status": progress.status,
            "blob_url": location.url,
            "container_url": strip_sas(location.container_uri),
            "blob_name": location.blob_name,
            "device_count": None,
        }
        if self.count_devices:
            result["device_count"] = self.count_exported(location)
        self.log.info("export %s: %s devices in %s", progress.job_id, result["device_count"], location.url)
        return result

    def count_exported(self, location: BlobLocation) -> int | None:
        """Stream the export once and count its lines; the hub's SAS can only write, so read with our own."""
        from azure.core.exceptions import AzureError

        if self.container and self.wasb_conn_id:
            location = BlobLocation(self.storage.container_uri(self.container, "rl"), location.blob_name)
        try:
            return sum(1 for _ in self.storage.iter_lines(location))
        except AzureError as err:
            code = getattr(err, "error_code", None) or type(err).__name__
            self.log.warning(
                "could not read the export back to count devices (%s); device_count is None", code
            )
            return None


class IoTHubImportDevicesOperator(IoTHubRegistryJobOperator):
    """Imports device identities (create, update, delete, twin updates…) from JSON-lines records.

    The records come from ``devices`` (an iterable or XCom list of dicts), a local JSON-lines file
    ``devices_file``, or an existing blob ``input_blob_name`` in the input container. Every record needs an
    ``id`` and an ``importMode`` (or give ``import_mode`` for records without one); both are checked before the
    hub is called. Records without ``status`` get ``"enabled"`` (the service requires one on every line). After the job, the error log (``importErrors.log``) is read and failed lines are reported by
    line number; ``success_threshold`` / ``failure_threshold`` apply to the imported lines.

    :param input_container / input_container_uri: where the input blob goes (read access for the hub).
    :param output_container / output_container_uri: where the hub writes the error log (default: the input).

    Returns ``{"job_id", "status", "lines", "failed_lines", "failures": [{"line", "device_id", "code",
    "message"}, … ≤ 100]}``.
    """

    job_type = "import"
    template_fields: Sequence[str] = (
        *IoTHubRegistryJobOperator.registry_template_fields,
        "devices",
        "devices_file",
        "input_blob_name",
        "input_container",
        "output_container",
    )

    def __init__(
        self,
        *,
        devices: Iterable[dict[str, Any]] | str | None = None,
        devices_file: str | os.PathLike[str] | None = None,
        input_blob_name: str | None = None,
        input_container: str | None = None,
        input_container_uri: str | None = None,
        output_container: str | None = None,
        output_container_uri: str | None = None,
        import_mode: str | None = None,
        include_configurations: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        sources = [s for s in (devices, devices_file, input_blob_name) if s is not None]
        if len(sources) != 1:
            raise ValueError(
                "devices / devices_file / input_blob_name: give exactly one source of device records"
            )
        if import_mode is not None and import_mode.lower() not in _IMPORT_MODES_BY_LOWER:
            raise ValueError(f"import_mode: must be one of {', '.join(IMPORT_MODES)}, got {import_mode!r}")
        self.devices = devices
        self.devices_file = devices_file
        self.input_blob_name = input_blob_name
        self.input_container = input_container
        self.input_container_uri = input_container_uri
        self.output_container = output_container
        self.output_container_uri = output_container_uri
        self.import_mode = import_mode
        self.include_configurations = include_configurations
        self._input: BlobLocation | None = None
        self._output_uri: str | None = None
        self._lines = 0

    def build_request(self) -> dict[str, Any]:
        self.check_storage_names(self.input_container, "input_container")
        self.check_storage_names(self.output_container, "output_container")
        if self.input_blob_name is not None:
            validate_blob_name(self.input_blob_name, "input_blob_name")
        if self.devices is not None or self.devices_file is not None:
            # Walk every record once before anything is uploaded or sent: a bad line fails the task here.
            self._lines = sum(1 for _ in self.records())
            self.check_blast_radius(self._lines, "the import")
        return {}

    def records(self) -> Iterator[dict[str, Any]]:
        source: Iterable[Any]
        if self.devices_file is not None:
            source = _read_json_lines(self.devices_file)
        else:
            devices = self.devices
            if isinstance(devices, str):
                devices = json.loads(devices)
            source = devices or []
        for number, record in enumerate(source, start=1):
            yield validate_import_record(record, number, self.import_mode)

    def execute(self, context: Context) -> dict[str, Any]:
        self._blob_name = self.input_blob_name or self.derived_blob_name(context, "devices.txt")
        return super().execute(context)

    def launch(self, job_id: str, request: dict[str, Any], deadline: float) -> str:
        input_uri = self.resolve_container(
            self.input_container_uri, self.input_container, IMPORT_PERMISSIONS, "input_container"
        )
        if self.output_container_uri or self.output_container:
            output_uri = self.resolve_container(
                self.output_container_uri, self.output_container, IMPORT_PERMISSIONS, "output_container"
            )
        else:
            output_uri = input_uri
        self._input = BlobLocation(input_uri, self._blob_name)
        self._output_uri = output_uri
        existing = self.hook.find_import_export_job("import", self._blob_name)
        if existing is None and self.input_blob_name is None:
            lines = self.storage.upload_lines(
                self._input, (json.dumps(r, separators=(",", ":")) for r in self.records())
            )
            self.log.info("uploaded %d device records to %s", lines, self._input.url)
        properties = self.job_properties(
            type="import",
            inputBlobContainerUri=input_uri,
            inputBlobName=self._blob_name,
            outputBlobContainerUri=output_uri,
            includeConfigurations=self.include_configurations or None,
        )
        return self.launch_registry_job("import", self._blob_name, properties, deadline)

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        if verdict is not Verdict.SUCCESS:
            self.job_failed(progress, reason)
        failures = self.import_failures(progress.job_id)
        lines = self._lines or sum(1 for _ in self.storage.iter_lines(self._input))
        result: dict[str, Any] = {
            "job_id": progress.job_id,
            "status": progress.status,
            "lines": lines,
            "failed_lines": len(failures),
            "failures": failures[:MAX_REPORTED_FAILURES],
        }
        for failure in failures[:20]:
            self.log.warning(
                "line %s (device %s): %s %s",
                failure["line"],
                failure["device_id"],
                failure["code"],
                failure["message"],
            )
        line_progress = JobProgress(
            progress.job_id,
            progress.status,
            lines,
            lines - len(failures),
            len(failures),
            0,
            0,
            True,
            "import",
        )
        line_verdict, line_reason = self.thresholds().evaluate(line_progress)
        self.log.info(
            "import %s: %d lines, %d failed; %s", progress.job_id, lines, len(failures), line_reason
        )
        if line_verdict is not Verdict.SUCCESS:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"import job {progress.job_id}: {line_reason}")
        return result

    def import_failures(self, job_id: str) -> list[dict[str, Any]]:
        """Failed lines from this job's error log, numbered by their position in the input blob."""
        assert self._input is not None and self._output_uri is not None
        log = BlobLocation(self._output_uri, ERROR_LOG_BLOB)
        written = self.storage.last_modified(log)
        started = _parse_utc(self.hook.get_import_export_job(job_id).get("startTimeUtc"))
        if written is None or (started is not None and written < started - LOG_CLOCK_SKEW):
            return []  # no log, or one left in the container by an earlier job
        entries = [parse_error_entry(line) for line in self.storage.iter_lines(log)]
        if not entries:
            return []
        wanted = {entry["device_id"] for entry in entries if entry["device_id"]}
        line_of: dict[str, list[int]] = {}
        for number, line in enumerate(self.storage.iter_lines(self._input), start=1):
            device_id = _device_id_of(line)
            if device_id in wanted:
                line_of.setdefault(device_id, []).append(number)
        for entry in entries:
            if entry["line"] is None:
                numbers = line_of.get(entry["device_id"] or "", [])
                entry["line"] = numbers.pop(0) if numbers else None
        return sorted(entries, key=lambda e: (e["line"] is None, e["line"] or 0))


def validate_import_record(record: Any, number: int, default_mode: str | None) -> dict[str, Any]:
    """One import line: a JSON object with an ``id`` and a known ``importMode``."""
    if not isinstance(record, dict):
        raise ValueError(f"devices line {number}: must be a JSON object, got {type(record).__name__}")
    device_id = record.get("id")
    validate_device_id(device_id, f"devices line {number}")
    mode = record.get("importMode", default_mode)
    if not isinstance(mode, str) or mode.lower() not in _IMPORT_MODES_BY_LOWER:
        raise ValueError(
            f"devices line {number} (device {device_id!r}): importMode must be one of {', '.join(IMPORT_MODES)}, "
            f"got {mode!r}"
        )
    if mode.lower().endswith("ifmatchetag") and not record.get(
        "eTag" if "twin" not in mode.lower() else "twinETag"
    ):
        raise ValueError(f"devices line {number} (device {device_id!r}): importMode {mode} needs an eTag")
    # The live service rejects lines without a status, even for delete and updateTwin, where it is ignored.
    return {"status": "enabled", **record, "importMode": _IMPORT_MODES_BY_LOWER[mode.lower()]}


def parse_error_entry(line: str) -> dict[str, Any]:
    """One ``importErrors.log`` entry in whatever of the service's field spellings it uses."""
    try:
        raw = json.loads(line)
    except ValueError:
        return {"line": None, "device_id": None, "code": "Unparsed", "message": line[:300]}
    lowered = {str(k).lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    line_number = lowered.get("linenumber") or lowered.get("line")
    return {
        "line": int(line_number)
        if isinstance(line_number, int | str) and str(line_number).isdigit()
        else None,
        "device_id": lowered.get("deviceid") or lowered.get("id"),
        "code": str(lowered.get("errorcode") or lowered.get("code") or "ImportError"),
        "message": str(
            lowered.get("errorstatus") or lowered.get("message") or lowered.get("description") or ""
        ),
    }


def _parse_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _device_id_of(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("id") if isinstance(record, dict) else None


def _read_json_lines(path: str | os.PathLike[str]) -> Iterator[Any]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as err:
                raise ValueError(f"devices_file line {number}: not valid JSON ({err})") from None
