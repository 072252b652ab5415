"""AWS IoT job operators, sensor and trigger as real DAG runs (dag.test()) against moto in server mode."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.aws_iot import (
    AwsIoTCancelJobExecutionOperator,
    AwsIoTCancelJobOperator,
    AwsIoTDeleteJobExecutionOperator,
    AwsIoTDeleteJobOperator,
    AwsIoTJobOperator,
    AwsIoTJobTemplateOperator,
)
from airflow_iot_jobs.sensors.aws_iot import AwsIoTJobSensor
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3, "max_poll_interval": 0.5}
FIRMWARE = {"operation": "install", "firmware": "2.4.1"}
ABORT = {
    "criteria_list": [
        {
            "failure_type": "ALL",
            "action": "CANCEL",
            "threshold_percentage": 10,
            "min_number_of_executed_things": 2,
        }
    ]
}


def dag_named(request: pytest.FixtureRequest) -> DAG:
    return DAG(dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START)


def test_a_job_over_names_is_created_with_their_arns_and_returned_without_waiting(hook, fleet, request):
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            targets=["fleet", "thing/sensor-4"],
            document=FIRMWARE,
            description="firmware 2.4.1",
            job_executions_rollout_config={"maximum_per_minute": 50},
            abort_config=ABORT,
            timeout_config={"in_progress_timeout_in_minutes": 30},
            wait_for_completion=False,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    xcom = result.xcoms["rollout"]
    assert xcom["job_id"].startswith("rollout-") and xcom["status"] == "QUEUED"
    job = hook.describe_job(xcom["job_id"])["job"]
    assert job["targets"] == [fleet["fleet"], fleet["things"]["sensor-4"]]
    assert job["description"] == "firmware 2.4.1"
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 50}
    assert job["abortConfig"]["criteriaList"][0]["failureType"] == "ALL"
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert json.loads(hook.get_job_document(xcom["job_id"])) == FIRMWARE


def test_a_retry_whose_job_already_exists_reattaches_instead_of_creating_another(
    hook, fleet, aws_duplicates, request
):
    hook.create_job(
        jobId="fw-rollout", targets=[fleet["fleet"]], document=json.dumps(FIRMWARE)
    )  # an earlier try
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            job_id="fw-rollout",
            targets=["fleet"],
            document={"operation": "something else"},
            wait_for_completion=False,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["rollout"]["job_id"] == "fw-rollout"
    assert aws_duplicates == ["fw-rollout"]  # AWS refused the second create: the task re-attached
    assert json.loads(hook.get_job_document("fw-rollout")) == FIRMWARE  # the first try's job, untouched


def test_a_deferred_wait_ends_when_the_job_is_cancelled_and_says_why(hook, fleet, request, logs):
    """The trigger runs in dag.test()'s event loop: connection via aget_connection, boto3 in a thread."""
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            job_id="fw-deferred",
            targets=["fleet"],
            document=FIRMWARE,
            deferrable=True,
            timeout=60,
            **FAST,
        )

    def cancel_later():
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                hook.describe_job("fw-deferred")
                break
            except Exception:
                time.sleep(0.2)
        time.sleep(1.5)
        hook.cancel_job("fw-deferred", comment="halt the rollout")

    canceller = threading.Thread(target=cancel_later, daemon=True)
    canceller.start()
    result = run_dag(dag)
    canceller.join(timeout=5)

    assert result.state == "failed" and result.states["rollout"] == "failed"
    text = logs()
    assert "job ended CANCELED" in text
    assert "the job was cancelled: comment 'halt the rollout'" in text
    assert result.other_xcoms["rollout"]["job_result"]["job_id"] == "fw-deferred"


def test_dry_run_counts_and_creates_nothing(hook, fleet, request):
    with dag_named(request) as dag:
        AwsIoTJobOperator(task_id="rollout", targets=["fleet", "sensor-4"], document=FIRMWARE, dry_run=True)
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["rollout"]["devices"] == 4 and result.xcoms["rollout"]["dry_run"] is True
    assert list(hook.list_jobs()) == []


def test_max_devices_refuses_a_launch_that_touches_too_many(hook, fleet, request, logs):
    with dag_named(request) as dag:
        AwsIoTJobOperator(task_id="rollout", targets=["fleet"], document=FIRMWARE, max_devices=2)
    result = run_dag(dag)

    assert result.states["rollout"] == "failed"
    assert "would touch at least 3 devices, more than max_devices=2; no job was created" in logs()
    assert list(hook.list_jobs()) == []


