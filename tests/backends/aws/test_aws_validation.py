"""AWS IoT Jobs input rules: each one, its message naming the field and the rule, and no request sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_iot_jobs.validation import aws_iot as rules

GOOD_ABORT = {
    "criteriaList": [
        {
            "failureType": "FAILED",
            "action": "CANCEL",
            "thresholdPercentage": 10,
            "minNumberOfExecutedThings": 5,
        }
    ]
}


def criterion(**changes):
    return {"criteriaList": [{**GOOD_ABORT["criteriaList"][0], **changes}]}


def rate(**changes):
    base = {
        "baseRatePerMinute": 10,
        "incrementFactor": 2,
        "rateIncreaseCriteria": {"numberOfSucceededThings": 5},
    }
    return {"exponentialRate": {**base, **changes}}


BAD = [
    # (what is checked, call, words the message must contain)
    ("jobId charset", lambda: rules.validate_id("bad id!"), ["job_id", "letters, digits"]),
    ("jobId empty", lambda: rules.validate_id(""), ["job_id", "non-empty"]),
    ("jobId length", lambda: rules.validate_id("j" * 65), ["job_id", "64"]),
    ("document too large", lambda: rules.normalize_document({"x": "a" * 32768}), ["document", "32,768"]),
    ("document not JSON", lambda: rules.normalize_document("{nope"), ["document", "not valid JSON"]),
    ("document not an object", lambda: rules.normalize_document("[1, 2]"), ["document", "JSON object"]),
    (
        "document_source not S3",
        lambda: rules.validate_document_source("https://example.com/a.json"),
        ["document_source", "S3"],
    ),
    (
        "document_source length",
        lambda: rules.validate_document_source("s3://b/" + "k" * 1350),
        ["document_source", "1350"],
    ),
    (
        "none of the documents",
        lambda: rules.one_document(None, None, None),
        ["document / document_source / job_template_id", "exactly one"],
    ),
    (
        "two documents",
        lambda: rules.one_document({"a": 1}, "s3://b/k"),
        ["exactly one", "document, document_source"],
    ),
    (
        "target_selection",
        lambda: rules.target_selection("SOMETIMES"),
        ["target_selection", "CONTINUOUS | SNAPSHOT"],
    ),
    ("no targets", lambda: rules.parse_targets([]), ["targets", "at least 1"]),
    (
        "too many targets",
        lambda: rules.parse_targets([f"thing/t{i}" for i in range(101)]),
        ["targets: 101 things and thing groups", "at most 100 targets", "thing group"],
    ),
    ("target name charset", lambda: rules.parse_targets(["bad name"]), ["targets[0]", "letters, digits"]),
    (
        "target ARN kind",
        lambda: rules.parse_targets(["arn:aws:iot:us-east-1:1:job/x"]),
        ["targets[0]", "thing or thing-group ARN"],
    ),
    ("target prefix", lambda: rules.parse_targets(["device/x"]), ["targets[0]", "thinggroup/<name>"]),
    ("target name length", lambda: rules.parse_targets(["t" * 129]), ["targets[0]", "128"]),
    (
        "maximumPerMinute low",
        lambda: rules.rollout_config({"maximumPerMinute": 0}),
        ["job_executions_rollout_config.maximumPerMinute", "between 1 and 1000"],
    ),
    (
        "maximumPerMinute high",
        lambda: rules.rollout_config({"maximum_per_minute": 1001}),
        ["maximumPerMinute", "1000"],
    ),
    (
        "baseRatePerMinute",
        lambda: rules.rollout_config(rate(baseRatePerMinute=1001)),
        ["exponentialRate.baseRatePerMinute", "between 1 and 1000"],
    ),
    (
        "incrementFactor low",
        lambda: rules.rollout_config(rate(incrementFactor=1.0)),
        ["exponentialRate.incrementFactor", "between 1.1 and 5"],
    ),
    (
        "incrementFactor high",
        lambda: rules.rollout_config(rate(incrementFactor=5.5)),
        ["incrementFactor", "5"],
    ),
    (
        "rateIncreaseCriteria empty",
        lambda: rules.rollout_config(rate(rateIncreaseCriteria={})),
        ["rateIncreaseCriteria", "numberOfNotifiedThings or numberOfSucceededThings"],
    ),
    (
        "rateIncreaseCriteria value",
        lambda: rules.rollout_config(rate(rateIncreaseCriteria={"numberOfNotifiedThings": 0})),
        ["rateIncreaseCriteria.numberOfNotifiedThings", "at least 1"],
    ),
    (
        "exponentialRate missing key",
        lambda: rules.rollout_config({"exponentialRate": {"baseRatePerMinute": 5}}),
        ["exponentialRate.incrementFactor", "required"],
    ),
    (
        "unknown rollout key",
        lambda: rules.rollout_config({"perMinute": 5}),
        ["job_executions_rollout_config", "unknown key 'perMinute'"],
    ),
    (
        "abort failureType",
        lambda: rules.abort_config(criterion(failureType="CRASHED")),
        ["abort_config.criteriaList[0].failureType", "FAILED | REJECTED | TIMED_OUT | ALL"],
    ),
    (
        "abort action",
        lambda: rules.abort_config(criterion(action="STOP")),
        ["criteriaList[0].action", "CANCEL"],
    ),
    (
        "abort threshold high",
        lambda: rules.abort_config(criterion(thresholdPercentage=101)),
        ["thresholdPercentage", "between 0 and 100"],
    ),
    (
        "abort threshold negative",
        lambda: rules.abort_config(criterion(thresholdPercentage=-1)),
        ["thresholdPercentage", "between 0 and 100"],
    ),
    (
        "abort threshold decimals",
        lambda: rules.abort_config(criterion(thresholdPercentage=10.999)),
        ["thresholdPercentage", "two digits"],
    ),
    (
        "abort min executed",
        lambda: rules.abort_config(criterion(minNumberOfExecutedThings=0)),
        ["minNumberOfExecutedThings", "at least 1"],
    ),
    (
        "abort empty list",
        lambda: rules.abort_config({"criteriaList": []}),
        ["abort_config.criteriaList", "at least 1"],
    ),
    ("abort missing list", lambda: rules.abort_config({}), ["abort_config.criteriaList", "required"]),
    (
        "timeout low",
        lambda: rules.timeout_config({"inProgressTimeoutInMinutes": 0}),
        ["timeout_config.inProgressTimeoutInMinutes", "between 1 and 10080"],
    ),
    (
        "timeout high",
        lambda: rules.timeout_config({"in_progress_timeout_in_minutes": 10081}),
        ["inProgressTimeoutInMinutes", "10080"],
    ),
    (
        "timeout not a number",
        lambda: rules.timeout_config({"inProgressTimeoutInMinutes": "soon"}),
        ["inProgressTimeoutInMinutes", "whole number"],
    ),
    (
        "retry failureType",
        lambda: rules.retry_config({"criteriaList": [{"failureType": "REJECTED", "numberOfRetries": 1}]}),
        ["job_executions_retry_config.criteriaList[0].failureType", "FAILED | TIMED_OUT | ALL"],
    ),
    (
        "retry count",
        lambda: rules.retry_config({"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 11}]}),
        ["numberOfRetries", "between 0 and 10"],
    ),
    (
        "retry list size",
        lambda: rules.retry_config({"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1}] * 3}),
        ["criteriaList", "1–2"],
    ),
    (
        "scheduling endBehavior",
        lambda: rules.scheduling_config({"endBehavior": "PAUSE"}),
        ["scheduling_config.endBehavior", "STOP_ROLLOUT | CANCEL | FORCE_CANCEL"],
    ),
    (
        "scheduling startTime",
        lambda: rules.scheduling_config({"startTime": "tomorrow"}),
        ["scheduling_config.startTime", "date-time"],
    ),
    (
        "scheduling naive datetime",
        lambda: rules.scheduling_config({"startTime": datetime(2027, 1, 1)}),
        ["scheduling_config.startTime", "time zone"],
    ),
    (
        "maintenance window duration",
        lambda: rules.scheduling_config(
            {"maintenanceWindows": [{"startTime": "cron(0 2 * * ? *)", "durationInMinutes": 1431}]}
        ),
        ["maintenanceWindows[0].durationInMinutes", "between 1 and 1430"],
    ),
    ("description length", lambda: rules.description("d" * 2029), ["description", "2028"]),
    (
        "description control chars",
        lambda: rules.description("bad\x07"),
        ["description", "control characters"],
    ),
    ("tag key", lambda: rules.tags({"": "v"}), ["tags[0].Key", "1–128"]),
    ("tag value", lambda: rules.tags({"k": "v" * 257}), ["tags[0].Value", "256"]),
    ("tags shape", lambda: rules.tags([{"Name": "x"}]), ["tags[0]", "Key"]),
    (
        "document parameter key",
        lambda: rules.document_parameters({"bad key": "v"}),
        ["document_parameters", "bad key"],
    ),
    (
        "document parameter value",
        lambda: rules.document_parameters({"k": ""}),
        ["document_parameters.k", "1–30720"],
    ),
    ("namespace", lambda: rules.validate_id("a b", "namespace_id"), ["namespace_id"]),
    (
        "presigned role",
        lambda: rules.presigned_url_config({"roleArn": "short"}),
        ["presigned_url_config.roleArn", "20–2048"],
    ),
    (
        "presigned expiry",
        lambda: rules.presigned_url_config({"expiresInSec": 30}),
        ["presigned_url_config.expiresInSec", "between 60 and 3600"],
    ),
    (
        "template ref",
        lambda: rules.validate_template_ref("arn:aws:iot:x:1:jobtemplate/ bad"),
        ["job_template_id", "ARN"],
    ),
    ("reason code", lambda: rules.reason_code("lower"), ["reason_code", "upper-case"]),
    ("comment length", lambda: rules.comment("c" * 2029), ["comment", "2028"]),
    ("thing name", lambda: rules.validate_thing_name("a/b"), ["thing_name", "letters, digits"]),
    ("execution number", lambda: rules.execution_number(-1), ["execution_number", "at least 0"]),
    ("min executions", lambda: rules.min_executions(0), ["continuous_min_executions", "at least 1"]),
    (
        "snake and camel twice",
        lambda: rules.timeout_config({"inProgressTimeoutInMinutes": 5, "in_progress_timeout_in_minutes": 6}),
        ["timeout_config", "twice"],
    ),
]


@pytest.mark.parametrize(("what", "call", "words"), BAD, ids=[b[0] for b in BAD])
def test_each_rule_refuses_with_a_message_naming_the_field(what, call, words):
    with pytest.raises(ValueError) as caught:
        call()
    for word in words:
        assert word in str(caught.value), (what, str(caught.value))


def test_good_values_are_sent_in_camel_case_whatever_the_spelling():
    request = rules.create_job_request(
        targets=["fleet", "thing/sensor-1", "arn:aws:iot:us-east-1:123456789012:thinggroup/eu"],
        document={"operation": "install", "version": "1.2.3"},
        target_selection_value="snapshot",
        description_text="firmware 1.2.3",
        configs={
            "job_executions_rollout_config": {
                "exponential_rate": {
                    "base_rate_per_minute": "50",  # a rendered template
                    "increment_factor": 2.5,
                    "rate_increase_criteria": {"number_of_succeeded_things": 10},
                }
            },
            "abort_config": {"criteria_list": [{**GOOD_ABORT["criteriaList"][0], "failureType": "all"}]},
            "timeout_config": {"in_progress_timeout_in_minutes": 30},
            "job_executions_retry_config": {
                "criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 2}]
            },
        },
        scheduling={"start_time": datetime(2027, 1, 31, 2, 0, tzinfo=UTC), "end_behavior": "cancel"},
        tag_values={"team": "fleet-ops"},
    )
    params = request["params"]
    assert json.loads(params["document"]) == {"operation": "install", "version": "1.2.3"}
    assert params["targetSelection"] == "SNAPSHOT"
    assert params["jobExecutionsRolloutConfig"] == {
        "exponentialRate": {
            "baseRatePerMinute": 50,
            "incrementFactor": 2.5,
            "rateIncreaseCriteria": {"numberOfSucceededThings": 10},
        }
    }
    assert params["abortConfig"]["criteriaList"][0]["failureType"] == "ALL"
    assert params["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert params["schedulingConfig"] == {"startTime": "2027-01-31T02:00", "endBehavior": "CANCEL"}
    assert params["tags"] == [{"Key": "team", "Value": "fleet-ops"}]
    assert request["targets"] == [
        ("name", "fleet"),
        ("thing", "sensor-1"),
        ("arn", "arn:aws:iot:us-east-1:123456789012:thinggroup/eu"),
    ]
    assert request["template"] is None


def test_limits_at_their_edges_pass():
    rules.validate_id("a" * 64)
    rules.normalize_document("{" + '"k":"' + "a" * (32768 - 8) + '"}')
    rules.rollout_config({"maximumPerMinute": 1000})
    rules.rollout_config(rate(baseRatePerMinute=1000, incrementFactor=5))
    rules.rollout_config(rate(baseRatePerMinute=1, incrementFactor=1.1))
    rules.abort_config(criterion(thresholdPercentage=100, minNumberOfExecutedThings=1))
    rules.abort_config(criterion(thresholdPercentage=10.99))
    rules.timeout_config({"inProgressTimeoutInMinutes": 10080})
    rules.retry_config({"criteriaList": [{"failureType": "ALL", "numberOfRetries": 10}] * 2})
    rules.validate_document_source("https://my-bucket.s3.us-east-1.amazonaws.com/fw/job.json")
    rules.validate_document_source("https://s3.amazonaws.com/my-bucket/fw/job.json")
    rules.validate_document_source("s3://my-bucket/fw/job.json")
    assert len(rules.parse_targets([f"thing/t{i}" for i in range(100)] + ["thing/t0"])) == 100


def test_operator_refuses_bad_literal_input_at_dag_parse():
    from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

    with pytest.raises(ValueError, match=r"abort_config.criteriaList\[0\].thresholdPercentage"):
        AwsIoTJobOperator(
            task_id="t", targets=["fleet"], document={"a": 1}, abort_config=criterion(thresholdPercentage=150)
        )
    with pytest.raises(ValueError, match="CONTINUOUS job never finishes"):
        AwsIoTJobOperator(task_id="t", targets=["fleet"], document={"a": 1}, target_selection="CONTINUOUS")
    with pytest.raises(ValueError, match="an AWS IoT job takes at most 100 targets"):
        AwsIoTJobOperator(task_id="t", targets=[f"thing/t{i}" for i in range(101)], document={"a": 1})
    with pytest.raises(ValueError, match="continuous_min_executions: applies to CONTINUOUS jobs only"):
        AwsIoTJobOperator(task_id="t", targets=["fleet"], document={"a": 1}, continuous_min_executions=5)
    AwsIoTJobOperator(
        task_id="t",
        targets=["fleet"],
        document={"a": 1},
        target_selection="CONTINUOUS",
        wait_for_completion=False,
    )
    from airflow_iot_jobs.sensors.aws_iot import AwsIoTJobSensor

    with pytest.raises(ValueError, match="continuous_min_executions: must be at least 1"):
        AwsIoTJobSensor(task_id="s", job_id="j", continuous_min_executions=0)


def test_templated_input_is_checked_after_rendering_before_any_request(monkeypatch):
    """A value that only a template reveals as bad fails the task before the hook sends anything."""
    from airflow_iot_jobs.hooks.aws_iot import AwsIoTJobsHook
    from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator

    sent: list[str] = []
    monkeypatch.setattr(AwsIoTJobsHook, "call", lambda self, operation, **kw: sent.append(operation))
    operator = AwsIoTJobOperator(
        task_id="t",
        job_id="j1",
        targets="{{ params.group }}",
        document={"a": 1},
        timeout_config={"inProgressTimeoutInMinutes": "{{ params.minutes }}"},
    )
    operator.targets, operator.timeout_config = (
        ["fleet"],
        {"inProgressTimeoutInMinutes": "20000"},
    )  # as rendered
    with pytest.raises(
        ValueError, match="timeout_config.inProgressTimeoutInMinutes: must be between 1 and 10080"
    ):
        operator.launch_and_wait({})
    assert sent == []
