"""AWS IoT job operators, sensor and trigger as real DAG runs (dag.test()) against our AWS IoT emulator on
127.0.0.1: simulated things run the executions, the abort config cancels the job, deletion takes a while — what
moto cannot do. What happened is read back from the emulator over boto3."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.aws_iot import (
    AwsIoTAssociateTargetsOperator,
    AwsIoTCancelJobExecutionOperator,
    AwsIoTCancelJobOperator,
    AwsIoTDeleteJobExecutionOperator,
    AwsIoTDeleteJobOperator,
    AwsIoTJobOperator,
    AwsIoTJobTemplateOperator,
)
from airflow_iot_jobs.sensors.aws_iot import AwsIoTJobSensor
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.backends.aws.conftest import emulator_client
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3, "max_poll_interval": 0.5}
FIRMWARE = {"operation": "firmwareUpdate", "version": "2.4.1"}
ROLLOUT = {
    "exponential_rate": {
        "base_rate_per_minute": 2,
        "increment_factor": 2,
        "rate_increase_criteria": {"number_of_notified_things": 2},
    }
}
ABORT = {
    "criteria_list": [
        {
            "failure_type": "FAILED",
            "action": "CANCEL",
            "threshold_percentage": 20,
            "min_number_of_executed_things": 3,
        }
    ]
}
ABORTED = "the job's abort config cancelled it"


def dag_named(request: pytest.FixtureRequest) -> DAG:
    return DAG(dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START)


def held(job_id: str) -> dict:
    """The job as the emulator holds it (DescribeJob through the hook's own client)."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook

    return AwsIoTJobsHook().describe_job(job_id)["job"]


def creates(aws) -> list[int]:
    """The statuses of the CreateJob calls the emulator answered (PUT /jobs/{jobId})."""
    return [
        status for method, path, status in aws.request_log if method == "PUT" and path.startswith("/jobs/")
    ]


@pytest.fixture
def devices(aws):
    """Things made with CreateThing (not simulated): ``dev-0``…``dev-2`` in group ``bench``, ``dev-3`` alone."""
    iot = emulator_client(aws)
    iot.create_thing_group(thingGroupName="bench")
    for i in range(4):
        iot.create_thing(thingName=f"dev-{i}")
    for i in range(3):
        iot.add_thing_to_thing_group(thingGroupName="bench", thingName=f"dev-{i}")
    return iot


# ---------------------------------------------------------------------------------------------- job operator


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_a_thing_group_rollout_with_abort_config_and_timeout_succeeds(aws, request, deferrable):
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            targets=["site-ams"],
            document=FIRMWARE,
            description="firmware 2.4.1",
            job_executions_rollout_config=ROLLOUT,
            abort_config=ABORT,
            timeout_config={"in_progress_timeout_in_minutes": 30},
            success_threshold="95%",
            failure_threshold="10%",
            max_devices=50,
            deferrable=deferrable,
            timeout=60,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    xcom = result.xcoms["rollout"]
    assert xcom["status"] == "COMPLETED" and xcom["targeted"] == xcom["succeeded"] == 12  # site-ams's things
    job = held(xcom["job_id"])
    assert job["targets"] == ["arn:aws:iot:us-east-1:123456789012:thinggroup/site-ams"]
    assert job["description"] == "firmware 2.4.1"
    assert job["jobExecutionsRolloutConfig"] == {
        "exponentialRate": {
            "baseRatePerMinute": 2,
            "incrementFactor": 2.0,
            "rateIncreaseCriteria": {"numberOfNotifiedThings": 2},
        }
    }
    assert job["abortConfig"]["criteriaList"] == [
        {
            "failureType": "FAILED",
            "action": "CANCEL",
            "thresholdPercentage": 20.0,
            "minNumberOfExecutedThings": 3,
        }
    ]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    ams = [t for t in aws.registry.things.values() if t.attributes.get("site") == "ams"]
    assert len(ams) == 12 and {t.attributes["firmware"] for t in ams} == {"2.4.1"}


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_a_high_failure_rate_is_cancelled_by_the_abort_config_and_the_task_says_so(
    make_aws, request, logs, deferrable
):
    make_aws(failure_rate=0.8)
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            targets=["fleet"],
            document=FIRMWARE,
            job_executions_rollout_config={"maximum_per_minute": 60},
            abort_config=ABORT,
            deferrable=deferrable,
            timeout=60,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "failed" and result.states["rollout"] == "failed"
    pushed = result.other_xcoms["rollout"][FAILURE_XCOM_KEY]
    job = held(pushed["job_id"])
    assert job["status"] == "CANCELED" and job["reasonCode"] == "ABORTED_BY_ABORT_CONFIG"
    assert pushed["status"] == "CANCELED" and pushed["succeeded"] < pushed["targeted"] == 40
    assert any(d["code"] == "FAILED" for d in pushed["failed_devices"])
    text = logs()
    assert "job ended CANCELED" in text and ABORTED in text and "ABORTED_BY_ABORT_CONFIG" in text


def test_a_cleared_task_reruns_and_reattaches_to_its_one_job(aws, request):
    """AWS refuses a second CreateJob with the same jobId (ResourceAlreadyExistsException): the re-run of the
    cleared task (same run, same derived job id) re-attaches to the first run's job."""
    with dag_named(request) as dag:
        AwsIoTJobOperator(task_id="rollout", targets=["site-sea"], document=FIRMWARE, **FAST)
    first = run_dag(dag, logical_date=START, run_after=START)
    second = run_dag(dag, logical_date=START, run_after=START)

    assert first.states == second.states == {"rollout": "success"}
    job_id = first.xcoms["rollout"]["job_id"]
    assert second.xcoms["rollout"]["job_id"] == job_id
    assert creates(aws) == [200, 409]
    assert [j["jobId"] for j in emulator_client(aws).list_jobs()["jobs"]] == [job_id]


def test_a_deferred_wait_ends_when_a_user_cancels_the_job_and_says_why(aws, request, logs):
    """The trigger runs in dag.test()'s event loop: connection via aget_connection, boto3 in a thread."""
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            job_id="fw-deferred",
            targets=["fleet"],
            document=FIRMWARE,
            job_executions_rollout_config={"maximum_per_minute": 1},  # a long rollout
            deferrable=True,
            timeout=60,
            **FAST,
        )
    iot = emulator_client(aws)

    def cancel_later():
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                iot.describe_job(jobId="fw-deferred")
                break
            except iot.exceptions.ResourceNotFoundException:
                time.sleep(0.2)
        time.sleep(1.5)
        iot.cancel_job(jobId="fw-deferred", comment="halt the rollout")

    canceller = threading.Thread(target=cancel_later, daemon=True)
    canceller.start()
    result = run_dag(dag)
    canceller.join(timeout=5)

    assert result.state == "failed" and result.states["rollout"] == "failed"
    text = logs()
    assert "job ended CANCELED" in text and "the job was cancelled: comment 'halt the rollout'" in text
    assert ABORTED not in text
    assert result.other_xcoms["rollout"][FAILURE_XCOM_KEY]["job_id"] == "fw-deferred"


