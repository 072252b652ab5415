"""AWS IoT Jobs input rules, checked before any call; every error names the field and the rule it broke.

The limits are the botocore ``iot`` 2015-05-28 service model's (``botocore/data/iot/2015-05-28/service-2.json``):
each constant names the model shape it comes from, and ``tests/backends/aws/test_aws_model_constants.py``
compares them with the installed model so they cannot drift. Two limits the model states only in prose (the
in-progress timeout, the per-minute rollout ceiling) are marked as such. Config dicts take the model's camelCase
keys or their snake_case spelling; what is sent is camelCase. Standard library only (imported at DAG parse).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_iot_jobs.validation.common import coerce_json_object

# ---------------------------------------------------------------- limits from the model (shape: constraint)
JOB_ID_PATTERN = re.compile(
    r"[a-zA-Z0-9_-]+"
)  # JobId.pattern (also JobTemplateId, NamespaceId, ParameterKey)
JOB_ID_RULE = "letters, digits, '_' and '-'"
MAX_JOB_ID_LENGTH = 64  # JobId.max (min 1); JobTemplateId has the same
MAX_DOCUMENT_LENGTH = 32768  # JobDocument.max
MAX_DOCUMENT_SOURCE_LENGTH = 1350  # JobDocumentSource.max (min 1)
MAX_DESCRIPTION_LENGTH = 2028  # JobDescription.max; pattern [^\p{C}]+ (no control characters)
MAX_COMMENT_LENGTH = 2028  # Comment.max
MAX_REASON_CODE_LENGTH = 128  # ReasonCode.max; pattern [\p{Upper}\p{Digit}_]+
MAX_TARGET_ARN_LENGTH = 2048  # TargetArn.max
MIN_TARGETS = 1  # JobTargets.min
MAX_TARGETS = 100  # "The total number of targets associated with a job must not exceed 100" (API docs)
THING_NAME_PATTERN = re.compile(r"[a-zA-Z0-9:_-]+")  # ThingName.pattern, ThingGroupName.pattern
MAX_THING_NAME_LENGTH = 128  # ThingName.max, ThingGroupName.max
TARGET_SELECTIONS = ("CONTINUOUS", "SNAPSHOT")  # TargetSelection.enum
MIN_MAXIMUM_PER_MINUTE = 1  # MaxJobExecutionsPerMin.min (the model sets no max)
MIN_BASE_RATE_PER_MINUTE, MAX_BASE_RATE_PER_MINUTE = 1, 1000  # RolloutRatePerMinute.min / .max
MIN_INCREMENT_FACTOR, MAX_INCREMENT_FACTOR = 1.1, 5.0  # IncrementFactor.min / .max
MIN_NUMBER_OF_THINGS = 1  # NumberOfThings.min (rateIncreaseCriteria)
ABORT_FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")  # JobExecutionFailureType.enum
ABORT_ACTIONS = ("CANCEL",)  # AbortAction.enum
MAX_ABORT_THRESHOLD_PERCENTAGE = 100.0  # AbortThresholdPercentage.max ("up to two digits after the decimal")
MIN_EXECUTED_THINGS = 1  # MinimumNumberOfExecutedThings.min
MIN_ABORT_CRITERIA = 1  # AbortCriteriaList.min
RETRY_FAILURE_TYPES = ("FAILED", "TIMED_OUT", "ALL")  # RetryableFailureType.enum
MIN_RETRIES, MAX_RETRIES = 0, 10  # NumberOfRetries.min / .max
MIN_RETRY_CRITERIA, MAX_RETRY_CRITERIA = 1, 2  # RetryCriteriaList.min / .max
END_BEHAVIORS = ("STOP_ROLLOUT", "CANCEL", "FORCE_CANCEL")  # JobEndBehavior.enum
MAX_DATE_TIME_LENGTH = 64  # StringDateTime.max (min 1)
MAX_CRON_LENGTH = 256  # CronExpression.max (min 1)
MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES = 1, 1430  # DurationInMinutes.min / .max
MAX_PARAMETER_KEY_LENGTH = 128  # ParameterKey.max (min 1)
MAX_PARAMETER_VALUE_LENGTH = 30720  # ParameterValue.max (min 1)
TAG_KEY_PATTERN = re.compile(r"[\w\s.:/=+\-@]*")  # TagKey.pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$
MAX_TAG_KEY_LENGTH = 128  # TagKey.max (min 1)
MAX_TAG_VALUE_LENGTH = 256  # TagValue.max
MIN_ROLE_ARN_LENGTH, MAX_ROLE_ARN_LENGTH = 20, 2048  # RoleArn.min / .max
MIN_EXPIRES_IN_SEC, MAX_EXPIRES_IN_SEC = 60, 3600  # ExpiresInSec.min / .max
MAX_TEMPLATE_ARN_LENGTH = 1600  # JobTemplateArn.max; pattern ^arn:[!-~]+$
EXECUTION_STATUSES = (  # JobExecutionStatus.enum
    "QUEUED",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "REJECTED",
    "REMOVED",
    "CANCELED",
)
JOB_STATUSES = ("IN_PROGRESS", "CANCELED", "COMPLETED", "DELETION_IN_PROGRESS", "SCHEDULED")  # JobStatus.enum

# ---------------------------------------------------------------- limits the model states in prose only
#: TimeoutConfig.inProgressTimeoutInMinutes (InProgressTimeoutInMinutes is a bare long): "anywhere between
#: 1 minute and 7 days (1 to 10080 minutes)" in the member's documentation
MIN_IN_PROGRESS_TIMEOUT, MAX_IN_PROGRESS_TIMEOUT = 1, 10080
#: maximumPerMinute: the model has no max; the AWS IoT developer guide ("Job rollout") and Greengrass's
#: IoTJobExecutionsRolloutConfig document 1–1000 things per minute
MAX_MAXIMUM_PER_MINUTE = 1000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_S3_HOST = re.compile(r"(^|\.)s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")
_ARN = re.compile(r"arn:[!-~]+")


def camel(key: str) -> str:
    """``in_progress_timeout_in_minutes`` → ``inProgressTimeoutInMinutes``; camelCase stays as it is."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _object(value: object, field: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    """A config object with camelCase keys (snake_case accepted); unknown or missing keys name the field."""
    value = coerce_json_object(value, field)
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: must be an object (dict), got {type(value).__name__}")
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = camel(str(key))
        if name not in allowed:
            raise ValueError(f"{field}: unknown key {key!r}; allowed: {', '.join(allowed)}")
        if name in result:
            raise ValueError(f"{field}: {key!r} is given twice (snake_case and camelCase)")
        result[name] = item
    for name in required:
        if result.get(name) is None:
            raise ValueError(f"{field}.{name}: is required")
    return result


def _int(value: object, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):  # a rendered template
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be a whole number, got {value!r}")
    _bounds(value, field, minimum, maximum)
    return value


def _number(value: object, field: str, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+(\.[0-9]+)?\s*", value):  # a rendered template
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field}: must be a number, got {value!r}")
    _bounds(value, field, minimum, maximum)
    return value


def _bounds(value: float, field: str, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{field}: must be between {minimum:g} and {maximum:g}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{field}: must be at least {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{field}: must be at most {maximum:g}, got {value!r}")


def _enum(value: object, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.upper() not in choices:
        raise ValueError(f"{field}: must be one of {' | '.join(choices)}, got {value!r}")
    return value.upper()


def _text(value: object, field: str, maximum: int, minimum: int = 0) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be a string, got {type(value).__name__}")
    if not minimum <= len(value) <= maximum:
        raise ValueError(f"{field}: must be {minimum}–{maximum} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise ValueError(f"{field}: must not contain control characters (the model's [^\\p{{C}}]+)")
    return value


def validate_id(value: object, field: str = "job_id") -> str:
    """A job, job template or namespace id: ``[a-zA-Z0-9_-]+``, 1–64 characters."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
    if len(value) > MAX_JOB_ID_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_JOB_ID_LENGTH} characters, got {len(value)}")
    if not JOB_ID_PATTERN.fullmatch(value):
        raise ValueError(f"{field}: {value!r} may contain only {JOB_ID_RULE}")
    return value


