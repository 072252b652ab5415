"""The pure pieces of the service's behaviour: enum and bool binding, from/to bounds, TimeSpans."""

from __future__ import annotations

import math

import pytest

from airflow_iot_jobs.emulator.iothub_manager import models

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Running", 2),
        ("running", 2),
        (" RUNNING ", 2),
        ("2", 2),
        ("+7", 7),
        ("99", 99),
        ("Running,Failed", 6),  # Enum.Parse ORs comma-separated names
        ("", None),
        (None, None),
        ("runing", None),
        ("2.0", None),
    ],
)
def test_bind_enum(raw: str | None, expected: int | None) -> None:
    assert models.bind_enum(raw, models.JOB_STATUSES) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("True", True), (" FALSE ", False), ("1", None), (None, None)]
)
def test_bind_bool(raw: str | None, expected: bool | None) -> None:
    assert models.bind_bool(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, -math.inf),
        ("", -math.inf),
        ("NOW", NOW),
        ("NOW-P30D", NOW - 30 * 86400),
        ("NOW+PT1H30M", NOW + 5400),
        ("NOW-P1Y", NOW - 365 * 86400),
        ("NOW-P1M", NOW - 30 * 86400),
        ("NOW-PT0.5S", NOW - 0.5),
        ("NOW-30D", -math.inf),
        ("NOW-P", -math.inf),
        ("NOW-PT", -math.inf),
        ("NOW-P1DT", -math.inf),
        ("NOW-p1d", -math.inf),
        ("NOW-P2W", -math.inf),
        ("NOW*P1D", -math.inf),
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14T23:13:20+01:00", NOW),
        ("Tue, 14 Nov 2023 22:13:20 GMT", NOW),
        ("11/14/2023 22:13:20", NOW),
        ("yesterday", -math.inf),
    ],
)
def test_parse_bound(text: str | None, expected: float) -> None:
    assert models.parse_bound(text, -math.inf, NOW) == pytest.approx(expected)


def test_parse_bound_default_is_per_parameter_and_overflow_raises() -> None:
    assert models.parse_bound("junk", math.inf, NOW) == math.inf
    with pytest.raises(models.BoundOutOfRange):
        models.parse_bound("NOW-P5000Y", -math.inf, NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00"),
        (30, "00:00:30"),
        (3661, "01:01:01"),
        (90061, "1.01:01:01"),
        (1.5, "00:00:01.5000000"),
        (None, None),
    ],
)
def test_timespan(seconds: float | None, text: str | None) -> None:
    assert models.timespan(seconds) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:30", 30), ("00:05", 300), ("1.00:00:00", 86400), ("30", 30 * 86400), ("00:00:01.5", 1.5)],
)
def test_parse_timespan(text: str, seconds: float) -> None:
    assert models.parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["abc", "00:60:00", "1:2:3:4"])
def test_parse_timespan_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        models.parse_timespan(text)


def test_job_api_model_omits_nulls_and_maps_words_to_numbers() -> None:
    hub_job = {
        "jobId": "j",
        "queryCondition": "*",
        "createdTime": "2023-11-14T22:13:20.0000000Z",
        "startTime": "2023-11-14T22:13:20.0000000Z",
        "endTime": "9999-12-30T00:00:00Z",
        "maxExecutionTimeInSeconds": 60,
        "type": "scheduleDeviceMethod",
        "status": "running",
        "cloudToDeviceMethod": {"methodName": "m", "responseTimeoutInSeconds": 45},
        "deviceJobStatistics": {
            "deviceCount": 3,
            "failedCount": 1,
            "succeededCount": 1,
            "runningCount": 1,
            "pendingCount": 0,
        },
    }
    body = models.job_api_model(hub_job)
    assert "EndTimeUtc" not in body and body["Status"] == 2 and body["Type"] == 3
    assert body["MethodParameter"] == {"Name": "m", "ResponseTimeout": "00:00:45"}
    assert list(body) == [
        "JobId",
        "QueryCondition",
        "CreatedTimeUtc",
        "StartTimeUtc",
        "MaxExecutionTimeInSeconds",
        "Type",
        "Status",
        "MethodParameter",
        "ResultStatistics",
    ]
    for word, number in (("completed", 3), ("failed", 4), ("cancelled", 5)):
        assert models.job_api_model({**hub_job, "status": word})["EndTimeUtc"] == "9999-12-30T00:00:00Z"
        assert models.job_api_model({**hub_job, "status": word})["Status"] == number
    assert models.job_api_model({"jobId": "x", "type": "import", "status": "weird"}) == {
        "JobId": "x",
        "Type": 0,
        "Status": 0,
    }
