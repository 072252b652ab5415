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

Evaluation (:meth:`Condition.matches`) follows IoT Hub: a comparison involving an undefined field is false, ``=``
between values of different types is false, ordering (``<`` …) only compares two numbers or two strings (strings
ordinally and case-sensitively), ``!=`` is true when both sides are defined and not equal, ``NOT`` simply negates,
and ``NIN`` / ``NOT IN`` is true when the field is defined and equal to none of the listed values.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Final

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

__all__ = [
    "MAX_QUERY_LENGTH",
    "SUPPORTED_FUNCTIONS",
    "SUPPORTED_SOURCES",
    "UNDEFINED",
    "And",
    "Comparison",
    "Condition",
    "FieldRef",
    "FunctionCall",
    "InList",
    "Literal",
    "MatchAll",
    "Not",
    "Operand",
    "Or",
    "Query",
    "QuerySyntaxError",
    "parse_condition",
    "parse_query",
    "validate_query_condition",
]

MAX_QUERY_LENGTH: Final = 8192
#: Deepest parse tree accepted (guards the recursive tree walk; ~40 levels of nested AND/OR/NOT).
MAX_TREE_DEPTH: Final = 128

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


class QuerySyntaxError(ValueError):
    """Text that is not a valid (or not a supported) IoT Hub query. ``str(e) == e.reason``."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason: str = reason
        self.line: int | None = line
        self.column: int | None = column


# --------------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------------


class _Undefined:
    """The value of a field that does not exist in a record."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

_NULL, _BOOL, _NUMBER, _STRING, _OBJECT, _ARRAY, _OTHER, _UNDEF = range(8)
_NUMBER_TYPES: Final = frozenset({int, float})


def _kind(value: Any) -> int:
    if value is None:
        return _NULL
    if value is UNDEFINED:
        return _UNDEF
    t = type(value)
    if t is str:
        return _STRING
    if t is bool:
        return _BOOL
    if t in _NUMBER_TYPES:
        return _NUMBER
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, (int, float)):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, Mapping):
        return _OBJECT
    if isinstance(value, (list, tuple)):
        return _ARRAY
    return _OTHER


def _is_number(value: Any) -> bool:
    return _kind(value) == _NUMBER


def _equal(a: Any, b: Any) -> bool:
    """Strict, type-aware equality (1 = 1.0, but 1 != true and 1 != '1'). Undefined equals nothing."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka == _UNDEF:
        return False
    if ka == _OBJECT:
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if ka == _ARRAY:
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _order(a: Any, b: Any) -> int | None:
    """-1/0/1 for two numbers or two strings; None (comparison is false) for anything else."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in (_NUMBER, _STRING):
        return None
    return -1 if a < b else (1 if a > b else 0)


_ORDER_TESTS: Final[dict[str, Callable[[int], bool]]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}
_FLIPPED: Final = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

_Getter = Callable[[Mapping[str, Any]], Any]
_Predicate = Callable[[Mapping[str, Any]], bool]


def _make_getter(path: tuple[str, ...]) -> _Getter:
    """A fast accessor for a field path: returns UNDEFINED when any step is missing or not an object."""

    def step(cur: Any, key: str) -> Any:
        if type(cur) is dict or isinstance(cur, Mapping):
            return cur.get(key, UNDEFINED)
        return UNDEFINED

    if len(path) == 1:
        (a,) = path

        def get1(record: Mapping[str, Any]) -> Any:
            return step(record, a)

        return get1
    if len(path) == 2:
        a, b = path

        def get2(record: Mapping[str, Any]) -> Any:
            cur = record.get(a, UNDEFINED)
            if type(cur) is dict:
                return cur.get(b, UNDEFINED)
            return step(cur, b)

        return get2
    if len(path) == 3:
        a, b, c = path

        def get3(record: Mapping[str, Any]) -> Any:
            cur = record.get(a, UNDEFINED)
            cur = cur.get(b, UNDEFINED) if type(cur) is dict else step(cur, b)
            if type(cur) is dict:
                return cur.get(c, UNDEFINED)
            return step(cur, c)

        return get3

    def get_n(record: Mapping[str, Any]) -> Any:
        cur: Any = record
        for key in path:
            cur = cur.get(key, UNDEFINED) if type(cur) is dict else step(cur, key)
            if cur is UNDEFINED:
                return UNDEFINED
        return cur

    return get_n


