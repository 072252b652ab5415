"""Backend-neutral input rules (airflow_iot_jobs.validation.common, airflow_iot_jobs.naming): JSON objects and
their size, device timeouts in whole seconds, ISO 8601 start times and durations, derived job ids. (The IoT Hub
rules — job ids, method names and payloads, twin sections — are in tests/backends/iothub/.)"""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_iot_jobs.naming import derive_job_id
from airflow_iot_jobs.validation.common import (
    coerce_json_object,
    json_size,
    parse_duration_seconds,
    parse_start_time,
    validate_timeout_seconds,
)

# Derived job ids must pass the strictest client-chosen id rule, IoT Hub's (128 characters).
from tests.backends.iothub.test_iothub_validation import (
    MAX_JOB_ID_LENGTH,
    follows_job_id_rule,
    validate_job_id,
)

# --------------------------------------------------------------------------------------------------------------
# coerce_json_object, json_size, validate_method_payload
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("null", None),
        ('"text"', "text"),
        ({"a": 1}, {"a": 1}),
        (None, None),
        (5, 5),
    ],
)
def test_coerce_json_object(value: object, expected: object) -> None:
    assert coerce_json_object(value, "payload") == expected


@pytest.mark.parametrize("value", ["{", "not json", "", "{'a': 1}"])
def test_coerce_json_object_rejects_invalid_json_strings(value: str) -> None:
    with pytest.raises(ValueError, match=r"^params: is a string but not valid JSON \(.+ at position \d+\)$"):
        coerce_json_object(value, "params")


def test_json_size_is_the_compact_json_length() -> None:
    assert json_size({"a": [1, 2], "b": None}, "x") == len('{"a":[1,2],"b":null}')


@pytest.mark.parametrize("value", [{"a": object()}, {1, 2}, b"bytes", {"a": {"b": datetime(2026, 1, 1)}}])
def test_json_size_rejects_non_serialisable(value: object) -> None:
    with pytest.raises(ValueError, match=r"^payload: must be JSON-serialisable \("):
        json_size(value, "payload")


# --------------------------------------------------------------------------------------------------------------
# validate_timeout_seconds
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(30, 30), ("30", 30), (" 45 ", 45), (5, 5), (300, 300), ("300", 300)]
)
def test_validate_timeout_seconds_accepts(value: object, expected: int) -> None:
    assert validate_timeout_seconds(value, "response_timeout", 5, 300) == expected


@pytest.mark.parametrize("value", [True, False, 1.5, 30.0, None, "abc", "-5", "1.5", "", "30s", [30]])
def test_validate_timeout_seconds_rejects_non_whole_numbers(value: object) -> None:
    with pytest.raises(ValueError, match=r"^response_timeout: must be a whole number of seconds, got "):
        validate_timeout_seconds(value, "response_timeout", 5, 300)


@pytest.mark.parametrize("value", [4, 301, -1, "4", "301", 10**6])
def test_validate_timeout_seconds_rejects_out_of_range(value: object) -> None:
    with pytest.raises(ValueError, match=r"^response_timeout: must be between 5 and 300 seconds, got -?\d+$"):
        validate_timeout_seconds(value, "response_timeout", 5, 300)


def test_validate_timeout_seconds_zero_minimum() -> None:
    assert validate_timeout_seconds(0, "connect_timeout", 0, 300) == 0
    assert validate_timeout_seconds("0", "connect_timeout", 0, 300) == 0


# Known bug (see the report): str.isdigit() is true for digits int() cannot parse (superscripts, circled digits).
def test_validate_timeout_seconds_superscript_digit_error_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^connect_timeout: "):
        validate_timeout_seconds("²", "connect_timeout", 0, 300)