def test_templates_cancel_delete_and_executions_as_tasks(hook, fleet, request):
    with dag_named(request) as dag:
        template = AwsIoTJobTemplateOperator(
            task_id="template",
            job_template_id="reboot",
            description="reboot a device",
            document={"operation": "reboot"},
            abort_config=ABORT,
        )
        job = AwsIoTJobOperator(
            task_id="job",
            job_id="reboot-1",
            targets=["sensor-1"],
            job_template_id="reboot",
            wait_for_completion=False,
        )
        cancel_execution = AwsIoTCancelJobExecutionOperator(
            task_id="cancel_execution", job_id="reboot-1", thing_name="sensor-1", force=True
        )
        delete_execution = AwsIoTDeleteJobExecutionOperator(
            task_id="delete_execution",
            job_id="reboot-1",
            thing_name="sensor-1",
            execution_number=123,
            force=True,
        )
        cancel = AwsIoTCancelJobOperator(
            task_id="cancel", job_id="reboot-1", comment="done", reason_code="DONE"
        )
        delete = AwsIoTDeleteJobOperator(task_id="delete", job_id="reboot-1", force=True, poll_interval=0.2)
        template >> job >> cancel_execution >> delete_execution >> cancel >> delete
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["template"]["jobTemplateId"] == "reboot"
    assert result.xcoms["cancel_execution"]["status"] == "CANCELED"
    assert result.xcoms["cancel"]["status"] == "CANCELED"
    assert result.xcoms["delete"] == {"job_id": "reboot-1", "deleted": True}
    assert list(hook.list_jobs()) == []


def test_a_template_that_exists_differently_fails_naming_the_difference(hook, moto, request, logs):
    hook.create_job_template("reboot", description="reboot a device", document='{"operation":"reboot"}')
    with dag_named(request) as dag:
        same = AwsIoTJobTemplateOperator(
            task_id="same",
            job_template_id="reboot",
            description="reboot a device",
            document={"operation": "reboot"},
        )
        changed = AwsIoTJobTemplateOperator(
            task_id="changed",
            job_template_id="reboot",
            description="reboot a device",
            document={"operation": "reboot", "delay": 5},
        )
        same >> changed
    result = run_dag(dag)

    assert result.states == {"same": "success", "changed": "failed"}
    text = logs()
    assert "job template reboot is as declared; nothing sent" in text
    assert "already exists with a different definition (document:" in text
    assert "cannot be changed: delete it (state='absent')" in text


def test_template_absent_deletes_and_tolerates_absence(hook, moto, request):
    hook.create_job_template("old", description="old", document="{}")
    with dag_named(request) as dag:
        first = AwsIoTJobTemplateOperator(task_id="first", job_template_id="old", state="absent")
        again = AwsIoTJobTemplateOperator(task_id="again", job_template_id="old", state="absent")
        first >> again
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert list(hook.list_job_templates()) == []


def test_delete_waits_out_deletion_in_progress(hook, fleet, monkeypatch):
    """AWS shows DELETION_IN_PROGRESS for a while (moto deletes at once: the first reads are AWS's)."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    hook.create_job(jobId="gone", targets=[fleet["fleet"]], document="{}")
    real = AwsIoTJobsHook.describe_job
    reads = []

    def describe_job(self, job_id):
        reads.append(job_id)
        if len(reads) <= 2:
            return {"job": {"jobId": job_id, "status": "DELETION_IN_PROGRESS"}}
        return real(self, job_id)

    monkeypatch.setattr(AwsIoTJobsHook, "describe_job", describe_job)
    operator = AwsIoTDeleteJobOperator(task_id="delete", job_id="gone", force=True, poll_interval=0.1)
    assert operator.execute({}) == {"job_id": "gone", "deleted": True}
    assert len(reads) == 3


def test_the_sensor_fails_on_a_cancelled_job(hook, fleet, request, logs):
    hook.create_job(jobId="watched", targets=[fleet["fleet"]], document="{}")
    hook.cancel_job("watched", reason_code="OPERATOR_STOP")
    with dag_named(request) as dag:
        AwsIoTJobSensor(task_id="watch", job_id="watched", poke_interval=0.2, timeout=30)
    result = run_dag(dag)

    assert result.states["watch"] == "failed"
    assert "the job was cancelled: reasonCode 'OPERATOR_STOP'" in logs()


@pytest.mark.skip(
    reason="moto keeps every job execution QUEUED, so no CONTINUOUS job reaches a minimum of executions"
)
def test_a_continuous_job_is_judged_after_its_minimum_executions(hook, fleet, request):
    """Runs against the AWS IoT emulator (its simulated things finish executions)."""


def test_trigger_kwargs_hold_connection_settings_and_no_secret(moto_endpoint, monkeypatch):
    from tests.backends.aws.conftest import aws_connection

    canary = "CANARY-aws-secret-7f3b9c"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_FLEET",
        json.loads(json.dumps(aws_connection(moto_endpoint))).replace(
            'testing", "extra', f'{canary}", "extra'
        ),
    )
    operator = AwsIoTJobOperator(
        task_id="t",
        targets=["fleet"],
        document=FIRMWARE,
        aws_conn_id="aws_fleet",
        region_name="eu-west-1",
        botocore_config={"retries": {"mode": "adaptive"}},
    )
    from airflow_iot_jobs.triggers.aws_iot import AwsIoTJobTrigger

    trigger = AwsIoTJobTrigger(job_id="j", hook_params=operator.hook_params, end_time=time.time() + 60)
    path, kwargs = trigger.serialize()
    assert path == "airflow_iot_jobs.triggers.aws_iot.AwsIoTJobTrigger"
    assert kwargs["hook_params"] == {
        "aws_conn_id": "aws_fleet",
        "region_name": "eu-west-1",
        "verify": None,
        "botocore_config": {"retries": {"mode": "adaptive"}},
    }
    assert canary not in json.dumps(kwargs)