def test_a_continuous_job_is_judged_after_its_minimum_executions(aws, request):
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout",
            targets=["site-fra"],
            document={"operation": "ping"},
            target_selection="CONTINUOUS",
            continuous_min_executions=5,
            success_threshold="80%",
            timeout=60,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    xcom = result.xcoms["rollout"]
    assert xcom["succeeded"] >= 5 and xcom["succeeded"] >= 0.8 * (xcom["succeeded"] + xcom["failed"])
    job = held(xcom["job_id"])
    assert job["targetSelection"] == "CONTINUOUS" and job["status"] == "IN_PROGRESS"  # it never ends


def test_dry_run_counts_and_creates_nothing(aws, devices, request):
    with dag_named(request) as dag:
        AwsIoTJobOperator(
            task_id="rollout", targets=["fleet", "thing/dev-3"], document=FIRMWARE, dry_run=True
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["rollout"]["devices"] == 41 and result.xcoms["rollout"]["dry_run"] is True
    assert creates(aws) == [] and devices.list_jobs()["jobs"] == []


def test_max_devices_refuses_a_launch_that_touches_too_many(aws, request, logs):
    with dag_named(request) as dag:
        AwsIoTJobOperator(task_id="rollout", targets=["fleet"], document=FIRMWARE, max_devices=10)
    result = run_dag(dag)

    assert result.states["rollout"] == "failed"
    assert "would touch at least 11 devices, more than max_devices=10; no job was created" in logs()
    assert creates(aws) == []


# ----------------------------------------------------------------------------------- the other operators


def test_templates_cancel_delete_and_executions_as_tasks(aws, devices, request, logs):
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
            targets=["bench"],
            job_template_id="reboot",
            wait_for_completion=False,
        )
        cancel_execution = AwsIoTCancelJobExecutionOperator(
            task_id="cancel_execution", job_id="reboot-1", thing_name="dev-1", status_details={"why": "spare"}
        )
        delete_execution = AwsIoTDeleteJobExecutionOperator(
            task_id="delete_execution", job_id="reboot-1", thing_name="dev-1", execution_number=1
        )
        cancel = AwsIoTCancelJobOperator(
            task_id="cancel", job_id="reboot-1", comment="done", reason_code="DONE"
        )
        delete = AwsIoTDeleteJobOperator(task_id="delete", job_id="reboot-1", poll_interval=0.05)
        template >> job >> cancel_execution >> delete_execution >> cancel >> delete
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["template"]["jobTemplateId"] == "reboot"
    assert result.xcoms["job"]["job_id"] == "reboot-1" and result.xcoms["job"]["targeted"] == 3
    assert result.xcoms["cancel_execution"]["status"] == "CANCELED"
    assert result.xcoms["delete_execution"]["deleted"] is True
    assert result.xcoms["cancel"]["status"] == "CANCELED" and result.xcoms["cancel"]["failed"] == 2
    assert result.xcoms["delete"] == {"job_id": "reboot-1", "deleted": True}
    assert "job reboot-1 is DELETION_IN_PROGRESS; waiting for the deletion" in logs()  # AWS takes a while
    assert devices.list_jobs()["jobs"] == []
    assert devices.describe_job_template(jobTemplateId="reboot")["abortConfig"]["criteriaList"][0][
        "failureType"
    ] == ("FAILED")


