"""The IoT Central device-group filter dialect: the docs' filters parse onto the shared tree and select the
devices they say; everything else is refused with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.iotcentral import MAX_FILTER_LENGTH, matcher, parse_filter, validate_filter
from airflow_iot_jobs.query.tree import And, Comparison, FieldRef, Literal, MatchAll, Or

DOCS_FILTER = 'SELECT * FROM devices WHERE $template = "dtmi:modelDefinition:dtdlv2" AND $provisioned = true'

RECORDS: list[dict[str, Any]] = [
    {
        "id": "a",
        "displayName": "A",
        "template": "dtmi:modelDefinition:dtdlv2",
        "provisioned": True,
        "simulated": False,
        "values": {"firmware": "1.4.2", "site": "ams", "floor": 2, "thermostat": {"target": 21.5}},
    },
    {
        "id": "b",
        "displayName": "B",
        "template": "dtmi:modelDefinition:dtdlv2",
        "provisioned": False,
        "simulated": True,
        "values": {"firmware": "1.3.9", "site": "sea", "floor": 5},
    },
    {
        "id": "c",
        "displayName": "C",
        "template": "dtmi:other:x;1",
        "provisioned": True,
        "simulated": False,
        "values": {},
    },
]


def ids(text: str) -> set[str]:
    condition = matcher(text)
    return {r["id"] for r in RECORDS if condition.matches(r)}


def test_the_docs_filter_parses_onto_the_shared_tree() -> None:
    query = parse_filter(DOCS_FILTER)
    assert query.source == "devices" and not query.count and query.text == DOCS_FILTER
    assert query.where == And(
        (
            Comparison(FieldRef(("template",)), "=", Literal("dtmi:modelDefinition:dtdlv2")),
            Comparison(FieldRef(("provisioned",)), "=", Literal(True)),
        )
    )
    assert ids(DOCS_FILTER) == {"a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT * FROM devices", {"a", "b", "c"}),
        ("select * from DEVICES where $simulated = true", {"b"}),
        ("SELECT * FROM devices WHERE $template = 'dtmi:other:x;1'", {"c"}),
        ('SELECT * FROM devices WHERE $id = "a" OR $displayName = "B"', {"a", "b"}),
        ("SELECT * FROM devices WHERE $DISPLAYNAME != 'A'", {"b", "c"}),
        ("SELECT * FROM devices WHERE floor >= 2 AND floor < 5", {"a"}),
        ("SELECT * FROM devices WHERE firmware > '1.4'", {"a"}),
        ("SELECT * FROM devices WHERE thermostat.target <= 21.5", {"a"}),
        ("SELECT * FROM devices WHERE site = 'ams' OR (site = 'sea' AND $provisioned = false)", {"a", "b"}),
        ("SELECT * FROM devices WHERE missing != 1", set()),  # an undefined property is never "not equal"
        ("SELECT * FROM devices WHERE floor = '2'", set()),  # typed equality, as the shared evaluation does
    ],
)
def test_filters_select_the_devices_they_say(text: str, expected: set[str]) -> None:
    assert ids(text) == expected


def test_or_binds_looser_than_and() -> None:
    where = parse_filter("SELECT * FROM devices WHERE a = 1 OR b = 2 AND c = 3").where
    assert isinstance(where, Or) and isinstance(where.operands[1], And)


def test_no_where_matches_every_device() -> None:
    assert parse_filter("SELECT * FROM devices").where is None
    assert isinstance(matcher("SELECT * FROM devices"), MatchAll)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "filter is empty"),
        ("SELECT * FROM devices WHERE", "expected a condition"),
        ("SELECT id FROM devices", "write SELECT *"),
        ("SELECT * FROM things", "FROM things is not supported; expected devices"),
        ("SELECT * FROM devices WHERE $etag = 'x'", "unknown system field $etag"),
        ("SELECT * FROM devices WHERE $template.x = 'x'", "unknown system field $template.x"),
        ("SELECT * FROM devices WHERE a = b", "must be a value, not the name 'b'"),
        ("SELECT * FROM devices WHERE a IN ['x']", "IN is not supported"),
        ('SELECT * FROM devices WHERE a = "open', "unclosed string"),
        ("SELECT * FROM devices WHERE a == 1", "unexpected"),
        ("x" * (MAX_FILTER_LENGTH + 1), f"longer than {MAX_FILTER_LENGTH}"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(text: str, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_filter(text)
    with pytest.raises(ValueError, match=r"^deviceGroup\.filter: ") as info:
        validate_filter(text, "deviceGroup.filter")
    assert fragment in str(info.value)


def test_validate_filter_accepts_good_filters_and_refuses_non_strings() -> None:
    validate_filter(DOCS_FILTER)
    with pytest.raises(ValueError, match=r"^filter: must be a string, not int"):
        validate_filter(3)


def test_importing_the_dialect_does_not_import_lark() -> None:
    import subprocess
    import sys

    code = "import sys, airflow_iot_jobs.query.iotcentral; print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