def validate_thing_name(value: object, field: str = "thing_name") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_THING_NAME_LENGTH:
        raise ValueError(f"{field}: must be a name of 1–{MAX_THING_NAME_LENGTH} characters, got {value!r}")
    if not THING_NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{field}: {value!r} may contain only letters, digits, ':', '_' and '-'")
    return value


def parse_target(value: object, field: str) -> tuple[str, str]:
    """One target: ``("arn", <ARN>)``, ``("thing", name)``, ``("thinggroup", name)`` or ``("name", name)`` (a
    bare name: a thing group or a thing, looked up at run time)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: must be a thing or thing-group name or ARN, got {value!r}")
    if value.startswith("arn:"):
        if len(value) > MAX_TARGET_ARN_LENGTH:
            raise ValueError(f"{field}: an ARN is at most {MAX_TARGET_ARN_LENGTH} characters")
        resource = value.split(":", 5)[-1] if value.count(":") >= 5 else ""
        if not resource.startswith(("thing/", "thinggroup/")):
            raise ValueError(
                f"{field}: {value!r} is not a thing or thing-group ARN (arn:aws:iot:<region>:<account>:thing/<name>"
                " or …:thinggroup/<name>)"
            )
        return "arn", value
    kind, _, name = value.rpartition("/")
    if kind and kind not in ("thing", "thinggroup"):
        raise ValueError(f"{field}: {value!r}: write a name, 'thing/<name>', 'thinggroup/<name>' or an ARN")
    validate_thing_name(name, field)
    return (kind or "name"), name


def parse_targets(
    value: object, field: str = "targets", max_targets: int | None = MAX_TARGETS
) -> list[tuple[str, str]]:
    """Thing and thing-group references; at most ``max_targets`` of them (one job's limit; ``None``: a list that
    names a fleet, e.g. a rollout's, which its waves' jobs split)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or len(value) < MIN_TARGETS:
        raise ValueError(f"{field}: must list at least {MIN_TARGETS} thing or thing group (names or ARNs)")
    targets = list(dict.fromkeys(parse_target(item, f"{field}[{i}]") for i, item in enumerate(value)))
    if max_targets is not None and len(targets) > max_targets:
        raise ValueError(
            f"{field}: {len(targets):,} things and thing groups; an AWS IoT job takes at most {max_targets} targets: "
            "put the things in a thing group and target the group (a staged rollout does that per wave)"
        )
    return targets