def test_delete_of_a_running_job_needs_force(aws, devices, request, logs):
    devices.create_job(
        jobId="running", targets=[devices.describe_thing(thingName="dev-3")["thingArn"]], document="{}"
    )
    with dag_named(request) as dag:
        AwsIoTDeleteJobOperator(task_id="delete", job_id="running", poll_interval=0.05)
    result = run_dag(dag)

    assert result.states["delete"] == "failed"
    assert "InvalidStateTransitionException" in logs()
    assert devices.describe_job(jobId="running")["job"]["status"] == "IN_PROGRESS"


def test_associate_targets_adds_things_to_a_continuous_job(aws, devices, request):
    devices.create_job(
        jobId="c-1",
        targets=[devices.describe_thing_group(thingGroupName="bench")["thingGroupArn"]],
        document="{}",
        targetSelection="CONTINUOUS",
    )
    with dag_named(request) as dag:
        AwsIoTAssociateTargetsOperator(
            task_id="associate", job_id="c-1", targets=["thing/dev-3"], comment="late joiner"
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["associate"]["jobId"] == "c-1"
    assert devices.describe_job_execution(jobId="c-1", thingName="dev-3")["execution"]["status"] == "QUEUED"


def test_a_template_that_exists_differently_fails_naming_the_difference(aws, request, logs):
    emulator_client(aws).create_job_template(
        jobTemplateId="reboot", description="reboot a device", document='{"operation":"reboot"}'
    )
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


def test_template_absent_deletes_and_tolerates_absence(aws, request):
    iot = emulator_client(aws)
    iot.create_job_template(jobTemplateId="old", description="old", document="{}")
    with dag_named(request) as dag:
        first = AwsIoTJobTemplateOperator(task_id="first", job_template_id="old", state="absent")
        again = AwsIoTJobTemplateOperator(task_id="again", job_template_id="old", state="absent")
        first >> again
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert iot.list_job_templates()["jobTemplates"] == []


# ----------------------------------------------------------------------------------------- sensor, trigger


def test_the_sensor_waits_for_a_running_job_and_fails_on_a_cancelled_one(aws, devices, request, logs):
    iot = emulator_client(aws)
    fleet = iot.describe_thing_group(thingGroupName="site-sgp")["thingGroupArn"]
    iot.create_job(jobId="watched-ok", targets=[fleet], document=json.dumps(FIRMWARE))
    iot.create_job(jobId="watched-cancelled", targets=[fleet], document="{}")
    iot.cancel_job(jobId="watched-cancelled", reasonCode="OPERATOR_STOP", force=True)
    with dag_named(request) as dag:
        AwsIoTJobSensor(task_id="ok", job_id="watched-ok", poke_interval=0.2, timeout=30, deferrable=True)
        AwsIoTJobSensor(task_id="cancelled", job_id="watched-cancelled", poke_interval=0.2, timeout=30)
    result = run_dag(dag)

    assert result.states == {"ok": "success", "cancelled": "failed"}
    assert result.xcoms["ok"]["succeeded"] == result.xcoms["ok"]["targeted"] == 10
    assert "the job was cancelled (forced): reasonCode 'OPERATOR_STOP'" in logs()


def test_trigger_kwargs_hold_connection_settings_and_no_secret(aws):
    from airflow_iot_jobs.triggers.aws_iot import AwsIoTJobTrigger

    operator = AwsIoTJobOperator(
        task_id="t",
        targets=["fleet"],
        document=FIRMWARE,
        aws_conn_id="aws_fleet",
        region_name="eu-west-1",
        botocore_config={"retries": {"mode": "adaptive"}},
    )
    trigger = AwsIoTJobTrigger(job_id="j", hook_params=operator.hook_params, end_time=time.time() + 60)
    path, kwargs = trigger.serialize()
    assert path == "airflow_iot_jobs.triggers.aws_iot.AwsIoTJobTrigger"
    assert kwargs["hook_params"] == {
        "aws_conn_id": "aws_fleet",
        "region_name": "eu-west-1",
        "verify": None,
        "botocore_config": {"retries": {"mode": "adaptive"}},
    }
    assert aws.aws_secret_access_key not in json.dumps(kwargs)