# --------------------------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------------------------


class Operand:
    """Something that yields a value for a record: a field path, a literal, or a function call."""

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """The operand's value for ``record`` (:data:`UNDEFINED` for a missing field)."""
        return self._get(record)  # type: ignore[attr-defined]

    def fields(self) -> set[str]:
        return set()


class Condition:
    """A parsed WHERE expression. Build one with :func:`parse_condition` or :func:`parse_query`."""

    _fn: _Predicate

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (a twin dict, or a devices.jobs row) satisfies the condition."""
        return self._fn(record)

    @property
    def predicate(self) -> _Predicate:
        """The compiled predicate (``record -> bool``); handy for ``filter(cond.predicate, records)``."""
        return self._fn

    def filter(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        fn = self._fn
        return [r for r in records if fn(r)]

    def fields(self) -> set[str]:
        """The (normalised) field paths referenced, e.g. ``{"tags.site", "deviceId"}``."""
        raise NotImplementedError


@dataclass(frozen=True)
class FieldRef(Operand):
    """A field path such as ``tags.site`` → ``("tags", "site")`` (without any ``devices.`` prefix)."""

    path: tuple[str, ...]
    _get: _Getter = dc_field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_get", _make_getter(self.path))

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def fields(self) -> set[str]:
        return {self.name}


@dataclass(frozen=True)
class Literal(Operand):
    value: Any

    def _get(self, record: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True)
class MatchAll(Condition):
    """``*``: every record."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", lambda record: True)

    def fields(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Comparison(Condition):
    left: Operand
    op: str  # one of = != < <= > >=  ('<>' is normalised to '!=')
    right: Operand

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", _compile_comparison(self.left, self.op, self.right))

    def fields(self) -> set[str]:
        return self.left.fields() | self.right.fields()


@dataclass(frozen=True)
class InList(Condition):
    operand: Operand
    values: tuple[Any, ...]
    negated: bool = False  # NIN / NOT IN

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", _compile_in(self.operand, self.values, self.negated))

    def fields(self) -> set[str]:
        return self.operand.fields()


@dataclass(frozen=True)
class Not(Condition):
    operand: Condition

    def __post_init__(self) -> None:
        inner = self.operand._fn
        object.__setattr__(self, "_fn", lambda record: not inner(record))

    def fields(self) -> set[str]:
        return self.operand.fields()


@dataclass(frozen=True)
class And(Condition):
    operands: tuple[Condition, ...]

    def __post_init__(self) -> None:
        fns = tuple(c._fn for c in self.operands)
        if len(fns) == 2:
            a, b = fns
            fn: _Predicate = lambda record: a(record) and b(record)  # noqa: E731
        elif len(fns) == 3:
            a, b, c = fns
            fn = lambda record: a(record) and b(record) and c(record)  # noqa: E731
        else:

            def fn(record: Mapping[str, Any]) -> bool:
                return all(f(record) for f in fns)

        object.__setattr__(self, "_fn", fn)

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.operands))


@dataclass(frozen=True)
class Or(Condition):
    operands: tuple[Condition, ...]

    def __post_init__(self) -> None:
        fns = tuple(c._fn for c in self.operands)
        if len(fns) == 2:
            a, b = fns
            fn: _Predicate = lambda record: a(record) or b(record)  # noqa: E731
        elif len(fns) == 3:
            a, b, c = fns
            fn = lambda record: a(record) or b(record) or c(record)  # noqa: E731
        else:

            def fn(record: Mapping[str, Any]) -> bool:
                return any(f(record) for f in fns)

        object.__setattr__(self, "_fn", fn)

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.operands))


