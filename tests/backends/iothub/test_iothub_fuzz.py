"""Bad input, fuzzed (hypothesis), IoT-Hub-only part (the shared parameters are fuzzed in
tests/contract/test_fuzz.py): query conditions, method names, payloads and device timeouts, twin patches, maximum
execution times, the identity registry's import records, the export / import operators. Each invalid value fails
with an error that names the field and the rule, and neither the hub nor the blob service sees a request.

The oracles are independent of the code under test where the rule is the service's: query conditions are valid or
invalid by construction (generated from the documented syntax, or broken in one stated way), and the dialect must
agree; elsewhere the identity registry's device-id rule and Azure's container-name rule.
"""

from __future__ import annotations

import json
import re
import string
from datetime import datetime
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iothub import parse_condition, validate_query_condition
from tests.contract.fuzzing import FIGURES, FUZZ, junk, refused, text
from tests.contract.test_fuzz import bad_durations, bad_thresholds
from tests.harness import iothub
from tests.harness.iothub import IOTHUB_HARNESS, quick

pytestmark = pytest.mark.reliability

method = quick(iothub.method)
twin = quick(iothub.twin)
sensor = iothub.sensor
export = quick(iothub.export)
importer = quick(iothub.importer)
JOB_OPERATORS = {"method": method, "twin": twin}


@pytest.fixture(scope="module")
def targets():
    with IOTHUB_HARNESS.fuzz.targets() as targets:
        yield targets


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


@FUZZ
@given(
    kind=st.sampled_from(["export", "import"]),
    field=st.sampled_from(["success_threshold", "failure_threshold"]),
    value=bad_thresholds,
)
def test_thresholds_of_registry_operators(targets, kind, field, value):
    build = export if kind == "export" else importer
    refused(targets, lambda: build(**{field: value}), field)


@FUZZ
@given(
    kind=st.sampled_from(["method", "twin"]),
    value=st.one_of(bad_durations, st.integers(7 * 24 * 3600 + 1, 10**9)),
)
def test_max_execution_time(targets, kind, value):
    refused(targets, lambda: JOB_OPERATORS[kind](max_execution_time=value), "max_execution_time")


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
    assert {"limit-payload", "limit-depth"} <= set(targets.emulator.state.jobs)
    for job_id in ("limit-payload", "limit-depth"):
        hook.cancel_job(job_id)