def normalize_document(value: object, field: str = "document") -> str:
    """The job document as the JSON string sent (a dict, or a JSON string), at most 32 KB."""
    parsed = coerce_json_object(value, field)
    if not isinstance(parsed, Mapping):
        raise ValueError(f"{field}: must be a JSON object, got {type(parsed).__name__}")
    try:
        text = value if isinstance(value, str) else json.dumps(parsed, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field}: must be JSON-serialisable ({err})") from None
    if len(text) > MAX_DOCUMENT_LENGTH:
        raise ValueError(
            f"{field}: is {len(text):,} characters; a job document is at most {MAX_DOCUMENT_LENGTH:,}"
        )
    return text


def validate_document_source(value: object, field: str = "document_source") -> str:
    """An S3 object URL (``https://<bucket>.s3.<region>.amazonaws.com/<key>``, path style) or ``s3://bucket/key``."""
    text = _text(value, field, MAX_DOCUMENT_SOURCE_LENGTH, minimum=1)
    match = re.fullmatch(r"(https|s3)://([^/]+)/(.+)", text)
    if not match or (match.group(1) == "https" and not _S3_HOST.search(match.group(2))):
        raise ValueError(
            f"{field}: {text!r} is not an S3 object URL such as "
            "https://my-bucket.s3.us-east-1.amazonaws.com/firmware/job.json or s3://my-bucket/firmware/job.json"
        )
    return text


def validate_template_ref(value: object, field: str = "job_template_id") -> str:
    """A job template id, or its ARN."""
    if isinstance(value, str) and value.startswith("arn:"):
        if len(value) > MAX_TEMPLATE_ARN_LENGTH or not _ARN.fullmatch(value):
            raise ValueError(
                f"{field}: {value!r} is not a job template ARN (^arn:[!-~]+$, ≤ 1600 characters)"
            )
        return value
    return validate_id(value, field)