@dataclass(frozen=True)
class FunctionCall(Condition, Operand):
    """One of :data:`SUPPORTED_FUNCTIONS` (upper-case name); all of them return a boolean."""

    name: str
    args: tuple[Operand, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", _compile_function(self.name, self.args))

    def _get(self, record: Mapping[str, Any]) -> Any:
        return self._fn(record)

    def fields(self) -> set[str]:
        return set().union(*(a.fields() for a in self.args))


# --------------------------------------------------------------------------------------------------------------
# Compilation to closures
# --------------------------------------------------------------------------------------------------------------


def _compile_comparison(left: Operand, op: str, right: Operand) -> _Predicate:
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _FLIPPED[op]
    get = left._get  # type: ignore[attr-defined]
    if isinstance(right, Literal):
        return _compile_against_literal(get, op, right.value)
    get_r = right._get  # type: ignore[attr-defined]
    if op == "=":
        return lambda record: _equal(get(record), get_r(record))
    if op == "!=":

        def not_equal(record: Mapping[str, Any]) -> bool:
            a, b = get(record), get_r(record)
            return a is not UNDEFINED and b is not UNDEFINED and not _equal(a, b)

        return not_equal
    test = _ORDER_TESTS[op]

    def ordered(record: Mapping[str, Any]) -> bool:
        c = _order(get(record), get_r(record))
        return c is not None and test(c)

    return ordered


def _compile_against_literal(get: _Getter, op: str, lit: Any) -> _Predicate:
    kind = _kind(lit)
    if op == "=":
        if kind == _STRING:
            return lambda record: get(record) == lit
        if kind == _NUMBER:

            def eq_number(record: Mapping[str, Any]) -> bool:
                v = get(record)
                return (type(v) in _NUMBER_TYPES or _is_number(v)) and v == lit

            return eq_number
        if kind == _NULL:
            return lambda record: get(record) is None
        if kind == _BOOL:
            return lambda record: get(record) is lit
        return lambda record: _equal(get(record), lit)
    if op == "!=":
        if kind == _STRING:

            def ne_string(record: Mapping[str, Any]) -> bool:
                v = get(record)
                return v is not UNDEFINED and v != lit

            return ne_string

        def ne_any(record: Mapping[str, Any]) -> bool:
            v = get(record)
            return v is not UNDEFINED and not _equal(v, lit)

        return ne_any
    if kind == _STRING:
        if op == "<":
            return lambda record: isinstance(v := get(record), str) and v < lit
        if op == "<=":
            return lambda record: isinstance(v := get(record), str) and v <= lit
        if op == ">":
            return lambda record: isinstance(v := get(record), str) and v > lit
        return lambda record: isinstance(v := get(record), str) and v >= lit
    if kind == _NUMBER:
        if op == "<":
            return lambda record: (type(v := get(record)) in _NUMBER_TYPES or _is_number(v)) and v < lit
        if op == "<=":
            return lambda record: (type(v := get(record)) in _NUMBER_TYPES or _is_number(v)) and v <= lit
        if op == ">":
            return lambda record: (type(v := get(record)) in _NUMBER_TYPES or _is_number(v)) and v > lit
        return lambda record: (type(v := get(record)) in _NUMBER_TYPES or _is_number(v)) and v >= lit
    return lambda record: False  # ordering against true/false/null is never true


def _compile_in(operand: Operand, values: tuple[Any, ...], negated: bool) -> _Predicate:
    get = operand._get  # type: ignore[attr-defined]
    strings = frozenset(v for v in values if _kind(v) == _STRING)
    numbers = frozenset(v for v in values if _kind(v) == _NUMBER)
    bools = frozenset(v for v in values if _kind(v) == _BOOL)
    has_null = any(v is None for v in values)

    def member(v: Any) -> bool:
        k = _kind(v)
        if k == _STRING:
            return v in strings
        if k == _NUMBER:
            return v in numbers
        if k == _BOOL:
            return v in bools
        if k == _NULL:
            return has_null
        return False

    if not negated:
        if not numbers and not bools and not has_null:
            return lambda record: (v := get(record)) in strings and isinstance(v, str)
        return lambda record: member(get(record))

    def not_member(record: Mapping[str, Any]) -> bool:
        v = get(record)
        return v is not UNDEFINED and not member(v)

    return not_member


def _compile_function(name: str, args: tuple[Operand, ...]) -> _Predicate:
    gets = [a._get for a in args]  # type: ignore[attr-defined]
    g = gets[0]
    if name == "IS_DEFINED":
        return lambda record: g(record) is not UNDEFINED
    if name == "IS_NULL":
        return lambda record: g(record) is None
    if name == "IS_BOOL":
        return lambda record: _kind(g(record)) == _BOOL
    if name == "IS_NUMBER":
        return lambda record: _kind(g(record)) == _NUMBER
    if name == "IS_STRING":
        return lambda record: _kind(g(record)) == _STRING
    if name == "IS_OBJECT":
        return lambda record: _kind(g(record)) == _OBJECT
    if name == "IS_PRIMITIVE":
        return lambda record: _kind(g(record)) in (_NULL, _BOOL, _NUMBER, _STRING)
    g2 = gets[1]
    if name == "STARTS_WITH":
        return lambda record: (
            isinstance(v := g(record), str) and isinstance(p := g2(record), str) and v.startswith(p)
        )
    if name == "ENDS_WITH":
        return lambda record: (
            isinstance(v := g(record), str) and isinstance(p := g2(record), str) and v.endswith(p)
        )
    if name == "ARRAY_CONTAINS":

        def array_contains(record: Mapping[str, Any]) -> bool:
            arr = g(record)
            if _kind(arr) != _ARRAY:
                return False
            item = g2(record)
            return any(_equal(x, item) for x in arr)

        return array_contains
    raise AssertionError(name)  # pragma: no cover - names are validated before compiling


# --------------------------------------------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------------------------------------------

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

_parser_lock = threading.Lock()
_parser_cache: Lark | None = None


def _parser() -> Lark:
    """The LALR parser, built once (lazily) and shared; lark's LALR parser is safe to reuse across threads."""
    global _parser_cache
    if _parser_cache is None:
        with _parser_lock:
            if _parser_cache is None:
                _parser_cache = Lark(
                    _GRAMMAR,
                    parser="lalr",
                    lexer="basic",
                    start=["query", "condition"],
                    maybe_placeholders=True,
                )
    return _parser_cache


# --------------------------------------------------------------------------------------------------------------
# Tree → AST
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

_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
_ESCAPE_IN_SINGLE: Final = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)|''", re.S)
_ESCAPE_IN_DOUBLE: Final = re.compile(r'\\u([0-9a-fA-F]{4})|\\(.)|""', re.S)


