"""The input rules' limits are the installed botocore ``iot`` model's: a botocore upgrade that moves one fails
here, naming the constant and the shape."""

from __future__ import annotations

import re

import pytest

from airflow_iot_jobs.validation import aws_iot as rules


@pytest.fixture(scope="module")
def shapes() -> dict:
    import botocore.loaders

    return botocore.loaders.Loader().load_service_model("iot", "service-2")["shapes"]


#: constant -> (shape, constraint)
LIMITS = {
    "MAX_JOB_ID_LENGTH": ("JobId", "max"),
    "MAX_DOCUMENT_LENGTH": ("JobDocument", "max"),
    "MAX_DOCUMENT_SOURCE_LENGTH": ("JobDocumentSource", "max"),
    "MAX_DESCRIPTION_LENGTH": ("JobDescription", "max"),
    "MAX_COMMENT_LENGTH": ("Comment", "max"),
    "MAX_REASON_CODE_LENGTH": ("ReasonCode", "max"),
    "MAX_TARGET_ARN_LENGTH": ("TargetArn", "max"),
    "MIN_TARGETS": ("JobTargets", "min"),
    "MAX_THING_NAME_LENGTH": ("ThingName", "max"),
    "MIN_MAXIMUM_PER_MINUTE": ("MaxJobExecutionsPerMin", "min"),
    "MIN_BASE_RATE_PER_MINUTE": ("RolloutRatePerMinute", "min"),
    "MAX_BASE_RATE_PER_MINUTE": ("RolloutRatePerMinute", "max"),
    "MIN_INCREMENT_FACTOR": ("IncrementFactor", "min"),
    "MAX_INCREMENT_FACTOR": ("IncrementFactor", "max"),
    "MIN_NUMBER_OF_THINGS": ("NumberOfThings", "min"),
    "MAX_ABORT_THRESHOLD_PERCENTAGE": ("AbortThresholdPercentage", "max"),
    "MIN_EXECUTED_THINGS": ("MinimumNumberOfExecutedThings", "min"),
    "MIN_ABORT_CRITERIA": ("AbortCriteriaList", "min"),
    "MIN_RETRIES": ("NumberOfRetries", "min"),
    "MAX_RETRIES": ("NumberOfRetries", "max"),
    "MIN_RETRY_CRITERIA": ("RetryCriteriaList", "min"),
    "MAX_RETRY_CRITERIA": ("RetryCriteriaList", "max"),
    "MAX_DATE_TIME_LENGTH": ("StringDateTime", "max"),
    "MAX_CRON_LENGTH": ("CronExpression", "max"),
    "MIN_WINDOW_MINUTES": ("DurationInMinutes", "min"),
    "MAX_WINDOW_MINUTES": ("DurationInMinutes", "max"),
    "MAX_PARAMETER_KEY_LENGTH": ("ParameterKey", "max"),
    "MAX_PARAMETER_VALUE_LENGTH": ("ParameterValue", "max"),
    "MAX_TAG_KEY_LENGTH": ("TagKey", "max"),
    "MAX_TAG_VALUE_LENGTH": ("TagValue", "max"),
    "MIN_ROLE_ARN_LENGTH": ("RoleArn", "min"),
    "MAX_ROLE_ARN_LENGTH": ("RoleArn", "max"),
    "MIN_EXPIRES_IN_SEC": ("ExpiresInSec", "min"),
    "MAX_EXPIRES_IN_SEC": ("ExpiresInSec", "max"),
    "MAX_TEMPLATE_ARN_LENGTH": ("JobTemplateArn", "max"),
}
ENUMS = {
    "TARGET_SELECTIONS": "TargetSelection",
    "ABORT_FAILURE_TYPES": "JobExecutionFailureType",
    "ABORT_ACTIONS": "AbortAction",
    "RETRY_FAILURE_TYPES": "RetryableFailureType",
    "END_BEHAVIORS": "JobEndBehavior",
    "EXECUTION_STATUSES": "JobExecutionStatus",
    "JOB_STATUSES": "JobStatus",
}


@pytest.mark.parametrize("constant", LIMITS)
def test_limit_matches_the_model(constant, shapes):
    shape, key = LIMITS[constant]
    assert getattr(rules, constant) == shapes[shape][key], f"{constant} != {shape}.{key}"


@pytest.mark.parametrize("constant", ENUMS)
def test_enum_matches_the_model(constant, shapes):
    assert sorted(getattr(rules, constant)) == sorted(shapes[ENUMS[constant]]["enum"])


def test_id_patterns_match_the_model(shapes):
    for shape in ("JobId", "JobTemplateId", "NamespaceId", "ParameterKey"):
        assert shapes[shape]["pattern"] == rules.JOB_ID_PATTERN.pattern, shape
    for shape in ("ThingName", "ThingGroupName"):
        assert shapes[shape]["pattern"] == rules.THING_NAME_PATTERN.pattern, shape
    for shape in ("JobId", "JobTemplateId"):
        assert shapes[shape]["min"] == 1 and shapes[shape]["max"] == rules.MAX_JOB_ID_LENGTH


def test_the_limits_the_model_states_in_prose(shapes):
    """The in-progress timeout's range is in the member's documentation, not its shape; the rollout ceiling is
    not in the model at all (the developer guide's 1–1000), so the model must still set no max of its own."""
    doc = shapes["TimeoutConfig"]["members"]["inProgressTimeoutInMinutes"]["documentation"]
    found = re.search(r"\((\d+) to (\d+) minutes\)", doc)
    assert found and (int(found[1]), int(found[2])) == (
        rules.MIN_IN_PROGRESS_TIMEOUT,
        rules.MAX_IN_PROGRESS_TIMEOUT,
    )
    assert "max" not in shapes["InProgressTimeoutInMinutes"]
    assert "max" not in shapes["MaxJobExecutionsPerMin"]


def test_every_create_job_member_is_an_operator_parameter_or_deliberately_left_out(shapes):
    """A new CreateJob member shows up here, so the operator grows with the model."""
    from airflow_iot_jobs.operators.aws_iot import AwsIoTJobOperator
    from airflow_iot_jobs.validation.aws_iot import camel

    covered = {camel(name) for name in AwsIoTJobOperator.job_fields} | {"jobId", "jobTemplateArn"}
    left_out = {"destinationPackageVersions"}  # software package catalog: not a fleet-job concern yet
    members = set(shapes["CreateJobRequest"]["members"])
    assert members - covered - left_out == set()
