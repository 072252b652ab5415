"""Tests for the IoT Hub query dialect (airflow_iot_jobs.query.iothub) and its evaluation."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iothub import (
    MAX_QUERY_LENGTH,
    parse_condition,
    parse_query,
    validate_query_condition,
)
from airflow_iot_jobs.query.tree import And, Condition, FieldRef, MatchAll, Query
from airflow_iot_jobs.query.values import UNDEFINED

# --------------------------------------------------------------------------------------------------------------
# A small fleet of twins, shaped like POST /devices/query returns them
# --------------------------------------------------------------------------------------------------------------

FLEET: list[dict[str, Any]] = [
    {
        "deviceId": "d1",
        "etag": "AAAAAAAAAAE=",
        "version": 3,
        "status": "enabled",
        "connectionState": "Connected",
        "lastActivityTime": "2024-05-01T10:00:00.0000000Z",
        "tags": {
            "site": "ams",
            "floor": 2,
            "env": "prod",
            "roles": ["edge", "gateway"],
            "building": {"name": "B1"},
            "my key": "spaced",
        },
        "properties": {
            "desired": {"fw": "1.2.0", "interval": 30},
            "reported": {
                "fw": "1.2.0",
                "battery": 87.5,
                "online": True,
                "telemetry": {"sendFrequency": "5m"},
            },
        },
        "capabilities": {"iotEdge": True},
    },
    {
        "deviceId": "d2",
        "etag": "AAAAAAAAAAI=",
        "version": 7,
        "status": "disabled",
        "connectionState": "Disconnected",
        "lastActivityTime": "2024-04-01T10:00:00.0000000Z",
        "tags": {"site": "ams", "floor": 5, "env": "test", "roles": ["sensor"], "quote": "it's"},
        "properties": {
            "desired": {"fw": "1.2.0"},
            "reported": {"fw": "1.1.0", "battery": 12, "online": False},
        },
        "capabilities": {"iotEdge": False},
    },
    {
        "deviceId": "d3",
        "etag": "AAAAAAAAAAM=",
        "version": 1,
        "status": "enabled",
        "connectionState": "Connected",
        "tags": {"site": "nyc", "floor": "5", "env": "prod", "note": None},
        "properties": {"desired": {}, "reported": {"fw": "1.2.0", "battery": 100}},
        "capabilities": {"iotEdge": False},
    },
    {
        "deviceId": "d4",
        "etag": "AAAAAAAAAAQ=",
        "version": 2,
        "status": "enabled",
        "connectionState": "Disconnected",
        "tags": {},
        "properties": {"desired": {}, "reported": {}},
    },
    {
        "deviceId": "sensor-5",
        "etag": "AAAAAAAAAAU=",
        "version": 10,
        "status": "enabled",
        "connectionState": "Connected",
        "tags": {"site": "AMS", "floor": 2.0, "env": "prod", "roles": ["edge"]},
        "properties": {"desired": {}, "reported": {"fw": 2, "battery": 50, "online": "true"}},
    },
]
ALL = {"d1", "d2", "d3", "d4", "sensor-5"}

JOB_ROWS: list[dict[str, Any]] = [
    {
        "deviceId": "d1",
        "jobId": "j1",
        "jobType": "scheduleUpdateTwin",
        "status": "completed",
        "startTimeUtc": "2016-09-29T18:18:52.7418462",
        "endTimeUtc": "2016-09-29T18:20:52.7418462",
        "createdDateTimeUtc": "2016-09-29T18:18:56.7787107Z",
        "lastUpdatedDateTimeUtc": "2016-09-29T18:18:56.8894408Z",
        "outcome": {"deviceMethodResponse": None},
    },
    {
        "deviceId": "d2",
        "jobId": "j1",
        "jobType": "scheduleUpdateTwin",
        "status": "failed",
        "error": {"code": "Device Not Online", "description": "Timed out waiting for device to connect"},
    },
    {"deviceId": "d3", "jobId": "j2", "jobType": "scheduleDeviceMethod", "status": "failed"},
    {
        "deviceId": "d4",
        "jobId": "j2",
        "jobType": "scheduleDeviceMethod",
        "status": "completed",
        "outcome": {"deviceMethodResponse": {"status": 200, "payload": {"ok": True}}},
    },
]


def matching(condition: Condition | Query, records: list[dict[str, Any]] = FLEET) -> set[str]:
    return {r["deviceId"] for r in records if condition.matches(r)}


# --------------------------------------------------------------------------------------------------------------
# Valid conditions and what they match
# --------------------------------------------------------------------------------------------------------------

CONDITION_CASES: list[tuple[str, set[str]]] = [
    # equality, strings are case-sensitive
    ("tags.site = 'ams'", {"d1", "d2"}),
    ('tags.site = "ams"', {"d1", "d2"}),
    ("tags.site = 'AMS'", {"sensor-5"}),
    ("tags.site != 'ams'", {"d3", "sensor-5"}),
    ("tags.site <> 'ams'", {"d3", "sensor-5"}),
    ("status = 'Disabled'", set()),
    ("deviceId = 'd1'", {"d1"}),
    ("deviceId='d1'", {"d1"}),
    # numbers compare numerically, int vs float is fine, string vs number is not
    ("tags.floor = 2", {"d1", "sensor-5"}),
    ("tags.floor = 2.0", {"d1", "sensor-5"}),
    ("tags.floor = 5", {"d2"}),
    ("tags.floor = '5'", {"d3"}),
    ("tags.floor > 2", {"d2"}),
    ("tags.floor >= 2", {"d1", "d2", "sensor-5"}),
    ("tags.floor < 5", {"d1", "sensor-5"}),
    ("tags.floor <= 5", {"d1", "d2", "sensor-5"}),
    ("tags.floor > '1'", {"d3"}),
    ("properties.reported.battery < 50", {"d2"}),
    ("properties.reported.battery >= 50.0", {"d1", "d3", "sensor-5"}),
    ("properties.reported.battery > -1", {"d1", "d2", "d3", "sensor-5"}),
    ("properties.reported.battery > -1.5e2", {"d1", "d2", "d3", "sensor-5"}),
    ("properties.reported.battery = 1.2e1", {"d2"}),
    ("version >= 3", {"d1", "d2", "sensor-5"}),
    ("version != 3", {"d2", "d3", "d4", "sensor-5"}),
    # booleans and null
    ("properties.reported.online = true", {"d1"}),
    ("properties.reported.online = TRUE", {"d1"}),
    ("properties.reported.online = false", {"d2"}),
    ("properties.reported.online = 'true'", {"sensor-5"}),
    ("properties.reported.online != true", {"d2", "sensor-5"}),
    ("properties.reported.online > false", set()),
    ("tags.note = null", {"d3"}),
    ("tags.note = NULL", {"d3"}),
    ("tags.site != null", {"d1", "d2", "d3", "sensor-5"}),
    ("tags.floor = true", set()),
    # string ordering (ordinal) and ISO timestamps
    ("properties.reported.fw > '1.1.0'", {"d1", "d3"}),
    ("lastActivityTime >= '2024-04-15T00:00:00Z'", {"d1"}),
    ("lastActivityTime < '2024-04-15T00:00:00Z'", {"d2"}),
    # field against field, literal on the left
    ("properties.reported.fw = properties.desired.fw", {"d1"}),
    ("properties.reported.fw != properties.desired.fw", {"d2"}),
    ("properties.desired.interval > properties.reported.battery", set()),
    ("properties.reported.battery > properties.desired.interval", {"d1"}),
    ("'ams' = tags.site", {"d1", "d2"}),
    ("2 < tags.floor", {"d2"}),
    ("1 = 1", ALL),
    ("selected = 1 OR WHERE_x = 1 OR whereabouts = 1 OR android = 1 OR notes = 1", set()),
    ("1 = 2", set()),
    # IN / NIN / NOT IN
    ("deviceId IN ['d1', 'd3', 'nope']", {"d1", "d3"}),
    ("deviceId in ['d1','d3']", {"d1", "d3"}),
    ("deviceId NIN ['d1', 'd3']", {"d2", "d4", "sensor-5"}),
    ("deviceId NOT IN ['d1', 'd3']", {"d2", "d4", "sensor-5"}),
    ("tags.env NIN ['test']", {"d1", "d3", "sensor-5"}),
    ("NOT tags.env IN ['test']", {"d1", "d3", "d4", "sensor-5"}),
    ("tags.floor IN [2, '5']", {"d1", "d3", "sensor-5"}),
    ("tags.floor IN [true, 7]", set()),
    ("tags.note IN [null, 'x']", {"d3"}),
    ("tags.floor IN []", set()),
    ("tags.floor NIN []", {"d1", "d2", "d3", "sensor-5"}),
    # functions (names case-insensitive)
    ("IS_DEFINED(tags.note)", {"d3"}),
    ("IS_NULL(tags.note)", {"d3"}),
    ("IS_NULL(tags.site)", set()),
    ("IS_DEFINED(tags.site)", {"d1", "d2", "d3", "sensor-5"}),
    ("NOT IS_DEFINED(tags.site)", {"d4"}),
    ("IS_DEFINED(DeviceId)", ALL),
    ("is_defined(deviceid)", ALL),
    ("IS_STRING(tags.floor)", {"d3"}),
    ("IS_NUMBER(tags.floor)", {"d1", "d2", "sensor-5"}),
    ("IS_BOOL(properties.reported.online)", {"d1", "d2"}),
    ("IS_OBJECT(tags.building)", {"d1"}),
    ("IS_OBJECT(tags)", ALL),
    ("IS_PRIMITIVE(tags.roles)", set()),
    ("IS_PRIMITIVE(tags.note)", {"d3"}),
    ("IS_PRIMITIVE(tags.env)", {"d1", "d2", "d3", "sensor-5"}),
    ("STARTS_WITH(deviceId, 'sensor')", {"sensor-5"}),
    ("starts_with(deviceId, 'D')", set()),
    ("ENDS_WITH(properties.reported.fw, '.0')", {"d1", "d2", "d3"}),
    ("ENDS_WITH(tags.floor, '5')", {"d3"}),
    ("ARRAY_CONTAINS(tags.roles, 'edge')", {"d1", "sensor-5"}),
    ("ARRAY_CONTAINS(tags.roles, 'Edge')", set()),
    ("ARRAY_CONTAINS(tags.site, 'a')", set()),
    ("IS_DEFINED(tags.site) = true", {"d1", "d2", "d3", "sensor-5"}),
    # field paths: prefixes, system-name case-insensitivity, brackets, nesting, keywords after a dot
    ("capabilities.iotEdge = true", {"d1"}),
    ("capabilities.IOTEDGE = true", {"d1"}),
    ("devices.capabilities.iotEdge = false", {"d2", "d3"}),
    ("devices.tags.site = 'nyc'", {"d3"}),
    ("Tags.site = 'nyc'", {"d3"}),
    ("tags.Site = 'nyc'", set()),
    ("Status = 'disabled'", {"d2"}),
    ("STATUS = 'disabled' AND ConnectionState = 'Disconnected'", {"d2"}),
    ("Properties.Reported.battery = 100", {"d3"}),
    ("tags['my key'] = 'spaced'", {"d1"}),
    ("tags[\"my key\"] = 'spaced'", {"d1"}),
    ("tags['building'].name = 'B1'", {"d1"}),
    ("tags.building.name = 'B1'", {"d1"}),
    ("properties.reported.telemetry.sendFrequency = '5m'", {"d1"}),
    ("tags.site.deeper = 'x'", set()),
    ("tags.in = 1 OR tags.count = 1 OR tags.select = 1", set()),
    # string escapes
    ("tags.quote = 'it''s'", {"d2"}),
    ("tags.quote = 'it\\'s'", {"d2"}),
    ('tags.quote = "it\'s"', {"d2"}),
    # undefined fields: comparisons are false, NOT negates
    ("tags.nosuch = 1", set()),
    ("tags.nosuch != 1", set()),
    ("tags.nosuch < 1", set()),
    ("tags.nosuch IN [1]", set()),
    ("tags.nosuch NIN [1]", set()),
    ("NOT tags.nosuch = 1", ALL),
    ("nosuch.a.b.c.d = 1", set()),
    # logic and precedence: NOT > AND > OR
    ("tags.env = 'test' OR tags.site = 'ams' AND tags.floor = 2", {"d1", "d2"}),
    ("(tags.env = 'test' OR tags.site = 'ams') AND tags.floor = 2", {"d1"}),
    ("tags.site = 'ams' AND tags.floor = 2 OR tags.env = 'test'", {"d1", "d2"}),
    ("tags.site = 'ams' AND (tags.floor = 2 OR tags.env = 'test')", {"d1", "d2"}),
    ("NOT tags.site = 'ams' AND tags.env = 'prod'", {"d3", "sensor-5"}),
    ("NOT (tags.site = 'ams' AND tags.env = 'prod')", {"d2", "d3", "d4", "sensor-5"}),
    ("NOT NOT tags.site = 'ams'", {"d1", "d2"}),
    ("tags.site = 'ams' or tags.site = 'nyc' and not tags.env = 'prod'", {"d1", "d2"}),
    ("connectionState = 'Connected' AND tags.env = 'prod'", {"d1", "d3", "sensor-5"}),
    ("deviceId = 'd1' AND (tags.site = 'ams' OR tags.site = 'nyc')", {"d1"}),
    ("((((deviceId = 'd4'))))", {"d4"}),
    ("deviceId = 'd1' OR deviceId = 'd2' OR deviceId = 'd3' OR deviceId = 'd4'", {"d1", "d2", "d3", "d4"}),
    ("version > 0 AND version > 1 AND version > 2 AND version > 3", {"d2", "sensor-5"}),
    ("\n\ttags.site = 'ams'\n\tAND tags.floor = 5\n", {"d2"}),
]


@pytest.mark.parametrize(("condition", "expected"), CONDITION_CASES)
def test_condition_matches(condition: str, expected: set[str]) -> None:
    assert matching(parse_condition(condition)) == expected


@pytest.mark.parametrize(("condition", "expected"), CONDITION_CASES)
def test_condition_inside_full_query(condition: str, expected: set[str]) -> None:
    query = parse_query(f"SELECT * FROM devices WHERE {condition}")
    assert query.source == "devices"
    assert not query.count
    assert matching(query) == expected
    assert matching(query.where) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["*", " * ", "\t*\n"])
def test_star_matches_everything(text: str) -> None:
    condition = parse_condition(text)
    assert isinstance(condition, MatchAll)
    assert matching(condition) == ALL
    assert condition.matches({}) is True
    assert condition.fields() == set()


def test_matches_returns_real_bools() -> None:
    for text, _ in CONDITION_CASES:
        condition = parse_condition(text)
        for record in FLEET:
            assert type(condition.matches(record)) is bool, text


def test_matching_non_dict_shapes_is_false_not_an_error() -> None:
    condition = parse_condition("tags.site.x = 'a' AND properties.reported.fw > 1")
    assert condition.matches({"tags": "not an object", "properties": None}) is False
    assert condition.matches({}) is False
    assert parse_condition("tags.a.b.c.d = 1").matches({"tags": {"a": {"b": {"c": {"d": 1}}}}})
    assert parse_condition("tags.a.b.c.d = 1").matches({"tags": {"a": {"b": [1]}}}) is False


def test_deep_equality_of_objects_and_arrays_between_fields() -> None:
    record = {
        "properties": {
            "desired": {"cfg": {"a": [1, 2], "b": True}},
            "reported": {"cfg": {"a": [1, 2.0], "b": True}},
        }
    }
    assert parse_condition("properties.desired.cfg = properties.reported.cfg").matches(record)
    record["properties"]["reported"]["cfg"]["b"] = 1
    assert not parse_condition("properties.desired.cfg = properties.reported.cfg").matches(record)
    assert parse_condition("properties.desired.cfg != properties.reported.cfg").matches(record)


def test_array_contains_uses_strict_equality() -> None:
    record = {"tags": {"xs": [1, "2", True, None, 3.5]}}
    assert parse_condition("ARRAY_CONTAINS(tags.xs, 1)").matches(record)
    assert parse_condition("ARRAY_CONTAINS(tags.xs, 1.0)").matches(record)
    assert parse_condition("ARRAY_CONTAINS(tags.xs, '2')").matches(record)
    assert not parse_condition("ARRAY_CONTAINS(tags.xs, 2)").matches(record)
    assert parse_condition("ARRAY_CONTAINS(tags.xs, true)").matches(record)
    assert parse_condition("ARRAY_CONTAINS(tags.xs, null)").matches(record)
    assert not parse_condition("ARRAY_CONTAINS(tags.ys, 1)").matches(record)
    assert not parse_condition("ARRAY_CONTAINS(tags.xs, 'true')").matches(record)


def test_true_is_not_one() -> None:
    record = {"tags": {"flag": True, "one": 1}}
    assert not parse_condition("tags.flag = 1").matches(record)
    assert not parse_condition("tags.one = true").matches(record)
    assert not parse_condition("tags.flag IN [1]").matches(record)
    assert not parse_condition("tags.one IN [true]").matches(record)
    assert parse_condition("tags.flag != 1").matches(record)
    assert not parse_condition("tags.flag >= 1").matches(record)


# --------------------------------------------------------------------------------------------------------------
# Full queries
# --------------------------------------------------------------------------------------------------------------


def test_count_with_alias() -> None:
    text = "SELECT COUNT() AS n FROM devices WHERE tags.site = 'ams'"
    query = parse_query(text)
    assert query == Query(source="devices", count=True, count_alias="n", where=query.where, text=text)
    assert query.count and query.count_alias == "n"
    assert matching(query) == {"d1", "d2"}
    assert query.fields() == {"tags.site"}


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("SELECT COUNT() FROM devices", None),
        ("select count() from devices", None),
        ("SELECT COUNT() AS numberOfDevices FROM devices", "numberOfDevices"),
        ("SELECT COUNT ( ) as numberOfDevices FROM devices", "numberOfDevices"),
        ("SELECT COUNT() AS count FROM devices", "count"),
        ("SELECT COUNT() AS numberOfDevices FROM devices.modules WHERE moduleId = 'm1'", "numberOfDevices"),
    ],
)
def test_count_variants(text: str, alias: str | None) -> None:
    query = parse_query(text)
    assert query.count is True
    assert query.count_alias == alias
    assert query.text == text


def test_select_star_without_where() -> None:
    query = parse_query("SELECT * FROM devices")
    assert query == Query(
        source="devices", count=False, count_alias=None, where=None, text="SELECT * FROM devices"
    )
    assert matching(query) == ALL
    assert query.fields() == set()


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("SELECT * FROM devices", "devices"),
        ("select * from DEVICES", "devices"),
        ("SELECT * FROM devices.jobs", "devices.jobs"),
        ("SELECT * FROM Devices.Jobs", "devices.jobs"),
        ("SELECT * FROM devices.modules", "devices.modules"),
        ("  SELECT\n*\nFROM\tdevices.modules  ", "devices.modules"),
    ],
)
def test_sources(text: str, source: str) -> None:
    assert parse_query(text).source == source


def test_devices_jobs_query() -> None:
    query = parse_query(
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'j1' AND devices.jobs.status = 'failed'"
    )
    assert query.source == "devices.jobs"
    assert query.fields() == {"jobId", "status"}
    assert matching(query, JOB_ROWS) == {"d2"}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("devices.jobs.jobId = 'j1'", {"d1", "d2"}),
        ("jobId = 'j2'", {"d3", "d4"}),
        ("JobId = 'j2' AND Status = 'completed'", {"d4"}),
        ("devices.jobs.deviceId = 'd3'", {"d3"}),
        ("jobType = 'scheduleDeviceMethod'", {"d3", "d4"}),
        ("status IN ['failed', 'canceled']", {"d2", "d3"}),
        ("createdDateTimeUtc > '2016-01-01'", {"d1"}),
        ("outcome.deviceMethodResponse.status = 200", {"d4"}),
        ("IS_DEFINED(error)", {"d2"}),
        ("error.code = 'Device Not Online'", {"d2"}),
    ],
)
def test_devices_jobs_conditions(where: str, expected: set[str]) -> None:
    assert matching(parse_query(f"SELECT * FROM devices.jobs WHERE {where}"), JOB_ROWS) == expected


def test_module_twins_query() -> None:
    modules = [
        {"deviceId": "d1", "moduleId": "m1", "properties": {"reported": {"status": "scanning"}}},
        {"deviceId": "d1", "moduleId": "m2", "properties": {"reported": {"status": "idle"}}},
        {"deviceId": "d2", "moduleId": "m1", "properties": {"reported": {"status": "scanning"}}},
    ]
    query = parse_query(
        "SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['d1']"
    )
    assert [m["moduleId"] for m in modules if query.matches(m)] == ["m1"]
    assert parse_query("SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'm2'").fields() == {
        "moduleId"
    }


def test_keywords_are_case_insensitive() -> None:
    a = parse_query("SELECT * FROM devices WHERE tags.a = 1 AND NOT tags.b IN [2] OR tags.c NIN [true, null]")
    b = parse_query("select * from devices where tags.a = 1 and not tags.b in [2] or tags.c nin [TRUE, Null]")
    assert a.where == b.where


def test_parse_is_whitespace_insensitive_and_ast_is_comparable() -> None:
    assert parse_condition("tags.a=1 and(tags.b<>'x')") == parse_condition(
        "  tags.a = 1  AND  ( tags.b != 'x' )  "
    )
    assert parse_condition("tags.a = 1") != parse_condition("tags.a = 2")


def test_and_or_are_flattened() -> None:
    condition = parse_condition("a = 1 AND (b = 2 AND c = 3) AND d = 4")
    assert isinstance(condition, And)
    assert len(condition.operands) == 4


def test_fields() -> None:
    condition = parse_condition(
        "tags.site = 'a' AND IS_DEFINED(devices.DeviceId) OR properties.reported.fw = properties.desired.fw "
        "OR STARTS_WITH(devices.modules.moduleId, 'x') OR tags['my key'] IN ['v'] OR NOT capabilities.iotedge = true"
    )
    assert condition.fields() == {
        "tags.site",
        "deviceId",
        "properties.reported.fw",
        "properties.desired.fw",
        "moduleId",
        "tags.my key",
        "capabilities.iotEdge",
    }


def test_field_ref_normalisation() -> None:
    condition = parse_condition("devices.tags.Site = 1")
    assert condition.left == FieldRef(("tags", "Site"))  # type: ignore[attr-defined]
    assert condition.left.evaluate({"tags": {}}) is UNDEFINED  # type: ignore[attr-defined]
    assert condition.left.evaluate({"tags": {"Site": 4}}) == 4  # type: ignore[attr-defined]


def test_string_escapes() -> None:
    cases = {
        r"tags.a = 'a\\b'": "a\\b",
        r"tags.a = 'tab\there'": "tab\there",
        r"tags.a = '\u00e9'": "é",
        r'tags.a = "say ""hi"""': 'say "hi"',
        r'tags.a = "it\"s"': 'it"s',
        "tags.a = ''": "",
        r"tags.a = '\''": "'",
        r"tags.a = 'x\''''": "x''",
        r"tags.a = 'a\\''b'": "a\\'b",
        "tags.a = 'ünïcødé'": "ünïcødé",
    }
    for text, value in cases.items():
        assert parse_condition(text).right.value == value, text  # type: ignore[attr-defined]


