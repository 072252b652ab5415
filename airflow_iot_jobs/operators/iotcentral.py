"""Operators for Azure IoT Central jobs: property, command and cloud-property jobs over a device group, in
batches with a cancellation threshold; stop, resume and rerun; scheduled jobs and device groups as code."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_iot_jobs.backends import IOTCENTRAL
from airflow_iot_jobs.links import IoTCentralJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator
from airflow_iot_jobs.validation.iotcentral import (
    normalize_job_data,
    parse_amount,
    parse_cancellation_threshold,
    validate_id,
)
from airflow_iot_jobs.waiting import BackendTask

if TYPE_CHECKING:
    from airflow.sdk import Context


def filter_group_id(device_filter: str) -> str:
    """The device group an operator keeps for a filter: the same filter always names the same group."""
    return "airflow-" + hashlib.sha256(device_filter.strip().encode()).hexdigest()[:24]


class IoTCentralBaseJobOperator(BaseJobOperator):
    """What every IoT Central job operator shares.

    :param iotcentral_conn_id: an ``azure_iot_central`` connection (default ``azure_iot_central_default``).
    """

    backend = IOTCENTRAL
    operator_extra_links = (IoTCentralJobLink(),)
    central_template_fields: ClassVar[tuple[str, ...]] = (
        *BaseJobOperator.shared_template_fields,
        "iotcentral_conn_id",
    )
    template_fields: Sequence[str] = central_template_fields
    job_type = "IoT Central"

    def __init__(self, *, iotcentral_conn_id: str = IOTCENTRAL.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iotcentral_conn_id = iotcentral_conn_id

    def existing_job_type(self, job_id: str) -> str | None:
        return self.job_type  # Central jobs have no type of their own: a job with our id is an earlier try's


class IoTCentralJobOperator(IoTCentralBaseJobOperator):
    """Creates and runs one IoT Central job over a device group, and waits for its verdict.

    :param device_group_id: the device group the job targets, or
    :param device_filter: a Central filter (``SELECT * FROM devices WHERE $template = "dtmi:…"``); the operator
        keeps a device group for it (one per distinct filter, created or updated idempotently).
    :param data: the job's entries: ``{"type": "property" | "command" | "cloudProperty" |
        "deviceTemplateMigration", "target": <device template>, "path": …, "value": …}`` (the docs' spellings
        ``PropertyJobData`` … are accepted and sent as the spec's).
    :param batch: run the job in batches: ``"10%"``, ``500`` (devices) or ``{"type", "value"}``.
    :param cancellation_threshold: the service cancels the job when this share or count of devices failed:
        ``"5%"``, ``20`` or ``{"type", "value", "batch": True}`` (per batch).
    :param display_name: / :param description: shown in the Central UI.
    """

    template_fields: Sequence[str] = (
        *IoTCentralBaseJobOperator.central_template_fields,
        "device_group_id",
        "device_filter",
        "data",
        "batch",
        "cancellation_threshold",
        "display_name",
        "description",
    )
    template_fields_renderers = {"data": "json"}

    def __init__(
        self,
        *,
        data: list[dict[str, Any]] | dict[str, Any] | str,
        device_group_id: str | None = None,
        device_filter: str | None = None,
        batch: str | int | dict[str, Any] | None = None,
        cancellation_threshold: str | int | dict[str, Any] | None = None,
        display_name: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (device_group_id is None) == (device_filter is None):
            raise ValueError(
                "device_group_id / device_filter: give exactly one of them to select the devices"
            )
        self.data = data
        self.device_group_id = device_group_id
        self.device_filter = device_filter
        self.batch = batch
        self.cancellation_threshold = cancellation_threshold
        self.display_name = display_name
        self.description = description

    def build_request(self) -> dict[str, Any]:
        if self.device_filter is not None:
            from airflow_iot_jobs.query.iotcentral import validate_filter

            validate_filter(self.device_filter, "device_filter")
            device_filter = self.device_filter.strip()
            group = filter_group_id(device_filter)
        else:
            device_filter = None
            group = validate_id(self.device_group_id, "device_group_id")
        body: dict[str, Any] = {"group": group, "data": normalize_job_data(self.data, "data")}
        if self.batch is not None:
            body["batch"] = parse_amount(self.batch, "batch")
        if self.cancellation_threshold is not None:
            body["cancellationThreshold"] = parse_cancellation_threshold(self.cancellation_threshold)
        for key, value in (("displayName", self.display_name), ("description", self.description)):
            if value is not None:
                if not isinstance(value, str):
                    raise ValueError(f"{key}: must be a string, got {type(value).__name__}")
                body[key] = value
        return {"body": body, "device_filter": device_filter}

    def target(self, request: dict[str, Any]) -> str:
        return request["body"]["group"]

    def describe_target(self, request: dict[str, Any]) -> str:
        if request["device_filter"]:
            return f"device filter {request['device_filter']!r}"
        return f"device group {request['body']['group']!r}"

    def count_targets(self, request: dict[str, Any]) -> int | None:
        if request["device_filter"] and self.dry_run:
            return None  # counting a filter needs its device group, and a dry run creates nothing
        self.ensure_filter_group(request)
        return super().count_targets(request)

    def ensure_filter_group(self, request: dict[str, Any]) -> None:
        """Create or update the filter's device group, once per launch (before counting, or before creating)."""
        device_filter = request["device_filter"]
        if not device_filter or request.get("group_ensured"):
            return
        request["group_ensured"] = True
        group = request["body"]["group"]
        self.hook.put_device_group(
            group, {"displayName": f"Airflow: {device_filter}"[:200], "filter": device_filter}
        )
        self.log.info("device group %s holds the devices of filter %r", group, device_filter)

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        self.ensure_filter_group(request)
        self.hook.create_job(job_id, request["body"])
        return job_id


class IoTCentralResumeJobOperator(IoTCentralBaseJobOperator):
    """Resumes a stopped job and waits for its verdict, like :class:`IoTCentralJobOperator`.

    :param job_id: the stopped job (required, templated).
    """

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        super().__init__(job_id=job_id, **kwargs)

    def build_request(self) -> dict[str, Any]:
        return {}

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        self.hook.resume_job(job_id)
        self.log.info("resumed job %s", job_id)
        return job_id


class IoTCentralRerunJobOperator(IoTCentralBaseJobOperator):
    """Re-runs a job on its failed devices, as a new job, and waits for that job's verdict.

    :param job_id: the job to re-run (templated).
    :param rerun_id: the new job's id; by default derived from the task instance, so a task retry re-attaches
        to the rerun it already started.
    """

    template_fields: Sequence[str] = (*IoTCentralBaseJobOperator.central_template_fields, "rerun_of")

    def __init__(self, *, job_id: str, rerun_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(job_id=rerun_id, **kwargs)
        self.rerun_of = job_id

    def build_request(self) -> dict[str, Any]:
        return {"rerun_of": validate_id(self.rerun_of, "job_id")}

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        self.hook.rerun_job(request["rerun_of"], job_id)
        return job_id


class IoTCentralStopJobOperator(JobCancelOperator):
    """Stops a running job (IoT Central's cancel; a stopped job can be resumed); returns its progress dict.

    :param job_id: the job to stop (templated).
    :param iotcentral_conn_id: an ``azure_iot_central`` connection.
    """

    backend = IOTCENTRAL
    operator_extra_links = (IoTCentralJobLink(),)
    template_fields: Sequence[str] = ("job_id", "iotcentral_conn_id")

    def __init__(self, *, iotcentral_conn_id: str = IOTCENTRAL.default_conn_id, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iotcentral_conn_id = iotcentral_conn_id


class IoTCentralDeviceGroupOperator(BackendTask, BaseOperator):
    """Ensures a device group exists as declared (create or replace), or is gone (``state="absent"``).

    :param device_group_id: the group's id.
    :param filter: the Central filter selecting its devices.
    :param display_name: / :param description: shown in the Central UI.
    Returns the group as the service holds it (``None`` when absent).
    """

    backend = IOTCENTRAL
    template_fields: Sequence[str] = ("device_group_id", "filter", "display_name", "description", "state")

    def __init__(
        self,
        *,
        device_group_id: str,
        filter: str | None = None,  # noqa: A002 - the service's own field name
        display_name: str | None = None,
        description: str | None = None,
        state: str = "present",
        iotcentral_conn_id: str = IOTCENTRAL.default_conn_id,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if state not in ("present", "absent"):
            raise ValueError(f"state: must be 'present' or 'absent', got {state!r}")
        if state == "present" and filter is None:
            raise ValueError("filter: a device group that should exist needs a filter")
        self.device_group_id = device_group_id
        self.filter = filter
        self.display_name = display_name
        self.description = description
        self.state = state
        self.iotcentral_conn_id = iotcentral_conn_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_iot_jobs.waiting import fail_fast_on_permanent_errors

        group_id = validate_id(self.device_group_id, "device_group_id")
        with fail_fast_on_permanent_errors():
            if self.state == "absent":
                self.delete(group_id)
                return None
            from airflow_iot_jobs.query.iotcentral import validate_filter

            validate_filter(self.filter, "filter")
            body = {"displayName": self.display_name or group_id, "filter": self.filter.strip()}
            if self.description is not None:
                body["description"] = self.description
            group = self.hook.put_device_group(group_id, body)
        self.log.info("device group %s: %s", group_id, body["filter"])
        return group

    def delete(self, group_id: str) -> None:
        from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

        try:
            self.hook.delete_device_group(group_id)
        except JobServiceError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                raise
            self.log.info("device group %s is already absent", group_id)
        else:
            self.log.info("device group %s deleted", group_id)
