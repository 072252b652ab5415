"""``python -m airflow_iot_jobs.emulator iotcentral``: prints one JSON line first (with the Airflow connection),
then an ``export`` line, serves until SIGTERM and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from airflow_iot_jobs.emulator.cli import build_parser


def test_cli_prints_info_and_a_working_connection_then_exits_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_iot_jobs.emulator",
            "iotcentral",
            "--port",
            "0",
            "--devices",
            "12",
            "--seed",
            "4",
            "--app-subdomain",
            "cli-app",
            "--allow-bearer",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["service"] == "iotcentral"
        assert info["endpoint"].startswith("http://127.0.0.1:")
        assert info["app_subdomain"] == "cli-app" and info["devices"] == 12 and info["seed"] == 4
        assert info["api_token"].startswith("SharedAccessSignature sr=") and info["max_active_jobs"] == 5
        connection = json.loads(info["airflow_env"]["AIRFLOW_CONN_AZURE_IOT_CENTRAL_DEFAULT"])
        assert connection == {
            "conn_type": "azure_iot_central",
            "host": "cli-app",
            "password": info["api_token"],
            "extra": {"endpoint_url": info["endpoint"]},
        }
        assert process.stdout.readline().startswith("export AIRFLOW_CONN_AZURE_IOT_CENTRAL_DEFAULT=")
        params = {"api-version": "2022-07-31"}
        url = connection["extra"]["endpoint_url"] + "/api/deviceGroups"
        assert (
            requests.get(url, params=params, headers={"Authorization": connection["password"]}).status_code
            == 200
        )
        assert requests.get(url, params=params, headers={"Authorization": "Bearer x"}).status_code == 200
        assert requests.get(url, params=params).status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_iotcentral_flags_and_defaults() -> None:
    args = build_parser().parse_args(["iotcentral"])
    assert (args.app_subdomain, args.max_active_jobs, args.allow_bearer) == ("emulated-app", 5, False)
    args = build_parser().parse_args(
        [
            "iotcentral",
            "--max-active-jobs",
            "2",
            "--speed",
            "10",
            "--fault-rate",
            "0.1",
            "--fault-kinds",
            "429",
        ]
    )
    assert (args.max_active_jobs, args.speed, args.fault_rate, args.fault_kinds) == (2, 10.0, 0.1, "429")
