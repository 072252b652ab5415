"""The shared HTTP layer and fault injector, with an app that brings no error envelope of its own."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from airflow_iot_jobs.emulator import http
from airflow_iot_jobs.emulator.faults import FaultInjector
from airflow_iot_jobs.emulator.http import EmulatorHTTPServer, Request, Response


def echo(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("app bug")
    return Response.json({"ok": True})


@pytest.fixture
def server() -> Iterator[EmulatorHTTPServer]:
    served = EmulatorHTTPServer(echo, faults=FaultInjector()).start()
    try:
        yield served
    finally:
        served.stop()


def test_errors_default_to_the_neutral_envelope(server: EmulatorHTTPServer) -> None:
    response = requests.get(server.endpoint + "/boom", timeout=10)
    assert (response.status_code, response.json()["code"]) == (500, "ServerError")
    assert server.faults is not None
    server.faults.script("429")
    throttled = requests.get(server.endpoint + "/ok", timeout=10)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert set(throttled.json()) == {"code", "message"}


def test_bad_framing_is_a_neutral_400(server: EmulatorHTTPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: lots\r\n\r\n{}")
        answer = b""
        while chunk := sock.recv(4096):  # the server hangs up after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"code":"BadRequest"' in answer
    assert server.request_log == [("PUT", "/x", 400)]


def test_listen_backlog_takes_a_burst() -> None:
    assert http._Server.request_queue_size == 512
