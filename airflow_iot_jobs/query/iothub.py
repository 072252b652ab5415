"""The Azure IoT Hub query language, as used by ``POST /devices/query`` and by a scheduled job's ``queryCondition``.

Supported (keywords and function names are case-insensitive)::

    SELECT * FROM devices [WHERE <condition>]
    SELECT COUNT() [AS alias] FROM devices [WHERE <condition>]
    SELECT * FROM devices.modules [WHERE <condition>]
    SELECT * FROM devices.jobs [WHERE <condition>]        -- job fields only, no aggregation

    <condition> ::= <condition> OR <condition> | <condition> AND <condition> | NOT <condition> | ( <condition> )
                  | <operand> (= | != | <> | < | <= | > | >=) <operand>
                  | <operand> (IN | NIN | NOT IN) [ <literal>, ... ]
                  | IS_DEFINED(f) | IS_NULL(f) | IS_BOOL(f) | IS_NUMBER(f) | IS_STRING(f) | IS_OBJECT(f)
                  | IS_PRIMITIVE(f) | STARTS_WITH(f, 'x') | ENDS_WITH(f, 'x') | ARRAY_CONTAINS(f, v)
    <operand>   ::= <field path> | <literal> | <function call>
    <literal>   ::= 'string' | "string" | 12 | -3.5 | 1e3 | true | false | null

A job's ``queryCondition`` is only the WHERE clause (the service prefixes ``SELECT * FROM devices WHERE ``);
``*`` alone means every device. Parse it with :func:`parse_condition`, check it with
:func:`validate_query_condition`, and parse a whole query with :func:`parse_query`.

Field paths lose a leading ``devices.`` (or ``devices.jobs.`` / ``devices.modules.``), and the names of system
properties (``deviceId``, ``properties.reported`` …) are matched case-insensitively. Evaluation follows
:mod:`airflow_iot_jobs.query.values`, which is IoT Hub's semantics.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from airflow_iot_jobs.query.builder import RawPath, TreeBuilder
from airflow_iot_jobs.query.compilation import Dialect
from airflow_iot_jobs.query.diagnostics import ExpectedGroup, Vocabulary, show
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.tree import Condition, FieldRef, FunctionCall, Literal, MatchAll, Operand, Query

if TYPE_CHECKING:
    from lark import Token

__all__ = [
    "DIALECT",
    "MAX_QUERY_LENGTH",
    "SUPPORTED_FUNCTIONS",
    "SUPPORTED_SOURCES",
    "parse_condition",
    "parse_query",
    "validate_query_condition",
]

MAX_QUERY_LENGTH: Final = 8192

SUPPORTED_SOURCES: Final = ("devices", "devices.jobs", "devices.modules")
SUPPORTED_FUNCTIONS: Final = (
    "IS_DEFINED",
    "IS_NULL",
    "IS_BOOL",
    "IS_NUMBER",
    "IS_STRING",
    "IS_OBJECT",
    "IS_PRIMITIVE",
    "STARTS_WITH",
    "ENDS_WITH",
    "ARRAY_CONTAINS",
)

_ALL_DEVICES_HINT: Final = "use '*' for all devices"
_FIRST_WORD: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_WHERE_ONLY_HINT: Final = (
    "a query condition is only the WHERE clause (the service prefixes 'SELECT * FROM devices WHERE ')"
)

_GRAMMAR: Final = r"""
query: SELECT projection FROM source [WHERE or_expr]

projection: STAR                                -> select_all
          | COUNT "(" ")" [AS seg_name]         -> select_count

source: path

condition: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr                         -> negation
         | atom
?atom: "(" or_expr ")"
     | comparison
     | in_list
     | func_call                                -> predicate

comparison: operand COMP_OP operand
in_list: operand IN value_list
       | operand NIN value_list
       | operand NOT IN value_list
value_list: "[" [literal ("," literal)*] "]"

?operand: path
        | literal
        | func_call

func_call: NAME "(" [operand ("," operand)*] ")"

path: NAME ("." seg_name | "[" STRING "]")*
seg_name: NAME | SELECT | FROM | WHERE | AND | OR | NOT | IN | NIN | AS | COUNT | TRUE | FALSE | NULL

?literal: STRING  -> string
        | NUMBER  -> number
        | TRUE    -> true
        | FALSE   -> false
        | NULL    -> null

SELECT: "SELECT"i
FROM: "FROM"i
WHERE: "WHERE"i
AND: "AND"i
OR: "OR"i
NOT: "NOT"i
IN: "IN"i
NIN: "NIN"i
AS: "AS"i
COUNT: "COUNT"i
TRUE: "TRUE"i
FALSE: "FALSE"i
NULL: "NULL"i
STAR: "*"

COMP_OP: /==|!=|<>|<=|>=|=|<|>/
NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
NUMBER: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
STRING: /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/s

