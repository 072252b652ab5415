"""Bad input, fuzzed (hypothesis), for every backend's harness: every invalid value of the parameters all backends'
operators and sensors share (job ids, thresholds, start times, wait timeouts, device guards, poll intervals) fails
with an error that names the field and the rule — when the DAG is parsed (the operator is built) or in ``execute``
before any call — and the emulator's request log shows ZERO requests for it. The harness gives the builders and the
backend's own invalid inputs (``harness.fuzz``); the backend-only parameters are fuzzed in tests/backends/<backend>/.
The figures (inputs tried, requests sent) are printed in the "reliability figures" section at the end of the session.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.contract.fuzzing import FUZZ, junk, not_template, refused, text

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def targets(harness):
    with harness.fuzz.targets() as targets:
        yield targets


# ------------------------------------------------------------------------------------------------ job ids


@FUZZ
@given(data=st.data())
def test_job_id(harness, targets, data):
    fuzz = harness.fuzz
    value = data.draw(fuzz.bad_job_ids, label="value")
    kind = data.draw(st.sampled_from([*fuzz.jobs, *(["cancel"] if fuzz.cancel else [])]), label="kind")
    if kind != "cancel":
        assume(value != "")  # an empty (e.g. templated, left blank) job_id means "derive it"
    if kind == "cancel":
        refused(targets, lambda: fuzz.cancel(job_id=value), "job_id")
    else:
        refused(targets, lambda: fuzz.jobs[kind](job_id=value), "job_id")


@FUZZ
@given(data=st.data())
def test_sensor_job_id(harness, targets, data):
    value = data.draw(st.one_of(harness.fuzz.bad_job_ids, junk.filter(lambda v: not isinstance(v, str))))
    refused(targets, lambda: harness.fuzz.sensor(job_id=value), "job_id")


def test_sensor_job_id_with_a_space(harness, targets):
    refused(targets, lambda: harness.fuzz.sensor(job_id="has space"), "job_id")


# ------------------------------------------------------------------------------------------------ thresholds

THRESHOLD_OK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$|^\s*\d+\s*$")


def valid_threshold(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, str):
        match = THRESHOLD_OK.match(value)
        return bool(match) and (match.group(1) is None or float(match.group(1)) <= 100)
    return False


bad_thresholds = st.one_of(
    text,
    st.sampled_from(["95", "95 %x", "101%", "100.01%", "-1%", "-5", "1e3", "½%", "%", "95%%", "0x10"]),
    st.integers(max_value=-1),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
).filter(lambda v: not_template(v) and not valid_threshold(v))


@FUZZ
@given(
    field=st.sampled_from(["success_threshold", "failure_threshold"]), value=bad_thresholds, data=st.data()
)
def test_thresholds(harness, targets, field, value, data):
    kind = data.draw(st.sampled_from(list(harness.fuzz.waiting)), label="kind")
    refused(targets, lambda: harness.fuzz.waiting[kind](**{field: value}), field, r"percentage|whole number")


# ------------------------------------------------------------------------------------------------ times and durations


def _iso_parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


bad_start_times = st.one_of(
    text.filter(lambda s: s.strip() != "" and not _iso_parses(s)),
    st.datetimes(timezones=st.none()).map(lambda d: d.isoformat()),  # no time zone
    st.datetimes(timezones=st.none()),
    st.dates(),
    st.integers(),
    st.floats(),
    st.sampled_from(
        ["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "tomorrow", "2026/01/01 02:00", "T02:00"]
    ),
)


@FUZZ
@given(value=bad_start_times, data=st.data())
def test_start_time(harness, targets, value, data):
    if not harness.supports_start_time:
        pytest.skip(f"{harness.backend.name} jobs take no start time (they start when created)")
    kind = data.draw(st.sampled_from(list(harness.fuzz.jobs)), label="kind")
    refused(targets, lambda: harness.fuzz.jobs[kind](start_time=value), "start_time")


def _seconds(value: Any) -> float | None:
    """What a valid duration means in seconds, or None when it is not one (independent reading of the rule)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            import isodate

            try:
                parsed = isodate.parse_duration(value.strip())
            except (isodate.ISO8601Error, ValueError):
                return None
            return parsed.total_seconds() if isinstance(parsed, timedelta) else None
    return None


bad_durations = st.one_of(
    st.floats(max_value=0.999),
    st.integers(max_value=0),
    st.just(float("nan")),
    st.just(float("inf")),
    st.booleans(),
    st.timedeltas(max_value=timedelta(seconds=0.999)),
    st.sampled_from(["P1M", "P2Y", "PT0S", "-PT5M", "soon", "1 hour", "PT", "", "nan", "inf", "-3"]),
    text,
    st.none(),
).filter(
    lambda v: (
        not_template(v) and (_seconds(v) is None or not (math.isfinite(_seconds(v)) and _seconds(v) >= 1))
    )
)


@FUZZ
@given(value=bad_durations.filter(lambda v: v is not None), data=st.data())
def test_wait_timeout(harness, targets, value, data):
    build = harness.fuzz.timeouts[data.draw(st.sampled_from(list(harness.fuzz.timeouts)), label="kind")]
    refused(targets, lambda: build(timeout=value), "timeout")


# ------------------------------------------------------------------------------------------------ guards and intervals


@FUZZ
@given(
    data=st.data(),
    # a digit string is a valid count (what a rendered template gives); a template itself is checked after rendering
    value=st.one_of(
        st.integers(max_value=-1),
        st.floats(),
        st.booleans(),
        text.filter(lambda s: not re.fullmatch(r"[0-9]+", s.strip()) and "{{" not in s and "{%" not in s),
    ),
)
def test_max_devices(harness, targets, data, value):
    build = harness.fuzz.max_devices[data.draw(st.sampled_from(list(harness.fuzz.max_devices)), label="kind")]
    refused(targets, lambda: build(max_devices=value), "max_devices")


bad_intervals = st.one_of(
    st.floats(max_value=0),
    st.integers(max_value=0),
    st.just(float("nan")),
    st.just(float("inf")),
    text,
    st.booleans(),
)


@FUZZ
@given(field=st.sampled_from(["poll_interval", "max_poll_interval"]), value=bad_intervals, data=st.data())
def test_poll_intervals(harness, targets, field, value, data):
    kind = data.draw(st.sampled_from(list(harness.fuzz.waiting)), label="kind")
    if kind == "sensor" and field == "poll_interval":
        field = "poke_interval"
    refused(targets, lambda: harness.fuzz.waiting[kind](**{field: value}), field)


def test_the_backends_own_invalid_inputs(harness, targets):
    """The backend's own parameters the harness lists (``FuzzInputs.invalid``): each refused naming its field,
    with no request."""
    cases = harness.fuzz.invalid
    if not cases:
        pytest.skip(
            f"the {harness.name} harness lists no own invalid inputs (see tests/backends/{harness.name}/)"
        )
    for case, (build, overrides, field) in cases.items():
        try:
            refused(targets, lambda: build(**overrides), field)  # noqa: B023 - called at once
        except AssertionError as err:
            raise AssertionError(f"{case}: {err}") from None


@pytest.mark.parametrize("field", ["max_poll_interval"])
def test_poll_interval_that_is_a_word(harness, targets, field):
    refused(targets, lambda: next(iter(harness.fuzz.jobs.values()))(**{field: "soon"}), field)
