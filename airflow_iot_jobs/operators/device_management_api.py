"""Operators for AWS IoT jobs through the ``@softchef/cdk-iot-device-management`` Job API (a REST API in front of
AWS IoT, for teams without ``iot:*`` rights): a job over thing and thing-group ARNs, launched exactly once and waited
on with thresholds; cancel; delete; job templates as code.

They are the AWS IoT Jobs operators (:mod:`airflow_iot_jobs.operators.aws_jobs`: the same rules, progress, waiting
and verdicts) bound to :class:`~airflow_iot_jobs.hooks.device_management_api.DeviceManagementApiHook`.

**Which job is ours.** ``POST /jobs`` answers ``{"created": true}`` without the job's id (the Lambda picks a uuid).
So the job carries a marker the task instance owns, ``[airflow:<task>-<digest of dag, run, task, map index>]``, at the
end of its ``description``. Before creating, the operator looks for a job with that marker (``GET /jobs`` newest
first, then ``GET /jobs/{id}`` for each job created since the DAG run's ``run_after``); a retry after a crash, a
cleared task or a rerun finds the job an earlier try created and re-attaches to it. After the ``POST`` the same
search learns the new job's id. The create call itself is never re-sent blindly: after a dropped answer the search
runs first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_iot_jobs.operators.aws_jobs import (
    AwsCancelJobOperatorBase,
    AwsDeleteJobOperatorBase,
    AwsJobOperatorBase,
    absent_ok,
    has_template,
    immutable_template,
    template_differences,
)
from airflow_iot_jobs.operators.base import BaseJobOperator
from airflow_iot_jobs.operators.device_management_api_base import DeviceManagementApiConnectionMixin
from airflow_iot_jobs.validation import aws_iot as rules
from airflow_iot_jobs.waiting import fail_fast_on_permanent_errors

if TYPE_CHECKING:
    from airflow.sdk import Context

COUNT_RULE = (
    "max_devices: the Device Management API cannot list the things of a thing group, so it cannot count {arn}; "
    "name aws_conn_id (an aws connection allowed iot:ListThingsInThingGroup) to count them, target things, or "
    "leave max_devices unset"
)


def _is_group(arn: str) -> bool:
    return arn.split(":", 5)[-1].startswith("thinggroup/")


def marked(description: str | None, marker: str) -> str:
    """The description sent: the user's, then the task instance's marker (≤ 2028 characters in all)."""
    text = f"{description} [{marker}]" if description else f"[{marker}]"
    return rules.description(text, "description")


class DeviceManagementApiJobOperator(DeviceManagementApiConnectionMixin, AwsJobOperatorBase):
    """Creates one AWS IoT job through the Job API (``POST /jobs``) and, by default, waits until it meets its
    thresholds.

    :param targets: thing and thing-group ARNs (``arn:aws:iot:<region>:<account>:thing/<name>`` or
        ``…:thinggroup/<name>``); the API cannot look names up.
    :param document: the job document (a dict, or a JSON string; ≤ 32 KB). The Job API creates jobs from a
        document only (no document source, template, rollout or abort config: use the ``aws`` backend for those).
    :param target_selection: ``"SNAPSHOT"`` (default) or ``"CONTINUOUS"`` (see ``continuous_min_executions``).
    :param continuous_min_executions: judge a CONTINUOUS job once this many things finished it.
    :param description: shown in the console; the task instance's marker is appended (see the module).
    :param device_management_api_conn_id: the connection (default ``iot_device_management_api_default``).
    :param aws_conn_id: optional ``aws`` connection that may list a thing group's things, to count them for
        ``max_devices`` and the empty-target check (without it only thing ARNs are counted).

    Plus every :class:`BaseJobOperator` parameter except ``job_id`` (the API picks job ids): thresholds,
    ``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout``, ``cancel_on_failure``,
    ``cancel_on_kill``, ``max_devices``, ``allow_no_devices``, ``dry_run``. Returns the job's progress dict.
    """

    launch_strategy: ClassVar[str] = "server_id"
    template_fields: Sequence[str] = (
        *BaseJobOperator.shared_template_fields,
        *DeviceManagementApiConnectionMixin.connection_template_fields,
        *AwsJobOperatorBase.aws_job_fields,
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._since: float | None = None
        self.check_literals((*self.aws_job_fields, "max_devices"))

    def build_request(self) -> dict[str, Any]:
        targets = rules.parse_targets(self.targets, max_targets=self.max_job_targets)
        for i, (kind, value) in enumerate(targets):
            if kind != "arn":
                raise ValueError(
                    f"targets[{i}]: the Device Management API takes thing and thing-group ARNs "
                    f"(arn:aws:iot:<region>:<account>:thing/<name> or …:thinggroup/<name>), got {value!r}"
                )
        if self.document in (None, "", {}):
            raise ValueError(
                "document: required; the Device Management API creates a job from a job document only"
            )
        arns = [value for _, value in targets]
        groups = [arn for arn in arns if _is_group(arn)]
        if self.max_devices is not None and not self.aws_conn_id and groups:
            raise ValueError(COUNT_RULE.format(arn=groups[0]))
        selection = rules.target_selection(self.target_selection)
        self.settle_after = self.continuous_wait(selection)
        description = None if self.description in (None, "") else rules.description(self.description)
        if description is not None:
            marked(description, "airflow:" + "x" * 64)  # room for the marker, checked before any call
        return {
            "targets": targets,
            "arns": arns,
            "document": rules.normalize_document(self.document),
            "target_selection": selection,
            "description": description,
        }

    def target(self, request: dict[str, Any]) -> list[str]:
        return request["arns"]

    def count_targets(self, request: dict[str, Any]) -> int | None:
        if not self.hook.can_count(request["arns"]):
            self.log.info(
                "%s: the Device Management API cannot count a thing group's things (no aws_conn_id); the job's "
                "own counts will tell",
                self.describe_target(request),
            )
            return None
        return super().count_targets(request)

    # ------------------------------------------------------------------ which job is ours

    def marker(self, context: Context, request: dict[str, Any]) -> str:
        from airflow_iot_jobs.naming import derive_job_id

        self._since = run_began(context)
        request["marker"] = f"airflow:{derive_job_id(context)}"
        return request["marker"]

    def find_job(self, marker: str) -> str | None:
        return self.hook.find_job(marker, since=self._since)

    def create_job(self, job_id: str | None, request: dict[str, Any]) -> str:
        self.hook.create_job(
            targets=request["arns"],
            document=request["document"],
            target_selection=request["target_selection"],
            description=marked(request["description"], request["marker"]),
        )
        return self.hook.wait_for_job(request["marker"], since=self._since)


def run_began(context: Context) -> float | None:
    """The earliest a job of this task instance can have been created: its DAG run's ``run_after`` (else the
    logical date). Every try, clear and rerun of the task instance comes after it."""
    dag_run = context.get("dag_run")
    for moment in (getattr(dag_run, "run_after", None), context.get("logical_date")):
        if moment is not None:
            return moment.timestamp()
    return None


class DeviceManagementApiCancelJobOperator(DeviceManagementApiConnectionMixin, AwsCancelJobOperatorBase):
    """Cancels a job (``PUT /jobs/{jobId}/cancel``); returns its progress dict afterwards.

    :param job_id: the job (templated). :param force: also cancel IN_PROGRESS executions.
    :param comment: why (≤ 2028 characters).
    """

    template_fields: Sequence[str] = (
        *AwsCancelJobOperatorBase.cancel_template_fields,
        *DeviceManagementApiConnectionMixin.connection_template_fields,
    )


class DeviceManagementApiDeleteJobOperator(DeviceManagementApiConnectionMixin, AwsDeleteJobOperatorBase):
    """Deletes a job (``DELETE /jobs/{jobId}``) and waits while it is DELETION_IN_PROGRESS, until it is gone.

    :param job_id: the job (templated). :param force: delete an IN_PROGRESS job too.
    :param poll_interval: seconds between checks (default 5). :param timeout: default 30 minutes.
    """

    template_fields: Sequence[str] = (
        "job_id",
        *DeviceManagementApiConnectionMixin.connection_template_fields,
    )


class DeviceManagementApiJobTemplateOperator(DeviceManagementApiConnectionMixin):
    """Ensures a job template with this description and document exists, or is gone (``state="absent"``).

    The Job API names templates itself (a uuid) and answers no id, so a template is known by its
    ``description``, which this operator treats as the template's name: a missing one is created
    (``POST /job-templates``) and found in the list; one with the same document is left alone; one with another
    document fails the task naming the difference (templates cannot be changed). Returns the template as AWS holds
    it (``jobTemplateId``, ``jobTemplateArn``, ``description``, ``document``, ``createdAt``).

    :param description: the template's description, unique among the templates (≤ 2028 characters).
    :param document: the job document (a dict, or a JSON string; ≤ 32 KB); required unless ``state="absent"``.
    :param state: ``"present"`` (default) or ``"absent"``.
    :param job_template_id: with ``state="absent"``: delete this template (else the one with ``description``).
    """

    template_fields: Sequence[str] = (
        "description",
        "document",
        "state",
        "job_template_id",
        *DeviceManagementApiConnectionMixin.connection_template_fields,
    )
    template_fields_renderers = {"document": "json"}

    def __init__(
        self,
        *,
        description: str | None = None,
        document: dict[str, Any] | str | None = None,
        state: str = "present",
        job_template_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.description = description
        self.document = document
        self.state = state
        self.job_template_id = job_template_id
        if not has_template([getattr(self, name) for name in self.template_fields]):
            self.definition()

    def definition(self) -> dict[str, Any]:
        if self.state not in ("present", "absent"):
            raise ValueError(f"state: must be 'present' or 'absent', got {self.state!r}")
        if self.job_template_id not in (None, ""):
            if self.state != "absent":
                raise ValueError(
                    "job_template_id: the Job API names templates itself; give it only with state='absent'"
                )
            rules.validate_id(self.job_template_id, "job_template_id")
            return {}
        if self.description in (None, ""):
            raise ValueError("description: required; it is how the template is known (the API picks its id)")
        description = rules.description(self.description)
        if self.state == "absent":
            return {"description": description}
        if self.document in (None, "", {}):
            raise ValueError("document: required for a job template (state='present')")
        return {"description": description, "document": rules.normalize_document(self.document)}

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_iot_jobs.jobs import JobServiceError

        body = self.definition()
        with fail_fast_on_permanent_errors():
            if self.state == "absent":
                return self.remove(body)
            found = self.hook.find_job_template(body["description"])
            if found is None:
                try:
                    self.hook.create_job_template(**body)
                except JobServiceError as err:
                    # an answer lost after the Lambda created it: look before letting a retry send it again
                    if not err.transient or self.hook.find_job_template(body["description"]) is None:
                        raise
                found = self.hook.wait_for_job_template(body["description"])
                self.log.info("job template %s created (%s)", found["jobTemplateId"], body["description"])
                return self.hook.describe_job_template(found["jobTemplateId"])
            held = self.hook.describe_job_template(found["jobTemplateId"])
        differences = template_differences(held, body)
        if differences:
            raise immutable_template(
                "document",
                held.get("jobTemplateId", ""),
                differences,
                "delete it (state='absent') and create it again, or use another description",
            )
        self.log.info("job template %s is as declared; nothing sent", held.get("jobTemplateId"))
        return held

    def remove(self, body: dict[str, Any]) -> None:
        template_id = self.job_template_id
        if template_id in (None, ""):
            found = self.hook.find_job_template(body["description"])
            if found is None:
                self.log.info("no job template described %r: already absent", body["description"])
                return None
            template_id = found["jobTemplateId"]
        with absent_ok(self.log, f"job template {template_id}"):
            self.hook.delete_job_template(template_id)
            self.log.info("job template %s deleted", template_id)
        return None


__all__ = [
    "DeviceManagementApiCancelJobOperator",
    "DeviceManagementApiDeleteJobOperator",
    "DeviceManagementApiJobOperator",
    "DeviceManagementApiJobTemplateOperator",
]
