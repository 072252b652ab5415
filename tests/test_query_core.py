"""Tests for the neutral query core (airflow_iot_jobs.query): the value model, and syntax trees built directly
from nodes, without any grammar; plus a toy dialect showing how a grammar plugs into the shared pipeline."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from airflow_iot_jobs.query.builder import RawPath, TreeBuilder
from airflow_iot_jobs.query.compilation import Dialect
from airflow_iot_jobs.query.diagnostics import ExpectedGroup, Vocabulary, describe_expected
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.tree import (
    And,
    Comparison,
    FieldRef,
    FunctionCall,
    InList,
    Literal,
    MatchAll,
    Not,
    Or,
    Query,
)
from airflow_iot_jobs.query.values import (
    KIND_ARRAY,
    KIND_BOOL,
    KIND_NULL,
    KIND_NUMBER,
    KIND_OBJECT,
    KIND_OTHER,
    KIND_STRING,
    KIND_UNDEFINED,
    UNDEFINED,
    equal,
    field_getter,
    kind_of,
    order,
)

# --------------------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------------------


def test_undefined_is_a_falsy_singleton_that_survives_pickling() -> None:
    assert not UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"
    assert type(UNDEFINED)() is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, KIND_NULL),
        (UNDEFINED, KIND_UNDEFINED),
        (True, KIND_BOOL),
        (0, KIND_NUMBER),
        (2.5, KIND_NUMBER),
        ("x", KIND_STRING),
        ({"a": 1}, KIND_OBJECT),
        ([1], KIND_ARRAY),
        ((1,), KIND_ARRAY),
        ({1}, KIND_OTHER),
    ],
)
def test_kind_of(value: Any, kind: int) -> None:
    assert kind_of(value) == kind


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1.0, True),
        (1, True, False),
        (1, "1", False),
        (None, None, True),
        (UNDEFINED, UNDEFINED, False),
        ({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ([True], [1], False),
    ],
)
def test_equal_is_strict_and_deep(a: Any, b: Any, expected: bool) -> None:
    assert equal(a, b) is expected
    assert equal(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 2, -1),
        (2.5, 2.5, 0),
        ("b", "a", 1),
        ("B", "a", -1),
        (1, "1", None),
        (True, False, None),
        (None, 1, None),
    ],
)
def test_order_compares_only_two_numbers_or_two_strings(a: Any, b: Any, expected: int | None) -> None:
    assert order(a, b) == expected


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_field_getter_at_every_depth(depth: int) -> None:
    path = tuple(f"k{i}" for i in range(depth))
    record: Any = "leaf"
    for key in reversed(path):
        record = {key: record}
    get = field_getter(path)
    assert get(record) == "leaf"
    assert get({}) is UNDEFINED
    if depth > 1:
        assert get({"k0": "not an object"}) is UNDEFINED
    assert field_getter((*path, "deeper"))(record) is UNDEFINED


# --------------------------------------------------------------------------------------------------------------
# tree, built directly
# --------------------------------------------------------------------------------------------------------------

SITE = FieldRef(("tags", "site"))
FLOOR = FieldRef(("tags", "floor"))
RECORDS: list[dict[str, Any]] = [
    {"id": "a", "tags": {"site": "ams", "floor": 2, "roles": ["edge"]}},
    {"id": "b", "tags": {"site": "sea", "floor": 5.0}},
    {"id": "c", "tags": {"site": None}},
    {"id": "d"},
]


def ids(condition: Any) -> set[str]:
    return {r["id"] for r in RECORDS if condition.matches(r)}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (MatchAll(), {"a", "b", "c", "d"}),
        (Comparison(SITE, "=", Literal("ams")), {"a"}),
        (Comparison(Literal("ams"), "=", SITE), {"a"}),
        (Comparison(SITE, "!=", Literal("ams")), {"b", "c"}),  # undefined is not "not equal"
        (Comparison(FLOOR, ">", Literal(2)), {"b"}),
        (Comparison(Literal(2), "<", FLOOR), {"b"}),  # flipped
        (Comparison(FLOOR, ">=", Literal("2")), set()),  # number vs string: never ordered
        (Comparison(SITE, "=", Literal(None)), {"c"}),
        (Comparison(SITE, "<", Literal(True)), set()),
        (Comparison(FLOOR, "=", FLOOR), {"a", "b"}),
        (Comparison(FLOOR, "!=", SITE), {"a", "b"}),
        (Comparison(FLOOR, "<=", FieldRef(("tags", "floor"))), {"a", "b"}),
        (InList(SITE, ("ams", "sea")), {"a", "b"}),
        (InList(SITE, ("ams", None)), {"a", "c"}),
        (InList(SITE, ("ams",), negated=True), {"b", "c"}),
        (InList(FLOOR, (2, True)), {"a"}),
        (Not(Comparison(SITE, "=", Literal("ams"))), {"b", "c", "d"}),  # NOT simply negates
        (And((Comparison(SITE, "!=", Literal("x")), Comparison(FLOOR, "<", Literal(3)))), {"a"}),
        (Or((Comparison(SITE, "=", Literal("sea")), Comparison(FLOOR, "=", Literal(2)))), {"a", "b"}),
        (Or(tuple(Comparison(FieldRef(("id",)), "=", Literal(i)) for i in "abcd")), {"a", "b", "c", "d"}),
        (And(tuple(Not(Comparison(FieldRef(("id",)), "=", Literal(i))) for i in "abc")), {"d"}),
        (And((MatchAll(), MatchAll(), MatchAll(), Comparison(FieldRef(("id",)), "=", Literal("d")))), {"d"}),
        (FunctionCall("IS_DEFINED", (SITE,)), {"a", "b", "c"}),
        (FunctionCall("IS_NULL", (SITE,)), {"c"}),
        (FunctionCall("IS_STRING", (SITE,)), {"a", "b"}),
        (FunctionCall("IS_NUMBER", (FLOOR,)), {"a", "b"}),
        (FunctionCall("IS_OBJECT", (FieldRef(("tags",)),)), {"a", "b", "c"}),
        (FunctionCall("IS_PRIMITIVE", (SITE,)), {"a", "b", "c"}),
        (FunctionCall("STARTS_WITH", (SITE, Literal("am"))), {"a"}),
        (FunctionCall("ENDS_WITH", (SITE, Literal("ea"))), {"b"}),
        (FunctionCall("ARRAY_CONTAINS", (FieldRef(("tags", "roles")), Literal("edge"))), {"a"}),
        (Comparison(FunctionCall("IS_DEFINED", (FLOOR,)), "=", Literal(False)), {"c", "d"}),
    ],
)
def test_tree_evaluation(condition: Any, expected: set[str]) -> None:
    assert ids(condition) == expected
    assert {r["id"] for r in condition.filter(RECORDS)} == expected
    assert {r["id"] for r in filter(condition.predicate, RECORDS)} == expected


def test_nodes_compare_by_structure_and_report_fields() -> None:
    built = And((Comparison(SITE, "=", Literal("ams")), InList(FieldRef(("id",)), ("a",))))
    assert built == And(
        (Comparison(FieldRef(("tags", "site")), "=", Literal("ams")), InList(FieldRef(("id",)), ("a",)))
    )
    assert built.fields() == {"tags.site", "id"}
    assert FunctionCall("STARTS_WITH", (SITE, FLOOR)).fields() == {"tags.site", "tags.floor"}
    assert Literal(3).evaluate({}) == 3
    assert SITE.evaluate({}) is UNDEFINED


def test_query_without_where_matches_everything() -> None:
    query = Query(source="things", count=False, count_alias=None, where=None, text="")
    assert query.matches({}) and query.fields() == set()
    filtered = Query(
        source="things", count=True, count_alias="n", where=Comparison(SITE, "=", Literal("sea")), text=""
    )
    assert [r["id"] for r in RECORDS if filtered.matches(r)] == ["b"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Comparison(SITE, "==", Literal(1)),
        lambda: FunctionCall("LOWER", (SITE,)),
        lambda: FunctionCall("IS_NULL", (SITE, FLOOR)),
    ],
)
def test_invalid_nodes_are_refused(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


def test_describe_expected_uses_the_vocabulary() -> None:
    vocabulary = Vocabulary(
        groups=(
            ExpectedGroup(
                "a value", when_any=frozenset({"STRING", "NUMBER"}), consumes=frozenset({"STRING", "NUMBER"})
            ),
        ),
        phrases=(("RPAR", "')'"), ("$END", "end of query")),
        continuations=frozenset({"DOT"}),
    )
    assert describe_expected({"NUMBER", "$END", "DOT"}, vocabulary) == "a value or end of query"
    assert describe_expected({"DOT"}, vocabulary) == "DOT"
    assert describe_expected({"RPAR", "_ZZ"}, vocabulary) == "')' or ZZ"


# --------------------------------------------------------------------------------------------------------------
# A toy dialect: how a grammar plugs in (same tree, same evaluation)
# --------------------------------------------------------------------------------------------------------------

_TOY_GRAMMAR = r"""
condition: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | "(" or_expr ")"
         | comparison
