"""Auth, api-version, error envelope, request validation and paging, each answer checked against the spec."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from airflow_iot_jobs.emulator.iotcentral.auth import ApiToken
from tests.emulator.iotcentral.helpers import API_VERSION, TEMPLATES, CentralClient, command_job, validate

# -- auth ----------------------------------------------------------------------------------------------


def _status(central: IoTCentralEmulator, authorization: str | None) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return requests.get(central.endpoint + "/api/jobs", params={"api-version": API_VERSION}, headers=headers)


def test_the_api_token_is_the_whole_shared_access_signature(central: IoTCentralEmulator) -> None:
    token = ApiToken.parse(central.api_token)
    assert central.api_token.startswith("SharedAccessSignature sr=")
    assert token.token_id and token.expiry_ms > central.timeline.now() * 1000
    assert _status(central, central.api_token).status_code == 200
    # fields in another order are the same token
    reordered = f"SharedAccessSignature skn={token.token_id}&se={token.expiry_ms}&sig={token.signature}&sr={token.app_id}"
    assert _status(central, reordered).status_code == 200


def _variants(central: IoTCentralEmulator) -> list[str | None]:
    token = ApiToken.parse(central.api_token)
    other = ApiToken.issue(central.timeline.now(), app_id=token.app_id)
    return [
        None,
        "",
        "Bearer eyJ0eXAi.fake",
        "SharedAccessSignature",
        central.api_token.replace("SharedAccessSignature ", "SharpSas "),
        central.api_token.replace(f"sr={token.app_id}", "sr=another-app"),
        central.api_token.replace(f"skn={token.token_id}", "skn=someone-else"),
        central.api_token.replace(f"se={token.expiry_ms}", "se=1000"),
        central.api_token.replace(f"sig={token.signature}", f"sig={other.signature}"),
        central.api_token.replace("&se=", "&x=1&se=").replace("&sig=", "&sig=&"),
    ]


def test_missing_or_bad_tokens_get_401_in_centrals_envelope(central: IoTCentralEmulator) -> None:
    for authorization in _variants(central):
        response = _status(central, authorization)
        assert response.status_code == 401, authorization
        assert response.headers["x-ms-error-code"] == "Unauthorized"
        validate(response.json(), "Error")


def test_bearer_only_with_allow_bearer() -> None:
    with IoTCentralEmulator(devices=3, allow_bearer=True) as app:
        assert _status(app, "Bearer anything").status_code == 200
        assert _status(app, "Bearer ").status_code == 401
        assert _status(app, app.api_token).status_code == 200


# -- api-version, routing, the envelope ----------------------------------------------------------------


def test_api_version_is_required_and_must_be_2022_07_31(client: CentralClient) -> None:
    missing = client.call("GET", "/jobs", params={})
    assert missing.status_code == 400 and missing.headers["x-ms-error-code"] == "MissingApiVersionParameter"
    wrong = client.call("GET", "/jobs", params={"api-version": "2021-04-30-preview"})
    assert wrong.status_code == 400 and "2022-07-31" in wrong.json()["error"]["message"]


def test_error_envelope_has_request_id_and_rfc1123_time(client: CentralClient) -> None:
    response = client.call("GET", "/jobs/{jobId}", jobId="nope")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NotFound" and "nope" in error["message"]
    assert error["requestId"] == response.headers["x-ms-request-id"]
    assert error["time"].endswith(" GMT") and error["time"][3:5] == ", "


def test_unknown_paths_and_methods(central: IoTCentralEmulator, client: CentralClient) -> None:
    url = central.endpoint + "/api/devices"
    response = client.session.get(url, params={"api-version": API_VERSION})
    assert response.status_code == 404 and response.headers["x-ms-error-code"] == "NotFound"
    response = client.session.delete(central.endpoint + "/api/jobs/x", params={"api-version": API_VERSION})
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


# -- request validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_id", "fragment"),
    [("bad id!", "jobId: 'bad id!' must match"), ("x" * 256, "jobId: must be at most 255")],
)
def test_path_ids_follow_the_spec_pattern(client: CentralClient, job_id: str, fragment: str) -> None:
    client.group("g")
    response = client.job(job_id, command_job("g"))
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert client.job("a_Z-9", command_job("g")).status_code == 200
    assert client.job("y" * 255, command_job("g")).status_code == 200


JOB_ERRORS: list[tuple[Any, str]] = [
    ([], "job: must be a JSON object"),
    ({"data": [{"type": "command", "target": "t", "path": "p"}]}, "job.group: is required"),
    ({"group": "g"}, "job.data: is required and must hold at least 1 entry"),
    ({"group": "g", "data": []}, "job.data: is required and must hold at least 1 entry"),
    ({"group": "g", "data": [{"type": "reboot"}]}, "job.data[0].type: must be one of"),
    ({"group": "g", "data": [{"type": "property", "path": "p"}]}, "job.data[0].target: is required"),
    (
        {"group": "g", "data": [{"type": "property", "target": "", "path": "p"}]},
        "job.data[0].target: must not",
    ),
    ({"group": "g", "data": [{"type": "command", "target": "t"}]}, "job.data[0].path: is required"),
    ({"group": "g", "data": [{"type": "deviceTemplateMigration"}]}, "job.data[0].template: is required"),
    (
        {"group": "g", "data": [{"type": "property", "target": "t", "path": "p", "value": None}]},
        "value: must not",
    ),
    (command_job("g", batch={"type": "count", "value": 2}), "job.batch.type: must be 'number' or"),
    (command_job("g", batch={"type": "number"}), "job.batch.value: is required"),
    (command_job("g", batch={"type": "percentage", "value": 150}), "job.batch.value: a percentage"),
    (command_job("g", batch={"type": "number", "value": 0}), "job.batch.value: a number of devices"),
    (
        command_job("g", cancellationThreshold={"type": "number", "value": 1, "batch": "yes"}),
        "batch: must be",
    ),
    (command_job("g", organizations=["a", "b"]), "job.organizations: must be a list of exactly 1"),
    (command_job("missing-group"), "job.group: device group 'missing-group' was not found"),
]


@pytest.mark.parametrize(("body", "fragment"), JOB_ERRORS)
def test_job_bodies_are_validated_naming_the_field(client: CentralClient, body: Any, fragment: str) -> None:
    client.group("g")
    response = client.job("j", body)
    assert response.status_code == 400, response.text
    assert response.headers["x-ms-error-code"] == "BadRequest"
    assert fragment in response.json()["error"]["message"]


def test_bad_json_is_a_400(client: CentralClient) -> None:
    response = client.call("PUT", "/jobs/{jobId}", data=b"{not json", jobId="j")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


def test_both_spellings_of_the_data_types_are_accepted_and_echoed(client: CentralClient) -> None:
    client.group("g")
    for kind in ("PropertyJobData", "CommandJobData", "CloudPropertyJobData"):
        body = {
            "group": "g",
            "data": [{"type": kind, "target": TEMPLATES[0], "path": "reboot", "value": "1"}],
        }
        response = client.job(kind.lower(), body)
        assert response.status_code == 200 and response.json()["data"][0]["type"] == kind


# -- paging ----------------------------------------------------------------------------------------------


def test_lists_page_with_absolute_next_links_that_tolerate_a_repeated_api_version(
    central: IoTCentralEmulator, client: CentralClient
) -> None:
    client.group("g")
    for index in range(16):
        assert client.job(f"job-{index:02d}", command_job("g")).status_code == 200
        central.timeline.clock.advance(60)  # type: ignore[attr-defined]
    first = client.call("GET", "/jobs").json()
    assert len(first["value"]) == 7
    assert first["nextLink"].startswith(central.endpoint + "/api/jobs?")
    assert "api-version=2022-07-31" in first["nextLink"]
    ids = [job["id"] for job in client.all_pages("/jobs")]
    assert ids == [f"job-{index:02d}" for index in range(16)]
    # a client that sends api-version again beside the one in the link (requests merges params into the URL)
    again = client.session.get(first["nextLink"], params={"api-version": API_VERSION})
    assert again.status_code == 200 and [j["id"] for j in again.json()["value"]] == ids[7:14]


def test_a_skip_token_of_another_list_is_refused(central: IoTCentralEmulator, client: CentralClient) -> None:
    for index in range(8):
        client.group(f"g{index}")
    link = client.call("GET", "/deviceGroups").json()["nextLink"]
    response = client.call("GET", "/jobs", url=link.replace("/deviceGroups", "/jobs"))
    assert response.status_code == 400 and "$skiptoken" in response.json()["error"]["message"]
