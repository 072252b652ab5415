"""The AWS wire: routes from botocore's models, SigV4, errors as AWS sends them, validation from the model,
faults, and nextToken paging on every list."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
import requests
from botocore.exceptions import ClientError

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator
from airflow_iot_jobs.emulator.aws.responses import ControlPlane, DataPlane
from airflow_iot_jobs.emulator.aws.wire import java_pattern, routes, signing_name
from tests.emulator.aws.helpers import arn, client, error_of, reboot


def test_routes_are_the_models_and_the_planes_are_told_apart_by_signing_name() -> None:
    session = botocore.session.get_session()
    for service, operations in (("iot", ControlPlane.OPERATIONS), ("iot-jobs-data", DataPlane.OPERATIONS)):
        model = session.get_service_model(service)
        for route in routes(service, list(operations)):
            http = model.operation_model(route.operation).http
            assert (route.method, route.template) == (http["method"], http["requestUri"].partition("?")[0])
    assert (signing_name("iot"), signing_name("iot-jobs-data")) == ("iot", "iot-jobs-data")
    # Literal segments win over labels: StartNextPendingJobExecution is matched before anything with {jobId}.
    data_routes = routes("iot-jobs-data", list(DataPlane.OPERATIONS))
    assert data_routes[0].labels <= data_routes[-1].labels


def test_java_patterns_of_the_model_translate() -> None:
    assert java_pattern("[a-zA-Z0-9_-]+").fullmatch("job-1_a")
    assert not java_pattern("[a-zA-Z0-9_-]+").fullmatch("bad id!")
    assert java_pattern("[^\\p{C}]+").fullmatch("a comment, with punctuation")
    assert not java_pattern("[^\\p{C}]+").fullmatch("tab\there")
    assert java_pattern("[\\p{Upper}\\p{Digit}_]+").fullmatch("REASON_1")
    assert java_pattern("^arn:[!-~]+$").fullmatch("arn:aws:iot:x")


def test_unknown_access_key_and_wrong_secret_are_403_as_aws_answers(shared_aws: AwsIoTEmulator) -> None:
    with pytest.raises(ClientError) as caught:
        client(shared_aws, key="AKIAUNKNOWNUNKNOWN00").list_jobs()
    assert error_of(caught.value) == (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    with pytest.raises(ClientError) as caught:
        client(shared_aws, secret="not-the-secret").list_things()
    status, code, message = error_of(caught.value)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    # The data plane checks the same way.
    with pytest.raises(ClientError) as caught:
        client(shared_aws, "iot-jobs-data", secret="x" * 40).get_pending_job_executions(
            thingName="thing-00001"
        )
    assert error_of(caught.value)[:2] == (403, "InvalidSignatureException")
    # A signature for another region does not verify either (the scope is part of what is signed).
    with pytest.raises(ClientError) as caught:
        client(shared_aws, region="eu-west-1").list_jobs()
    assert error_of(caught.value)[:2] == (403, "InvalidSignatureException")


def test_unsigned_requests_get_the_front_doors_403_with_the_error_type_header(
    shared_aws: AwsIoTEmulator,
) -> None:
    response = requests.get(shared_aws.endpoint + "/jobs", timeout=10)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.headers["x-amzn-RequestId"]


def test_not_found_and_already_exists_carry_the_models_status(iot: Any) -> None:
    with pytest.raises(iot.exceptions.ResourceNotFoundException) as caught:
        iot.describe_job(jobId="no-such-job")
    assert error_of(caught.value)[:2] == (404, "ResourceNotFoundException")
    iot.create_job(jobId="proto-dup", targets=[arn("thing", "thing-00001")], document=reboot())
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as caught:
        iot.create_job(jobId="proto-dup", targets=[arn("thing", "thing-00001")], document=reboot())
    assert error_of(caught.value)[:2] == (409, "ResourceAlreadyExistsException")
    assert caught.value.response["resourceId"] == "proto-dup"
    assert caught.value.response["resourceArn"] == arn("job", "proto-dup")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.create_job(jobId="proto-missing", targets=[arn("thing", "nobody")], document=reboot())
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_job(jobId="proto-bad-arn", targets=["arn:aws:s3:::bucket"], document=reboot())


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (
            lambda iot: iot.create_job(jobId="bad id!", targets=[arn("thing", "thing-00001")], document="{}"),
            "Value 'bad id!' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression "
            "pattern: [a-zA-Z0-9_-]+",
        ),
        (
            lambda iot: iot.create_job(jobId="j" * 65, targets=[arn("thing", "thing-00001")], document="{}"),
            "Member must have length less than or equal to 64",
        ),
        (
            lambda iot: iot.create_job(
                jobId="proto-big", targets=[arn("thing", "thing-00001")], document="x" * 32769
            ),
            "at 'document' failed to satisfy constraint: Member must have length less than or equal to 32768",
        ),
        (lambda iot: iot.list_jobs(maxResults=251), "Member must have value less than or equal to 250"),
        (lambda iot: iot.list_jobs(maxResults=0), "Member must have value greater than or equal to 1"),
        (lambda iot: iot.list_jobs(status="QUEUED"), "Member must satisfy enum value set: [IN_PROGRESS"),
        (
            lambda iot: iot.create_job(
                jobId="proto-rate",
                targets=[arn("thing", "thing-00001")],
                document="{}",
                jobExecutionsRolloutConfig={
                    "exponentialRate": {
                        "baseRatePerMinute": 1001,
                        "incrementFactor": 6,
                        "rateIncreaseCriteria": {"numberOfNotifiedThings": 1},
                    }
                },
            ),
            "2 validation errors detected",
        ),
        (
            lambda iot: iot.create_job(
                jobId="proto-abort",
                targets=[arn("thing", "thing-00001")],
                document="{}",
                abortConfig={
                    "criteriaList": [
                        {
                            "failureType": "FAILED",
                            "action": "CANCEL",
                            "thresholdPercentage": 101,
                            "minNumberOfExecutedThings": 0,
                        }
                    ]
                },
            ),
            "abortConfig.criteriaList.1.member.thresholdPercentage",
        ),
        (
            lambda iot: iot.create_job(
                jobId="proto-retry",
                targets=[arn("thing", "thing-00001")],
                document="{}",
                jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 11}]},
            ),
            "Member must have value less than or equal to 10",
        ),
        (
            lambda iot: iot.create_job(
                jobId="proto-timeout",
                targets=[arn("thing", "thing-00001")],
                document="{}",
                timeoutConfig={"inProgressTimeoutInMinutes": 10081},
            ),
            "inProgressTimeoutInMinutes must be from 1 to 10080",
        ),
        (
            lambda iot: iot.create_job(jobId="proto-nodoc", targets=[arn("thing", "thing-00001")]),
            "document",
        ),
    ],
)
def test_model_constraints_are_invalid_request_exceptions(
    shared_aws: AwsIoTEmulator, call: Any, needle: str
) -> None:
    unchecked = client(shared_aws, validate=False)  # botocore would refuse some of these before sending
    with pytest.raises(ClientError) as caught:
        call(unchecked)
    status, code, message = error_of(caught.value)
    assert (status, code) == (400, "InvalidRequestException")
    assert needle in message


def test_injected_throttling_is_throttling_exception_with_each_models_status(
    shared_aws: AwsIoTEmulator,
) -> None:
    iot, data = client(shared_aws), client(shared_aws, "iot-jobs-data")
    shared_aws.faults.script("429")
    with pytest.raises(ClientError) as caught:
        iot.list_jobs()
    assert error_of(caught.value)[:2] == (400, "ThrottlingException")  # iot models it as 400
    shared_aws.faults.script("429")
    with pytest.raises(ClientError) as caught:
        data.get_pending_job_executions(thingName="thing-00002")
    assert error_of(caught.value)[:2] == (429, "ThrottlingException")  # iot-jobs-data as 429
    shared_aws.faults.script("500")
    with pytest.raises(ClientError) as caught:
        iot.list_things()
    assert error_of(caught.value)[:2] == (500, "InternalFailureException")
    # A bad signature is answered 403 even when a fault is queued: faults hit authenticated requests only.
    shared_aws.faults.script("503")
    with pytest.raises(ClientError) as caught:
        client(shared_aws, secret="wrong").list_jobs()
    assert error_of(caught.value)[:2] == (403, "InvalidSignatureException")
    with pytest.raises(ClientError) as caught:
        iot.list_jobs()
    assert error_of(caught.value)[:2] == (503, "ServiceUnavailableException")


def test_list_jobs_pages_with_next_token_unlike_moto(iot: Any) -> None:
    made = [f"page-job-{i}" for i in range(7)]
    for job_id in made:
        iot.create_job(jobId=job_id, targets=[arn("thing", "thing-00003")], document=reboot())
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"maxResults": 3, **({"nextToken": token} if token else {})}
        answer = iot.list_jobs(**kwargs)
        pages += 1
        seen += [j["jobId"] for j in answer["jobs"]]
        token = answer.get("nextToken")
        if not token:
            break
        assert pages < 20, "nextToken never ends"
    assert set(made) <= set(seen) and len(seen) == len(set(seen))
    assert [j for j in seen if j.startswith("page-job-")] == made[::-1]  # newest first
    # The paginator agrees, and filters page too.
    paged = [
        j["jobId"]
        for p in iot.get_paginator("list_jobs").paginate(PaginationConfig={"PageSize": 2})
        for j in p["jobs"]
    ]
    assert paged == seen
    in_progress = iot.list_jobs(status="IN_PROGRESS", maxResults=250)["jobs"]
    assert all(j["status"] == "IN_PROGRESS" for j in in_progress)
    assert iot.list_jobs(targetSelection="CONTINUOUS")["jobs"] == []


def test_every_list_pages(iot: Any, shared_aws: AwsIoTEmulator) -> None:
    def walk(name: str, key: str, **kwargs: Any) -> list[Any]:
        pages = iot.get_paginator(name).paginate(PaginationConfig={"PageSize": 4}, **kwargs)
        items = [item for p in pages for item in p[key]]
        return items

    things = walk("list_things", "things")
    assert [t["thingName"] for t in things] == sorted(shared_aws.registry.things)
    assert len(things) >= 30
    groups = walk("list_thing_groups", "thingGroups")
    assert {g["groupName"] for g in groups} >= {"fleet", "site-ams", "model-gw-100", "ring-canary"}
    fleet = walk("list_things_in_thing_group", "things", thingGroupName="fleet", recursive=True)
    assert fleet == sorted(n for n in shared_aws.registry.things if n.startswith("thing-"))
    assert walk("list_things_in_thing_group", "things", thingGroupName="fleet") == []
    iot.create_job(jobId="page-execs", targets=[arn("thinggroup", "fleet")], document=reboot())
    executions = walk("list_job_executions_for_job", "executionSummaries", jobId="page-execs")
    assert len(executions) == len(fleet)
    for i in range(5):
        iot.create_job_template(jobTemplateId=f"page-template-{i}", document=reboot(), description="t")
    templates = walk("list_job_templates", "jobTemplates")
    assert [t["jobTemplateId"] for t in templates if t["jobTemplateId"].startswith("page-template")] == [
        f"page-template-{i}" for i in range(5)
    ]
    for_thing = walk("list_job_executions_for_thing", "executionSummaries", thingName="thing-00004")
    assert "page-execs" in {e["jobId"] for e in for_thing}
    assert walk("list_thing_groups_for_thing", "thingGroups", thingName="thing-00004")


def test_a_token_of_another_list_is_refused(iot: Any) -> None:
    token = iot.list_things(maxResults=1)["nextToken"]
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.list_jobs(nextToken=token)
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.list_things(nextToken="garbage!")


def test_an_operation_the_emulator_does_not_serve_is_unknown(shared_aws: AwsIoTEmulator) -> None:
    with pytest.raises(ClientError) as caught:
        client(shared_aws).list_billing_groups()
    assert error_of(caught.value)[:2] == (404, "UnknownOperationException")
    body = json.loads(json.dumps(caught.value.response["Error"]))
    assert body["Code"] == "UnknownOperationException"
