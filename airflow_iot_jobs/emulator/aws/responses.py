"""The two AWS apps: the ``iot`` control plane and the ``iot-jobs-data`` device plane, over one state.

Each app checks SigV4, finds the operation from the model's routes, reads and validates its input from the model
(:mod:`~airflow_iot_jobs.emulator.aws.wire`), calls the state under its lock and writes the model's output shape.
Lists page with an opaque ``nextToken`` bound to the list (and filters) it continues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from airflow_iot_jobs.emulator.aws import errors
from airflow_iot_jobs.emulator.aws.errors import AwsError
from airflow_iot_jobs.emulator.aws.models import (
    TERMINAL,
    AwsIoTState,
    AwsJob,
    Execution,
    decode_token,
    encode_token,
    ms,
)
from airflow_iot_jobs.emulator.aws.sigv4 import SigV4Verifier
from airflow_iot_jobs.emulator.aws.things import ThingGroup
from airflow_iot_jobs.emulator.aws.wire import (
    build_router,
    error_status,
    parse_input,
    serialize_output,
    service_model,
)
from airflow_iot_jobs.emulator.engine import Phase
from airflow_iot_jobs.emulator.http import Request, Response
from airflow_iot_jobs.emulator.throttle import Throttle

#: Page size when a list call gives no maxResults (inferred: AWS documents none for these lists).
DEFAULT_PAGE = 50
Result = Mapping[str, Any] | None


class AwsApp:
    """One AWS service's app: ``__call__(Request) -> Response``."""

    def __init__(
        self,
        service: str,
        state: AwsIoTState,
        verifier: SigV4Verifier,
        handlers: Mapping[str, Callable[[dict[str, Any]], Result]],
        throttle: Throttle | None = None,
    ) -> None:
        self.service = service
        self.throttle = throttle  # None: no tier, nothing throttled
        self.state = state
        self.verifier = verifier
        self.handlers = dict(handlers)
        model = service_model(service)
        self.operations = {name: model.operation_model(name) for name in handlers}
        self.router = build_router(service, {name: partial(self._invoke, name) for name in handlers})

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        aws_code = errors.FAULT_CODES.get(code, code)
        return AwsError(
            aws_code, message, error_status(self.service, aws_code) or status, headers=headers
        ).to_response(self.service)

    def __call__(self, request: Request) -> Response:
        try:
            request.context["principal"] = self.verifier.verify(request)
            return self.router.dispatch(
                request,
                method_not_allowed=lambda method, allowed: errors.unknown_operation(),
                route_not_found=lambda path: errors.unknown_operation(),
            )
        except AwsError as exc:
            return exc.to_response(self.service)
        except Exception:
            return self.error_response(500, "ServerError", "An internal error occurred.", {})

    def _invoke(self, name: str, request: Request) -> Response:
        if self.throttle is not None and self.throttle.take(name) is not None:
            raise errors.throttled()
        operation = self.operations[name]
        inp = parse_input(operation, request)
        with self.state.lock:
            result = self.handlers[name](inp)
        return serialize_output(operation, result)


def page(
    items: list[tuple[Any, Any]], inp: Mapping[str, Any], scope: str, default: int = DEFAULT_PAGE
) -> tuple[list[Any], str | None]:
    """One page of ``(key, item)`` pairs (ascending keys) after ``inp["nextToken"]``, and the next token."""
    token = inp.get("nextToken")
    if token:
        after = decode_token(token, scope)
        items = [(key, item) for key, item in items if key > after]
    size = inp.get("maxResults") or default
    chunk = items[:size]
    following = encode_token(scope, chunk[-1][0]) if len(items) > size else None
    return [item for _, item in chunk], following


def _scope(name: str, inp: Mapping[str, Any], *filters: str) -> str:
    return "|".join([name, *(f"{f}={inp.get(f)}" for f in filters)])


