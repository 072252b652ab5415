"""What AWS IoT jobs look like to an operator, whichever way they are reached: through boto3 (the ``aws`` backend)
or through the Device Management API (the ``@softchef/cdk-iot-device-management`` REST API).

The classes here take no connection: a backend binds one by mixing in its connection parameters (and so its hook).
Both hooks answer the same methods (``describe_job``, ``cancel_job``, ``delete_job``…) with the same shapes, so the
rules, the waiting and the verdicts are written once. Nothing here imports boto3 or the Amazon provider.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_iot_jobs.hooks.aws_iot_wire import JOB_TYPE
from airflow_iot_jobs.operators.base import BaseJobOperator, JobCancelOperator
from airflow_iot_jobs.validation import aws_iot as rules
from airflow_iot_jobs.validation.common import parse_duration_seconds, validate_interval
from airflow_iot_jobs.waiting import BackendTask, fail_fast_on_permanent_errors

if TYPE_CHECKING:
    from airflow.sdk import Context

CONTINUOUS_WAIT_RULE = (
    "wait_for_completion: a CONTINUOUS job never finishes (it keeps running for things that join its groups); "
    "pass continuous_min_executions=N to judge the thresholds over the executions so far once N things "
    "finished the job, or wait_for_completion=False"
)


def has_template(value: object) -> bool:
    """A Jinja template anywhere in a value (nested dicts and lists included): checked after rendering."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


def clean(response: Mapping[str, Any]) -> dict[str, Any]:
    """A response without its transport metadata (boto3's ``ResponseMetadata``, the SDK's ``$metadata``)."""
    return {k: v for k, v in response.items() if k not in ("ResponseMetadata", "$metadata")}


@contextlib.contextmanager
def absent_ok(log: Any, what: str) -> Iterator[None]:
    """A delete of something already gone is done, not an error."""
    from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

    try:
        yield
    except JobServiceError as err:
        if err.kind is not ErrorKind.NOT_FOUND:
            raise
        log.info("%s is already absent", what)


def target_label(targets: list[tuple[str, str]]) -> str:
    return "targets " + ", ".join(
        name if kind in ("arn", "name") else f"{kind}/{name}" for kind, name in targets
    )


