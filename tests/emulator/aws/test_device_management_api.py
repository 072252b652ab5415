"""The softchef Job API facade of the AWS emulator, over HTTP: every route of seed 003, the Lambdas' quirks, errors,
the auth matrix, and a job created through REST that boto3 sees and the simulated things run."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from airflow_iot_jobs.emulator.aws import AwsIoTEmulator
from airflow_iot_jobs.emulator.aws.device_management_api import ROUTES
from airflow_iot_jobs.emulator.clock import ManualClock
from tests.emulator.aws.helpers import arn, client

FLEET = arn("thinggroup", "fleet")
DOC = json.dumps({"operation": "ping"})
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def create(url: str, **body: Any) -> str:
    """POST /jobs, then find the new job by its unique description (the API answers no id)."""
    marker = f"marker-{uuid.uuid4()}"
    payload = {
        "targets": [FLEET],
        "targetSelection": "SNAPSHOT",
        "document": DOC,
        "description": marker,
        **body,
    }
    response = requests.post(f"{url}/jobs", json=payload, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": True}
    for summary in requests.get(f"{url}/jobs", timeout=10).json()["jobs"]:
        job = requests.get(f"{url}/jobs/{summary['jobId']}", timeout=10).json()["job"]
        if job.get("description") == payload["description"]:
            return str(job["jobId"])
    raise AssertionError("the created job is not listed")


@pytest.fixture
def emu(make_aws: Callable[..., AwsIoTEmulator]) -> AwsIoTEmulator:
    return make_aws(things=6)


def test_info_and_the_same_port(emu: AwsIoTEmulator) -> None:
    info = emu.info()
    assert info["device_management_api_url"] == emu.endpoint + "/device-management/prod"
    assert info["device_management_auth"] == "none"
    assert "device_management_id_token" not in info
    conn = json.loads(info["airflow_env"]["AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT"])
    assert conn["host"] == info["device_management_api_url"] and conn["extra"]["auth"] == "none"


def test_job_routes_and_boto3_sees_the_job_the_things_run(emu: AwsIoTEmulator, clock: ManualClock) -> None:
    url = emu.device_management_api_url
    job_id = create(url)
    assert __import__("re").fullmatch(UUID, job_id)
    iot = client(emu)
    described = iot.describe_job(jobId=job_id)["job"]
    assert described["targets"] == [FLEET] and described["targetSelection"] == "SNAPSHOT"

    job = requests.get(f"{url}/jobs/{job_id}", timeout=10).json()["job"]
    assert job["jobArn"] == arn("job", job_id) and job["status"] == "IN_PROGRESS"
    assert job["createdAt"].endswith("Z") and "T" in job["createdAt"]  # a Date through JSON.stringify
    assert requests.get(f"{url}/jobs/{job_id}/document", timeout=10).json() == {"document": DOC}

    r = requests.put(f"{url}/jobs/{job_id}", json={"description": "renamed"}, timeout=10)
    assert r.json() == {"updated": True}
    assert iot.describe_job(jobId=job_id)["job"]["description"] == "renamed"

    clock.advance(600)
    job = requests.get(f"{url}/jobs/{job_id}", timeout=10).json()["job"]
    assert job["status"] == "COMPLETED"
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 6
    assert iot.describe_job(jobId=job_id)["job"]["status"] == "COMPLETED"

    r = requests.put(f"{url}/jobs/{job_id}", json={"description": "again"}, timeout=10)
    assert r.status_code == 500 and "COMPLETED" in r.json()["error"]  # AWS refuses; the Lambda says 500

    listed = requests.get(f"{url}/jobs", params={"status": "COMPLETED"}, timeout=10).json()
    assert [j["jobId"] for j in listed["jobs"]] == [job_id] and "nextToken" not in listed
    assert requests.get(f"{url}/jobs", params={"status": "IN_PROGRESS"}, timeout=10).json() == {"jobs": []}
    assert requests.get(f"{url}/jobs", params={"targetSelection": "CONTINUOUS"}, timeout=10).json() == {
        "jobs": []
    }

    assert requests.delete(f"{url}/jobs/{job_id}", timeout=10).json() == {"deleted": True}
    clock.advance(10)
    assert requests.get(f"{url}/jobs/{job_id}", timeout=10).status_code == 404


def test_list_jobs_pages_with_next_token(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    iot = client(emu)
    for i in range(52):
        iot.create_job(jobId=f"bulk-{i}", targets=[arn("thing", "thing-00000")], document=DOC)
    first = requests.get(f"{url}/jobs", timeout=10).json()
    assert len(first["jobs"]) == 50 and first["nextToken"]
    second = requests.get(f"{url}/jobs", params={"nextToken": first["nextToken"]}, timeout=10).json()
    assert len(second["jobs"]) == 2 and "nextToken" not in second


def test_cancel_and_associate(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    job_id = create(url, targetSelection="CONTINUOUS", targets=[arn("thinggroup", "ring-canary")])
    r = requests.put(
        f"{url}/jobs/{job_id}/associate", json={"targets": [arn("thing", "thing-00001")]}, timeout=10
    )
    assert r.json() == {"associated": True}, r.text
    assert arn("thing", "thing-00001") in client(emu).describe_job(jobId=job_id)["job"]["targets"]
    r = requests.put(f"{url}/jobs/{job_id}/cancel", json={"comment": "stop", "force": True}, timeout=10)
    assert r.json() == {"canceled": True}
    job = client(emu).describe_job(jobId=job_id)["job"]
    assert job["status"] == "CANCELED" and job["comment"] == "stop" and job["forceCanceled"] is True
    # AssociateTargetsWithJob on a canceled job: AWS's error, passed through as a 500.
    r = requests.put(
        f"{url}/jobs/{job_id}/associate", json={"targets": [arn("thing", "thing-00002")]}, timeout=10
    )
    assert r.status_code == 500 and r.json()["error"].startswith("InvalidRequestException: ")


def test_execution_routes_and_the_query_string_quirk(emu: AwsIoTEmulator, clock: ManualClock) -> None:
    url = emu.device_management_api_url
    job_id = create(url, targets=[arn("thing", "thing-00002"), arn("thing", "thing-00003")])
    clock.advance(600)
    # The path's jobId is not read: without ?jobId= (and ?status=, null is not a string) the Lambda answers 422.
    r = requests.get(f"{url}/jobs/{job_id}/status", timeout=10)
    assert r.status_code == 422
    assert [(d["key"], d["value"]) for d in r.json()["error"]] == [("jobId", None), ("status", None)]
    r = requests.get(
        f"{url}/jobs/{job_id}/status", params={"jobId": job_id, "status": "SUCCEEDED"}, timeout=10
    )
    body = r.json()
    assert [s["thingArn"] for s in body["executionSummaries"]] == [
        arn("thing", "thing-00002"),
        arn("thing", "thing-00003"),
    ]
    assert body["executionSummaries"][0]["jobExecutionSummary"]["status"] == "SUCCEEDED"
    # Another job's id in the query string wins over the path.
    r = requests.get(
        f"{url}/jobs/{job_id}/status", params={"jobId": "nope", "status": "SUCCEEDED"}, timeout=10
    )
    assert r.status_code == 404 and r.json()["error"].startswith("ResourceNotFoundException: ")

    r = requests.get(f"{url}/things/thing-00002/jobs", params={"status": "SUCCEEDED"}, timeout=10)
    assert r.status_code == 422 and r.json()["error"][0]["key"] == "thingName"
    r = requests.get(
        f"{url}/things/thing-00002/jobs",
        params={"thingName": "thing-00002", "status": "SUCCEEDED"},
        timeout=10,
    )
    assert [s["jobId"] for s in r.json()["executionSummaries"]] == [job_id]

    execution = requests.get(f"{url}/jobs/{job_id}/things/thing-00002", timeout=10).json()["execution"]
    assert execution["jobId"] == job_id and execution["status"] == "SUCCEEDED"
    assert execution["thingArn"] == arn("thing", "thing-00002") and execution["executionNumber"] == 1
    assert requests.get(f"{url}/jobs/{job_id}/things/thing-00099", timeout=10).status_code == 404

    r = requests.delete(f"{url}/jobs/{job_id}/things/thing-00002", json={}, timeout=10)
    assert r.status_code == 422 and r.json()["error"][0]["message"] == '"executionNumber" must be a number'
    r = requests.delete(f"{url}/jobs/{job_id}/things/thing-00002", json={"executionNumber": 1}, timeout=10)
    assert r.json() == {"deleted": True}
    assert requests.get(f"{url}/jobs/{job_id}/things/thing-00002", timeout=10).status_code == 404


def test_cancel_job_execution(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    iot = client(emu)
    iot.create_thing(thingName="manual-1")  # not simulated: its execution stays QUEUED
    job_id = create(url, targets=[arn("thing", "manual-1")])
    r = requests.put(f"{url}/jobs/{job_id}/things/manual-1/cancel", json={"force": "yes"}, timeout=10)
    assert r.status_code == 422 and r.json()["error"] == [
        {"key": "force", "label": "force", "value": "yes", "message": '"force" must be a boolean'}
    ]
    r = requests.put(f"{url}/jobs/{job_id}/things/manual-1/cancel", json={}, timeout=10)
    assert r.json() == {"canceled": True}, r.text
    execution = iot.describe_job_execution(jobId=job_id, thingName="manual-1")["execution"]
    assert execution["status"] == "CANCELED"
    assert requests.put(f"{url}/jobs/nope/things/manual-1/cancel", json={}, timeout=10).status_code == 404


def test_job_template_routes(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    r = requests.post(f"{url}/job-templates", json={"document": DOC}, timeout=10)
    assert r.status_code == 422 and [d["key"] for d in r.json()["error"]] == ["description"]
    r = requests.post(f"{url}/job-templates", json={"document": DOC, "description": "tpl"}, timeout=10)
    assert r.json() == {"created": True}
    listed = requests.get(f"{url}/job-templates", timeout=10).json()
    [summary] = listed["jobTemplates"]
    template_id = summary["jobTemplateId"]
    assert __import__("re").fullmatch(UUID, template_id) and summary["description"] == "tpl"
    got = requests.get(f"{url}/job-templates/{template_id}", timeout=10).json()["jobTemplate"]
    assert got["document"] == DOC and got["jobTemplateArn"] == arn("jobtemplate", template_id)
    assert got["$metadata"]["httpStatusCode"] == 200  # the whole SDK output
    assert client(emu).describe_job_template(jobTemplateId=template_id)["description"] == "tpl"
    assert requests.delete(f"{url}/job-templates/{template_id}", timeout=10).json() == {"deleted": True}
    r = requests.get(f"{url}/job-templates/{template_id}", timeout=10)
    assert r.status_code == 404 and r.json()["error"].startswith("ResourceNotFoundException: ")
    assert requests.delete(f"{url}/job-templates/{template_id}", timeout=10).status_code == 404


def test_validation_and_error_mapping(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    r = requests.post(f"{url}/jobs", json={}, timeout=10)
    assert r.status_code == 422
    assert r.json() == {
        "error": [
            {"key": "targets", "label": "targets", "value": None, "message": '"targets" must be an array'},
            {
                "key": "targetSelection",
                "label": "targetSelection",
                "value": None,
                "message": '"targetSelection" must be a string',
            },
            {"key": "document", "label": "document", "value": None, "message": '"document" must be a string'},
        ]
    }
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.post(
        f"{url}/jobs", json={"targets": [FLEET, 3], "targetSelection": "X", "document": ""}, timeout=10
    )
    assert [(d["key"], d["label"], d["message"]) for d in r.json()["error"]] == [
        (1, "targets[1]", '"targets[1]" must be a string'),
        ("document", "document", '"document" is not allowed to be empty'),
    ]
    # A body that does not parse is {} to the Lambda.
    r = requests.post(f"{url}/jobs", data=b"{nope", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422
    # Any targetSelection but SNAPSHOT means CONTINUOUS.
    job_id = create(url, targetSelection="whatever")
    assert client(emu).describe_job(jobId=job_id)["job"]["targetSelection"] == "CONTINUOUS"
    # create-job never maps ResourceNotFoundException to 404; AWS's own validation is a 500 too.
    r = requests.post(
        f"{url}/jobs",
        json={"targets": [arn("thing", "ghost")], "targetSelection": "SNAPSHOT", "document": DOC},
    )
    assert r.status_code == 500 and r.json()["error"].startswith("ResourceNotFoundException: ")
    r = requests.post(f"{url}/jobs", json={"targets": [], "targetSelection": "SNAPSHOT", "document": DOC})
    assert r.status_code == 500 and r.json()["error"].startswith(
        "InvalidRequestException: 1 validation error"
    )
    # get-job maps it to 404; an active job cannot be deleted without force: 500.
    assert requests.get(f"{url}/jobs/ghost", timeout=10).json() == {
        "error": "ResourceNotFoundException: " + client_error(emu, "ghost")
    }
    active = create(url)
    r = requests.delete(f"{url}/jobs/{active}", timeout=10)
    assert r.status_code == 500 and r.json()["error"].startswith("InvalidStateTransitionException: ")
    assert requests.delete(f"{url}/jobs/{active}", json={"force": "true"}, timeout=10).json() == {
        "deleted": True
    }
    r = requests.put(f"{url}/jobs/{active}", json={"description": 1}, timeout=10)
    assert r.status_code == 422 and r.json()["error"][0]["value"] == 1


def test_post_jobs_over_100_targets_is_the_lambdas_500(make_aws: Callable[..., AwsIoTEmulator]) -> None:
    emu = make_aws(things=101)
    url = emu.device_management_api_url
    things = [arn("thing", name) for name in sorted(emu.registry.things)]
    body = {"targets": things, "targetSelection": "SNAPSHOT", "document": DOC}
    r = requests.post(f"{url}/jobs", json=body, timeout=10)
    assert r.status_code == 500
    assert r.json() == {
        "error": "LimitExceededException: The total number of targets associated with a job must not exceed "
        "100; got 101. Target a thing group instead."
    }
    assert client(emu).list_jobs()["jobs"] == []
    assert create(url, targets=things[:100])


def client_error(emu: AwsIoTEmulator, job_id: str) -> str:
    try:
        client(emu).describe_job(jobId=job_id)
    except Exception as exc:  # botocore ClientError
        return str(exc.response["Error"]["Message"])  # type: ignore[attr-defined]
    raise AssertionError("expected an error")


def test_api_gateway_unknown_route_and_method(emu: AwsIoTEmulator) -> None:
    url = emu.device_management_api_url
    for method, path in (("GET", "/nope"), ("PATCH", "/jobs"), ("POST", "/jobs/x/status")):
        r = requests.request(method, url + path, timeout=10)
        assert (r.status_code, r.json()) == (403, {"message": "Missing Authentication Token"})


def test_every_route_of_seed_003_is_served() -> None:
    served = {(route.method, route.path) for route in ROUTES}
    assert served == {
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{jobId}"),
        ("PUT", "/jobs/{jobId}"),
        ("DELETE", "/jobs/{jobId}"),
        ("PUT", "/jobs/{jobId}/cancel"),
        ("PUT", "/jobs/{jobId}/associate"),
        ("GET", "/jobs/{jobId}/document"),
        ("GET", "/jobs/{jobId}/status"),
        ("GET", "/things/{thingName}/jobs"),
        ("GET", "/jobs/{jobId}/things/{thingName}"),
        ("DELETE", "/jobs/{jobId}/things/{thingName}"),
        ("PUT", "/jobs/{jobId}/things/{thingName}/cancel"),
        ("POST", "/job-templates"),
        ("GET", "/job-templates"),
        ("GET", "/job-templates/{jobTemplateId}"),
        ("DELETE", "/job-templates/{jobTemplateId}"),
    }


# -- auth -------------------------------------------------------------------------------------------------


def signed(emu: AwsIoTEmulator, method: str, url: str, service: str = "execute-api", **kw: Any) -> Any:
    body = json.dumps(kw["json"]).encode() if "json" in kw else b""
    secret = kw.get("secret", emu.aws_secret_access_key)
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(emu.aws_access_key_id, secret), service, emu.region).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers), data=body, timeout=10)


def test_iam_auth(make_aws: Callable[..., AwsIoTEmulator]) -> None:
    emu = make_aws(device_management_auth="iam")
    url = emu.device_management_api_url
    conn = json.loads(emu.info()["airflow_env"]["AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT"])
    assert conn["login"] == emu.aws_access_key_id and conn["extra"] == {"auth": "iam", "region": emu.region}
    r = requests.get(f"{url}/jobs", timeout=10)
    assert (r.status_code, r.json()) == (403, {"message": "Missing Authentication Token"})
    assert signed(emu, "GET", f"{url}/jobs").json() == {"jobs": []}
    payload = {"targets": [FLEET], "targetSelection": "SNAPSHOT", "document": DOC}
    assert signed(emu, "POST", f"{url}/jobs", json=payload).json() == {"created": True}
    assert signed(emu, "GET", f"{url}/jobs?status=IN_PROGRESS").json()["jobs"]
    r = signed(emu, "GET", f"{url}/jobs", secret="wrong")
    assert r.status_code == 403 and r.json()["message"].startswith("The request signature we calculated")
    r = signed(emu, "GET", f"{url}/jobs", service="iot")
    assert r.status_code == 403 and "execute-api" in r.json()["message"]
    # The iot plane itself is unchanged: boto3 still works, and an execute-api signature is no iot credential.
    assert client(emu).list_jobs()["jobs"]


def test_cognito_auth(make_aws: Callable[..., AwsIoTEmulator]) -> None:
    emu = make_aws(device_management_auth="cognito")
    url = emu.device_management_api_url
    info = emu.info()
    token = info["device_management_id_token"]
    conn = json.loads(info["airflow_env"]["AIRFLOW_CONN_IOT_DEVICE_MANAGEMENT_API_DEFAULT"])
    assert conn["password"] == token and conn["extra"]["auth"] == "cognito"
    assert requests.get(f"{url}/jobs", timeout=10).status_code == 401
    assert requests.get(f"{url}/jobs", headers={"Authorization": token}, timeout=10).json() == {"jobs": []}
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{url}/jobs", headers=bearer, timeout=10).status_code == 200
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = requests.get(f"{url}/jobs", headers={"Authorization": tampered}, timeout=10)
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
    expired = emu.device_management.issue_id_token(ttl=-1)
    r = requests.get(f"{url}/jobs", headers={"Authorization": expired}, timeout=10)
    assert (r.status_code, r.json()) == (401, {"message": "The incoming token has expired"})
    # A SigV4 signature is no ID token.
    assert signed(emu, "GET", f"{url}/jobs").status_code == 401


def test_faults_hit_only_authorized_requests(make_aws: Callable[..., AwsIoTEmulator]) -> None:
    emu = make_aws(device_management_auth="cognito", fault_rate=1.0, fault_kinds="429")
    url = emu.device_management_api_url
    assert requests.get(f"{url}/jobs", timeout=10).status_code == 401
    r = requests.get(
        f"{url}/jobs", headers={"Authorization": emu.info()["device_management_id_token"]}, timeout=10
    )
    assert (r.status_code, r.json()) == (429, {"message": "Too Many Requests"})


def test_bad_auth_mode() -> None:
    with pytest.raises(ValueError, match="none, iam, cognito"):
        AwsIoTEmulator(things=1, device_management_auth="apikey")