class ControlPlane:
    """The ``iot`` operations this emulator serves (member names as the model spells them)."""

    OPERATIONS = (
        "CreateJob",
        "DescribeJob",
        "ListJobs",
        "UpdateJob",
        "CancelJob",
        "DeleteJob",
        "GetJobDocument",
        "AssociateTargetsWithJob",
        "ListJobExecutionsForJob",
        "ListJobExecutionsForThing",
        "DescribeJobExecution",
        "CancelJobExecution",
        "DeleteJobExecution",
        "CreateJobTemplate",
        "DescribeJobTemplate",
        "ListJobTemplates",
        "DeleteJobTemplate",
        "CreateThing",
        "DescribeThing",
        "ListThings",
        "DeleteThing",
        "CreateThingGroup",
        "DescribeThingGroup",
        "ListThingGroups",
        "DeleteThingGroup",
        "AddThingToThingGroup",
        "RemoveThingFromThingGroup",
        "ListThingsInThingGroup",
        "ListThingGroupsForThing",
    )

    def __init__(self, state: AwsIoTState) -> None:
        self.state = state
        self.registry = state.registry

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Result]]:
        return {name: getattr(self, _snake(name)) for name in self.OPERATIONS}

    # -- views ------------------------------------------------------------------------------------------

    def process_details(self, job: AwsJob, now: float) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for ex in job.executions.values():
            status, _ = ex.shown(now)
            counts[status] = counts.get(status, 0) + 1
        details: dict[str, Any] = {
            "numberOfCanceledThings": counts.get("CANCELED", 0),
            "numberOfSucceededThings": counts.get("SUCCEEDED", 0),
            "numberOfFailedThings": counts.get("FAILED", 0),
            "numberOfRejectedThings": counts.get("REJECTED", 0),
            "numberOfQueuedThings": counts.get("QUEUED", 0),
            "numberOfInProgressThings": counts.get("IN_PROGRESS", 0),
            "numberOfRemovedThings": counts.get("REMOVED", 0),
            "numberOfTimedOutThings": counts.get("TIMED_OUT", 0),
        }
        if job.concurrent():
            details["processingTargets"] = list(job.fields["targets"])
        return details

    def job_json(self, job: AwsJob, now: float) -> dict[str, Any]:
        f = job.fields
        status = job.wire_status()
        body: dict[str, Any] = {
            "jobArn": job.arn,
            "jobId": job.job_id,
            "targetSelection": f["targetSelection"],
            "status": status,
            "forceCanceled": job.force_canceled if job.status == Phase.CANCELLED else None,
            "reasonCode": job.reason_code,
            "comment": job.comment,
            "targets": list(f["targets"]),
            "description": f.get("description"),
            "createdAt": job.created,
            "lastUpdatedAt": job.last_updated,
            "completedAt": job.ended if status in ("COMPLETED", "CANCELED") else None,
            "jobProcessDetails": self.process_details(job, now),
            "isConcurrent": job.concurrent(),
        }
        for name in (
            "presignedUrlConfig",
            "jobExecutionsRolloutConfig",
            "abortConfig",
            "timeoutConfig",
            "namespaceId",
            "jobTemplateArn",
            "jobExecutionsRetryConfig",
            "documentParameters",
            "schedulingConfig",
            "destinationPackageVersions",
        ):
            body[name] = f.get(name)
        return body

    def job_summary(self, job: AwsJob) -> dict[str, Any]:
        status = job.wire_status()
        return {
            "jobArn": job.arn,
            "jobId": job.job_id,
            "targetSelection": job.fields["targetSelection"],
            "status": status,
            "createdAt": job.created,
            "lastUpdatedAt": job.last_updated,
            "completedAt": job.ended if status in ("COMPLETED", "CANCELED") else None,
            "isConcurrent": job.concurrent(),
        }

    def execution_summary(self, ex: Execution, now: float) -> dict[str, Any]:
        status, number = ex.shown(now)
        return {
            "status": status,
            "queuedAt": ex.queued_at,
            "startedAt": ex.started_at,
            "lastUpdatedAt": ex.last_updated,
            "executionNumber": number,
            "retryAttempt": number - 1,
        }

    def seconds_before_timeout(self, job: AwsJob, ex: Execution, now: float) -> int | None:
        if ex.status != "IN_PROGRESS":
            return None
        due: float | None
        if ex.attempts:
            timeout = job.timeout_seconds()
            due = (
                None
                if timeout is None or ex.started_at is None
                else ex.started_at + self.state.timeline.real(timeout)
            )
        else:
            candidates = [t for t in (ex.timeout_at, ex.step_timeout_at) if t is not None]
            due = min(candidates) if candidates else None
        return None if due is None else max(0, int(self.state.emulated(due - now)))

    def execution_json(self, job: AwsJob, ex: Execution, now: float) -> dict[str, Any]:
        status, number = ex.shown(now)
        return {
            "jobId": job.job_id,
            "status": status,
            "forceCanceled": ex.force_canceled,
            "statusDetails": {"detailsMap": dict(ex.status_details)}
            if ex.status_details is not None
            else None,
            "thingArn": ex.thing_arn,
            "queuedAt": ex.queued_at,
            "startedAt": ex.started_at,
            "lastUpdatedAt": ex.last_updated,
            "executionNumber": number,
            "versionNumber": ex.version_number,
            "approximateSecondsBeforeTimedOut": self.seconds_before_timeout(job, ex, now),
        }

    # -- jobs -------------------------------------------------------------------------------------------

    def create_job(self, inp: dict[str, Any]) -> Result:
        job_id = inp.pop("jobId")
        job = self.state.create_job(job_id, inp)
        return {"jobArn": job.arn, "jobId": job.job_id, "description": job.fields.get("description")}

    def describe_job(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        job = self.state.job(inp["jobId"])
        return {"documentSource": job.fields.get("documentSource"), "job": self.job_json(job, now)}

    def list_jobs(self, inp: dict[str, Any]) -> Result:
        self.state.advance()
        group_arns: set[str] = set()
        if inp.get("thingGroupName"):
            group_arns.add(self.registry.arn("thinggroup", inp["thingGroupName"]))
        if inp.get("thingGroupId"):
            group_arns |= {
                g.arn for g in self.registry.groups.values() if g.group_id == inp["thingGroupId"]
            } or {"-"}
        items = []
        for job in self.state.jobs.values():
            if inp.get("status") and job.wire_status() != inp["status"]:
                continue
            if inp.get("targetSelection") and job.fields["targetSelection"] != inp["targetSelection"]:
                continue
            if inp.get("namespaceId") and job.fields.get("namespaceId") != inp["namespaceId"]:
                continue
            if group_arns and not group_arns & set(job.fields["targets"]):
                continue
            items.append((-job.seq, self.job_summary(job)))  # newest first
        items.sort(key=lambda pair: pair[0])
        scope = _scope(
            "jobs", inp, "status", "targetSelection", "thingGroupName", "thingGroupId", "namespaceId"
        )
        jobs, token = page(items, inp, scope)
        return {"jobs": jobs, "nextToken": token}

    def update_job(self, inp: dict[str, Any]) -> Result:
        job_id = inp.pop("jobId")
        inp.pop("namespaceId", None)
        self.state.update_job(job_id, inp)
        return None

    def cancel_job(self, inp: dict[str, Any]) -> Result:
        job = self.state.cancel_job(
            inp["jobId"], bool(inp.get("force")), inp.get("reasonCode"), inp.get("comment")
        )
        return {"jobArn": job.arn, "jobId": job.job_id, "description": job.fields.get("description")}

    def delete_job(self, inp: dict[str, Any]) -> Result:
        self.state.delete_job(inp["jobId"], bool(inp.get("force")))
        return None

    def get_job_document(self, inp: dict[str, Any]) -> Result:
        self.state.advance()
        job = self.state.job(inp["jobId"])
        # A documentSource (S3) document cannot be fetched here: it reads as empty.
        return {"document": job.document(substitute=not inp.get("beforeSubstitution")) or ""}

    def associate_targets_with_job(self, inp: dict[str, Any]) -> Result:
        job = self.state.associate_targets(inp["jobId"], inp["targets"], inp.get("comment"))
        return {"jobArn": job.arn, "jobId": job.job_id, "description": job.fields.get("description")}

    def list_job_executions_for_job(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        job = self.state.job(inp["jobId"])
        items = []
        for name in sorted(job.executions):
            ex = job.executions[name]
            summary = self.execution_summary(ex, now)
            if inp.get("status") and summary["status"] != inp["status"]:
                continue
            items.append((name, {"thingArn": ex.thing_arn, "jobExecutionSummary": summary}))
        executions, token = page(items, inp, _scope(f"executions/{job.job_id}/{job.seq}", inp, "status"))
        return {"executionSummaries": executions, "nextToken": token}

    def list_job_executions_for_thing(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        thing = inp["thingName"]
        items = []
        for job in sorted(self.state.jobs.values(), key=lambda j: j.seq):
            ex = job.executions.get(thing)
            if ex is None:
                continue
            if inp.get("jobId") and job.job_id != inp["jobId"]:
                continue
            if inp.get("namespaceId") and job.fields.get("namespaceId") != inp["namespaceId"]:
                continue
            summary = self.execution_summary(ex, now)
            if inp.get("status") and summary["status"] != inp["status"]:
                continue
            items.append((job.seq, {"jobId": job.job_id, "jobExecutionSummary": summary}))
        if not items and thing not in self.registry.things:
            raise errors.not_found(f"Thing {thing} cannot be found.")
        scope = _scope(f"thing-executions/{thing}", inp, "status", "jobId", "namespaceId")
        executions, token = page(items, inp, scope)
        return {"executionSummaries": executions, "nextToken": token}

    def describe_job_execution(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        job, ex = self.state.execution(inp["jobId"], inp["thingName"], inp.get("executionNumber"))
        return {"execution": self.execution_json(job, ex, now)}

    def cancel_job_execution(self, inp: dict[str, Any]) -> Result:
        self.state.cancel_execution(
            inp["jobId"],
            inp["thingName"],
            bool(inp.get("force")),
            inp.get("expectedVersion"),
            inp.get("statusDetails"),
        )
        return None

    def delete_job_execution(self, inp: dict[str, Any]) -> Result:
        self.state.delete_execution(
            inp["jobId"], inp["thingName"], inp["executionNumber"], bool(inp.get("force"))
        )
        return None

    # -- job templates -----------------------------------------------------------------------------------

    def create_job_template(self, inp: dict[str, Any]) -> Result:
        template_id = inp.pop("jobTemplateId")
        template = self.state.create_template(template_id, inp)
        return {"jobTemplateArn": template.arn, "jobTemplateId": template.template_id}

    def describe_job_template(self, inp: dict[str, Any]) -> Result:
        template = self.state.template(inp["jobTemplateId"])
        return {
            "jobTemplateArn": template.arn,
            "jobTemplateId": template.template_id,
            "createdAt": template.created,
            **{k: v for k, v in template.fields.items() if k != "tags"},
        }

    def list_job_templates(self, inp: dict[str, Any]) -> Result:
        items = [
            (
                template.template_id,
                {
                    "jobTemplateArn": template.arn,
                    "jobTemplateId": template.template_id,
                    "description": template.fields.get("description"),
                    "createdAt": template.created,
                },
            )
            for template in sorted(self.state.templates.values(), key=lambda t: t.template_id)
        ]
        templates, token = page(items, inp, "templates")
        return {"jobTemplates": templates, "nextToken": token}

    def delete_job_template(self, inp: dict[str, Any]) -> Result:
        self.state.template(inp["jobTemplateId"])
        del self.state.templates[inp["jobTemplateId"]]
        return None

    # -- things -----------------------------------------------------------------------------------------

    def create_thing(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        name = inp["thingName"]
        attributes = dict((inp.get("attributePayload") or {}).get("attributes") or {})
        if inp.get("thingTypeName"):
            raise errors.not_found(f"Thing type {inp['thingTypeName']} does not exist.")
        if inp.get("billingGroupName"):
            raise errors.not_found(f"Billing group {inp['billingGroupName']} does not exist.")
        existing = self.registry.things.get(name)
        if existing is not None:
            if existing.attributes != attributes or existing.simulated:
                raise errors.already_exists(
                    f"Thing {name} already exists in account with different attributes", name, existing.arn
                )
            thing = existing
        else:
            thing = self.registry.create_thing(name, attributes, now)
        return {"thingName": thing.name, "thingArn": thing.arn, "thingId": thing.thing_id}

    def describe_thing(self, inp: dict[str, Any]) -> Result:
        return self.registry.thing(inp["thingName"]).describe()

    def list_things(self, inp: dict[str, Any]) -> Result:
        name, value = inp.get("attributeName"), inp.get("attributeValue")
        prefix = bool(inp.get("usePrefixAttributeValue"))
        items = []
        for thing_name in sorted(self.registry.things):
            thing = self.registry.things[thing_name]
            if inp.get("thingTypeName") and thing.thing_type != inp["thingTypeName"]:
                continue
            if name is not None:
                actual = thing.attributes.get(name)
                if actual is None or (
                    value is not None and not (actual.startswith(value) if prefix else actual == value)
                ):
                    continue
            items.append((thing_name, thing.summary()))
        scope = _scope(
            "things", inp, "attributeName", "attributeValue", "usePrefixAttributeValue", "thingTypeName"
        )
        things, token = page(items, inp, scope)
        return {"things": things, "nextToken": token}

    def delete_thing(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        name = inp["thingName"]
        thing = self.registry.things.get(name)
        if thing is None:
            return None  # "Returns successfully ... if you specify a thing that doesn't exist"
        expected = inp.get("expectedVersion")
        if expected is not None and expected != thing.version:
            raise errors.version_conflict(
                f"The expected version {expected} does not match the thing's version {thing.version}."
            )
        self.state.thing_left(name, now, deleted=True)
        self.registry.delete_thing(name)
        return None

    # -- thing groups -----------------------------------------------------------------------------------

    def group_ref(self, group: ThingGroup) -> dict[str, str]:
        return {"groupName": group.name, "groupArn": group.arn}

    def create_thing_group(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        name = inp["thingGroupName"]
        parent = inp.get("parentGroupName")
        properties = inp.get("thingGroupProperties") or {}
        description = properties.get("thingGroupDescription")
        attributes = dict((properties.get("attributePayload") or {}).get("attributes") or {})
        existing = self.registry.groups.get(name)
        if existing is not None:
            if (existing.parent, existing.description, existing.attributes) != (
                parent,
                description,
                attributes,
            ):
                raise errors.already_exists(
                    f"Thing group {name} already exists with different tags or properties", name, existing.arn
                )
            group = existing
        else:
            if parent is not None and parent not in self.registry.groups:
                raise errors.invalid_request(f"Parent group {parent} does not exist.")
            group = self.registry.create_group(name, parent, now, description, attributes, inp.get("tags"))
        return {"thingGroupName": group.name, "thingGroupArn": group.arn, "thingGroupId": group.group_id}

    def describe_thing_group(self, inp: dict[str, Any]) -> Result:
        group = self.registry.group(inp["thingGroupName"])
        properties: dict[str, Any] = {"attributePayload": {"attributes": dict(group.attributes)}}
        if group.description is not None:
            properties["thingGroupDescription"] = group.description
        metadata: dict[str, Any] = {"creationDate": group.created}
        if group.parent is not None:
            metadata["parentGroupName"] = group.parent
            metadata["rootToParentThingGroups"] = [
                self.group_ref(self.registry.groups[g]) for g in self.registry.ancestors(group.name)
            ]
        return {
            "thingGroupName": group.name,
            "thingGroupId": group.group_id,
            "thingGroupArn": group.arn,
            "version": group.version,
            "thingGroupProperties": properties,
            "thingGroupMetadata": metadata,
        }

    def list_thing_groups(self, inp: dict[str, Any]) -> Result:
        parent = inp.get("parentGroup")
        recursive = inp.get("recursive")
        if parent is not None:
            self.registry.group(parent)
            names = (
                [g for g in self.registry.descendants(parent) if g != parent]
                if recursive
                else self.registry.children(parent)
            )
        elif recursive is False:
            names = [g.name for g in self.registry.groups.values() if g.parent is None]
        else:
            names = list(self.registry.groups)
        prefix = inp.get("namePrefixFilter")
        items = [
            (name, self.group_ref(self.registry.groups[name]))
            for name in sorted(names)
            if prefix is None or name.startswith(prefix)
        ]
        groups, token = page(
            items, inp, _scope("groups", inp, "parentGroup", "recursive", "namePrefixFilter")
        )
        return {"thingGroups": groups, "nextToken": token}

    def delete_thing_group(self, inp: dict[str, Any]) -> Result:
        name = inp["thingGroupName"]
        group = self.registry.groups.get(name)
        if group is None:
            return None
        expected = inp.get("expectedVersion")
        if expected is not None and expected != group.version:
            raise errors.version_conflict(
                f"The expected version {expected} does not match the group's version {group.version}."
            )
        if self.registry.children(name):
            raise errors.invalid_request(f"Cannot delete thing group {name}: it has child groups.")
        now = self.state.advance()
        members = sorted(group.things)
        self.registry.delete_group(name)
        for thing in members:
            self.state.thing_left(thing, now)
        return None

    def _membership(self, inp: dict[str, Any]) -> tuple[str, str]:
        group = inp.get("thingGroupName")
        if group is None and inp.get("thingGroupArn"):
            group = inp["thingGroupArn"].rpartition("/")[2]
        thing = inp.get("thingName")
        if thing is None and inp.get("thingArn"):
            thing = inp["thingArn"].rpartition("/")[2]
        if not group or not thing:
            raise errors.invalid_request(
                "A thing group (name or ARN) and a thing (name or ARN) are required."
            )
        self.registry.group(group)
        self.registry.thing(thing)
        return thing, group

    def add_thing_to_thing_group(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        thing, group = self._membership(inp)
        if self.registry.add_to_group(thing, group):
            self.state.thing_joined(thing, now)
        return None

    def remove_thing_from_thing_group(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        thing, group = self._membership(inp)
        if self.registry.remove_from_group(thing, group):
            self.state.thing_left(thing, now)
        return None

    def list_things_in_thing_group(self, inp: dict[str, Any]) -> Result:
        name = inp["thingGroupName"]
        self.registry.group(name)
        recursive = bool(inp.get("recursive"))
        items = [(thing, thing) for thing in self.registry.things_in(name, recursive)]
        things, token = page(items, inp, _scope(f"group-things/{name}", inp, "recursive"))
        return {"things": things, "nextToken": token}

    def list_thing_groups_for_thing(self, inp: dict[str, Any]) -> Result:
        thing = inp["thingName"]
        self.registry.thing(thing)
        items = [
            (name, self.group_ref(self.registry.groups[name]))
            for name in sorted(self.registry.memberships.get(thing, set()))
        ]
        groups, token = page(items, inp, f"thing-groups/{thing}")
        return {"thingGroups": groups, "nextToken": token}


class DataPlane:
    """The ``iot-jobs-data`` operations: what a thing calls to run its jobs."""

    OPERATIONS = (
        "GetPendingJobExecutions",
        "StartNextPendingJobExecution",
        "DescribeJobExecution",
        "UpdateJobExecution",
    )

    def __init__(self, state: AwsIoTState, control: ControlPlane) -> None:
        self.state = state
        self.control = control

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Result]]:
        return {name: getattr(self, _snake(name)) for name in self.OPERATIONS}

    def summary(self, job: AwsJob, ex: Execution, now: float) -> dict[str, Any]:
        _, number = ex.shown(now)
        return {
            "jobId": job.job_id,
            "queuedAt": ms(ex.queued_at),
            "startedAt": ms(ex.started_at),
            "lastUpdatedAt": ms(ex.last_updated),
            "versionNumber": ex.version_number,
            "executionNumber": number,
        }

    def execution(self, job: AwsJob, ex: Execution, now: float, document: bool) -> dict[str, Any]:
        status, number = ex.shown(now)
        return {
            "jobId": job.job_id,
            "thingName": ex.thing_name,
            "status": status,
            "statusDetails": dict(ex.status_details) if ex.status_details is not None else None,
            "queuedAt": ms(ex.queued_at),
            "startedAt": ms(ex.started_at),
            "lastUpdatedAt": ms(ex.last_updated),
            "approximateSecondsBeforeTimedOut": self.control.seconds_before_timeout(job, ex, now),
            "versionNumber": ex.version_number,
            "executionNumber": number,
            "jobDocument": (job.document() or "") if document else None,
        }

    def get_pending_job_executions(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        self.state.registry.thing(inp["thingName"])
        pending = self.state.pending(inp["thingName"])
        return {
            "inProgressJobs": [self.summary(j, e, now) for j, e in pending if e.status == "IN_PROGRESS"],
            "queuedJobs": [self.summary(j, e, now) for j, e in pending if e.status == "QUEUED"],
        }

    def start_next_pending_job_execution(self, inp: dict[str, Any]) -> Result:
        found = self.state.start_next(
            inp["thingName"], inp.get("statusDetails"), inp.get("stepTimeoutInMinutes")
        )
        if found is None:
            return {}
        now = self.state.timeline.now()
        return {"execution": self.execution(*found, now, document=True)}

    def describe_job_execution(self, inp: dict[str, Any]) -> Result:
        now = self.state.advance()
        thing = inp["thingName"]
        self.state.registry.thing(thing)
        if inp["jobId"] == "$next":
            pending = self.state.pending(thing)
            if not pending:
                raise errors.not_found(f"No pending job execution for thing {thing}.")
            job, ex = pending[0]
        else:
            job, ex = self.state.execution(inp["jobId"], thing, inp.get("executionNumber"))
        return {"execution": self.execution(job, ex, now, document=bool(inp.get("includeJobDocument")))}

    def update_job_execution(self, inp: dict[str, Any]) -> Result:
        job, ex = self.state.device_update(
            inp["jobId"],
            inp["thingName"],
            inp["status"],
            inp.get("statusDetails"),
            inp.get("expectedVersion"),
            inp.get("executionNumber"),
            inp.get("stepTimeoutInMinutes"),
        )
        result: dict[str, Any] = {}
        if inp.get("includeJobExecutionState"):
            result["executionState"] = {
                "status": ex.status,
                "statusDetails": dict(ex.status_details) if ex.status_details is not None else None,
                "versionNumber": ex.version_number,
            }
        if inp.get("includeJobDocument"):
            result["jobDocument"] = job.document() or ""
        return result


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


__all__ = ["TERMINAL", "AwsApp", "ControlPlane", "DataPlane", "page"]
