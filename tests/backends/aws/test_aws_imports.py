"""What the AWS backend costs at DAG parse, what happens without the [aws] extra, and its provider metadata."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("boto3", "botocore", "aiobotocore", "airflow.providers.amazon.aws")
PARSE_MODULES = (
    "airflow_iot_jobs.operators.aws_iot",
    "airflow_iot_jobs.sensors.aws_iot",
    "airflow_iot_jobs.triggers.aws_iot",
    "airflow_iot_jobs.validation.aws_iot",
    "airflow_iot_jobs.links",
)


def test_operator_sensor_and_trigger_modules_import_no_aws_sdk():
    code = (
        f"import sys, {', '.join(PARSE_MODULES)}; "
        f"print([m for m in {HEAVY!r} if any(k == m or k.startswith(m + '.') for k in sys.modules)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoAws(importlib.abc.MetaPathFinder):
        # boto3, botocore and the Amazon provider's code; its provider metadata (read by Airflow's entry point
        # scan, which would not list it at all when uninstalled) stays readable
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("boto3", "botocore", "aiobotocore") or name.startswith(
                "airflow.providers.amazon.aws"
            ):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoAws())
    """
)


def _run_without_aws(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True
    )


def test_without_the_extra_the_hook_module_names_it():
    result = _run_without_aws(
        """
        try:
            import airflow_iot_jobs.hooks.aws_iot
        except ImportError as err:
            print("MESSAGE:", err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "MESSAGE: The AWS IoT Jobs backend needs the Amazon provider" in result.stdout
    assert "pip install 'airflow-iot-jobs[aws]'" in result.stdout


def test_without_the_extra_dags_still_parse_and_the_azure_backends_work():
    result = _run_without_aws(
        """
        from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator
        from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator
        from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook
        AwsIoTJobOperator(task_id="t", targets=["fleet"], document={"a": 1})
        try:
            AwsIoTJobOperator(task_id="u", targets=["fleet"], document={"a": 1}).hook
        except ImportError as err:
            print("AT RUN:", err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "AT RUN: The AWS IoT Jobs backend needs the Amazon provider" in result.stdout


def test_provider_info_registers_no_connection_form_for_the_amazon_providers_aws(monkeypatch):
    import airflow_iot_jobs.backends as backends
    from airflow_iot_jobs.provider_info import build_provider_info

    monkeypatch.setattr(backends, "BACKENDS", (*backends.BACKENDS, backends.AWS_IOT))
    info = build_provider_info()
    assert "aws" not in {c["connection-type"] for c in info["connection-types"]}
    assert "airflow_iot_jobs.operators.aws_iot" in {m for e in info["operators"] for m in e["python-modules"]}
    assert "airflow_iot_jobs.links.AwsIoTJobLink" in info["extra-links"]


def test_aws_is_registered_on_the_amazon_providers_connection():
    from airflow_iot_jobs.backends import AWS_IOT, BACKENDS

    assert AWS_IOT in BACKENDS and not AWS_IOT.registers_connection
    assert dict(AWS_IOT.hook_params) == {"region_name": None, "verify": None, "botocore_config": None}