def test_query_and_nodes_are_frozen() -> None:
    query = parse_query("SELECT * FROM devices WHERE tags.a = 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.source = "devices.jobs"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.where.op = "!="  # type: ignore[union-attr]


def test_maximum_length_is_accepted() -> None:
    ids = ", ".join(f"'device-{i:05d}'" for i in range(500))
    condition = f"deviceId IN [{ids}]"
    condition += " " * (MAX_QUERY_LENGTH - len(condition))
    assert len(condition) == MAX_QUERY_LENGTH
    parsed = parse_condition(condition)
    assert parsed.matches({"deviceId": "device-00499"})
    assert not parsed.matches({"deviceId": "device-00500"})
    validate_query_condition(condition)


# --------------------------------------------------------------------------------------------------------------
# Invalid input
# --------------------------------------------------------------------------------------------------------------

INVALID_QUERIES: list[tuple[str, list[str]]] = [
    (
        "SELECT * FROM devices WHERE deviceId = AND x",
        ["unexpected token 'AND'", "column 40", "expected a value"],
    ),
    ("SELECT deviceId FROM devices", ["only SELECT * and SELECT COUNT()", "projections", "column 8"]),
    ("SELECT deviceId, tags FROM devices", ["only SELECT * and SELECT COUNT()"]),
    ("SELECT *, deviceId FROM devices", ["only SELECT * and SELECT COUNT()", "column 9"]),
    ("SELECT COUNT(*) FROM devices", ["COUNT(*) is not supported", "COUNT()"]),
    ("SELECT TOP 10 * FROM devices", ["TOP is not supported"]),
    ("SELECT * FROM devices GROUP BY tags.site", ["GROUP BY is not supported", "column 23"]),
    ("SELECT COUNT() FROM devices GROUP BY properties.reported.fw", ["GROUP BY is not supported"]),
    ("SELECT * FROM devices ORDER BY deviceId", ["ORDER BY is not supported"]),
    ("SELECT * FROM devices WHERE x = 1 ORDER BY deviceId", ["ORDER BY is not supported", "column 35"]),
    ("SELECT * FROM twins", ["FROM twins is not supported", "devices, devices.jobs or devices.modules"]),
    ("SELECT * FROM devices.configurations", ["FROM devices.configurations is not supported"]),
    ("SELECT * FROM devices, devices.jobs", ["joins", "not supported"]),
    ("SELECT * FROM devices JOIN devices.jobs", ["JOIN is not supported"]),
    ("SELECT * FROM devices d", ["unexpected token 'd'", "expected WHERE or end of query"]),
    ("SELECT *", ["unexpected end of query", "column 9", "expected FROM"]),
    ("SELECT", ["unexpected end of query", "'*' or COUNT()"]),
    ("FROM devices", ["unexpected token 'FROM'", "column 1", "expected SELECT"]),
    ("DELETE FROM devices", ["unexpected token 'DELETE'", "expected SELECT"]),
    ("SELECT * FROM devices WHERE", ["unexpected end of query", "expected a condition"]),
    ("SELECT * FROM devices WHERE x = 'abc", ["unclosed string", "column 33"]),
    ('SELECT * FROM devices WHERE x = "abc', ["unclosed string", "column 33"]),
    ("SELECT * FROM devices WHERE x IN ['a', 'b'", ["unexpected end of query", "expected ',' or ']'"]),
    ("SELECT * FROM devices WHERE (x = 1", ["unexpected end of query", "expected ')'"]),
    ("SELECT * FROM devices WHERE x = 1)", ["unexpected token ')'", "column 34", "end of query"]),
    ("SELECT * FROM devices WHERE x = 1 + 2", ["arithmetic operator '+' is not supported", "column 35"]),
    ("SELECT * FROM devices WHERE x = 1 * 2", ["arithmetic operator '*' is not supported"]),
    ("SELECT * FROM devices WHERE x = y -1", ["arithmetic operator '-' is not supported"]),
    ("SELECT * FROM devices WHERE x / 2 = 1", ["arithmetic operator '/' is not supported"]),
    ("SELECT * FROM devices WHERE x % 2 = 1", ["arithmetic operator '%' is not supported"]),
    ("SELECT * FROM devices WHERE LOWER(x) = 'a'", ["function LOWER is not supported", "column 29"]),
    ("SELECT * FROM devices WHERE STARTS_WITH(lower(x), 'a')", ["function LOWER is not supported"]),
    ("SELECT * FROM devices WHERE IS_ARRAY(tags.xs)", ["function IS_ARRAY is not supported"]),
    ("SELECT * FROM devices WHERE IS_DEFINED()", ["function IS_DEFINED takes 1 argument, got 0"]),
    ("SELECT * FROM devices WHERE IS_DEFINED(a, b)", ["function IS_DEFINED takes 1 argument, got 2"]),
    ("SELECT * FROM devices WHERE ARRAY_CONTAINS(x)", ["function ARRAY_CONTAINS takes 2 arguments, got 1"]),
    ("SELECT * FROM devices WHERE STARTS_WITH(x, 1)", ["second argument of STARTS_WITH must be a string"]),
    ("SELECT * FROM devices WHERE IS_DEFINED('x')", ["first argument of IS_DEFINED must be a field path"]),
    ("SELECT * FROM devices WHERE x == 1", ["operator '==' is not supported", "use '='"]),
    ("SELECT * FROM devices WHERE x LIKE 'a%'", ["operator LIKE is not supported"]),
    ("SELECT * FROM devices WHERE x BETWEEN 1 AND 2", ["operator BETWEEN is not supported"]),
    ("SELECT * FROM devices WHERE x IS NULL", ["IS_NULL"]),
    ("SELECT * FROM devices WHERE !x", ["unexpected character '!'", "NOT"]),
    ("SELECT * FROM devices WHERE x = 1;", ["unexpected ';'", "column 34"]),
    ("SELECT * FROM devices WHERE x = #", ["unexpected character '#'", "expected a value"]),
    ("SELECT * FROM devices WHERE x", ["unexpected end of query", "expected a comparison operator"]),
    ("SELECT * FROM devices WHERE x 'a'", ["unexpected token \"'a'\"", "expected a comparison operator"]),
    ("SELECT * FROM devices WHERE x = 1 y = 2", ["unexpected token 'y'", "expected AND, OR or end of query"]),
    ("SELECT * FROM devices WHERE x = 1 AND", ["unexpected end of query", "expected a condition"]),
    ("SELECT * FROM devices WHERE x = 1 AND OR y = 2", ["unexpected token 'OR'", "expected a condition"]),
    ("SELECT * FROM devices WHERE x IN 'a'", ["unexpected token", "expected '['"]),
    ("SELECT * FROM devices WHERE x IN [y]", ["unexpected token 'y'", "expected a value or ']'"]),
    ("SELECT * FROM devices WHERE x IN [1,]", ["unexpected token ']'", "expected a value"]),
    ("SELECT * FROM devices WHERE x = [1]", ["unexpected token '['", "expected a value"]),
    ("SELECT * FROM devices WHERE x = 1.", ["unexpected token '.'"]),
    ("SELECT * FROM devices WHERE tags. = 1", ["unexpected token '='", "expected a field name"]),
    ("SELECT * FROM devices WHERE tags.5g = 1", ["unexpected token '5'", "expected a field name"]),
    ("SELECT * FROM devices WHERE ()", ["unexpected token ')'", "expected a condition"]),
    ("SELECT * FROM devices WHERE x", ["column 30"]),
    (
        "SELECT * FROM devices\nWHERE x = = 1",
        ["unexpected token '='", "line 2, column 11", "expected a value"],
    ),
    ("SELECT * FROM devices WHERE *", ["unexpected token '*'", "expected a condition"]),
    ("SELECT * FROM devices WHERE x = 1 WHERE y = 2", ["unexpected token 'WHERE'"]),
    ("SELECT COUNT() FROM devices.jobs", ["devices.jobs", "COUNT()"]),
    (
        "SELECT * FROM devices.jobs WHERE tags.x = 1",
        ["devices.jobs queries cannot filter on twin fields", "tags.x"],
    ),
    (
        "SELECT * FROM devices.jobs WHERE jobId = 'j' AND properties.reported.fw = '1'",
        ["cannot filter on twin fields", "properties.reported.fw"],
    ),
    ("SELECT * FROM devices WHERE " + "NOT " * 300 + "x = 1", ["nested too deeply"]),
    ("", ["query is empty"]),
    ("   \n ", ["query is empty"]),
    ("SELECT * FROM devices WHERE deviceId IN [" + "'x'," * 3000 + "'y']", ["longer than 8192 characters"]),
]


@pytest.mark.parametrize(("text", "fragments"), INVALID_QUERIES)
def test_invalid_queries(text: str, fragments: list[str]) -> None:
    with pytest.raises(QuerySyntaxError) as excinfo:
        parse_query(text)
    message = str(excinfo.value)
    assert message == excinfo.value.reason
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    _assert_human(message)


INVALID_CONDITIONS: list[tuple[str, list[str]]] = [
    ("SELECT * FROM devices", ["only the WHERE clause", "'*' for all devices"]),
    ("select * from devices where tags.a = 1", ["only the WHERE clause", "not a full SELECT statement"]),
    ("WHERE tags.a = 1", ["only the WHERE clause", "leave out the WHERE keyword"]),
    ("* AND x = 1", ["unexpected token '*'", "column 1"]),
    ("**", ["unexpected token '*'"]),
    ("x = 1 WHERE", ["unexpected token 'WHERE'", "column 7"]),
    ("deviceId", ["unexpected end of query", "column 9", "expected a comparison operator"]),
    ("deviceId = ", ["unexpected end of query", "expected a value"]),
    ("tags.site = 'ams", ["unclosed string starting at column 13"]),
    ("tags.site = 'ams' AND", ["unexpected end of query", "expected a condition"]),
    ("CONTAINS(tags.site, 'a')", ["function CONTAINS is not supported"]),
    ("true", ["unexpected end of query", "expected a comparison operator"]),
    ("deviceId IN ('a', 'b')", ["unexpected token '('", "expected '['"]),
    ("", ["query condition is empty"]),
    (" ", ["query condition is empty"]),
    ("x" * (MAX_QUERY_LENGTH + 1), ["query is longer than 8192 characters"]),
]


@pytest.mark.parametrize(("text", "fragments"), INVALID_CONDITIONS)
def test_invalid_conditions(text: str, fragments: list[str]) -> None:
    with pytest.raises(QuerySyntaxError) as excinfo:
        parse_condition(text)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    _assert_human(message)


def _assert_human(message: str) -> None:
    assert "\n" not in message
    for leak in ("Traceback", "Token(", "lark", "Unexpected", "$END", "COMP_OP", "RSQB", "LPAR", "__ANON"):
        assert leak not in message, message


def test_error_carries_position() -> None:
    with pytest.raises(QuerySyntaxError) as excinfo:
        parse_condition("tags.a = 1 AND AND")
    assert (excinfo.value.line, excinfo.value.column) == (1, 16)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("value", [None, 42, b"tags.a = 1", ["*"]])
def test_non_string_input(value: object) -> None:
    with pytest.raises(QuerySyntaxError, match="must be a string"):
        parse_query(value)  # type: ignore[arg-type]
    with pytest.raises(QuerySyntaxError, match="must be a string"):
        parse_condition(value)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            list("abcxyz_.'\"[](),*=<>!-+ 0123456789\n")
            + ["AND ", "OR ", "NOT ", "IN ", "NIN ", "SELECT ", "FROM ", "WHERE ", "devices", "tags", "COUNT"]
            + ["IS_DEFINED(", "true", "null", " = ", "SELECT * FROM devices WHERE ", "tags.a", "'s'"]
        ),
        max_size=30,
    ).map("".join)
)
def test_fuzz_only_query_syntax_errors(text: str) -> None:
    for parse in (parse_query, parse_condition):
        try:
            result = parse(text)
        except QuerySyntaxError as e:
            assert e.reason
            _assert_human(e.reason)
        else:
            target = result if isinstance(result, Condition) else result.where
            if target is not None:
                for record in FLEET:
                    assert isinstance(target.matches(record), bool)