class AwsJobOperatorBase(BaseJobOperator):
    """One AWS IoT job over things and thing groups, waited on with thresholds (see the bindings:
    :class:`~airflow_iot_jobs.operators.aws_iot.AwsIoTJobOperator`,
    :class:`~airflow_iot_jobs.operators.device_management_api.DeviceManagementApiJobOperator`).

    :param targets: things and thing groups (what each binding accepts: names and/or ARNs).
    :param document: the job document (a dict, or a JSON string; ≤ 32 KB).
    :param target_selection: ``"SNAPSHOT"`` (default: the job ends when the things targeted now finish) or
        ``"CONTINUOUS"`` (runs on for things added to its groups later: see ``continuous_min_executions``).
    :param continuous_min_executions: a CONTINUOUS job never ends, so waiting on one means judging the thresholds
        over the executions finished so far, once at least this many things finished the job (success: the
        success threshold of those; failure: the failure threshold of those, or the job cancelled / aborted).
        The job keeps running after a verdict. Required with ``wait_for_completion`` for a CONTINUOUS job.
    :param description: shown in the console.
    """

    job_type = JOB_TYPE
    aws_job_fields: ClassVar[tuple[str, ...]] = ("targets", "document", "target_selection", "description")
    #: at most this many targets per job (AWS IoT's limit); ``None`` where ``targets`` names a whole fleet that
    #: is split into smaller jobs (a staged rollout's waves)
    max_job_targets: ClassVar[int | None] = rules.MAX_TARGETS
    template_fields_renderers = {"document": "json"}

    def __init__(
        self,
        *,
        targets: list[str] | str,
        document: dict[str, Any] | str | None = None,
        target_selection: str = "SNAPSHOT",
        continuous_min_executions: int | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.document = document
        self.target_selection = target_selection
        self.continuous_min_executions = continuous_min_executions
        self.description = description

    def check_literals(self, fields: Sequence[str]) -> None:
        """Every literal value checked at DAG parse (templated ones after rendering)."""
        if not has_template([getattr(self, name) for name in fields]):
            self.build_request()

    def continuous_wait(self, selection: str) -> int | None:
        """What waiting means for this job: ``None`` (until it ends) or the executions to judge after."""
        minimum = rules.min_executions(self.continuous_min_executions)
        if selection != "CONTINUOUS":
            if minimum is not None:
                raise ValueError("continuous_min_executions: applies to CONTINUOUS jobs only")
            return None
        if minimum is None and self.wait_for_completion:
            raise ValueError(CONTINUOUS_WAIT_RULE)
        return minimum

    def describe_target(self, request: dict[str, Any]) -> str:
        return target_label(request["targets"])


class AwsCancelJobOperatorBase(JobCancelOperator):
    """Cancels a job (``CancelJob``); returns its progress dict afterwards.

    :param job_id: the job (templated).
    :param force: also cancel IN_PROGRESS executions (devices running the job can no longer report).
    :param comment: why (≤ 2028 characters).
    """

    cancel_template_fields: ClassVar[tuple[str, ...]] = ("job_id", "comment")

    def __init__(self, *, force: bool = False, comment: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.force = force
        self.comment = comment

    def cancel_options(self) -> dict[str, Any]:
        """The rendered options besides ``force``, checked (a binding adds its own)."""
        return {"comment": None if self.comment in (None, "") else rules.comment(self.comment)}

    def execute(self, context: Context) -> dict[str, Any]:
        job_id = rules.validate_id(self.job_id)
        options = self.cancel_options()
        with fail_fast_on_permanent_errors():
            self.hook.cancel_job(job_id, force=bool(self.force), **options)
            progress = self.hook.progress(job_id)
        self._launched_job_id = job_id
        self.log.info("cancel requested%s: %s", " (forced)" if self.force else "", progress.describe())
        return progress.to_dict()


class AwsDeleteJobOperatorBase(BackendTask, BaseOperator):
    """Deletes a job (``DeleteJob``) and waits while AWS shows it DELETION_IN_PROGRESS, until it is gone.

    :param job_id: the job (templated). :param force: delete an IN_PROGRESS job too.
    :param poll_interval: seconds between checks (default 5).
    :param timeout: how long to wait for the deletion (seconds, timedelta or ISO 8601; default 30 minutes).
    """

    def __init__(
        self,
        *,
        job_id: str,
        force: bool = False,
        poll_interval: float = 5.0,
        timeout: float | Any = 1800.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_interval(poll_interval, "poll_interval")
        self.job_id = job_id
        self.force = force
        self.poll_interval = poll_interval
        self.timeout = timeout

    def delete_options(self) -> dict[str, Any]:
        """The rendered options besides ``force``, checked (a binding adds its own)."""
        return {}

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_iot_jobs.jobs import ErrorKind, IoTJobsError, JobServiceError

        job_id = rules.validate_id(self.job_id)
        options = self.delete_options()
        deadline = time.time() + parse_duration_seconds(self.timeout, "timeout")
        with fail_fast_on_permanent_errors():
            with absent_ok(self.log, f"job {job_id}"):
                self.hook.delete_job(job_id, force=bool(self.force), **options)
            while True:
                try:
                    status = self.hook.describe_job(job_id)["job"].get("status")
                except JobServiceError as err:
                    if err.kind is not ErrorKind.NOT_FOUND:
                        raise
                    self.log.info("job %s deleted", job_id)
                    return {"job_id": job_id, "deleted": True}
                if time.time() >= deadline:
                    raise IoTJobsError(
                        f"job {job_id} is still {status} after the timeout; AWS has not deleted it yet"
                    )
                self.log.info("job %s is %s; waiting for the deletion", job_id, status)
                time.sleep(min(float(self.poll_interval), max(deadline - time.time(), 0.1)))


#: the fields of a job template compared with the declaration (DescribeJobTemplate's answer)
TEMPLATE_FIELDS = (
    "description",
    "document",
    "documentSource",
    "presignedUrlConfig",
    "jobExecutionsRolloutConfig",
    "abortConfig",
    "timeoutConfig",
    "jobExecutionsRetryConfig",
    "maintenanceWindows",
)


def template_differences(held: Mapping[str, Any], declared: Mapping[str, Any]) -> list[str]:
    """``field: held → declared`` for each template field that differs (documents compared as JSON)."""

    def normal(key: str, value: Any) -> Any:
        if key == "document" and isinstance(value, str) and value:
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value or None

    found = []
    for key in TEMPLATE_FIELDS:
        was, wanted = normal(key, held.get(key)), normal(key, declared.get(key))
        if was != wanted:
            found.append(f"{key}: {_short(was)} → {_short(wanted)}")
    return found


def immutable_template(field: str, template_id: str, differences: list[str], remedy: str) -> Exception:
    """A template that exists with another definition: AWS IoT job templates cannot be changed."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(
        f"{field}: template {template_id!r} already exists with a different definition "
        f"({'; '.join(differences)}). AWS IoT job templates cannot be changed: {remedy}"
    )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if value is not None else "unset"
    return text if len(text) <= 80 else text[:77] + "…"
