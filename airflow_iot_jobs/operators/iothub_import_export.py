"""Identity export and import jobs: the device registry to and from blob storage, as one task each way.

Import them from ``airflow_iot_jobs.operators.iothub``. The service picks import/export job ids itself, so
exactly-once launching works through the blob name: each task instance writes its own blob name, and a retried
task finds the job an earlier try created (``GET /jobs``) before creating one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.backends import IOTHUB
from airflow_iot_jobs.jobs import CompletionThresholds, JobPhase, JobProgress, Verdict
from airflow_iot_jobs.links import IoTHubJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.registry_records import (
    number_failures,
    parse_error_entry,
    parse_utc,
    read_json_lines,
    validate_import_mode,
    validate_import_record,
)
from airflow_iot_jobs.validation.azure_storage import validate_blob_name, validate_container_name

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage

STORAGE_AUTHENTICATION_TYPES = ("keyBased", "identityBased")
ERROR_LOG_BLOB = "importErrors.log"
MAX_REPORTED_FAILURES = 100
LOG_CLOCK_SKEW = timedelta(minutes=5)


class IoTHubRegistryJobOperator(BaseJobOperator):
    """What export and import share: the hub and storage connections, blob locations, the one-unit wait.

    The hub picks these job ids, so the *server-chosen id* launch strategy applies: the blob name is the
    marker only this task instance writes."""

    backend = IOTHUB
    launch_strategy = "server_id"
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
        iothub_conn_id: str = IOTHUB.default_conn_id,
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
    def storage(self) -> DeviceBlobStorage:
        if self._storage is None:
            from airflow_iot_jobs.hooks.blob_storage import DeviceBlobStorage

            self._storage = DeviceBlobStorage(wasb_conn_id=self.wasb_conn_id)
        return self._storage

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        # A container URI may carry a SAS token: registered with the masker before Airflow stores the rendered
        # fields, so the rendered-template view shows the URL with its signature as ***.
        from airflow.sdk.log import mask_secret

        for name in ("container_uri", "input_container_uri", "output_container_uri"):
            for signature in sas_signatures(getattr(self, name, None)):
                mask_secret(signature)

    def resolve_container(self, uri: str | None, container: str | None, permissions: str, field: str) -> str:
        """A container URI for the service: given as a SAS URI, or made here (short-lived, least privilege);
        for identity-based auth a plain container URL (the hub's managed identity needs access)."""
        from airflow_iot_jobs.hooks.blob_storage import strip_sas

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

    def own_blob_name(self, context: Context) -> str:
        """The blob only this task instance writes: the job's marker."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        self._blob_name = self.own_blob_name(context)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        # a resumed task is a new operator object: what the launch knew is rebuilt from the context
        self._blob_name = self.own_blob_name(context)
        return super().execute_complete(context, event)

    def execute_launch(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self._blob_name = self.own_blob_name(context)
        return super().execute_launch(context, event)

    def marker(self, context: Context, request: dict[str, Any]) -> str:
        return self._blob_name

    def find_job(self, marker: str) -> str | None:
        self.resolve_locations()
        job = self.hook.find_import_export_job(self.job_type, marker)
        return job["jobId"] if job else None

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        return self.hook.create_import_export_job(self.job_properties_for_launch())["jobId"]

    def resolve_locations(self) -> None:
        """The container URIs (a SAS made here, or given) for the job and for reading its results back."""
        raise NotImplementedError

    def job_properties_for_launch(self) -> dict[str, Any]:
        raise NotImplementedError

    def wait_thresholds(self) -> CompletionThresholds:
        return CompletionThresholds.parse("100%", None, early_success=False)

    def job_failed(self, progress: JobProgress, reason: str) -> None:
        detail = progress.failure_reason or reason
        self.fail(
            progress.to_dict(),
            f"{progress.job_type or 'registry'} job {progress.job_id} {progress.status}: {detail}",
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
    template_fields: Sequence[str] = (
        *IoTHubRegistryJobOperator.registry_template_fields,
        "container",
        "container_uri",
    )

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

    def resolve_locations(self) -> None:
        from airflow_iot_jobs.hooks.blob_storage import EXPORT_PERMISSIONS, BlobLocation

        if self._location is None:
            uri = self.resolve_container(self.container_uri, self.container, EXPORT_PERMISSIONS, "container")
            self._location = BlobLocation(uri, self._blob_name)

    def job_properties_for_launch(self) -> dict[str, Any]:
        self.resolve_locations()
        assert self._location is not None
        return self.job_properties(
            type="export",
            outputBlobContainerUri=self._location.container_uri,
            outputBlobName=self._blob_name,
            excludeKeysInExport=self.exclude_keys,
            includeConfigurations=self.include_configurations or None,
        )

    def own_blob_name(self, context: Context) -> str:
        return self.derived_blob_name(context, "devices.txt")

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        from airflow_iot_jobs.hooks.blob_storage import strip_sas

        if verdict is not Verdict.SUCCESS:
            self.job_failed(progress, reason)
        self.resolve_locations()
        assert self._location is not None
        location = self._location
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

        from airflow_iot_jobs.hooks.blob_storage import BlobLocation

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
        "input_container_uri",
        "output_container",
        "output_container_uri",
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
        if import_mode is not None:
            import_mode = validate_import_mode(import_mode)
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
        self._uploaded = False
        self._lines = 0

    def build_request(self) -> dict[str, Any]:
        self.check_storage_names(self.input_container, "input_container")
        self.check_storage_names(self.output_container, "output_container")
        if self.input_blob_name is not None:
            validate_blob_name(self.input_blob_name, "input_blob_name")
        if self.devices is not None or self.devices_file is not None:
            # Walk every record once before anything is uploaded or sent: a bad line fails the task here.
            self._lines = sum(1 for _ in self.records())
        return {}

    def count_targets(self, request: dict[str, Any]) -> int | None:
        """The records to import (an input blob given by name is not read ahead)."""
        if self.devices is None and self.devices_file is None:
            return None
        return self.log_count(self._lines, request)

    def describe_target(self, request: dict[str, Any]) -> str:
        return "the import records"

    def records(self) -> Iterator[dict[str, Any]]:
        source: Iterable[Any]
        if self.devices_file is not None:
            source = read_json_lines(self.devices_file)
        else:
            devices = self.devices
            if isinstance(devices, str):
                devices = json.loads(devices)
            source = devices or []
        for number, record in enumerate(source, start=1):
            yield validate_import_record(record, number, self.import_mode)

    def own_blob_name(self, context: Context) -> str:
        return self.input_blob_name or self.derived_blob_name(context, "devices.txt")

    def resolve_locations(self) -> None:
        from airflow_iot_jobs.hooks.blob_storage import IMPORT_PERMISSIONS, BlobLocation

        if self._input is not None:
            return
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

    def job_properties_for_launch(self) -> dict[str, Any]:
        self.resolve_locations()
        assert self._input is not None
        if self.input_blob_name is None and not self._uploaded:
            lines = self.storage.upload_lines(
                self._input, (json.dumps(r, separators=(",", ":")) for r in self.records())
            )
            self._uploaded = True
            self.log.info("uploaded %d device records to %s", lines, self._input.url)
        return self.job_properties(
            type="import",
            inputBlobContainerUri=self._input.container_uri,
            inputBlobName=self._blob_name,
            outputBlobContainerUri=self._output_uri,
            includeConfigurations=self.include_configurations or None,
        )

    def conclude(self, progress: JobProgress, verdict: Verdict, reason: str) -> dict[str, Any]:
        if verdict is not Verdict.SUCCESS:
            self.job_failed(progress, reason)
        self.resolve_locations()
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
            JobPhase.COMPLETED,
            targeted=lines,
            succeeded=lines - len(failures),
            failed=len(failures),
            job_type="import",
        )
        line_verdict, line_reason = self.thresholds().evaluate(line_progress)
        self.log.info(
            "import %s: %d lines, %d failed; %s", progress.job_id, lines, len(failures), line_reason
        )
        if line_verdict is not Verdict.SUCCESS:
            self.fail(result, f"import job {progress.job_id}: {line_reason}")
        return result

    def import_failures(self, job_id: str) -> list[dict[str, Any]]:
        """Failed lines from this job's error log, numbered by their position in the input blob."""
        from airflow_iot_jobs.hooks.blob_storage import BlobLocation

        assert self._input is not None and self._output_uri is not None
        log = BlobLocation(self._output_uri, ERROR_LOG_BLOB)
        written = self.storage.last_modified(log)
        started = parse_utc(self.hook.get_import_export_job(job_id).get("startTimeUtc"))
        if written is None or (started is not None and written < started - LOG_CLOCK_SKEW):
            return []  # no log, or one left in the container by an earlier job
        entries = [parse_error_entry(line) for line in self.storage.iter_lines(log)]
        if not entries:
            return []
        return number_failures(entries, self.storage.iter_lines(self._input))


def sas_signatures(uri: object) -> list[str]:
    """The ``sig`` values of a SAS URI (what makes it a credential)."""
    if not isinstance(uri, str) or "?" not in uri:
        return []
    from urllib.parse import parse_qs, urlsplit

    return [value for value in parse_qs(urlsplit(uri).query).get("sig", []) if value]
