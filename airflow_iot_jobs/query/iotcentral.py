"""IoT Central device-group filters: the ``filter`` of ``PUT /api/deviceGroups/{id}`` (API 2022-07-31).

What the docs show (howto-manage-jobs-with-rest-api.md, reference §1)::

    SELECT * FROM devices WHERE $template = "dtmi:modelDefinition:dtdlv2" AND $provisioned = true

Supported (keywords case-insensitive)::

    SELECT * FROM devices [WHERE <condition>]
    <condition> ::= <condition> OR <condition> | <condition> AND <condition> | ( <condition> )
                  | <name> (= | != | < | <= | > | >=) <literal>
    <name>      ::= $id | $displayName | $template | $provisioned | $simulated | <property>[.<property>]...
    <literal>   ::= "string" | 'string' | 12 | -3.5 | true | false

``$``-names are the device's system fields; any other name is a device property (reported or writable) or a
cloud property, ``component.property`` for a property inside a component. Evaluation is the shared tree's; the
record it reads is a *filter record*::

    {"id", "displayName", "template", "provisioned", "simulated", "values": {<property name>: <value>, ...}}

(``values`` holds properties and cloud properties together). Anything the docs do not show (functions, IN, NOT,
comparing two fields) is refused with a message saying so, rather than guessed.
"""

from __future__ import annotations

from typing import Final

from airflow_iot_jobs.query.builder import RawPath, TreeBuilder
from airflow_iot_jobs.query.compilation import Dialect
from airflow_iot_jobs.query.diagnostics import ExpectedGroup, Vocabulary
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.tree import Condition, FieldRef, MatchAll, Query

__all__ = ["DIALECT", "MAX_FILTER_LENGTH", "SYSTEM_FIELDS", "matcher", "parse_filter", "validate_filter"]

#: Inferred (no documented limit for one filter): generous, and the same order as IoT Hub's query limit.
MAX_FILTER_LENGTH: Final = 8192

#: ``$name`` (lower case) -> the filter record's field.
SYSTEM_FIELDS: Final = {
    "$id": "id",
    "$displayname": "displayName",
    "$template": "template",
    "$provisioned": "provisioned",
    "$simulated": "simulated",
}

_GRAMMAR: Final = r"""
query: SELECT projection FROM source [WHERE or_expr]

projection: STAR                                -> select_all

source: path

?or_expr: and_expr (OR and_expr)*
?and_expr: atom (AND atom)*
?atom: "(" or_expr ")"
     | comparison

comparison: path COMP_OP literal

path: NAME ("." seg_name)*
seg_name: NAME | SELECT | FROM | WHERE | AND | OR | TRUE | FALSE

?literal: STRING  -> string
        | NUMBER  -> number
        | TRUE    -> true
        | FALSE   -> false

SELECT: "SELECT"i
FROM: "FROM"i
WHERE: "WHERE"i
AND: "AND"i
OR: "OR"i
TRUE: "TRUE"i
FALSE: "FALSE"i
STAR: "*"

COMP_OP: /!=|<=|>=|=|<|>/
NAME: /\$?[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
STRING: /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/

%import common.WS
%ignore WS
"""

_VOCABULARY: Final = Vocabulary(
    groups=(
        ExpectedGroup(
            "a value (a string, a number, true or false)",
            when_any=frozenset({"STRING", "NUMBER", "TRUE", "FALSE"}),
            consumes=frozenset({"STRING", "NUMBER", "TRUE", "FALSE"}),
        ),
        ExpectedGroup(
            "a condition", when_all=frozenset({"LPAR", "NAME"}), consumes=frozenset({"LPAR", "NAME"})
        ),
        ExpectedGroup(
            "a comparison operator (=, !=, <, <=, >, >=)",
            when_all=frozenset({"COMP_OP"}),
            consumes=frozenset({"COMP_OP"}),
        ),
    ),
    phrases=(
        ("SELECT", "SELECT"),
        ("STAR", "'*'"),
        ("FROM", "FROM"),
        ("NAME", "a name"),
        ("WHERE", "WHERE"),
        ("AND", "AND"),
        ("OR", "OR"),
        ("LPAR", "'('"),
        ("DOT", "'.'"),
        ("RPAR", "')'"),
        ("$END", "end of filter"),
    ),
    continuations=frozenset({"DOT"}),
    unsupported_words={
        "NOT": "NOT is not supported in a device group filter",
        "IN": "IN is not supported in a device group filter; use OR",
        "LIKE": "LIKE is not supported in a device group filter",
        "ORDER": "ORDER BY is not supported in a device group filter",
        "GROUP": "GROUP BY is not supported in a device group filter",
    },
)


class _CentralBuilder(TreeBuilder):
    sources = ("devices",)

    def field_ref(self, raw: RawPath) -> FieldRef:
        first = raw.segments[0].name
        if first.startswith("$"):
            name = SYSTEM_FIELDS.get(first.lower())
            if name is None or len(raw.segments) > 1:
                known = ", ".join(("$id", "$displayName", "$template", "$provisioned", "$simulated"))
                raise self.error(f"unknown system field {raw.text}; expected one of {known}", raw)
            return FieldRef((name,))
        return FieldRef(("values", *(s.name for s in raw.segments)))


class IotCentralDialect(Dialect):
    grammar = _GRAMMAR
    starts = ("query",)
    builder = _CentralBuilder
    vocabulary = _VOCABULARY
    max_length = MAX_FILTER_LENGTH

    def explain_token(self, token_type: str, value: str, expected: set[str], where: str) -> str | None:
        if expected == {"STAR"}:
            return f"a device group filter selects whole devices: write SELECT * (unexpected {value!r} at {where})"
        if token_type == "NAME" and expected == {"STRING", "NUMBER", "TRUE", "FALSE"}:
            return f"the right side of a comparison must be a value, not the name {value!r} (at {where})"
        return None


DIALECT: Final = IotCentralDialect()


def parse_filter(text: str) -> Query:
    """Parse a device group filter (``SELECT * FROM devices [WHERE …]``); :class:`QuerySyntaxError` if invalid."""
    text = DIALECT.check_text(text, "filter")
    result = DIALECT.parse(text, "query")
    where: Condition | None = result["where"]
    return Query(source=result["source"][0], count=False, count_alias=None, where=where, text=text)


def matcher(text: str) -> Condition:
    """The filter's condition (every device when it has no WHERE)."""
    where = parse_filter(text).where
    return MatchAll() if where is None else where


def validate_filter(text: object, field: str = "filter") -> None:
    """Check a device group filter; raise ``ValueError(f"{field}: …")`` naming the rule broken."""
    if not isinstance(text, str):
        raise ValueError(f"{field}: must be a string, not {type(text).__name__}")
    try:
        parse_filter(text)
    except QuerySyntaxError as e:
        raise ValueError(f"{field}: {e.reason}") from None
