"""Operators for Azure IoT Central jobs: property, command and cloud-property jobs over a device group, in
batches with a cancellation threshold; stop, resume and rerun; scheduled jobs and device groups as code."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_iot_jobs.backends import IOTCENTRAL
from airflow_iot_jobs.jobs import is_template
from airflow_iot_jobs.links import IoTCentralJobLink
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator, check_max_devices
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


def check_one_selection(device_group_id: object, device_filter: object) -> tuple[Any, Any]:
    """Exactly one of the two selects the devices; an empty string (a form field left empty) is none."""
    group = None if device_group_id in (None, "") else device_group_id
    devices = None if device_filter in (None, "") else device_filter
    if (group is None) == (devices is None):
        raise ValueError("device_group_id / device_filter: give exactly one of them to select the devices")
    return group, devices


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
        if not (is_template(device_group_id) or is_template(device_filter)):
            check_one_selection(device_group_id, device_filter)
        self.data = data
        self.device_group_id = device_group_id
        self.device_filter = device_filter
        self.batch = batch
        self.cancellation_threshold = cancellation_threshold
        self.display_name = display_name
        self.description = description

    def build_request(self) -> dict[str, Any]:
        self.device_group_id, self.device_filter = check_one_selection(
            self.device_group_id, self.device_filter
        )
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
            return self.count_existing_filter_group(request)
        self.ensure_filter_group(request)
        return super().count_targets(request)

    def count_existing_filter_group(self, request: dict[str, Any]) -> int | None:
        """A dry run creates nothing: count the filter's group when an earlier run left it, else unknown."""
        from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

        try:
            return super().count_targets(request)
        except JobServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                return None
            raise

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


SCHEDULED_JOB_FIELDS = (
    "displayName",
    "description",
    "group",
    "batch",
    "cancellationThreshold",
    "data",
    "schedule",
    "enabled",
)
NEXT_RUN_WAIT_KEY = (
    "next_run_wait"  # XCom: what the wait for a scheduled job's next run carries over a deferral
)
#: fields the operator leaves as they are when the DAG does not set them
OPTIONAL_UNMANAGED = ("description",)


