"""Auth (the X-Source matrix), injected faults, and the CLI's first line, against running emulators."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator
from tests.emulator.iothub.helpers import HubClient

AUTH_REQUIRED = {"Error": "Authentication required"}
JOB = {"JobId": "a1", "QueryCondition": "*", "MethodParameter": {"Name": "reboot"}}


def _get(emulator: IoTHubManagerEmulator, headers: dict[str, str]) -> requests.Response:
    return requests.get(emulator.endpoint + "/v1/jobs", headers=headers, timeout=10)


def test_without_x_source_no_auth_is_asked(authed: IoTHubManagerEmulator) -> None:
    assert _get(authed, {}).status_code == 200
    assert _get(authed, {"Authorization": "Bearer garbage"}).status_code == 200  # not even looked at
    assert requests.post(authed.endpoint + "/v1/jobs", json=JOB, timeout=10).status_code == 200


def test_x_source_with_the_emulators_token_passes_every_action(authed: IoTHubManagerEmulator) -> None:
    headers = {"X-Source": "proxy", "Authorization": f"Bearer {authed.bearer_token}"}
    assert _get(authed, headers).status_code == 200
    assert (
        requests.get(authed.endpoint + "/v1/deviceProperties", headers=headers, timeout=10).status_code == 200
    )
    assert (
        requests.post(authed.endpoint + "/v1/jobs", json=JOB, headers=headers, timeout=10).json()["Status"]
        == 7
    )
    assert requests.get(authed.endpoint + "/v1/jobs/a1", headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "make",
    [
        lambda e: None,
        lambda e: "Basic dXNlcjpwYXNz",
        lambda e: "Bearer",
        lambda e: "Bearer not.a.jwt",
        lambda e: f"Bearer {e.issue_token(lifetime=-600)}",  # expired beyond the 5 minute skew
        lambda e: f"Bearer {e.issue_token(not_before=e.timeline.now() + 3600)}",
        lambda e: f"Bearer {e.issue_token(issuer='https://evil/')}",
        lambda e: f"Bearer {e.issue_token(audience='another-app')}",
        lambda e: f"Bearer {e.issue_token(key=b'0' * 32)}",
        lambda e: f"Bearer {e.issue_token(algorithm='none')}",
        lambda e: f"Bearer {e.bearer_token[:-4]}AAAA",
    ],
    ids=[
        "none",
        "basic",
        "empty",
        "garbage",
        "expired",
        "not-yet",
        "issuer",
        "audience",
        "key",
        "alg-none",
        "tampered",
    ],
)
def test_x_source_without_a_valid_jwt_is_401(authed: IoTHubManagerEmulator, make) -> None:
    headers = {"X-Source": "proxy"}
    value = make(authed)
    if value is not None:
        headers["Authorization"] = value
    response = _get(authed, headers)
    assert response.status_code == 401
    assert response.json() == AUTH_REQUIRED
    post = requests.post(authed.endpoint + "/v1/jobs", json=JOB, headers=headers, timeout=10)
    assert post.status_code == 401 and post.json() == AUTH_REQUIRED
    assert authed.state.job("a1") is None  # nothing was created


def test_clock_skew_keeps_a_just_expired_token_valid(
    authed: IoTHubManagerEmulator, clock: ManualClock
) -> None:
    token = authed.issue_token(lifetime=60)
    clock.advance(60 + 120)  # expired two minutes ago: within ASP.NET's default 5 minute skew
    assert _get(authed, {"X-Source": "p", "Authorization": f"Bearer {token}"}).status_code == 200
    clock.advance(600)
    assert _get(authed, {"X-Source": "p", "Authorization": f"Bearer {token}"}).status_code == 401


def test_a_role_without_the_action_is_403_not_authorized(authed: IoTHubManagerEmulator) -> None:
    headers = {"X-Source": "proxy", "Authorization": f"Bearer {authed.issue_token(roles=['readOnly'])}"}
    assert _get(authed, headers).status_code == 200
    response = requests.post(authed.endpoint + "/v1/jobs", json=JOB, headers=headers, timeout=10)
    assert response.status_code == 403
    body = response.json()
    assert body["Message"] == "An error has occurred."
    assert (
        body["ExceptionType"].endswith(".NotAuthorizedException") and "CreateJobs" in body["ExceptionMessage"]
    )


def test_without_auth_x_source_is_ignored(manager: IoTHubManagerEmulator) -> None:
    assert _get(manager, {"X-Source": "proxy"}).status_code == 200
    assert manager.bearer_token is None and "bearer_token" not in manager.info()
    with pytest.raises(RuntimeError):
        manager.issue_token()


# -- faults ---------------------------------------------------------------------------------------------------------


def test_injected_faults_use_the_services_envelope_and_hit_only_authenticated_requests(
    authed: IoTHubManagerEmulator,
) -> None:
    authed.faults.script("500", "503", "429")
    bad = _get(authed, {"X-Source": "p"})
    assert bad.status_code == 401  # a bad token is always 401, and uses up no scripted fault
    first = _get(authed, {})
    assert first.status_code == 500
    body = first.json()
    assert body["Message"] == "An error has occurred." and "ExceptionType" in body and "StackTrace" in body
    assert _get(authed, {}).status_code == 503
    throttled = _get(authed, {})
    assert throttled.status_code == 429 and throttled.headers.get("Retry-After") == "1"
    assert _get(authed, {}).status_code == 200
    assert authed.faults.counts() == {"500": 1, "503": 1, "429": 1}


def test_reset_after_applies_the_post_and_drops_the_answer(manager: IoTHubManagerEmulator) -> None:
    manager.faults.script("reset-after")
    with pytest.raises(requests.ConnectionError):
        requests.post(manager.endpoint + "/v1/jobs", json=JOB, timeout=10)
    assert manager.state.job("a1") is not None
    retry = requests.post(manager.endpoint + "/v1/jobs", json=JOB, timeout=10)
    assert retry.status_code == 409  # a blind retry meets the job it already created
    manager.faults.script("reset")
    with pytest.raises(requests.ConnectionError):
        requests.post(manager.endpoint + "/v1/jobs", json={**JOB, "JobId": "a2"}, timeout=10)
    assert manager.state.job("a2") is None
    assert manager.request_log[-1] == ("POST", "/v1/jobs", 0)


def test_fault_rate_is_deterministic_for_a_seed(clock: ManualClock) -> None:
    outcomes = []
    for _ in range(2):
        with IoTHubManagerEmulator(
            devices=2, seed=9, clock=clock, fault_rate=0.5, fault_kinds="500,503"
        ) as e:
            outcomes.append([_get(e, {}).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1] and {500, 503, 200} >= set(outcomes[0]) and 200 in outcomes[0]


def test_the_hub_keeps_its_own_faults_and_log(manager: IoTHubManagerEmulator) -> None:
    manager.faults.script("500")
    assert (
        HubClient(manager.hub).request("GET", "/jobs/v2/query").status_code == 200
    )  # not the manager's fault
    assert _get(manager, {}).status_code == 500
    assert all(path.startswith("/v1/") for _, path, _ in manager.request_log)


# -- CLI ------------------------------------------------------------------------------------------------------------


def test_cli_first_line_then_export_lines_then_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_iot_jobs.emulator",
            "iothub-manager",
            "--port",
            "0",
            "--devices",
            "8",
            "--seed",
            "3",
            "--speed",
            "20",
            "--auth",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["service"] == "iothub-manager" and info["devices"] == 8 and info["seed"] == 3
        assert info["endpoint"].startswith("http://127.0.0.1:") and info["iothub_endpoint"].startswith(
            "http://127.0.0.1:"
        )
        assert info["endpoint"] != info["iothub_endpoint"] and info["auth"] is True and info["speed"] == 20
        assert info["iothub_connection_string"].startswith("HostName=emulated-hub.azure-devices.net;")
        connection = json.loads(info["airflow_env"]["AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT"])
        assert connection == {
            "conn_type": "iothub_manager",
            "host": info["endpoint"],
            "password": info["bearer_token"],
        }
        assert process.stdout.readline().startswith("export AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT=")
        assert process.stdout.readline().startswith("export AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT=")
        headers = {"X-Source": "proxy", "Authorization": f"Bearer {info['bearer_token']}"}
        body = {"JobId": "cli", "QueryCondition": "*", "MethodParameter": {"Name": "reboot"}}
        assert (
            requests.post(connection["host"] + "/v1/jobs", json=body, headers=headers, timeout=10).status_code
            == 200
        )
        assert (
            requests.get(connection["host"] + "/v1/jobs", headers={"X-Source": "p"}, timeout=10).status_code
            == 401
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_without_auth_has_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_iot_jobs.emulator.cli import build_parser, start

    emulator = start(
        build_parser().parse_args(["iothub-manager", "--devices", "2", "--max-active-jobs", "3"])
    )
    try:
        info = emulator.info()
        connection = json.loads(info["airflow_env"]["AIRFLOW_CONN_IOTHUB_MANAGER_DEFAULT"])
        assert connection == {"conn_type": "iothub_manager", "host": emulator.endpoint}
        assert info["max_active_jobs"] == 3 and "bearer_token" not in info
        assert emulator.hub.fleet is emulator.fleet and emulator.hub.state is emulator.state
    finally:
        emulator.stop()
