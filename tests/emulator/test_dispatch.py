"""The dispatcher: one server, two toy apps, selected by path prefix, Host header or SigV4 service."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
import requests

from airflow_iot_jobs.emulator.dispatch import Dispatcher, host, path_prefix, signed_for, sigv4_service
from airflow_iot_jobs.emulator.faults import FaultInjector
from airflow_iot_jobs.emulator.http import EmulatorHTTPServer, Request, Response


class ToyApp:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, request: Request) -> Response:
        return Response.json({"app": self.name, "path": request.path})

    def error_response(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
        return Response.json({"app": self.name, "error": code}, status=status, headers=headers)


def sigv4(service: str) -> str:
    return (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/"
        f"{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
    )


@pytest.fixture
def served() -> Iterator[tuple[EmulatorHTTPServer, FaultInjector]]:
    dispatcher = (
        Dispatcher()
        .add(path_prefix("/api"), ToyApp("central"))
        .add(host("hub.azure-devices.net"), ToyApp("hub"))
        .add(signed_for("iot-jobs-data"), ToyApp("jobs-data"))
        .add(signed_for("iot"), ToyApp("control"))
    )
    faults = FaultInjector()
    server = EmulatorHTTPServer(dispatcher, faults=faults).start()
    try:
        yield server, faults
    finally:
        server.stop()


def test_selects_by_prefix_host_and_signature(served: tuple[EmulatorHTTPServer, FaultInjector]) -> None:
    server, _ = served
    url = server.endpoint

    def app(path: str, **headers: str) -> str:
        return requests.get(url + path, headers=headers, timeout=10).json()["app"]

    assert app("/api/jobs") == "central"
    assert app("/jobs/v2/x", Host="hub.azure-devices.net:443") == "hub"
    # The same path on both AWS planes: only the credential scope tells them apart.
    assert app("/jobs/j1", Authorization=sigv4("iot-jobs-data")) == "jobs-data"
    assert app("/jobs/j1", Authorization=sigv4("iot")) == "control"
    assert requests.get(url + "/apix", timeout=10).status_code == 404  # a prefix is a whole segment


def test_unmatched_request_gets_a_neutral_404(served: tuple[EmulatorHTTPServer, FaultInjector]) -> None:
    server, _ = served
    response = requests.get(server.endpoint + "/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


def test_faults_use_the_selected_apps_envelope(served: tuple[EmulatorHTTPServer, FaultInjector]) -> None:
    server, faults = served
    faults.script("503", "503")
    central = requests.get(server.endpoint + "/api/jobs", timeout=10)
    hub = requests.get(server.endpoint + "/x", headers={"Host": "hub.azure-devices.net"}, timeout=10)
    assert (central.status_code, central.json()) == (503, {"app": "central", "error": "ServiceUnavailable"})
    assert (hub.status_code, hub.json()["app"]) == (503, "hub")


def test_sigv4_service_parsing() -> None:
    def request(authorization: str | None) -> Request:
        headers = {} if authorization is None else {"Authorization": authorization}
        return Request("GET", "/", {}, headers)

    assert sigv4_service(request(sigv4("iot"))) == "iot"
    assert sigv4_service(request("SharedAccessSignature sr=x")) is None
    assert sigv4_service(request(None)) is None