class IoTCentralScheduledJobOperator(IoTCentralJobOperator):
    """Ensures an IoT Central scheduled job exists as declared — Central then runs it on its own schedule.

    Creates it when missing; otherwise compares it with the declaration and sends one JSON merge patch of what
    differs (each change is logged; nothing is sent when nothing differs); ``state="absent"`` deletes it.

    :param scheduled_job_id: the scheduled job's id (templated).
    :param schedule: ``{"start": <date-time with a zone>, "recurrence": "daily" | "weekly" | "monthly" (absent:
        once), "end": {"type": "date", "date": "2027-06-30"} | {"type": "occurrences", "occurrences": 1–999}}``.
    :param enabled: whether Central runs it (default True).
    :param state: ``"present"`` (default) or ``"absent"``.
    :param wait_for_completion: default False (return the scheduled job as the service holds it). True: wait
        for its next instance to start and judge that job with the thresholds, like :class:`IoTCentralJobOperator`.

    The job fields (``device_group_id`` / ``device_filter``, ``data`` — all entries of one type —, ``batch``,
    ``cancellation_threshold``, ``display_name`` (default: the id), ``description``) mean what they mean on
    :class:`IoTCentralJobOperator`; ``max_devices`` and ``dry_run`` apply to the device group, ``dry_run``
    reports the changes without sending them.
    """

    template_fields: Sequence[str] = (
        *IoTCentralJobOperator.template_fields,
        "scheduled_job_id",
        "schedule",
        "enabled",
        "state",
    )
    template_fields_renderers = {"data": "json", "schedule": "json"}
    job_type = "IoT Central scheduled"

    def __init__(
        self,
        *,
        scheduled_job_id: str,
        schedule: dict[str, Any] | str | None = None,
        enabled: bool = True,
        state: str = "present",
        data: list[dict[str, Any]] | dict[str, Any] | str | None = None,
        wait_for_completion: bool = False,
        **kwargs: Any,
    ) -> None:
        if "job_id" in kwargs:
            raise ValueError(
                "job_id: a scheduled job's runs get their ids from IoT Central; name the schedule with "
                "scheduled_job_id"
            )
        if state not in ("present", "absent"):
            raise ValueError(f"state: must be 'present' or 'absent', got {state!r}")
        if state == "present":
            if schedule is None:
                raise ValueError(
                    "schedule: a scheduled job that should exist needs a schedule (at least start)"
                )
            if data is None:
                raise ValueError("data: a scheduled job that should exist needs its job data")
        elif kwargs.get("device_filter") is None:
            # what would select the devices does not matter for a delete
            kwargs.setdefault("device_group_id", "absent")
        super().__init__(data=data or [], wait_for_completion=wait_for_completion, **kwargs)
        self.scheduled_job_id = scheduled_job_id
        self.schedule = schedule
        self.enabled = enabled
        self.state = state

    def launch_and_wait(self, context: Context) -> dict[str, Any] | None:
        from airflow_iot_jobs.validation.iotcentral import normalize_job_data, normalize_schedule

        scheduled_job_id = validate_id(self.scheduled_job_id, "scheduled_job_id")
        if self.state == "absent":
            return self.ensure_absent(scheduled_job_id)
        self.thresholds()
        self.max_devices = check_max_devices(self.max_devices)
        request = self.build_request()
        body = request["body"]
        body["data"] = normalize_job_data(self.data, "data", one_type=True)
        body["schedule"] = normalize_schedule(self.schedule)
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled: must be true or false, got {self.enabled!r}")
        body["enabled"] = self.enabled
        body.setdefault("displayName", scheduled_job_id)
        if self.dry_run:
            return self.plan_changes(scheduled_job_id, request)
        self.check_targets(None, request)
        self.ensure_filter_group(request)
        current = self.current(scheduled_job_id)
        # runs that exist before this task are not "the next" one
        seen = [job["id"] for job in self.hook.scheduled_job_instances(scheduled_job_id)] if current else []
        held = self.ensure_present(scheduled_job_id, body, current)
        if not self.wait_for_completion:
            return held
        return self.wait_for_next_instance(context, scheduled_job_id, seen, time.time() + self.wait_seconds())

    # ------------------------------------------------------------------ ensuring the declared state

    def current(self, scheduled_job_id: str) -> dict[str, Any] | None:
        from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

        try:
            return self.hook.get_scheduled_job(scheduled_job_id)
        except JobServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                return None
            raise

    def changes(self, current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        from airflow_iot_jobs.merge_patch import merge_patch
        from airflow_iot_jobs.validation.common import parse_start_time
        from airflow_iot_jobs.validation.iotcentral import iso_utc

        managed = tuple(f for f in SCHEDULED_JOB_FIELDS if f in body or f not in OPTIONAL_UNMANAGED)
        return merge_patch(
            current, body, managed, {"schedule.start": lambda v: iso_utc(parse_start_time(v, "start"))}
        )

    def ensure_present(
        self, scheduled_job_id: str, body: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        from airflow_iot_jobs.merge_patch import describe_patch

        if current is None:
            held = self.hook.put_scheduled_job(scheduled_job_id, body)
            self.log.info("created scheduled job %s: %s", scheduled_job_id, self.summary(body))
            return held
        patch = self.changes(current, body)
        if not patch:
            self.log.info("scheduled job %s is as declared; nothing sent", scheduled_job_id)
            return current
        self.log.info(
            "scheduled job %s differs from its declaration:\n  %s",
            scheduled_job_id,
            "\n  ".join(describe_patch(patch, current)),
        )
        held = self.hook.update_scheduled_job(scheduled_job_id, patch)
        self.log.info("scheduled job %s updated (%d change(s))", scheduled_job_id, len(patch))
        return held

    def ensure_absent(self, scheduled_job_id: str) -> None:
        from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

        if self.dry_run:
            state = "exists" if self.current(scheduled_job_id) else "is already absent"
            self.log.info("dry run: scheduled job %s %s; nothing was deleted", scheduled_job_id, state)
            return None
        try:
            self.hook.delete_scheduled_job(scheduled_job_id)
        except JobServiceError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                raise
            self.log.info("scheduled job %s is already absent", scheduled_job_id)
        else:
            self.log.info("scheduled job %s deleted", scheduled_job_id)
        return None

    def plan_changes(self, scheduled_job_id: str, request: dict[str, Any]) -> dict[str, Any]:
        from airflow_iot_jobs.merge_patch import describe_patch

        devices = self.count_targets(request)
        current = self.current(scheduled_job_id)
        changes = (
            ["create"] if current is None else describe_patch(self.changes(current, request["body"]), current)
        )
        self.log.info(
            "dry run: scheduled job %s over %s (%s device(s)): %s; nothing was sent",
            scheduled_job_id,
            self.describe_target(request),
            "an unknown number of" if devices is None else f"{devices:,}",
            "; ".join(changes) or "no change",
        )
        return {
            "dry_run": True,
            "scheduled_job_id": scheduled_job_id,
            "target": self.describe_target(request),
            "devices": devices,
            "changes": changes,
        }

    @staticmethod
    def summary(body: dict[str, Any]) -> str:
        schedule = body["schedule"]
        end = schedule.get("end") or {}
        until = end.get("date") or (f"{end['occurrences']} run(s)" if "occurrences" in end else "no end")
        return (
            f"{schedule.get('recurrence', 'once')} from {schedule['start']} ({until}) over group {body['group']}, "
            f"{'enabled' if body['enabled'] else 'disabled'}"
        )

    # ------------------------------------------------------------------ waiting for the next run

    def wait_for_next_instance(
        self, context: Context, scheduled_job_id: str, seen: list[str], deadline: float
    ) -> dict[str, Any]:
        """Wait until Central starts a run the schedule did not have before this task, then judge that job."""
        schedule = self.poll_schedule()
        delay = schedule.base
        while True:
            instance = self.new_instance(scheduled_job_id, seen)
            if instance is not None:
                self.log.info("scheduled job %s started job %s", scheduled_job_id, instance)
                self._launched_job_id = instance
                if self.deferrable:
                    self.defer_wait(instance, schedule, deadline, timeout=None)
                return self.wait_by_polling(instance, schedule, deadline)
            remaining = deadline - time.time()
            if remaining <= 0:
                from airflow_iot_jobs.waiting import JobWaitTimeout

                raise JobWaitTimeout(
                    f"scheduled job {scheduled_job_id} started no run before the wait timeout"
                )
            delay = min(delay * 2, schedule.maximum, remaining)
            if self.deferrable:
                from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

                # kept in XCom, not next_kwargs: dag.test() resumes with the trigger's event alone
                context["ti"].xcom_push(key=NEXT_RUN_WAIT_KEY, value={"seen": seen, "deadline": deadline})
                self.defer(
                    trigger=TimeDeltaTrigger(timedelta(seconds=delay)), method_name="resume_next_run_wait"
                )
            time.sleep(delay)

    def resume_next_run_wait(self, context: Context, event: Any = None) -> dict[str, Any]:
        from airflow_iot_jobs.waiting import fail_fast_on_permanent_errors

        ti = context["ti"]
        state = ti.xcom_pull(task_ids=ti.task_id, key=NEXT_RUN_WAIT_KEY, map_indexes=ti.map_index)
        scheduled_job_id = validate_id(self.scheduled_job_id, "scheduled_job_id")
        with fail_fast_on_permanent_errors():
            return self.wait_for_next_instance(context, scheduled_job_id, state["seen"], state["deadline"])

    def new_instance(self, scheduled_job_id: str, seen: list[str]) -> str | None:
        known = set(seen)
        for job in self.hook.scheduled_job_instances(scheduled_job_id):
            if job["id"] not in known:
                return job["id"]
        return None