def rollout_config(value: object, field: str = "job_executions_rollout_config") -> dict[str, Any]:
    config = _object(value, field, ("maximumPerMinute", "exponentialRate"))
    if config.get("maximumPerMinute") is not None:
        config["maximumPerMinute"] = _int(
            config["maximumPerMinute"],
            f"{field}.maximumPerMinute",
            MIN_MAXIMUM_PER_MINUTE,
            MAX_MAXIMUM_PER_MINUTE,
        )
    if config.get("exponentialRate") is not None:
        where = f"{field}.exponentialRate"
        rate = _object(
            config["exponentialRate"],
            where,
            ("baseRatePerMinute", "incrementFactor", "rateIncreaseCriteria"),
            ("baseRatePerMinute", "incrementFactor", "rateIncreaseCriteria"),
        )
        rate["baseRatePerMinute"] = _int(
            rate["baseRatePerMinute"],
            f"{where}.baseRatePerMinute",
            MIN_BASE_RATE_PER_MINUTE,
            MAX_BASE_RATE_PER_MINUTE,
        )
        rate["incrementFactor"] = _number(
            rate["incrementFactor"], f"{where}.incrementFactor", MIN_INCREMENT_FACTOR, MAX_INCREMENT_FACTOR
        )
        criteria = _object(
            rate["rateIncreaseCriteria"],
            f"{where}.rateIncreaseCriteria",
            ("numberOfNotifiedThings", "numberOfSucceededThings"),
        )
        if not any(criteria.get(k) is not None for k in criteria):
            raise ValueError(
                f"{where}.rateIncreaseCriteria: give numberOfNotifiedThings or numberOfSucceededThings"
            )
        criteria = {
            key: _int(item, f"{where}.rateIncreaseCriteria.{key}", MIN_NUMBER_OF_THINGS)
            for key, item in criteria.items()
            if item is not None
        }
        config["exponentialRate"] = {**rate, "rateIncreaseCriteria": criteria}
    return {k: v for k, v in config.items() if v is not None}


def abort_config(value: object, field: str = "abort_config") -> dict[str, Any]:
    config = _object(value, field, ("criteriaList",), ("criteriaList",))
    items = config["criteriaList"]
    if not isinstance(items, list | tuple) or len(items) < MIN_ABORT_CRITERIA:
        raise ValueError(f"{field}.criteriaList: must list at least {MIN_ABORT_CRITERIA} abort criterion")
    criteria = []
    for i, item in enumerate(items):
        where = f"{field}.criteriaList[{i}]"
        required = ("failureType", "action", "thresholdPercentage", "minNumberOfExecutedThings")
        criterion = _object(item, where, required, required)
        criterion["failureType"] = _enum(
            criterion["failureType"], f"{where}.failureType", ABORT_FAILURE_TYPES
        )
        criterion["action"] = _enum(criterion["action"], f"{where}.action", ABORT_ACTIONS)
        criterion["thresholdPercentage"] = share = _number(
            criterion["thresholdPercentage"],
            f"{where}.thresholdPercentage",
            0,
            MAX_ABORT_THRESHOLD_PERCENTAGE,
        )
        if round(share, 2) != share:
            raise ValueError(
                f"{where}.thresholdPercentage: at most two digits after the decimal, got {share!r}"
            )
        criterion["minNumberOfExecutedThings"] = _int(
            criterion["minNumberOfExecutedThings"], f"{where}.minNumberOfExecutedThings", MIN_EXECUTED_THINGS
        )
        criteria.append(criterion)
    return {"criteriaList": criteria}


def timeout_config(value: object, field: str = "timeout_config") -> dict[str, Any]:
    config = _object(value, field, ("inProgressTimeoutInMinutes",), ("inProgressTimeoutInMinutes",))
    config["inProgressTimeoutInMinutes"] = _int(
        config["inProgressTimeoutInMinutes"],
        f"{field}.inProgressTimeoutInMinutes",
        MIN_IN_PROGRESS_TIMEOUT,
        MAX_IN_PROGRESS_TIMEOUT,
    )
    return config


def retry_config(value: object, field: str = "job_executions_retry_config") -> dict[str, Any]:
    config = _object(value, field, ("criteriaList",), ("criteriaList",))
    items = config["criteriaList"]
    if not isinstance(items, list | tuple) or not MIN_RETRY_CRITERIA <= len(items) <= MAX_RETRY_CRITERIA:
        raise ValueError(
            f"{field}.criteriaList: must list {MIN_RETRY_CRITERIA}–{MAX_RETRY_CRITERIA} retry criteria"
        )
    criteria = []
    for i, item in enumerate(items):
        where = f"{field}.criteriaList[{i}]"
        criterion = _object(
            item, where, ("failureType", "numberOfRetries"), ("failureType", "numberOfRetries")
        )
        criterion["failureType"] = _enum(
            criterion["failureType"], f"{where}.failureType", RETRY_FAILURE_TYPES
        )
        criterion["numberOfRetries"] = _int(
            criterion["numberOfRetries"], f"{where}.numberOfRetries", MIN_RETRIES, MAX_RETRIES
        )
        criteria.append(criterion)
    return {"criteriaList": criteria}