%import common.WS
%ignore WS
"""

# --------------------------------------------------------------------------------------------------------------
# Field names
# --------------------------------------------------------------------------------------------------------------

#: Top-level names that IoT Hub treats case-insensitively (twin, module twin and devices.jobs row fields).
_SYSTEM_FIELDS: Final = {
    name.lower(): name
    for name in (
        "deviceId",
        "moduleId",
        "etag",
        "deviceEtag",
        "version",
        "status",
        "statusReason",
        "statusUpdateTime",
        "connectionState",
        "lastActivityTime",
        "cloudToDeviceMessageCount",
        "authenticationType",
        "x509Thumbprint",
        "modelId",
        "deviceScope",
        "parentScopes",
        "tags",
        "properties",
        "capabilities",
        "configurations",
        "jobId",
        "jobType",
        "parentJobId",
        "startTimeUtc",
        "endTimeUtc",
        "createdDateTimeUtc",
        "lastUpdatedDateTimeUtc",
        "outcome",
        "error",
    )
}
_SECOND_LEVEL: Final = {
    "properties": {"desired": "desired", "reported": "reported"},
    "capabilities": {"iotedge": "iotEdge"},
}
#: Top-level twin sections that a devices.jobs query cannot filter on.
_TWIN_ONLY_FIELDS: Final = frozenset({"tags", "properties", "capabilities", "configurations"})

# --------------------------------------------------------------------------------------------------------------
# Error wording
# --------------------------------------------------------------------------------------------------------------

_LITERAL_TERMINALS: Final = frozenset({"STRING", "NUMBER", "TRUE", "FALSE", "NULL"})
# After '.', where keywords are valid segment names.
_SEGMENT_TERMINALS: Final = frozenset(
    {
        "NAME",
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "NIN",
        "AS",
        "COUNT",
        "TRUE",
        "FALSE",
        "NULL",
    }
)
_VOCABULARY: Final = Vocabulary(
    groups=(
        ExpectedGroup(
            "a field name", when_all=frozenset({"NAME", "SELECT", "COUNT"}), consumes=_SEGMENT_TERMINALS
        ),
        ExpectedGroup(
            "a condition",
            when_all=frozenset({"NOT", "LPAR", "NAME"}),
            consumes=frozenset({"NOT", "LPAR", "NAME"}) | _LITERAL_TERMINALS,
        ),
        ExpectedGroup("a value", when_any=_LITERAL_TERMINALS, consumes=_LITERAL_TERMINALS | {"NAME"}),
        ExpectedGroup(
            "a comparison operator (=, !=, <>, <, <=, >, >=, IN, NIN or NOT IN)",
            when_all=frozenset({"COMP_OP"}),
            consumes=frozenset({"COMP_OP", "IN", "NIN", "NOT"}),
        ),
    ),
    phrases=(
        ("SELECT", "SELECT"),
        ("STAR", "'*'"),
        ("COUNT", "COUNT()"),
        ("AS", "AS"),
        ("FROM", "FROM"),
        ("NAME", "a field name"),
        ("WHERE", "WHERE"),
        ("IN", "IN"),
        ("NIN", "NIN"),
        ("NOT", "NOT"),
        ("AND", "AND"),
        ("OR", "OR"),
        ("LPAR", "'('"),
        ("LSQB", "'['"),
        ("DOT", "'.'"),
        ("COMMA", "','"),
        ("RPAR", "')'"),
        ("RSQB", "']'"),
        ("$END", "end of query"),
    ),
    continuations=frozenset({"DOT", "LSQB", "LPAR"}),
    unsupported_words={
        "GROUP": "GROUP BY is not supported",
        "ORDER": "ORDER BY is not supported",
        "HAVING": "HAVING is not supported",
        "LIMIT": "LIMIT is not supported",
        "TOP": "TOP is not supported",
        "DISTINCT": "DISTINCT is not supported",
        "JOIN": "JOIN is not supported",
        "UNION": "UNION is not supported",
        "LIKE": "operator LIKE is not supported; use STARTS_WITH or ENDS_WITH",
        "BETWEEN": "operator BETWEEN is not supported; use >= ... AND <= ...",
        "IS": "'IS [NOT] NULL' is not supported; use IS_NULL(field) or NOT IS_NULL(field)",
        "VALUE": "SELECT VALUE is not supported",
    },
)
_ARITHMETIC_CHARS: Final = "+-*/%"
_PROJECTIONS_HINT: Final = "only SELECT * and SELECT COUNT() [AS alias] are supported, not projections"

# --------------------------------------------------------------------------------------------------------------
# The dialect
# --------------------------------------------------------------------------------------------------------------


class _IotHubBuilder(TreeBuilder):
    sources = SUPPORTED_SOURCES
    functions = SUPPORTED_FUNCTIONS
    operator_aliases = {"<>": "!="}
    unsupported_operators = {"==": "operator '==' is not supported; use '='"}

    def field_ref(self, raw: RawPath) -> FieldRef:
        segs = list(raw.segments)
        if len(segs) >= 2 and not segs[0].quoted and segs[0].name.lower() == "devices":
            if len(segs) >= 3 and not segs[1].quoted and segs[1].name.lower() in ("jobs", "modules"):
                segs = segs[2:]
            else:
                segs = segs[1:]
        names = [s.name for s in segs]
        if not segs[0].quoted:
            names[0] = _SYSTEM_FIELDS.get(names[0].lower(), names[0])
            second = _SECOND_LEVEL.get(names[0])
            if second and len(segs) > 1 and not segs[1].quoted:
                names[1] = second.get(names[1].lower(), names[1])
        return FieldRef(tuple(names))

    def check_function(self, name: str, args: tuple[Operand, ...], token: Token) -> None:
        super().check_function(name, args, token)
        if not isinstance(args[0], FieldRef):
            raise self.error(f"the first argument of {name} must be a field path", token)
        if name in ("STARTS_WITH", "ENDS_WITH") and isinstance(args[1], Literal):
            if not isinstance(args[1].value, str):
                raise self.error(f"the second argument of {name} must be a string", token)
        elif name in ("STARTS_WITH", "ENDS_WITH", "ARRAY_CONTAINS") and isinstance(args[1], FunctionCall):
            raise self.error(f"the second argument of {name} must be a value or a field path", token)


class IotHubDialect(Dialect):
    grammar = _GRAMMAR
    starts = ("query", "condition")
    builder = _IotHubBuilder
    vocabulary = _VOCABULARY
    max_length = MAX_QUERY_LENGTH

    def explain_character(self, ch: str, where: str, wanted: str) -> str | None:
        if ch and ch in _ARITHMETIC_CHARS:
            return f"arithmetic operator '{ch}' is not supported (at {where})"
        if ch == "!":
            return f"unexpected character '!' at {where}; use NOT or '!='"
        if ch == ";":
            return f"unexpected ';' at {where}; expected {wanted}" if wanted else f"unexpected ';' at {where}"
        return None

    def explain_token(self, token_type: str, value: str, expected: set[str], where: str) -> str | None:
        if expected == {"STAR", "COUNT"}:
            return f"{_PROJECTIONS_HINT} (unexpected {show(value)} at {where})"
        if token_type == "STAR" and expected == {"RPAR"}:
            return f"COUNT(*) is not supported; write COUNT() (at {where})"
        if (token_type == "STAR" or (token_type == "NUMBER" and value.startswith("-"))) and expected & {
            "COMP_OP",
            "AND",
            "OR",
            "$END",
        }:
            return f"arithmetic operator '{value[0]}' is not supported (at {where})"
        if token_type == "COMMA" and "FROM" in expected:
            return f"{_PROJECTIONS_HINT} (at {where})"
        if token_type == "COMMA" and "WHERE" in expected:
            return f"querying more than one source (joins) is not supported (at {where})"
        return None


DIALECT: Final = IotHubDialect()

# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def parse_query(text: str) -> Query:
    """Parse a full query: ``SELECT * | COUNT() [AS x] FROM devices | devices.jobs | devices.modules [WHERE …]``."""
    text = DIALECT.check_text(text, "query")
    result = DIALECT.parse(text, "query")
    count, alias = result["projection"]
    source, _raw_source = result["source"]
    where: Condition | None = result["where"]
    if source == "devices.jobs":
        if count:
            raise QuerySyntaxError(
                "devices.jobs queries support only SELECT * (no projections or aggregations such as COUNT())"
            )
        if where is not None:
            twin_fields = sorted(f for f in where.fields() if f.split(".", 1)[0] in _TWIN_ONLY_FIELDS)
            if twin_fields:
                raise QuerySyntaxError(
                    f"devices.jobs queries cannot filter on twin fields ({', '.join(twin_fields)}); "
                    "only job fields such as jobId, jobType, status and deviceId"
                )
    return Query(source=source, count=count, count_alias=alias, where=where, text=text)


def parse_condition(text: str) -> Condition:
    """Parse a WHERE clause only (a job's ``queryCondition``). ``*`` means every device."""
    text = DIALECT.check_text(text, "query condition")
    stripped = text.strip()
    if stripped == "*":
        return MatchAll()
    first_word = _FIRST_WORD.match(stripped)
    keyword = first_word.group(0).upper() if first_word else ""
    if keyword == "SELECT":
        raise QuerySyntaxError(f"{_WHERE_ONLY_HINT}, not a full SELECT statement; {_ALL_DEVICES_HINT}")
    if keyword == "WHERE":
        raise QuerySyntaxError(f"{_WHERE_ONLY_HINT}; leave out the WHERE keyword")
    result: Condition = DIALECT.parse(text, "condition")
    return result


def validate_query_condition(text: object, field: str = "query_condition") -> None:
    """Check a job's ``queryCondition``; raise ``ValueError(f"{field}: …")`` naming the rule broken."""
    if not isinstance(text, str):
        raise ValueError(f"{field}: must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{field}: must not be empty; {_ALL_DEVICES_HINT}")
    if len(text) > MAX_QUERY_LENGTH:
        raise ValueError(f"{field}: must be at most {MAX_QUERY_LENGTH} characters long (got {len(text)})")
    try:
        parse_condition(text)
    except QuerySyntaxError as e:
        raise ValueError(f"{field}: {e.reason}") from None
