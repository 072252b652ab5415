"""The AWS example DAG (``example_dags/aws_iot_firmware_rollout.py``), parsed as a DAG file and run as it is
(dag.test() with a run_conf, as the UI form sends it) against our AWS IoT emulator on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag

EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"
NAME = "aws_iot_firmware_rollout"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example reads its poll interval at parse (30 s unless told): poll the emulator every half second."""
    monkeypatch.setenv("IOT_JOBS_EXAMPLE_POLL_SECONDS", "0.5")


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(NAME, EXAMPLES / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def held(job_id: str) -> dict:
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    return AwsIoTJobsHook().describe_job(job_id)["job"]


def conf(**overrides) -> dict:
    values = {
        "thing_group": "site-ams",
        "version": "2.1",  # looks like a number: must reach the things as the string "2.1"
        "base_rate_per_minute": 3,
        "increment_factor": 1.5,
        "abort_threshold_percentage": 25,
        "abort_min_executed_things": 4,
        "in_progress_timeout_minutes": 15,
        "success_threshold": "90%",
        "max_devices": 100,
        "dry_run": False,
    }
    return {**values, **overrides}


def test_the_dag_parses_with_no_import_errors_and_targets_what_the_emulator_has():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / f"{NAME}.py"))
    assert bag.import_errors == {}, bag.import_errors
    assert list(bag.dags) == [NAME]

    dag = load().dag
    assert dag.schedule is None and dag.catchup is False
    (task,) = dag.tasks
    assert task.aws_conn_id == "aws_default" and task.deferrable is True
    form = dag.params
    assert set(form.keys()) == set(conf())
    assert form.get_param("thing_group").value == "fleet"  # a group every emulator fleet has


def test_parsing_the_dag_imports_no_boto3_botocore_or_amazon_provider():
    heavy = (
        "boto3",
        "botocore",
        "airflow.providers.amazon",
        "airflow_iot_jobs.hooks.aws_iot",  # the hook (aws_iot_wire, pure functions and constants, may load)
        "airflow_iot_jobs.triggers",
        "airflow_iot_jobs.emulator",
    )
    code = (
        "import sys, runpy, airflow.sdk; before = set(sys.modules); "
        f"runpy.run_path({str(EXAMPLES / f'{NAME}.py')!r}); new = set(sys.modules) - before; "
        f"print(sorted(m for m in new if any(m == h or m.startswith(h + '.') for h in {heavy!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_form_rolls_out_firmware_with_its_rollout_abort_and_timeout(make_aws):
    aws = make_aws(things=60)
    result = run_dag(load().dag, run_conf=conf())

    assert result.state == "success", result.states
    xcom = result.xcoms["firmware_rollout"]
    ams = [t for t in aws.registry.things.values() if t.attributes.get("site") == "ams"]
    assert xcom["status"] == "COMPLETED" and xcom["targeted"] == xcom["succeeded"] == len(ams) > 0
    assert {t.attributes["firmware"] for t in ams} == {"2.1"}
    job = held(xcom["job_id"])
    assert job["targets"] == ["arn:aws:iot:us-east-1:123456789012:thinggroup/site-ams"]
    assert job["jobExecutionsRolloutConfig"] == {
        "exponentialRate": {
            "baseRatePerMinute": 3,
            "incrementFactor": 1.5,
            "rateIncreaseCriteria": {"numberOfNotifiedThings": 3},
        }
    }
    assert job["abortConfig"] == {
        "criteriaList": [
            {
                "failureType": "ALL",
                "action": "CANCEL",
                "thresholdPercentage": 25.0,
                "minNumberOfExecutedThings": 4,
            }
        ]
    }
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 15}
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    assert json.loads(AwsIoTJobsHook().get_job_document(xcom["job_id"])) == {
        "operation": "firmwareUpdate",
        "version": "2.1",
    }


def test_a_high_failure_rate_is_cancelled_by_the_abort_config_and_the_task_fails(make_aws, logs):
    make_aws(things=60, failure_rate=0.7)
    result = run_dag(load().dag, run_conf=conf(thing_group="fleet", version="3.0.0", base_rate_per_minute=30))

    assert result.state == "failed" and result.states["firmware_rollout"] == "failed"
    pushed = result.other_xcoms["firmware_rollout"][FAILURE_XCOM_KEY]
    job = held(pushed["job_id"])
    assert job["status"] == "CANCELED" and job["reasonCode"] == "ABORTED_BY_ABORT_CONFIG"
    assert pushed["succeeded"] < pushed["targeted"] == 60
    text = logs()
    assert "job ended CANCELED" in text and "the job's abort config cancelled it" in text


def test_dry_run_and_max_devices_from_the_form(make_aws, logs):
    aws = make_aws(things=60)
    counted = run_dag(load().dag, run_conf=conf(thing_group="fleet", dry_run=True))
    assert counted.state == "success", counted.states
    assert counted.xcoms["firmware_rollout"]["devices"] == 60

    refused = run_dag(load().dag, run_conf=conf(thing_group="fleet", max_devices=20))
    assert refused.states["firmware_rollout"] == "failed"
    assert "more than max_devices=20; no job was created" in logs()
    assert not [r for r in aws.request_log if r[0] == "PUT" and r[1].startswith("/jobs/")]