# --------------------------------------------------------------------------------------------------------------
# validate_query_condition
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "deviceId IN ['d1']",
        "IS_DEFINED(DeviceId)",
        "tags.site = 'ams' AND properties.reported.fw != '1.2.0'",
        "devices.tags.env = 'prod'",
    ],
)
def test_validate_accepts(text: str) -> None:
    assert validate_query_condition(text) is None


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        (None, ["must be a string"]),
        (5, ["must be a string", "int"]),
        ("", ["must not be empty", "'*'"]),
        ("   ", ["must not be empty"]),
        ("x" * (MAX_QUERY_LENGTH + 1), ["8192"]),
        ("SELECT * FROM devices", ["WHERE clause", "'*' for all devices"]),
        ("SELECT * FROM devices WHERE deviceId = 'a'", ["WHERE clause"]),
        ("deviceId =", ["unexpected end of query", "expected a value"]),
        ("LOWER(deviceId) = 'a'", ["function LOWER is not supported"]),
        ("deviceId = 'a' GROUP BY x", ["GROUP BY is not supported"]),
    ],
)
def test_validate_rejects_with_field_prefix(value: object, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        validate_query_condition(value, field="queryCondition")
    message = str(excinfo.value)
    assert message.startswith("queryCondition: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_validate_default_field_name_and_reason_passthrough() -> None:
    with pytest.raises(
        ValueError, match=r"^query_condition: unexpected token 'AND' at column 12; expected a value$"
    ):
        validate_query_condition("deviceId = AND")


# --------------------------------------------------------------------------------------------------------------
# Parser reuse and performance
# --------------------------------------------------------------------------------------------------------------


def test_parser_is_built_once() -> None:
    from airflow_iot_jobs.query.iothub import DIALECT

    parse_condition("a = 1")
    first = DIALECT.parser()
    parse_query("SELECT * FROM devices")
    assert DIALECT.parser() is first


def test_parsing_from_many_threads() -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(50):
                condition = parse_condition(f"deviceId = 'd{i}' AND tags.n = {j}")
                assert condition.matches({"deviceId": f"d{i}", "tags": {"n": j}})
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_matching_100k_records_agrees_with_a_plain_python_filter() -> None:
    """(How fast the emulator matches a fleet is measured in ``make bench``, figure 5, not asserted here.)"""
    records = [
        {
            "deviceId": f"dev-{i}",
            "status": "enabled" if i % 3 else "disabled",
            "tags": {"site": ("ams", "nyc", "sfo")[i % 3], "floor": i % 7},
            "properties": {
                "desired": {},
                "reported": {"fw": ("1.0", "1.1", "2.0")[i % 3], "battery": i % 100},
            },
        }
        for i in range(100_000)
    ]
    condition = parse_condition(
        "tags.site = 'ams' AND properties.reported.battery >= 20 AND NOT status = 'disabled' "
        "OR deviceId IN ['dev-1', 'dev-2'] OR STARTS_WITH(properties.reported.fw, '2.')"
    )
    hits = [r["deviceId"] for r in records if condition.matches(r)]

    def expected(r: dict) -> bool:
        reported = r["properties"]["reported"]
        return (
            (r["tags"]["site"] == "ams" and reported["battery"] >= 20 and r["status"] != "disabled")
            or r["deviceId"] in ("dev-1", "dev-2")
            or reported["fw"].startswith("2.")
        )

    assert hits == [r["deviceId"] for r in records if expected(r)]
    assert 0 < len(hits) < len(records)