def _date_time(value: object, field: str) -> str:
    """``YYYY-MM-DDTHH:MM`` strings pass as given (AWS parses them); a datetime is written in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: {value!r} has no time zone")
        from datetime import UTC

        value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    text = _text(value, field, MAX_DATE_TIME_LENGTH, minimum=1)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
        raise ValueError(f"{field}: {text!r} is not a date-time such as '2027-01-31T02:00'")
    return text


def maintenance_windows(value: object, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{field}: must be a list of {{startTime, durationInMinutes}}")
    windows = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        window = _object(item, where, ("startTime", "durationInMinutes"), ("startTime", "durationInMinutes"))
        _text(window["startTime"], f"{where}.startTime", MAX_CRON_LENGTH, minimum=1)
        window["durationInMinutes"] = _int(
            window["durationInMinutes"], f"{where}.durationInMinutes", MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES
        )
        windows.append(window)
    return windows


def scheduling_config(value: object, field: str = "scheduling_config") -> dict[str, Any]:
    config = _object(value, field, ("startTime", "endTime", "endBehavior", "maintenanceWindows"))
    for key in ("startTime", "endTime"):
        if config.get(key) is not None:
            config[key] = _date_time(config[key], f"{field}.{key}")
    if config.get("endBehavior") is not None:
        config["endBehavior"] = _enum(config["endBehavior"], f"{field}.endBehavior", END_BEHAVIORS)
    if config.get("maintenanceWindows") is not None:
        config["maintenanceWindows"] = maintenance_windows(
            config["maintenanceWindows"], f"{field}.maintenanceWindows"
        )
    return {k: v for k, v in config.items() if v is not None}


def presigned_url_config(value: object, field: str = "presigned_url_config") -> dict[str, Any]:
    config = _object(value, field, ("roleArn", "expiresInSec"))
    if config.get("roleArn") is not None:
        _text(config["roleArn"], f"{field}.roleArn", MAX_ROLE_ARN_LENGTH, minimum=MIN_ROLE_ARN_LENGTH)
    if config.get("expiresInSec") is not None:
        config["expiresInSec"] = _int(
            config["expiresInSec"], f"{field}.expiresInSec", MIN_EXPIRES_IN_SEC, MAX_EXPIRES_IN_SEC
        )
    return {k: v for k, v in config.items() if v is not None}


def document_parameters(value: object, field: str = "document_parameters") -> dict[str, str]:
    value = coerce_json_object(value, field)
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: must be an object of parameter name → string value")
    for key, item in value.items():
        if (
            not isinstance(key, str)
            or not 1 <= len(key) <= MAX_PARAMETER_KEY_LENGTH
            or not JOB_ID_PATTERN.fullmatch(key)
        ):
            raise ValueError(f"{field}: key {key!r} must be 1–{MAX_PARAMETER_KEY_LENGTH} of {JOB_ID_RULE}")
        _text(item, f"{field}.{key}", MAX_PARAMETER_VALUE_LENGTH, minimum=1)
    return dict(value)


def tags(value: object, field: str = "tags") -> list[dict[str, str]]:
    """``{"key": "value"}`` or the model's ``[{"Key": …, "Value": …}]``."""
    value = coerce_json_object(value, field)
    if isinstance(value, Mapping):
        value = [{"Key": k, "Value": v} for k, v in value.items()]
    if not isinstance(value, list | tuple):
        raise ValueError(f"{field}: must be a dict of tag → value, or a list of {{Key, Value}}")
    result = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"Key", "Value"} or "Key" not in item:
            raise ValueError(f"{where}: must be {{'Key': …, 'Value': …}}")
        key = item["Key"]
        if (
            not isinstance(key, str)
            or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH
            or not TAG_KEY_PATTERN.fullmatch(key)
        ):
            raise ValueError(
                f"{where}.Key: must be 1–{MAX_TAG_KEY_LENGTH} letters, digits, spaces or _ . : / = + - @, got {key!r}"
            )
        tag = {"Key": key}
        if item.get("Value") is not None:
            tag_value = item["Value"]
            if not isinstance(tag_value, str) or len(tag_value) > MAX_TAG_VALUE_LENGTH:
                raise ValueError(
                    f"{where}.Value: must be a string of at most {MAX_TAG_VALUE_LENGTH} characters"
                )
            tag["Value"] = tag_value
        result.append(tag)
    return result