# --------------------------------------------------------------------------------------------------------------
# parse_start_time
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_start_time_empty_means_now(value: object) -> None:
    assert parse_start_time(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-29T02:00:00Z", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        (" 2026-11-29T02:00:00Z ", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        ("2026-11-29T02:00:00+00:00", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        ("2026-11-29T03:00:00+01:00", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        ("2026-11-28T21:00:00-05:00", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        ("2026-11-29T02:00:00.250Z", datetime(2026, 11, 29, 2, 0, 0, 250_000, tzinfo=UTC)),
        (
            datetime(2026, 11, 29, 11, 0, tzinfo=timezone(timedelta(hours=9))),
            datetime(2026, 11, 29, 2, 0, tzinfo=UTC),
        ),
        (datetime(2026, 11, 29, 2, 0, tzinfo=UTC), datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
    ],
)
def test_start_time_is_normalised_to_utc(value: object, expected: datetime) -> None:
    result = parse_start_time(value)
    assert result == expected
    assert result is not None and result.utcoffset() == timedelta(0)
    assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-11-29T02:00:00", "2026-11-29", datetime(2026, 11, 29, 2, 0)])
def test_start_time_without_time_zone_is_rejected(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_start_time(value)
    assert (
        str(excinfo.value) == f"start_time: {value!r} has no time zone; add 'Z' or an offset such as '+01:00'"
    )


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00:00Z", "29/11/2026 02:00", "now"])
def test_start_time_not_iso_8601_is_rejected(value: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_start_time(value, field="schedule_at")
    assert str(excinfo.value) == (
        f"schedule_at: {value!r} is not an ISO 8601 date-time such as '2026-11-29T02:00:00Z'"
    )


@pytest.mark.parametrize(("value", "kind"), [(1_700_000_000, "int"), (1.5, "float"), ([], "list")])
def test_start_time_of_another_type_is_rejected(value: object, kind: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^start_time: must be an ISO 8601 string or a datetime, got {kind}$"
    ):
        parse_start_time(value)


# --------------------------------------------------------------------------------------------------------------
# parse_duration_seconds
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT1H", 3600.0),
        ("PT30M", 1800.0),
        ("PT1M30S", 90.0),
        ("P1D", 86400.0),
        ("P1DT2H", 93600.0),
        ("P1W", 604800.0),
        (" PT1H ", 3600.0),
        (timedelta(minutes=5), 300.0),
        (timedelta(seconds=1.5), 1.5),
        (30, 30.0),
        (2.5, 2.5),
        ("30", 30.0),
        (" 45.5 ", 45.5),
        ("1e3", 1000.0),
        (1, 1.0),
    ],
)
def test_duration_accepted(value: object, expected: float) -> None:
    result = parse_duration_seconds(value, "timeout")
    assert result == expected
    assert isinstance(result, float)


