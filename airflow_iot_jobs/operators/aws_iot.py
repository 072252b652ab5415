"""Operators for AWS IoT Jobs through boto3: a job over things and thing groups (launched exactly once, waited on
with thresholds), cancel / delete / associate targets, job executions, job templates as code.

Nothing here imports boto3 or the Amazon provider: the hook is built when a task runs. Every field is checked
against the ``iot`` service model's rules (:mod:`airflow_iot_jobs.validation.aws_iot`) before any call — at DAG
parse for literal values, after rendering for templated ones. What AWS IoT jobs share with the Device Management
API backend lives in :mod:`airflow_iot_jobs.operators.aws_jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.operators.aws_iot_base import AwsIoTConnectionMixin
from airflow_iot_jobs.operators.aws_jobs import (
    CONTINUOUS_WAIT_RULE,
    AwsCancelJobOperatorBase,
    AwsDeleteJobOperatorBase,
    AwsJobOperatorBase,
    absent_ok,
    clean,
    has_template,
    immutable_template,
    target_label,
    template_differences,
)
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.validation import aws_iot as rules
from airflow_iot_jobs.waiting import fail_fast_on_permanent_errors

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CONTINUOUS_WAIT_RULE",
    "AwsIoTAssociateTargetsOperator",
    "AwsIoTCancelJobExecutionOperator",
    "AwsIoTCancelJobOperator",
    "AwsIoTDeleteJobExecutionOperator",
    "AwsIoTDeleteJobOperator",
    "AwsIoTJobOperator",
    "AwsIoTJobTemplateOperator",
    "clean",
    "has_template",
    "target_label",
    "template_differences",
]


class AwsIoTJobOperator(AwsIoTConnectionMixin, AwsJobOperatorBase):
    """Creates one AWS IoT job (``CreateJob``) and, by default, waits until it meets its thresholds.

    :param targets: things and thing groups: names (a bare name is looked up as a thing group, then as a thing;
        ``thing/<name>`` / ``thinggroup/<name>`` say which) or ARNs. Names become ARNs at run time.
    :param document: the job document (a dict, or a JSON string; ≤ 32 KB), **or**
    :param document_source: an S3 object URL of the document, **or**
    :param job_template_id: a job template id (or ARN) the job is created from.
    :param target_selection: ``"SNAPSHOT"`` (default: the job ends when the things targeted now finish) or
        ``"CONTINUOUS"`` (runs on for things added to its groups later: see ``continuous_min_executions``).
    :param continuous_min_executions: a CONTINUOUS job never ends, so waiting on one means judging the thresholds
        over the executions finished so far, once at least this many things finished the job (success: the
        success threshold of those; failure: the failure threshold of those, or the job cancelled / aborted).
        The job keeps running after a verdict. Required with ``wait_for_completion`` for a CONTINUOUS job.
    :param description: shown in the console.
    :param job_executions_rollout_config: ``{"maximumPerMinute": …, "exponentialRate": {…}}``.
    :param abort_config: ``{"criteriaList": [{"failureType", "action": "CANCEL", "thresholdPercentage",
        "minNumberOfExecutedThings"}]}``; a job its abort config cancels fails the task, saying so.
    :param timeout_config: ``{"inProgressTimeoutInMinutes": 1–10080}``.
    :param job_executions_retry_config: ``{"criteriaList": [{"failureType", "numberOfRetries": 0–10}]}``.
    :param scheduling_config: ``{"startTime", "endTime", "endBehavior", "maintenanceWindows"}``.
    :param presigned_url_config: ``{"roleArn", "expiresInSec"}`` for ``${aws:iot:s3-presigned-url:…}`` documents.
    :param document_parameters: values for an AWS-managed template's placeholders.
    :param namespace_id: a customer-managed job namespace.
    :param tags: ``{"key": "value"}`` or ``[{"Key", "Value"}]``.

    Config dicts take the model's camelCase keys or snake_case. Plus the connection parameters (``aws_conn_id``,
    ``region_name``, ``verify``, ``botocore_config``) and every :class:`BaseJobOperator` parameter (derived
    ``job_id``: a retry re-attaches to the job AWS refuses to create twice; thresholds; ``deferrable``…).
    """

    job_fields: ClassVar[tuple[str, ...]] = (
        "targets",
        "document",
        "document_source",
        "job_template_id",
        "target_selection",
        "description",
        "job_executions_rollout_config",
        "abort_config",
        "timeout_config",
        "job_executions_retry_config",
        "scheduling_config",
        "presigned_url_config",
        "document_parameters",
        "namespace_id",
        "tags",
    )
    template_fields: Sequence[str] = (
        *BaseJobOperator.shared_template_fields,
        *AwsIoTConnectionMixin.aws_template_fields,
        *job_fields,
    )
    template_fields_renderers = {
        **AwsJobOperatorBase.template_fields_renderers,
        "abort_config": "json",
        "job_executions_rollout_config": "json",
    }

    def __init__(
        self,
        *,
        targets: list[str] | str,
        document: dict[str, Any] | str | None = None,
        document_source: str | None = None,
        job_template_id: str | None = None,
        target_selection: str = "SNAPSHOT",
        continuous_min_executions: int | None = None,
        description: str | None = None,
        job_executions_rollout_config: dict[str, Any] | None = None,
        abort_config: dict[str, Any] | None = None,
        timeout_config: dict[str, Any] | None = None,
        job_executions_retry_config: dict[str, Any] | None = None,
        scheduling_config: dict[str, Any] | None = None,
        presigned_url_config: dict[str, Any] | None = None,
        document_parameters: dict[str, str] | None = None,
        namespace_id: str | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            targets=targets,
            document=document,
            target_selection=target_selection,
            continuous_min_executions=continuous_min_executions,
            description=description,
            **kwargs,
        )
        self.document_source = document_source
        self.job_template_id = job_template_id
        self.job_executions_rollout_config = job_executions_rollout_config
        self.abort_config = abort_config
        self.timeout_config = timeout_config
        self.job_executions_retry_config = job_executions_retry_config
        self.scheduling_config = scheduling_config
        self.presigned_url_config = presigned_url_config
        self.document_parameters = document_parameters
        self.namespace_id = namespace_id
        self.tags = tags
        self.check_literals(self.job_fields)

    def build_request(self) -> dict[str, Any]:
        request = rules.create_job_request(
            targets=self.targets,
            document=self.document,
            document_source=self.document_source,
            job_template_id=self.job_template_id,
            target_selection_value=self.target_selection,
            description_text=self.description,
            configs={name: getattr(self, name) for name in rules.CONFIG_FIELDS},
            scheduling=self.scheduling_config,
            parameters=self.document_parameters,
            namespace_id=self.namespace_id,
            tag_values=self.tags,
            max_targets=self.max_job_targets,
        )
        self.settle_after = self.continuous_wait(request["params"]["targetSelection"])
        return request

    def target(self, request: dict[str, Any]) -> list[str]:
        """The targets' ARNs, looked up once per launch (``DescribeThingGroup`` / ``DescribeThing``)."""
        if "target_arns" not in request:
            request["target_arns"] = self.hook.resolve_targets(request["targets"])
        return request["target_arns"]

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        assert job_id is not None
        params = {**request["params"], "jobId": job_id, "targets": self.target(request)}
        if request["template"]:
            params["jobTemplateArn"] = self.hook.job_template_arn(request["template"])
        self.hook.create_job(**params)
        return job_id


