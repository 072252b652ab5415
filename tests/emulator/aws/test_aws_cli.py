"""``python -m airflow_iot_jobs.emulator aws``: the first line (with the Airflow connection), the export line, and
the AWS CLI against it; the shared flags mean the same as on every backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from airflow_iot_jobs.emulator.cli import build_parser, shared_options

AWS_CLI = Path(sys.executable).with_name("aws")


def test_cli_prints_info_and_the_aws_cli_creates_and_describes_a_job() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_iot_jobs.emulator",
            "aws",
            "--port",
            "0",
            "--things",
            "8",
            "--seed",
            "5",
            "--region",
            "eu-west-1",
            "--speed",
            "100",
            "--offline-rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["service"] == "aws" and info["region"] == "eu-west-1" and info["things"] == 8
        assert info["endpoint"].startswith("http://127.0.0.1:")
        assert info["aws_access_key_id"].startswith("AKIA") and len(info["aws_secret_access_key"]) == 40
        connection = json.loads(info["airflow_env"]["AIRFLOW_CONN_AWS_DEFAULT"])
        assert connection == {
            "conn_type": "aws",
            "login": info["aws_access_key_id"],
            "password": info["aws_secret_access_key"],
            "extra": {"region_name": "eu-west-1", "endpoint_url": info["endpoint"]},
        }
        assert process.stdout.readline().startswith("export AIRFLOW_CONN_AWS_DEFAULT=")

        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": info["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": info["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": info["region"],
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

        def aws(*args: str) -> dict[str, object]:
            done = subprocess.run(
                [str(AWS_CLI), "--endpoint-url", info["endpoint"], "--output", "json", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout) if done.stdout.strip() else {}

        target = "arn:aws:iot:eu-west-1:123456789012:thinggroup/fleet"
        created = aws(
            "iot",
            "create-job",
            "--job-id",
            "cli-job",
            "--targets",
            target,
            "--document",
            '{"operation":"ping"}',
        )
        assert created["jobArn"] == "arn:aws:iot:eu-west-1:123456789012:job/cli-job"
        described = aws("iot", "describe-job", "--job-id", "cli-job")
        assert described["job"]["status"] in ("IN_PROGRESS", "COMPLETED")
        assert described["job"]["targets"] == [target]
        things = aws("iot", "list-things")
        assert len(things["things"]) == 8
        failed = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", info["endpoint"], "iot", "describe-job", "--job-id", "nope"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_aws_flags_and_the_shared_ones() -> None:
    args = build_parser().parse_args(["aws"])
    assert (args.region, args.max_active_jobs, args.devices) == ("us-east-1", 1000, 1000)
    args = build_parser().parse_args(
        [
            "aws",
            "--things",
            "7",
            "--max-active-jobs",
            "3",
            "--speed",
            "10",
            "--fault-rate",
            "0.1",
            "--fault-kinds",
            "429",
        ]
    )
    assert (args.devices, args.max_active_jobs) == (7, 3)
    assert shared_options(args) == {
        **shared_options(
            build_parser().parse_args(
                ["iothub", "--devices", "7", "--speed", "10", "--fault-rate", "0.1", "--fault-kinds", "429"]
            )
        )
    }
    assert build_parser().parse_args(["aws", "--devices", "4"]).devices == 4


def test_help_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow_iot_jobs.emulator", "aws", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--things" in done.stdout and "--max-active-jobs" in done.stdout