@pytest.mark.parametrize("value", ["P1M", "P1Y", "P1Y2M", "P2M3D"])
def test_duration_with_years_or_months_is_rejected(value: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration_seconds(value, "max_execution_time")
    assert (
        str(excinfo.value)
        == f"max_execution_time: {value!r} uses years or months; give days or smaller units"
    )


@pytest.mark.parametrize("value", ["abc", "1 hour", "P", "1h", "", "PT1X"])
def test_duration_unparseable_string_is_rejected(value: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration_seconds(value, "timeout")
    assert str(excinfo.value) == (
        f"timeout: {value!r} is not a number of seconds or an ISO 8601 duration such as 'PT1H'"
    )


@pytest.mark.parametrize("value", [True, False, None, [], {"seconds": 5}, b"30"])
def test_duration_of_another_type_is_rejected(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"^timeout: must be seconds, a timedelta or an ISO 8601 duration, got "
    ):
        parse_duration_seconds(value, "timeout")


@pytest.mark.parametrize(
    "value",
    [0, 0.5, "0", "-5", -1, "nan", float("nan"), timedelta(0), timedelta(seconds=-60), "-PT1H", "PT0S"],
)
def test_duration_below_the_minimum_is_rejected(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration_seconds(value, "timeout")
    assert str(excinfo.value) == f"timeout: must be at least 1 seconds, got {value!r}"


def test_duration_custom_minimum() -> None:
    assert parse_duration_seconds(0, "poke_interval", minimum=0) == 0.0
    assert parse_duration_seconds("PT0.5S", "poke_interval", minimum=0.1) == 0.5
    with pytest.raises(ValueError, match=r"^poke_interval: must be at least 60 seconds, got 'PT59S'$"):
        parse_duration_seconds("PT59S", "poke_interval", minimum=60)


# --------------------------------------------------------------------------------------------------------------
# derive_job_id
# --------------------------------------------------------------------------------------------------------------


def context_for(dag_id: str, run_id: str, task_id: str, map_index: int = -1, **extra: object) -> dict:
    return {
        "ti": types.SimpleNamespace(
            dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, **extra
        )
    }


DIGEST = re.compile(r"^(?P<prefix>.+)-(?P<digest>[0-9a-f]{20})$")


def test_derive_job_id_shape() -> None:
    job_id = derive_job_id(context_for("fleet", "manual__2026-11-29T02:00:00+00:00", "reboot_fleet"))
    match = DIGEST.match(job_id)
    assert match is not None
    assert match["prefix"] == "reboot-fleet"
    assert validate_job_id(job_id) == job_id


def test_derive_job_id_ignores_the_try_number() -> None:
    first = derive_job_id(context_for("d", "r", "t", 3, try_number=1))
    retry = derive_job_id(context_for("d", "r", "t", 3, try_number=2))
    assert first == retry


def test_derive_job_id_without_map_index_matches_unmapped() -> None:
    ti = types.SimpleNamespace(dag_id="d", run_id="r", task_id="t")
    assert derive_job_id({"ti": ti}) == derive_job_id(context_for("d", "r", "t", -1))


@pytest.mark.parametrize(
    ("task_id", "prefix"),
    [
        ("group.reboot_all", "group-reboot-all"),
        ("__private__", "private"),
        ("ジョブ", "job"),
        ("...", "job"),
        ("", "job"),
        ("a" * 200, "a" * 43),
    ],
)
def test_derive_job_id_prefix(task_id: str, prefix: str) -> None:
    job_id = derive_job_id(context_for("d", "r", task_id))
    match = DIGEST.match(job_id)
    assert match is not None and match["prefix"] == prefix
    assert len(job_id) <= MAX_JOB_ID_LENGTH


any_text = st.text(max_size=40) | st.text(max_size=400)
map_indexes = st.integers(min_value=-1, max_value=10**6)
identities = st.tuples(any_text, any_text, any_text, map_indexes)


@given(identities)
@settings(max_examples=300)
def test_derived_job_id_is_always_valid_and_deterministic(identity: tuple[str, str, str, int]) -> None:
    job_id = derive_job_id(context_for(*identity))
    assert validate_job_id(job_id) == job_id
    assert follows_job_id_rule(job_id)
    assert derive_job_id(context_for(*identity)) == job_id


@given(identities, st.integers(min_value=0, max_value=3), st.data())
@settings(max_examples=300)
def test_derived_job_id_differs_when_any_one_part_differs(
    identity: tuple[str, str, str, int], position: int, data: st.DataObject
) -> None:
    other = list(identity)
    other[position] = data.draw(map_indexes if position == 3 else any_text)
    assume(tuple(other) != identity)
    assert derive_job_id(context_for(*identity)) != derive_job_id(context_for(*other))


# The parts are joined with "\x1f"; Airflow ids cannot contain it, so keep it out of this property
# (see the report for the theoretical collision when two parts contain it).
no_separator_text = st.text(
    alphabet=st.characters(exclude_characters="\x1f", exclude_categories=("Cs",)), max_size=60
)


@given(
    st.tuples(no_separator_text, no_separator_text, no_separator_text, map_indexes),
    st.tuples(no_separator_text, no_separator_text, no_separator_text, map_indexes),
)
@settings(max_examples=300)
def test_derived_job_ids_of_different_task_instances_differ(
    one: tuple[str, str, str, int], other: tuple[str, str, str, int]
) -> None:
    assume(one != other)
    assert derive_job_id(context_for(*one)) != derive_job_id(context_for(*other))


# ---------------------------------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        (" False ", False),
        ("TRUE", True),
        ("{{ params.x }}", None),
    ],
)
def test_check_flag_takes_booleans_and_rendered_true_false(value: object, expected: bool | None) -> None:
    from airflow_iot_jobs.operators.base import check_flag

    assert check_flag(value, "dry_run") is expected


@pytest.mark.parametrize("value", ["yes", "", "0", 1, 0, None])
def test_check_flag_rejects_anything_else_naming_the_field(value: object) -> None:
    from airflow_iot_jobs.operators.base import check_flag

    with pytest.raises(ValueError, match="^dry_run: must be true or false"):
        check_flag(value, "dry_run")
