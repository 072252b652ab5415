"""The AWS IoT Jobs DAG in the README, as written, against our AWS IoT emulator on 127.0.0.1: a firmware job over
a thing group with an abort config succeeds on a healthy fleet, and ends CANCELED by its abort config with the
task failed, saying so, when too many things fail.

Only the dag id and the deferred wait's poll interval are changed (the README keeps the 30 s default; the emulator
finishes the job in a few seconds)."""

from __future__ import annotations

from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag
from tests.readme_dags import readme_dag as readme_dag_after


def readme_dag(dag_id: str):
    return readme_dag_after(
        "aws-readme-dag",
        {
            'DAG("gateways_firmware"': f'DAG("{dag_id}"',
            "deferrable=True,": "deferrable=True, poll_interval=0.3, max_poll_interval=0.5,",
        },
    )


def held(job_id: str) -> dict:
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    return AwsIoTJobsHook().describe_job(job_id)["job"]


def test_the_readme_dag_rolls_out_firmware_to_the_thing_group(make_aws):
    aws = make_aws(things=60)
    result = run_dag(readme_dag("readme_aws_ok"))

    assert result.state == "success", result.states
    xcom = result.xcoms["firmware"]
    ams = [t for t in aws.registry.things.values() if t.attributes.get("site") == "ams"]
    assert xcom["status"] == "COMPLETED" and xcom["succeeded"] == xcom["targeted"] == len(ams) > 0
    assert {t.attributes["firmware"] for t in ams} == {"2.1.0"}
    job = held(xcom["job_id"])
    assert job["abortConfig"]["criteriaList"][0]["thresholdPercentage"] == 10
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 50}
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}


def test_too_many_failures_cancel_the_job_by_its_abort_config_and_fail_the_task(make_aws, logs):
    make_aws(things=60, failure_rate=0.6)
    result = run_dag(readme_dag("readme_aws_aborted"))

    assert result.state == "failed" and result.states["firmware"] == "failed"
    pushed = result.other_xcoms["firmware"][FAILURE_XCOM_KEY]
    job = held(pushed["job_id"])
    assert job["status"] == "CANCELED" and job["reasonCode"] == "ABORTED_BY_ABORT_CONFIG"
    assert pushed["succeeded"] < pushed["targeted"] and pushed["failed_devices"]
    text = logs()
    assert "job ended CANCELED" in text and "the job's abort config cancelled it" in text