def reason_code(value: object, field: str = "reason_code") -> str:
    text = _text(value, field, MAX_REASON_CODE_LENGTH, minimum=1)
    if not re.fullmatch(r"[A-Z0-9_]+", text):
        raise ValueError(f"{field}: {text!r} may contain only upper-case letters, digits and '_'")
    return text


def comment(value: object, field: str = "comment") -> str:
    return _text(value, field, MAX_COMMENT_LENGTH, minimum=1)


def description(value: object, field: str = "description") -> str:
    return _text(value, field, MAX_DESCRIPTION_LENGTH, minimum=1)


def one_document(document: object, document_source: object, job_template_id: object = None) -> str:
    """Which of the mutually exclusive document fields is given (exactly one)."""
    given = [
        name
        for name, item in (
            ("document", document),
            ("document_source", document_source),
            ("job_template_id", job_template_id),
        )
        if item not in (None, "")
    ]
    if len(given) != 1:
        raise ValueError(
            "document / document_source / job_template_id: give exactly one of them"
            + (f" (got {', '.join(given)})" if given else "")
        )
    return given[0]


#: operator keyword → (model key, checker) for the config fields CreateJob and CreateJobTemplate share
CONFIG_FIELDS = {
    "job_executions_rollout_config": ("jobExecutionsRolloutConfig", rollout_config),
    "abort_config": ("abortConfig", abort_config),
    "timeout_config": ("timeoutConfig", timeout_config),
    "job_executions_retry_config": ("jobExecutionsRetryConfig", retry_config),
    "presigned_url_config": ("presignedUrlConfig", presigned_url_config),
}


def job_definition(
    *,
    document: object = None,
    document_source: object = None,
    description_text: object = None,
    configs: Mapping[str, object] | None = None,
    tag_values: object = None,
) -> dict[str, Any]:
    """The camelCase fields CreateJob and CreateJobTemplate share, checked (``configs`` by operator keyword)."""
    body: dict[str, Any] = {}
    if document not in (None, ""):
        body["document"] = normalize_document(document)
    if document_source not in (None, ""):
        body["documentSource"] = validate_document_source(document_source)
    if description_text not in (None, ""):
        body["description"] = description(description_text)
    for name, value in (configs or {}).items():
        if value not in (None, {}, ""):
            key, check = CONFIG_FIELDS[name]
            body[key] = check(value, name)
    if tag_values not in (None, {}, []):
        body["tags"] = tags(tag_values)
    return body


def target_selection(value: object, field: str = "target_selection") -> str:
    return _enum(value, field, TARGET_SELECTIONS)


def min_executions(value: object, field: str = "continuous_min_executions") -> int | None:
    """How many things must have finished a CONTINUOUS job before the wait judges it (None: not set)."""
    return None if value is None else _int(value, field, 1)


def create_job_request(
    *,
    targets: object,
    document: object = None,
    document_source: object = None,
    job_template_id: object = None,
    target_selection_value: object = "SNAPSHOT",
    description_text: object = None,
    configs: Mapping[str, object] | None = None,
    scheduling: object = None,
    parameters: object = None,
    namespace_id: object = None,
    tag_values: object = None,
    max_targets: int | None = MAX_TARGETS,
) -> dict[str, Any]:
    """Every CreateJob field checked: ``params`` (camelCase, without ``jobId`` / ``targets`` /
    ``jobTemplateArn``, which need the job id and run-time lookups), ``targets`` (parsed references) and
    ``template`` (a job template id or ARN, or None)."""
    one_document(document, document_source, job_template_id)
    parsed_targets = parse_targets(targets, max_targets=max_targets)
    params = job_definition(
        document=document,
        document_source=document_source,
        description_text=description_text,
        configs=configs,
        tag_values=tag_values,
    )
    params["targetSelection"] = target_selection(target_selection_value)
    if scheduling not in (None, {}, ""):
        params["schedulingConfig"] = scheduling_config(scheduling)
    if parameters not in (None, {}, ""):
        params["documentParameters"] = document_parameters(parameters)
    if namespace_id not in (None, ""):
        params["namespaceId"] = validate_id(namespace_id, "namespace_id")
    template = None if job_template_id in (None, "") else validate_template_ref(job_template_id)
    return {"params": params, "targets": parsed_targets, "template": template}


def execution_number(value: object, field: str = "execution_number") -> int:
    """A job execution's number (ExecutionNumber, a long): a whole number ≥ 0."""
    return _int(value, field, 0)