comparison: path COMP_OP literal
path: NAME
?literal: STRING -> string
        | NUMBER -> number
        | TRUE -> true
AND: "AND"i
OR: "OR"i
NOT: "NOT"i
TRUE: "true"
COMP_OP: /=|!=/
NAME: /\$?[a-z]+/
NUMBER: /[0-9]+/
STRING: /"[^"]*"/
%import common.WS
%ignore WS
"""


class _ToyBuilder(TreeBuilder):
    def field_ref(self, raw: RawPath) -> FieldRef:
        name = raw.text
        return FieldRef(("system", name[1:]) if name.startswith("$") else ("properties", name))


class _ToyDialect(Dialect):
    grammar = _TOY_GRAMMAR
    starts = ("condition",)
    builder = _ToyBuilder
    vocabulary = Vocabulary(groups=(), phrases=(("$END", "end of filter"),))
    max_length = 100
    max_depth: ClassVar[int] = 10


def test_a_new_dialect_maps_onto_the_same_tree() -> None:
    toy = _ToyDialect()
    condition = toy.parse(
        toy.check_text('$template = "dtmi:x" AND NOT $provisioned != true', "filter"), "condition"
    )
    assert condition == And(
        (
            Comparison(FieldRef(("system", "template")), "=", Literal("dtmi:x")),
            Not(Comparison(FieldRef(("system", "provisioned")), "!=", Literal(True))),
        )
    )
    assert condition.matches({"system": {"template": "dtmi:x", "provisioned": True}})
    assert not condition.matches({"system": {"template": "dtmi:x", "provisioned": False}})
    assert toy.parser() is toy.parser()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("$template =", "unexpected end of query at column 12; expected"),
        ('$template = "open', "unclosed string starting at column 13"),
        ("x" * 101, "longer than 100 characters"),
        ("  ", "filter is empty"),
        ("NOT " * 12 + "a = 1", "nested too deeply"),
    ],
)
def test_a_new_dialect_reuses_the_checks_and_error_plumbing(text: str, fragment: str) -> None:
    toy = _ToyDialect()
    with pytest.raises(
        QuerySyntaxError,
    ) as info:
        toy.parse(toy.check_text(text, "filter"), "condition")
    assert fragment in str(info.value)


# --------------------------------------------------------------------------------------------------------------
# The core stays neutral and light
# --------------------------------------------------------------------------------------------------------------

NEUTRAL = (
    "__init__",
    "errors",
    "values",
    "predicates",
    "functions",
    "tree",
    "builder",
    "diagnostics",
    "compilation",
)


@pytest.mark.parametrize("module", NEUTRAL[1:])
def test_neutral_modules_name_no_service(module: str) -> None:
    source = (Path(__file__).parents[1] / "airflow_iot_jobs" / "query" / f"{module}.py").read_text().lower()
    for word in ("iot hub", "iothub", "devices.", "twin", "azure"):
        assert word not in source, f"{module}.py mentions {word!r}"


def test_importing_the_package_and_a_dialect_does_not_import_lark() -> None:
    code = (
        "import sys, airflow_iot_jobs.query, airflow_iot_jobs.query.iothub; "
        "print(any(m == 'lark' or m.startswith('lark.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