class AwsIoTCancelJobOperator(AwsIoTConnectionMixin, AwsCancelJobOperatorBase):
    """Cancels a job (``CancelJob``); returns its progress dict afterwards.

    :param job_id: the job (templated).
    :param force: also cancel IN_PROGRESS executions (devices running the job can no longer report).
    :param comment: why (≤ 2028 characters). :param reason_code: ``[A-Z0-9_]+`` (≤ 128).
    """

    template_fields: Sequence[str] = (
        *AwsCancelJobOperatorBase.cancel_template_fields,
        "reason_code",
        *AwsIoTConnectionMixin.aws_template_fields,
    )

    def __init__(self, *, reason_code: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason_code = reason_code

    def cancel_options(self) -> dict[str, Any]:
        reason = None if self.reason_code in (None, "") else rules.reason_code(self.reason_code)
        return {**super().cancel_options(), "reason_code": reason}


class AwsIoTDeleteJobOperator(AwsIoTConnectionMixin, AwsDeleteJobOperatorBase):
    """Deletes a job (``DeleteJob``) and waits while AWS shows it DELETION_IN_PROGRESS, until it is gone.

    :param job_id: the job (templated). :param force: delete an IN_PROGRESS job too.
    :param namespace_id: its namespace, if any. :param poll_interval: seconds between checks (default 5).
    :param timeout: how long to wait for the deletion (seconds, timedelta or ISO 8601; default 30 minutes).
    """

    template_fields: Sequence[str] = ("job_id", *AwsIoTConnectionMixin.aws_template_fields)

    def __init__(self, *, namespace_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.namespace_id = namespace_id

    def delete_options(self) -> dict[str, Any]:
        if self.namespace_id in (None, ""):
            return {}
        return {"namespace_id": rules.validate_id(self.namespace_id, "namespace_id")}


class AwsIoTAssociateTargetsOperator(AwsIoTConnectionMixin):
    """Adds things or thing groups to a running job (``AssociateTargetsWithJob``; CONTINUOUS jobs).

    :param job_id: the job. :param targets: names or ARNs, as on :class:`AwsIoTJobOperator`.
    :param comment: why. :param namespace_id: the job's namespace, if any. Returns AWS's answer.
    """

    template_fields: Sequence[str] = (
        "job_id",
        "targets",
        "comment",
        *AwsIoTConnectionMixin.aws_template_fields,
    )

    def __init__(
        self,
        *,
        job_id: str,
        targets: list[str] | str,
        comment: str | None = None,
        namespace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not has_template(targets):
            rules.parse_targets(targets)
        self.job_id = job_id
        self.targets = targets
        self.comment = comment
        self.namespace_id = namespace_id

    def execute(self, context: Context) -> dict[str, Any]:
        job_id = rules.validate_id(self.job_id)
        targets = rules.parse_targets(self.targets)
        comment = None if self.comment in (None, "") else rules.comment(self.comment)
        namespace = (
            None if self.namespace_id in (None, "") else rules.validate_id(self.namespace_id, "namespace_id")
        )
        with fail_fast_on_permanent_errors():
            arns = self.hook.resolve_targets(targets)
            answer = self.hook.associate_targets_with_job(
                job_id, arns, comment=comment, namespace_id=namespace
            )
        self._launched_job_id = job_id
        self.log.info("job %s: %s added", job_id, target_label(targets))
        return clean(answer)


class AwsIoTCancelJobExecutionOperator(AwsIoTConnectionMixin):
    """Cancels one thing's execution of a job (``CancelJobExecution``); returns the execution's status after.

    :param force: also an IN_PROGRESS execution. :param expected_version: fail with a version conflict unless
        the execution is at this version. :param status_details: ``{key: value}`` recorded on the execution.
    """

    template_fields: Sequence[str] = ("job_id", "thing_name", *AwsIoTConnectionMixin.aws_template_fields)

    def __init__(
        self,
        *,
        job_id: str,
        thing_name: str,
        force: bool = False,
        expected_version: int | None = None,
        status_details: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.thing_name = thing_name
        self.force = force
        self.expected_version = expected_version
        self.status_details = status_details

    def execute(self, context: Context) -> dict[str, Any]:
        job_id = rules.validate_id(self.job_id)
        thing = rules.validate_thing_name(self.thing_name)
        with fail_fast_on_permanent_errors():
            self.hook.cancel_job_execution(
                job_id,
                thing,
                force=bool(self.force),
                expected_version=self.expected_version,
                status_details=self.status_details,
            )
            execution = self.hook.describe_job_execution(job_id, thing)
        self.log.info("job %s on %s: %s", job_id, thing, execution.get("status"))
        return {"job_id": job_id, "thing_name": thing, "status": execution.get("status")}


class AwsIoTDeleteJobExecutionOperator(AwsIoTConnectionMixin):
    """Deletes one execution of a job on a thing (``DeleteJobExecution``); already gone is fine.

    :param execution_number: which execution (``DescribeJobExecution`` shows it). :param force: an
        IN_PROGRESS one too. :param namespace_id: the job's namespace, if any.
    """

    template_fields: Sequence[str] = (
        "job_id",
        "thing_name",
        "execution_number",
        *AwsIoTConnectionMixin.aws_template_fields,
    )

    def __init__(
        self,
        *,
        job_id: str,
        thing_name: str,
        execution_number: int | str,
        force: bool = False,
        namespace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.thing_name = thing_name
        self.execution_number = execution_number
        self.force = force
        self.namespace_id = namespace_id

    def execute(self, context: Context) -> dict[str, Any]:
        job_id = rules.validate_id(self.job_id)
        thing = rules.validate_thing_name(self.thing_name)
        number = rules.execution_number(self.execution_number)
        namespace = (
            None if self.namespace_id in (None, "") else rules.validate_id(self.namespace_id, "namespace_id")
        )
        with (
            fail_fast_on_permanent_errors(),
            absent_ok(self.log, f"execution {number} of job {job_id} on {thing}"),
        ):
            self.hook.delete_job_execution(
                job_id, thing, number, force=bool(self.force), namespace_id=namespace
            )
            self.log.info("execution %s of job %s on %s deleted", number, job_id, thing)
        return {"job_id": job_id, "thing_name": thing, "execution_number": number, "deleted": True}


class AwsIoTJobTemplateOperator(AwsIoTConnectionMixin):
    """Ensures a job template exists as declared, or is gone (``state="absent"``).

    Templates are immutable in AWS IoT: a missing one is created; one that exists with the same definition is
    left alone; one that exists with a different definition fails the task naming the fields that differ (delete
    it with ``state="absent"`` and create it again, or use a new id). Returns the template as AWS holds it.

    :param job_template_id: ``[a-zA-Z0-9_-]+``, ≤ 64. :param description: required by AWS.
    :param document: / :param document_source: exactly one. Configs as on :class:`AwsIoTJobOperator`, plus
        :param maintenance_windows: ``[{"startTime": <cron>, "durationInMinutes": 1–1430}]``.
    """

    template_fields: Sequence[str] = (
        "job_template_id",
        "description",
        "document",
        "document_source",
        "state",
        *AwsIoTConnectionMixin.aws_template_fields,
    )
    template_fields_renderers = {"document": "json"}

    def __init__(
        self,
        *,
        job_template_id: str,
        description: str | None = None,
        document: dict[str, Any] | str | None = None,
        document_source: str | None = None,
        job_executions_rollout_config: dict[str, Any] | None = None,
        abort_config: dict[str, Any] | None = None,
        timeout_config: dict[str, Any] | None = None,
        job_executions_retry_config: dict[str, Any] | None = None,
        presigned_url_config: dict[str, Any] | None = None,
        maintenance_windows: list[dict[str, Any]] | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        state: str = "present",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_template_id = job_template_id
        self.description = description
        self.document = document
        self.document_source = document_source
        self.job_executions_rollout_config = job_executions_rollout_config
        self.abort_config = abort_config
        self.timeout_config = timeout_config
        self.job_executions_retry_config = job_executions_retry_config
        self.presigned_url_config = presigned_url_config
        self.maintenance_windows = maintenance_windows
        self.tags = tags
        self.state = state
        if not has_template([getattr(self, name) for name in self.template_fields]):
            self.definition()

    def definition(self) -> dict[str, Any]:
        rules.validate_id(self.job_template_id, "job_template_id")
        if self.state not in ("present", "absent"):
            raise ValueError(f"state: must be 'present' or 'absent', got {self.state!r}")
        if self.state == "absent":
            return {}
        rules.one_document(self.document, self.document_source)
        if self.description in (None, ""):
            raise ValueError("description: AWS requires a description for a job template")
        body = rules.job_definition(
            document=self.document,
            document_source=self.document_source,
            description_text=self.description,
            configs={name: getattr(self, name) for name in rules.CONFIG_FIELDS},
            tag_values=self.tags,
        )
        if self.maintenance_windows:
            body["maintenanceWindows"] = rules.maintenance_windows(
                self.maintenance_windows, "maintenance_windows"
            )
        return body

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

        body = self.definition()
        template_id = self.job_template_id
        with fail_fast_on_permanent_errors():
            if self.state == "absent":
                with absent_ok(self.log, f"job template {template_id}"):
                    self.hook.delete_job_template(template_id)
                    self.log.info("job template %s deleted", template_id)
                return None
            try:
                held = clean(self.hook.describe_job_template(template_id))
            except JobServiceError as err:
                if err.kind is not ErrorKind.NOT_FOUND:
                    raise
                self.hook.create_job_template(template_id, **body)
                self.log.info("job template %s created", template_id)
                return clean(self.hook.describe_job_template(template_id))
        differences = template_differences(held, body)
        if differences:
            raise immutable_template(
                "job_template_id",
                template_id,
                differences,
                "delete it (state='absent') and create it again, or declare a new job_template_id",
            )
        self.log.info("job template %s is as declared; nothing sent", template_id)
        return held
