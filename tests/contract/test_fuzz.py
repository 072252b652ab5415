"""Bad input, fuzzed (hypothesis): every invalid value of every operator's and the sensor's parameters fails with an
error that names the field and the rule — when the DAG is parsed (the operator is built) or in ``execute`` before
any call — and the emulator's request log (and the blob storage's) shows ZERO requests for it.

The oracles are independent of the code under test where the rule is the service's: query conditions are valid or
invalid by construction (generated from the documented syntax, or broken in one stated way), and the dialect must
agree; elsewhere the identity registry's device-id rule and Azure's container-name rule. The figures
(inputs tried, requests sent) are printed in the "reliability figures" section at the end of the session.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_iot_jobs.emulator.http import EmulatorHTTPServer, Response
from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator
from airflow_iot_jobs.operators.iothub import (
    IoTHubCancelJobOperator,
    IoTHubDeviceMethodJobOperator,
    IoTHubExportDevicesOperator,
    IoTHubImportDevicesOperator,
    IoTHubTwinUpdateJobOperator,
)
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iothub import parse_condition, validate_query_condition
from airflow_iot_jobs.sensors.iothub import IoTHubJobSensor
from tests.conftest import connection_json
from tests.reliability import FIGURES

pytest_plugins = ["tests.reliability_plugin"]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    # The same inputs on every run (CI); FUZZ_RANDOM=1 explores new ones (hypothesis prints how to reproduce).
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
STORAGE_CONN = "fuzz_storage"

# ------------------------------------------------------------------------------------------------ the harness


class Targets:
    """The hub and a recording stand-in for the blob service: both must see zero requests."""

    def __init__(self, hub: IoTHubEmulator, storage: EmulatorHTTPServer) -> None:
        self.hub = hub
        self.storage = storage

    def requests(self) -> int:
        return len(self.hub.request_log) + len(self.storage.request_log)


@pytest.fixture(scope="module")
def targets():
    storage = EmulatorHTTPServer(lambda request: Response.json({"error": "fuzz"}, status=403)).start()
    key = "ZnV6ei1rZXk="
    storage_conn = {
        "conn_type": "wasb",
        "extra": {
            "connection_string": f"DefaultEndpointsProtocol=http;AccountName=fuzz;AccountKey={key};"
            f"BlobEndpoint={storage.endpoint}/fuzz;"
        },
    }
    with (
        IoTHubEmulator(devices=20, seed=1, speed=50.0, max_active_jobs=50) as hub,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT", connection_json(hub))
        patch.setenv(f"AIRFLOW_CONN_{STORAGE_CONN.upper()}", json.dumps(storage_conn))
        yield Targets(hub, storage)
    storage.stop()


def context(task_id: str) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="fuzz",
        run_id="manual__fuzz",
        task_id=task_id,
        map_index=-1,
        try_number=1,
        xcom_push=lambda *args, **kwargs: None,
    )
    return {"ti": ti, "task_instance": ti, "run_id": "manual__fuzz", "params": {}}


def refused(
    targets: Targets,
    build: Callable[[], Any],
    field: str,
    rule: str | None = None,
    *,
    known_bug: bool = False,
) -> str:
    """Build the operator (DAG parse) and, if that passes, execute it: an error naming ``field`` (and matching
    ``rule``) must come out, and no request may reach the hub or the blob service. ``known_bug``: a case marked
    xfail for a reported library bug (its requests are counted apart)."""
    from airflow.exceptions import AirflowException

    FIGURES.fuzzed_inputs += 1
    FIGURES.invalid_inputs_checked += 1
    before = targets.requests()
    error: BaseException | None = None
    try:
        operator = build()
        operator.execute(context(operator.task_id))
    except (ValueError, TypeError, AirflowException) as err:
        error = err
    except Exception as err:  # noqa: BLE001 - reported below with the request count
        error = err
    sent = targets.requests() - before
    if known_bug:
        FIGURES.requests_in_known_bugs += sent
    else:
        FIGURES.requests_for_invalid_input += sent
    assert sent == 0, f"{sent} request(s) sent for an invalid {field}: {error!r}"
    assert error is not None, f"an invalid {field} was accepted"
    message = str(error)
    assert isinstance(error, ValueError | TypeError | AirflowException), f"{type(error).__name__}: {message}"
    assert field in message, f"the error does not name {field!r}: {message}"
    assert len(message) > len(field) + 12, f"the error does not state the rule: {message}"
    if rule is not None:
        assert re.search(rule, message), f"the error does not state the rule /{rule}/: {message}"
    return message


# Should an invalid value slip through, the launch returns at once instead of waiting for the job.
QUICK = {"wait_for_completion": False, "poll_interval": 0.2}


def method(**overrides: Any) -> IoTHubDeviceMethodJobOperator:
    options: dict[str, Any] = {
        "task_id": "fuzz_method",
        "query_condition": "*",
        "method_name": "reboot",
        **QUICK,
    }
    options.update(overrides)
    return IoTHubDeviceMethodJobOperator(**options)


def twin(**overrides: Any) -> IoTHubTwinUpdateJobOperator:
    options: dict[str, Any] = {"task_id": "fuzz_twin", "query_condition": "*", "tags": {"ok": 1}, **QUICK}
    options.update(overrides)
    return IoTHubTwinUpdateJobOperator(**options)


def sensor(**overrides: Any) -> IoTHubJobSensor:
    options: dict[str, Any] = {
        "task_id": "fuzz_sensor",
        "job_id": "some-job",
        "poke_interval": 1,
        "timeout": 5,
    }
    options.update(overrides)
    return IoTHubJobSensor(**options)


def export(**overrides: Any) -> IoTHubExportDevicesOperator:
    options: dict[str, Any] = {
        "task_id": "fuzz_export",
        "wasb_conn_id": STORAGE_CONN,
        "container": "exports",
        **QUICK,
    }
    options.update(overrides)
    return IoTHubExportDevicesOperator(**options)


def importer(**overrides: Any) -> IoTHubImportDevicesOperator:
    options: dict[str, Any] = {
        "task_id": "fuzz_import",
        "wasb_conn_id": STORAGE_CONN,
        "input_container": "imports",
        "devices": [{"id": "dev-1", "importMode": "create", "status": "enabled"}],
        **QUICK,
    }
    options.update(overrides)
    return IoTHubImportDevicesOperator(**options)


JOB_OPERATORS = {"method": method, "twin": twin}
WAITING = {"method": method, "twin": twin, "sensor": sensor}


def not_template(value: Any) -> bool:
    return not (isinstance(value, str) and ("{{" in value or "{%" in value))


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60).filter(not_template)
junk = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

# ------------------------------------------------------------------------------------------------ job ids

# IoT Hub job ids: the identity registry's 128-character rule (written out here, not imported)
VALID_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]{0,127}")
JOB_ID_CHARS = string.ascii_letters + string.digits + "-._"
bad_job_ids = st.one_of(
    text.filter(lambda s: not VALID_JOB_ID.fullmatch(s)),
    st.text(JOB_ID_CHARS, min_size=129, max_size=300).map(lambda s: "a" + s),
    st.sampled_from(
        ["", " ", "-lead", ".dot", "has space", "slash/inside", "percent%20", "é-accent", "a" * 129]
    ),
)


@FUZZ
@given(value=bad_job_ids, kind=st.sampled_from(["method", "twin", "cancel"]))
def test_job_id(targets, value, kind):
    if kind != "cancel":
        assume(value != "")  # an empty (e.g. templated, left blank) job_id means "derive it"
    if kind == "cancel":
        refused(targets, lambda: IoTHubCancelJobOperator(task_id="fuzz_cancel", job_id=value), "job_id")
    else:
        refused(targets, lambda: JOB_OPERATORS[kind](job_id=value), "job_id")


@FUZZ
@given(value=st.one_of(bad_job_ids, junk.filter(lambda v: not isinstance(v, str))))
@example(value="has space")
def test_sensor_job_id(targets, value):
    refused(targets, lambda: sensor(job_id=value), "job_id")


# ------------------------------------------------------------------------------------------------ query conditions

# Conditions whose validity is known by construction, not by asking a parser: `valid_conditions` is generated from
# a small grammar of the documented IoT Hub WHERE syntax, and every strategy in `bad_conditions` breaks one stated
# rule of that syntax in a way no context can repair. The dialect must agree with both.

FIELDS = [
    "tags.site",
    "tags.floor",
    "properties.reported.firmware",
    "deviceId",
    "tags['my key']",
    "devices.tags.ring",
]
COMPARISON_OPS = ["=", "!=", "<>", "<", "<=", ">", ">="]
# Characters a string literal may hold here: brackets, parentheses and operators too, so that they cannot be
# mistaken for structure; no quote, backslash or template braces.
STRING_CHARS = string.ascii_letters + string.digits + " ()[],=<>!.-_*;"
#: Twice the 8,192-character query limit the dialect implements, so the case does not hinge on the exact figure.
OVERSIZED = 2 * 8192


def _quoted(value: str) -> str:
    return "'" + value + "'"


string_literals = st.text(STRING_CHARS, max_size=8).map(_quoted)
literals = st.one_of(
    string_literals,
    st.integers(-10_000, 10_000).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null", "TRUE", "Null"]),
)
fields = st.sampled_from(FIELDS)


@st.composite
def atoms(draw: st.DrawFn) -> list[str]:
    """One comparison, IN list or function call, as tokens (a string literal is one token)."""
    field = draw(fields)
    shape = draw(st.sampled_from(["compare", "compare-fields", "in", "function-1", "function-2"]))
    if shape == "compare":
        return [field, draw(st.sampled_from(COMPARISON_OPS)), draw(literals)]
    if shape == "compare-fields":
        return [field, draw(st.sampled_from(COMPARISON_OPS)), draw(fields)]
    if shape == "in":
        values = draw(st.lists(literals, max_size=3))
        listed = [token for i, value in enumerate(values) for token in ([","] if i else []) + [value]]
        return [field, draw(st.sampled_from(["IN", "NIN", "NOT IN", "in"])), "[", *listed, "]"]
    if shape == "function-1":
        name = draw(
            st.sampled_from(["IS_DEFINED", "IS_NULL", "IS_BOOL", "is_number", "IS_STRING", "IS_OBJECT"])
        )
        return [name, "(", field, ")"]
    name = draw(st.sampled_from(["STARTS_WITH", "ENDS_WITH", "ARRAY_CONTAINS"]))
    return [name, "(", field, ",", draw(string_literals), ")"]


def _combined(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    pairs = st.tuples(children, st.sampled_from(["AND", "OR", "and"]), children)
    return st.one_of(
        children.map(lambda c: ["NOT", *c]),
        children.map(lambda c: ["(", *c, ")"]),
        pairs.map(lambda p: [*p[0], p[1], *p[2]]),
    )


condition_tokens = st.recursive(atoms(), _combined, max_leaves=6)
valid_conditions = st.one_of(condition_tokens.map(" ".join), st.just("*"), st.just("  *  "))

UNSUPPORTED_CLAUSES = [
    "{f} LIKE 'a%'",  # no LIKE
    "{f} BETWEEN 1 AND 2",  # no BETWEEN
    "{f} IS NULL",  # IS_NULL(f), not IS NULL
    "{f} == 1",  # '=' only
    "{f} + 1 = 2",  # no arithmetic
    "LOWER({f}) = 'a'",  # not a supported function
    "STARTSWITH({f}, 'a')",  # misspelt function
    "IS_DEFINED({f}, {f})",  # wrong arity
    "STARTS_WITH({f}, 3)",  # prefix must be a string
    "{f} =",  # missing operand
    "{f} IN ('a')",  # IN takes [ ], not ( )
    "{f} IN [{f}]",  # IN lists hold literals only
    "{f} = 'a' {f} = 'b'",  # no connective
    "()",  # empty group
]


@st.composite
def unbalanced(draw: st.DrawFn) -> str:
    """An extra '(' or ')' token: parentheses no longer balance (string literals are single tokens)."""
    tokens = draw(condition_tokens)
    at = draw(st.integers(0, len(tokens)))
    return " ".join([*tokens[:at], draw(st.sampled_from(["(", ")"])), *tokens[at:]])


@st.composite
def dangling(draw: st.DrawFn) -> str:
    """AND / OR / NOT with nothing on one side."""
    tokens = draw(condition_tokens)
    if draw(st.booleans()):
        return " ".join([*tokens, draw(st.sampled_from(["AND", "OR", "NOT", "and"]))])
    return " ".join([draw(st.sampled_from(["AND", "OR"])), *tokens])


@st.composite
def with_unsupported_clause(draw: st.DrawFn) -> str:
    clause = draw(st.sampled_from(UNSUPPORTED_CLAUSES)).format(f=draw(fields))
    tokens = " ".join(draw(condition_tokens))
    return draw(st.sampled_from([f"{tokens} AND {clause}", f"{clause} OR {tokens}", clause]))


@st.composite
def not_a_where_clause(draw: st.DrawFn) -> str:
    """A whole statement, a WHERE keyword, a terminator or comment, '*' with more, an unclosed string."""
    tokens = " ".join(draw(condition_tokens))
    return draw(
        st.sampled_from(
            [
                f"SELECT * FROM devices WHERE {tokens}",
                f"select * from devices where {tokens}",
                f"WHERE {tokens}",
                f"{tokens};",
                f"{tokens} -- note",
                f"* AND {tokens}",
                f"{tokens} AND tags.site = 'open",
            ]
        )
    )


bad_conditions = st.one_of(
    unbalanced(),
    dangling(),
    with_unsupported_clause(),
    not_a_where_clause(),
    st.sampled_from(["", " ", "\t\n "]),
    st.just("tags.site = '" + "x" * OVERSIZED + "'"),
)


@FUZZ
@given(value=valid_conditions)
def test_the_dialect_accepts_conditions_valid_by_construction(value):
    FIGURES.fuzzed_inputs += 1
    parse_condition(value)
    validate_query_condition(value, "query_condition")


@FUZZ
@given(value=bad_conditions)
def test_the_dialect_rejects_conditions_invalid_by_construction(value):
    FIGURES.fuzzed_inputs += 1
    with pytest.raises(QuerySyntaxError):
        parse_condition(value)


@FUZZ
@given(value=bad_conditions, kind=st.sampled_from(["method", "twin"]))
def test_query_condition(targets, value, kind):
    refused(targets, lambda: JOB_OPERATORS[kind](query_condition=value), "query_condition")


@FUZZ
@given(value=junk, kind=st.sampled_from(["method", "twin"]))
def test_query_condition_of_the_wrong_type(targets, value, kind):
    refused(targets, lambda: JOB_OPERATORS[kind](query_condition=value), "query_condition")


# ------------------------------------------------------------------------------------------------ method names and payloads

VALID_METHOD = re.compile(r"[A-Za-z0-9_\-.:]{1,100}")


@FUZZ
@given(
    value=st.one_of(
        text.filter(lambda s: not VALID_METHOD.fullmatch(s)),
        st.text("abcXYZ019_-.:", min_size=101, max_size=300),
        junk,
        st.none(),
    )
)
def test_method_name(targets, value):
    refused(targets, lambda: method(method_name=value), "method_name")


LIMIT = 128 * 1024


@st.composite
def oversized_payloads(draw: st.DrawFn) -> Any:
    """A JSON payload just over (or far over) 128 KB as compact UTF-8 JSON, in several shapes and encodings."""
    over = draw(st.one_of(st.integers(1, 64), st.integers(65, 200_000)))
    char = draw(st.sampled_from(["x", "é", "€", "🙂", '"', "\\"]))
    shape = draw(st.sampled_from(["json-text", "object", "list", "nested"]))
    target = LIMIT + over

    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

    filler = ""

    def build(fill: str) -> Any:
        if shape == "json-text":  # what a templated payload renders to
            return {"blob": fill}
        if shape == "object":
            return {"blob": fill, "n": 1}
        if shape == "list":
            return [1, fill]
        return {"a": {"b": {"c": [fill]}}}

    per_char = size(build(char * 2)) - size(build(char))
    filler = char * max((target - size(build(""))) // per_char, 1)
    payload = build(filler)
    while size(payload) <= LIMIT:
        filler += char
        payload = build(filler)
    return json.dumps(payload, ensure_ascii=False) if shape == "json-text" else payload


not_json = st.one_of(
    st.just(float("nan")),
    st.just(float("inf")),
    st.just({1, 2}),
    st.just(b"bytes"),
    st.just(object()),
    st.just({"when": datetime(2026, 1, 1)}),
    text.filter(lambda s: not _is_json(s)),
)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


@settings(FUZZ, max_examples=60)
@given(value=oversized_payloads())
def test_payload_over_128_kb(targets, value):
    refused(targets, lambda: method(payload=value), "payload", r"128 KB")


@FUZZ
@given(value=not_json)
def test_payload_that_is_not_json(targets, value):
    refused(targets, lambda: method(payload=value), "payload")


@FUZZ
@given(
    field=st.sampled_from(["response_timeout", "connect_timeout"]),
    value=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=301),
        st.floats(allow_nan=True),
        st.booleans(),
        text.filter(lambda s: not s.strip().isdigit()),
        st.none(),
    ),
)
def test_device_timeouts(targets, field, value):
    if field == "response_timeout" and isinstance(value, int) and not isinstance(value, bool):
        assume(not 5 <= value <= 300)
    if field == "connect_timeout" and isinstance(value, int) and not isinstance(value, bool):
        assume(not 0 <= value <= 300)
    refused(targets, lambda: method(**{field: value}), field)


@FUZZ
@given(value=st.integers(0, 4))
def test_response_timeout_below_the_minimum(targets, value):
    refused(targets, lambda: method(response_timeout=value), "response_timeout", r"between 5 and 300")


# ------------------------------------------------------------------------------------------------ twin patches

KEY_CHARS = string.ascii_letters + string.digits + "_-"
good_key = st.text(KEY_CHARS, min_size=1, max_size=12)


def nest(depth: int, leaf: Any = 1) -> dict[str, Any]:
    node: Any = leaf
    for level in range(depth):
        node = {f"l{depth - level}": node}
    return node


@st.composite
def bad_keys(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["dot", "dollar", "space", "control", "empty", "long"]))
    if kind == "empty":
        return ""
    if kind == "long":
        return draw(st.text(KEY_CHARS, min_size=1025, max_size=1100))
    bad = {
        "dot": ".",
        "dollar": "$",
        "space": " ",
        "control": draw(st.sampled_from(["\n", "\t", "\x00", "\x1f"])),
    }
    head, tail = draw(good_key), draw(st.text(KEY_CHARS, max_size=8))
    return head + bad[kind] + tail


@st.composite
def patch_with(draw: st.DrawFn, leaf_key: st.SearchStrategy[str], leaf: Any = 1) -> dict[str, Any]:
    """A valid-looking patch with the bad key (or value) placed at a random depth (1-5)."""
    depth = draw(st.integers(0, 4))
    node: dict[str, Any] = {draw(leaf_key): leaf}
    for _ in range(depth):
        key = draw(good_key)
        node = {key: node, key + "_sibling": "fine"}
    return node


SECTIONS = {"tags": 8 * 1024, "desired_properties": 32 * 1024}


@FUZZ
@given(section=st.sampled_from(list(SECTIONS)), value=patch_with(bad_keys()))
def test_twin_key_rules(targets, section, value):
    others = {"tags": None, "desired_properties": None, section: value}
    refused(targets, lambda: twin(**others), section, r"key|keys")


@FUZZ
@given(section=st.sampled_from(list(SECTIONS)), depth=st.integers(11, 40))
def test_twin_depth_over_10(targets, section, depth):
    others = {"tags": None, "desired_properties": None, section: nest(depth)}
    refused(targets, lambda: twin(**others), section, r"10 levels")


@FUZZ
@given(
    section=st.sampled_from(list(SECTIONS)),
    value=st.one_of(
        patch_with(good_key, leaf=[1, 2]),
        patch_with(good_key, leaf="v" * (4 * 1024 + 1)),
    ),
)
def test_twin_values_arrays_and_long_strings(targets, section, value):
    others = {"tags": None, "desired_properties": None, section: value}
    refused(targets, lambda: twin(**others), section)


@FUZZ
@given(
    section=st.sampled_from(list(SECTIONS)),
    over=st.integers(1, 20_000),
    char=st.sampled_from(["x", "é", "€"]),
)
def test_twin_section_over_its_size_limit(targets, section, over, char):
    limit = SECTIONS[section]
    value: dict[str, Any] = {}
    index = 0
    while len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) <= limit + over:
        value[f"k{index}"] = char * 1000
        index += 1
    others = {"tags": None, "desired_properties": None, section: value}
    refused(targets, lambda: twin(**others), section, r"bytes")


@FUZZ
@given(
    section=st.sampled_from(list(SECTIONS)),
    value=st.one_of(junk.filter(lambda v: not isinstance(v, dict)), not_json),
)
def test_twin_section_that_is_not_an_object(targets, section, value):
    assume(value is not None)
    others = {"tags": None, "desired_properties": None, section: value}
    refused(targets, lambda: twin(**others), section)


@FUZZ
@given(value=st.one_of(st.just(""), junk.filter(lambda v: not isinstance(v, str))))
def test_twin_etag(targets, value):
    refused(targets, lambda: twin(etag=value), "etag")


def test_empty_twin_patch(targets):
    refused(targets, lambda: twin(tags={}, desired_properties=None), "tags / desired_properties", r"empty")
    refused(targets, lambda: twin(tags=None, desired_properties=None), "tags / desired_properties")


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
    kind=st.sampled_from(list(WAITING)),
    field=st.sampled_from(["success_threshold", "failure_threshold"]),
    value=bad_thresholds,
)
def test_thresholds(targets, kind, field, value):
    refused(targets, lambda: WAITING[kind](**{field: value}), field, r"percentage|whole number")


@FUZZ
@given(
    kind=st.sampled_from(["export", "import"]),
    field=st.sampled_from(["success_threshold", "failure_threshold"]),
    value=bad_thresholds,
)
def test_thresholds_of_registry_operators(targets, kind, field, value):
    build = export if kind == "export" else importer
    refused(targets, lambda: build(**{field: value}), field)


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
@given(kind=st.sampled_from(["method", "twin"]), value=bad_start_times)
def test_start_time(targets, kind, value):
    refused(targets, lambda: JOB_OPERATORS[kind](start_time=value), "start_time")


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
@given(
    kind=st.sampled_from(["method", "twin"]),
    value=st.one_of(bad_durations, st.integers(7 * 24 * 3600 + 1, 10**9)),
)
def test_max_execution_time(targets, kind, value):
    refused(targets, lambda: JOB_OPERATORS[kind](max_execution_time=value), "max_execution_time")


@FUZZ
@given(
    kind=st.sampled_from(["method", "twin", "export"]), value=bad_durations.filter(lambda v: v is not None)
)
def test_wait_timeout(targets, kind, value):
    build = {"method": method, "twin": twin, "export": export}[kind]
    refused(targets, lambda: build(timeout=value), "timeout")


# ------------------------------------------------------------------------------------------------ guards and intervals


@FUZZ
@given(
    kind=st.sampled_from(["method", "twin", "import"]),
    # a digit string is a valid count (what a rendered template gives); a template itself is checked after rendering
    value=st.one_of(
        st.integers(max_value=-1),
        st.floats(),
        st.booleans(),
        text.filter(lambda s: not re.fullmatch(r"[0-9]+", s.strip()) and "{{" not in s and "{%" not in s),
    ),
)
def test_max_devices(targets, kind, value):
    build = {"method": method, "twin": twin, "import": importer}[kind]
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
@given(
    kind=st.sampled_from(["method", "twin", "sensor"]),
    field=st.sampled_from(["poll_interval", "max_poll_interval"]),
    value=bad_intervals,
)
@example(kind="method", field="max_poll_interval", value="soon")
def test_poll_intervals(targets, kind, field, value):
    if kind == "sensor" and field == "poll_interval":
        field = "poke_interval"
    refused(targets, lambda: WAITING[kind](**{field: value}), field)


# ------------------------------------------------------------------------------------------------ import records

# Written out from the service's documentation (not imported), so a drift in the provider's list shows here.
IMPORT_MODES = [
    "create",
    "update",
    "updateIfMatchETag",
    "delete",
    "deleteIfMatchETag",
    "createOrUpdate",
    "createOrUpdateIfMatchETag",
    "updateTwin",
    "updateTwinIfMatchETag",
]
# The identity registry's rule (and the emulator's): up to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '
DEVICE_ID = re.compile(r"[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}")


@st.composite
def bad_records(draw: st.DrawFn) -> tuple[list[Any], str]:
    """A list of good records with one bad one somewhere; returns it and the field the error must name."""
    good = [
        {"id": f"dev-{i}", "importMode": "createOrUpdate", "status": "enabled"}
        for i in range(draw(st.integers(0, 5)))
    ]
    kind = draw(
        st.sampled_from(
            [
                "not-object",
                "id-missing",
                "id-type",
                "id-empty",
                "id-long",
                "mode-missing",
                "mode-unknown",
                "mode-type",
                "etag-missing",
            ]
        )
    )
    record: Any = {"id": "dev-x", "importMode": "create", "status": "enabled"}
    if kind == "not-object":
        record = draw(junk.filter(lambda v: not isinstance(v, dict)))
    elif kind == "id-missing":
        del record["id"]
    elif kind == "id-type":
        record["id"] = draw(junk.filter(lambda v: not isinstance(v, str)))
    elif kind == "id-empty":
        record["id"] = ""
    elif kind == "id-long":
        record["id"] = draw(st.text("abc123-", min_size=129, max_size=300))
    elif kind == "mode-missing":
        del record["importMode"]
    elif kind == "mode-unknown":
        record["importMode"] = draw(text.filter(lambda s: s.lower() not in {m.lower() for m in IMPORT_MODES}))
    elif kind == "mode-type":
        record["importMode"] = draw(junk)
    else:
        record["importMode"] = draw(
            st.sampled_from(["updateIfMatchETag", "deleteIfMatchETag", "updateTwinIfMatchETag"])
        )
    at = draw(st.integers(0, len(good)))
    return good[:at] + [record] + good[at:], f"devices line {at + 1}"


@FUZZ
@given(case=bad_records())
def test_import_records(targets, case):
    records, where = case
    refused(targets, lambda: importer(devices=records), where)


@FUZZ
@given(value=st.text(min_size=1, max_size=40).filter(lambda s: not DEVICE_ID.fullmatch(s)))
@example(value="has space")
def test_import_record_device_id_characters(targets, value):
    records = [{"id": value, "importMode": "create", "status": "enabled"}]
    refused(targets, lambda: importer(devices=records), "id")


@FUZZ
@given(value=text.filter(lambda s: s.lower() not in {m.lower() for m in IMPORT_MODES}))
def test_import_mode_parameter(targets, value):
    records = [{"id": "dev-1", "status": "enabled"}]
    refused(targets, lambda: importer(devices=records, import_mode=value), "import_mode")


def test_import_sources(targets, tmp_path):
    refused(targets, lambda: importer(devices=None), "devices / devices_file / input_blob_name")
    bad_file = tmp_path / "devices.jsonl"
    bad_file.write_text('{"id": "a", "importMode": "create"}\n{not json\n')
    refused(targets, lambda: importer(devices=None, devices_file=str(bad_file)), "devices_file line 2")


# ------------------------------------------------------------------------------------------------ registry operators

VALID_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


@FUZZ
@given(
    value=st.one_of(text, junk).filter(
        lambda v: not isinstance(v, str) or v not in ("keyBased", "identityBased")
    )
)
def test_storage_authentication_type(targets, value):
    refused(targets, lambda: export(storage_authentication_type=value), "storage_authentication_type")


@FUZZ
@given(value=junk.filter(lambda v: not isinstance(v, bool)))
def test_exclude_keys(targets, value):
    refused(targets, lambda: export(exclude_keys=value), "exclude_keys")


@FUZZ
@given(
    value=st.text(string.ascii_letters + string.digits + "-_. ", min_size=1, max_size=70).filter(
        lambda s: not VALID_CONTAINER.fullmatch(s)
    )
)
@example(value="Bad_Container")
def test_container_name(targets, value):
    refused(targets, lambda: export(container=value), "container")


@FUZZ
@given(
    value=st.one_of(
        st.text("abc/", min_size=1, max_size=20).map(lambda s: s + "/"),
        st.text("abc", min_size=1025, max_size=1100),
    )
)
@example(value="exports/")
def test_blob_name(targets, value):
    refused(targets, lambda: export(blob_name=value), "blob_name")


# ------------------------------------------------------------------------------------------------ the boundaries are accepted


def test_values_at_the_limits_are_accepted_by_client_and_hub(targets):
    """The client is not stricter than the service at the documented limits: each reaches the hub and is created."""
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    hook = IoTHubHook()
    payload = {"p": "x" * (LIMIT - len('{"p":""}'))}  # exactly 128 KB as compact JSON
    assert len(json.dumps(payload, separators=(",", ":")).encode()) == LIMIT
    method(payload=payload).build_request()
    hook.create_device_method_job("limit-payload", "*", "ping", payload=payload)
    deep = nest(10)
    tags = twin(tags=deep).build_request()["tags"]
    hook.create_twin_update_job("limit-depth", "*", tags=tags)
    assert {"limit-payload", "limit-depth"} <= set(targets.hub.state.jobs)
    for job_id in ("limit-payload", "limit-depth"):
        hook.cancel_job(job_id)