@dataclass(frozen=True)
class _Segment:
    name: str
    quoted: bool


@dataclass(frozen=True)
class _RawPath:
    segments: tuple[_Segment, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        return ".".join(s.name for s in self.segments)


def _unquote(token: Token) -> str:
    """The value of a STRING token: backslash escapes (``\\'``, ``\\n``, ``\\u00e9`` …) and doubled quotes."""
    quote = token.value[0]
    pattern = _ESCAPE_IN_SINGLE if quote == "'" else _ESCAPE_IN_DOUBLE

    def unescape(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return chr(int(m.group(1), 16))
        if m.group(2) is not None:
            return _ESCAPES.get(m.group(2), m.group(2))
        return quote

    return pattern.sub(unescape, token.value[1:-1])


def _position(text: str, line: int | None, column: int | None) -> str:
    if line is not None and line > 1 or "\n" in text:
        return f"line {line}, column {column}"
    return f"column {column}"


class _Builder(Transformer[Token, Any]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _error(self, reason: str, token: Token | _RawPath) -> QuerySyntaxError:
        line = getattr(token, "line", None)
        column = getattr(token, "column", None)
        return QuerySyntaxError(
            f"{reason} (at {_position(self._text, line, column)})", line=line, column=column
        )

    # --- query -----------------------------------------------------------------------------------------------
    def query(self, children: list[Any]) -> dict[str, Any]:
        _select, projection, _from, source, _where, where = children
        return {"projection": projection, "source": source, "where": where}

    def select_all(self, children: list[Any]) -> tuple[bool, str | None]:
        return (False, None)

    def select_count(self, children: list[Any]) -> tuple[bool, str | None]:
        alias = children[2] if len(children) > 2 else None
        return (True, str(alias) if alias is not None else None)

    def source(self, children: list[Any]) -> tuple[str, _RawPath]:
        raw: _RawPath = children[0]
        name = raw.text.lower()
        if any(s.quoted for s in raw.segments) or name not in SUPPORTED_SOURCES:
            raise self._error(
                f"FROM {raw.text} is not supported; expected devices, devices.jobs or devices.modules", raw
            )
        return (name, raw)

    def condition(self, children: list[Any]) -> Condition:
        return children[0]

    # --- logic -----------------------------------------------------------------------------------------------
    def or_expr(self, children: list[Any]) -> Condition:
        parts: list[Condition] = []
        for c in children:
            if isinstance(c, Or):
                parts.extend(c.operands)
            elif isinstance(c, Condition):
                parts.append(c)
        return Or(tuple(parts))

    def and_expr(self, children: list[Any]) -> Condition:
        parts: list[Condition] = []
        for c in children:
            if isinstance(c, And):
                parts.extend(c.operands)
            elif isinstance(c, Condition):
                parts.append(c)
        return And(tuple(parts))

    def negation(self, children: list[Any]) -> Condition:
        return Not(children[1])

    def predicate(self, children: list[Any]) -> Condition:
        return children[0]

    # --- comparisons -----------------------------------------------------------------------------------------
    def comparison(self, children: list[Any]) -> Condition:
        left, op_token, right = children
        op = str(op_token)
        if op == "==":
            raise self._error("operator '==' is not supported; use '='", op_token)
        if op == "<>":
            op = "!="
        return Comparison(self._operand(left), op, self._operand(right))

    def in_list(self, children: list[Any]) -> Condition:
        operand = self._operand(children[0])
        negated = any(isinstance(c, Token) and c.type in ("NIN", "NOT") for c in children)
        return InList(operand, children[-1], negated)

    def value_list(self, children: list[Any]) -> tuple[Any, ...]:
        return tuple(c.value for c in children if c is not None)

    def func_call(self, children: list[Any]) -> FunctionCall:
        name_token: Token = children[0]
        name = name_token.value.upper()
        args = tuple(self._operand(a) for a in children[1:] if a is not None)
        if name not in SUPPORTED_FUNCTIONS:
            raise self._error(
                f"function {name} is not supported; supported functions are {', '.join(SUPPORTED_FUNCTIONS)}",
                name_token,
            )
        arity = 1 if name.startswith("IS_") else 2
        if len(args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self._error(f"function {name} takes {arity} {plural}, got {len(args)}", name_token)
        if not isinstance(args[0], FieldRef):
            raise self._error(f"the first argument of {name} must be a field path", name_token)
        if name in ("STARTS_WITH", "ENDS_WITH") and isinstance(args[1], Literal):
            if not isinstance(args[1].value, str):
                raise self._error(f"the second argument of {name} must be a string", name_token)
        elif name in ("STARTS_WITH", "ENDS_WITH", "ARRAY_CONTAINS") and isinstance(args[1], FunctionCall):
            raise self._error(f"the second argument of {name} must be a value or a field path", name_token)
        return FunctionCall(name, args)

    # --- operands --------------------------------------------------------------------------------------------
    def _operand(self, value: Any) -> Operand:
        if isinstance(value, _RawPath):
            return _field_ref(value)
        return value

    def path(self, children: list[Any]) -> _RawPath:
        first: Token = children[0]
        segments = [_Segment(first.value, False)]
        for c in children[1:]:
            if c.type == "STRING":
                segments.append(_Segment(_unquote(c), True))
            else:
                segments.append(_Segment(c.value, False))
        return _RawPath(tuple(segments), first.line or 1, first.column or 1)

    def seg_name(self, children: list[Any]) -> Token:
        return children[0]

    def string(self, children: list[Any]) -> Literal:
        return Literal(_unquote(children[0]))

    def number(self, children: list[Any]) -> Literal:
        text = children[0].value
        if any(ch in text for ch in ".eE"):
            return Literal(float(text))
        return Literal(int(text))

    def true(self, children: list[Any]) -> Literal:
        return Literal(True)

    def false(self, children: list[Any]) -> Literal:
        return Literal(False)

    def null(self, children: list[Any]) -> Literal:
        return Literal(None)


def _field_ref(raw: _RawPath) -> FieldRef:
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


# --------------------------------------------------------------------------------------------------------------
# Error translation
# --------------------------------------------------------------------------------------------------------------

_LITERAL_TERMINALS: Final = frozenset({"STRING", "NUMBER", "TRUE", "FALSE", "NULL"})
_CONTINUATIONS: Final = frozenset({"DOT", "LSQB", "LPAR"})
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
_PHRASE_ORDER: Final = (
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
)
_UNSUPPORTED_WORDS: Final = {
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
}
_ARITHMETIC_CHARS: Final = "+-*/%"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _describe_expected(names: Iterable[str]) -> str:
    pending = {n.lstrip("_") for n in names}
    parts: list[str] = []
    if {"NAME", "SELECT", "COUNT"} <= pending:  # after '.', where keywords are valid segment names
        parts.append("a field name")
        pending -= _SEGMENT_TERMINALS
    if {"NOT", "LPAR", "NAME"} <= pending:
        parts.append("a condition")
        pending -= {"NOT", "LPAR", "NAME"} | _LITERAL_TERMINALS
    if pending & _LITERAL_TERMINALS:
        parts.append("a value")
        pending -= _LITERAL_TERMINALS | {"NAME"}
    if "COMP_OP" in pending:
        parts.append("a comparison operator (=, !=, <>, <, <=, >, >=, IN, NIN or NOT IN)")
        pending -= {"COMP_OP", "IN", "NIN", "NOT"}
    if pending - _CONTINUATIONS or parts:
        pending -= _CONTINUATIONS
    for name, phrase in _PHRASE_ORDER:
        if name in pending:
            parts.append(phrase)
            pending.discard(name)
    parts.extend(sorted(pending))
    return _join(parts)


def _expected_of(e: UnexpectedInput) -> set[str]:
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            return set(ip.accepts())
        except Exception:  # noqa: BLE001 - fall back to the state's table below
            pass
    return set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())


def _show(value: str, limit: int = 30) -> str:
    """A token for a message: quoted, and shortened when long (an unclosed-looking string can swallow a lot)."""
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return repr(value)


def _end_position(text: str) -> tuple[int, int]:
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1) + 1
    return line, column


def _translate(e: UnexpectedInput, text: str) -> QuerySyntaxError:
    expected = _expected_of(e)
    wanted = _describe_expected(expected)
    if isinstance(e, UnexpectedCharacters):
        line, column = e.line, e.column
        where = _position(text, line, column)
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else ""
        if ch in "'\"":
            reason = f"unclosed string starting at {where}"
        elif ch and ch in _ARITHMETIC_CHARS:
            reason = f"arithmetic operator '{ch}' is not supported (at {where})"
        elif ch == "!":
            reason = f"unexpected character '!' at {where}; use NOT or '!='"
        elif ch == ";":
            reason = (
                f"unexpected ';' at {where}; expected {wanted}" if wanted else f"unexpected ';' at {where}"
            )
        else:
            shown = repr(ch) if ch else "character"
            reason = f"unexpected character {shown} at {where}" + (f"; expected {wanted}" if wanted else "")
        return QuerySyntaxError(reason, line=line, column=column)

    assert isinstance(e, UnexpectedToken)
    token = e.token
    if token.type == "$END":
        line, column = _end_position(text)
        where = _position(text, line, column)
        return QuerySyntaxError(
            f"unexpected end of query at {where}; expected {wanted}", line=line, column=column
        )
    line, column = e.line, e.column
    where = _position(text, line, column)
    value = str(token.value)
    upper = value.upper()
    if token.type == "NAME" and upper in _UNSUPPORTED_WORDS:
        reason = f"{_UNSUPPORTED_WORDS[upper]} (at {where})"
    elif expected == {"STAR", "COUNT"}:
        reason = (
            f"only SELECT * and SELECT COUNT() [AS alias] are supported, not projections "
            f"(unexpected {_show(value)} at {where})"
        )
    elif token.type == "STAR" and expected == {"RPAR"}:
        reason = f"COUNT(*) is not supported; write COUNT() (at {where})"
    elif (token.type == "STAR" or (token.type == "NUMBER" and value.startswith("-"))) and expected & {
        "COMP_OP",
        "AND",
        "OR",
        "$END",
    }:
        reason = f"arithmetic operator '{value[0]}' is not supported (at {where})"
    elif token.type == "COMMA" and "FROM" in expected:
        reason = f"only SELECT * and SELECT COUNT() [AS alias] are supported, not projections (at {where})"
    elif token.type == "COMMA" and "WHERE" in expected:
        reason = f"querying more than one source (joins) is not supported (at {where})"
    else:
        reason = f"unexpected token {_show(value)} at {where}; expected {wanted}"
    return QuerySyntaxError(reason, line=line, column=column)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed full query."""

    source: str  # "devices" | "devices.jobs" | "devices.modules"
    count: bool  # SELECT COUNT()
    count_alias: str | None
    where: Condition | None
    text: str

    def matches(self, record: Mapping[str, Any]) -> bool:
        return self.where is None or self.where.matches(record)

    def fields(self) -> set[str]:
        return set() if self.where is None else self.where.fields()


def _tree_depth(tree: Tree[Token]) -> int:
    deepest = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return deepest


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise QuerySyntaxError(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_LENGTH} characters")
    if not text.strip():
        raise QuerySyntaxError(f"{what} is empty")
    return text


def _parse(text: str, start: str) -> Any:
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as e:
        raise _translate(e, text) from None
    if _tree_depth(tree) > MAX_TREE_DEPTH:
        raise QuerySyntaxError("query is nested too deeply")
    try:
        return _Builder(text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, QuerySyntaxError):
            raise e.orig_exc from None
        raise
    except RecursionError:
        raise QuerySyntaxError("query is nested too deeply") from None


def parse_query(text: str) -> Query:
    """Parse a full query: ``SELECT * | COUNT() [AS x] FROM devices | devices.jobs | devices.modules [WHERE …]``."""
    text = _check_text(text, "query")
    result = _parse(text, "query")
    count, alias = result["projection"]
    source, raw_source = result["source"]
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
    text = _check_text(text, "query condition")
    stripped = text.strip()
    if stripped == "*":
        return MatchAll()
    first_word = _FIRST_WORD.match(stripped)
    keyword = first_word.group(0).upper() if first_word else ""
    if keyword == "SELECT":
        raise QuerySyntaxError(f"{_WHERE_ONLY_HINT}, not a full SELECT statement; {_ALL_DEVICES_HINT}")
    if keyword == "WHERE":
        raise QuerySyntaxError(f"{_WHERE_ONLY_HINT}; leave out the WHERE keyword")
    return _parse(text, "condition")


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
