"""``python -m airflow_iot_jobs.emulator iothub``: prints JSON first, serves until SIGTERM/SIGINT, exits 0."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.emulator.iothub.helpers import API_VERSION, sas_sdk_style


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_iot_jobs.emulator", "iothub", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _info(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else "no output"
    return json.loads(line)


@pytest.fixture
def cli() -> Iterator[subprocess.Popen[str]]:
    process = _start("--devices", "25", "--seed", "4", "--hub-name", "cli-hub", "--max-active-jobs", "2")
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_cli_prints_info_serves_and_exits_cleanly_on_sigterm(cli: subprocess.Popen[str]) -> None:
    info = _info(cli)
    assert info["service"] == "iothub"
    assert info["endpoint"].startswith("http://127.0.0.1:")
    assert info["hostname"] == "cli-hub.azure-devices.net"
    assert info["devices"] == 25 and info["seed"] == 4
    parts = dict(p.split("=", 1) for p in info["connection_string"].split(";"))
    assert parts["HostName"] == "cli-hub.azure-devices.net"
    assert parts["SharedAccessKeyName"] == "iothubowner"
    assert len(base64.b64decode(parts["SharedAccessKey"])) == 32

    token = sas_sdk_style(parts["HostName"], parts["SharedAccessKey"])
    response = requests.post(
        info["endpoint"] + "/devices/query",
        params={"api-version": API_VERSION},
        headers={"Authorization": token},
        json={"query": "SELECT COUNT() AS n FROM devices"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == [{"n": 25}]

    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=15) == 0


def test_cli_exits_cleanly_on_sigint(cli: subprocess.Popen[str]) -> None:
    _info(cli)
    cli.send_signal(signal.SIGINT)
    assert cli.wait(timeout=15) == 0


def test_cli_uses_a_random_key_per_start_unless_given() -> None:
    keys = []
    fixed = base64.b64encode(bytes(range(32))).decode()
    for extra in ((), (), ("--key", fixed)):
        process = _start("--devices", "1", *extra)
        try:
            keys.append(_info(process)["connection_string"].rsplit("SharedAccessKey=", 1)[1])
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    assert keys[0] != keys[1]
    assert keys[2] == fixed


@pytest.mark.parametrize(
    "args",
    [("--offline-rate", "1.5"), ("--speed", "0"), ("--key", "not base64!"), ("--max-active-jobs", "0")],
)
def test_cli_rejects_bad_arguments(args: tuple[str, str]) -> None:
    process = _start(*args)
    assert process.wait(timeout=30) != 0
    assert process.stdout is not None and process.stdout.read() == ""
