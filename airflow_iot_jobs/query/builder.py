"""Building the syntax tree (:mod:`airflow_iot_jobs.query.tree`) from a lark parse tree.

:class:`TreeBuilder` handles the rules dialects share (the SQL-like shape ``SELECT … FROM … WHERE``, AND / OR /
NOT, comparisons, IN lists, function calls, field paths and literals); a dialect subclasses it to name its sources
and functions, normalise its field paths and add its own rules. Each rule is a method named after the grammar rule
(or alias), called bottom-up with the already-built children, as in a lark ``Transformer``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from airflow_iot_jobs.query.diagnostics import position
from airflow_iot_jobs.query.errors import QuerySyntaxError
from airflow_iot_jobs.query.functions import FUNCTIONS
from airflow_iot_jobs.query.tree import (
    And,
    Comparison,
    Condition,
    FieldRef,
    FunctionCall,
    InList,
    Literal,
    Not,
    Operand,
    Or,
)

if TYPE_CHECKING:
    from lark import Token, Tree

__all__ = ["RawPath", "Segment", "TreeBuilder", "unquote"]

_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
_ESCAPE_IN_SINGLE: Final = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)|''", re.S)
_ESCAPE_IN_DOUBLE: Final = re.compile(r'\\u([0-9a-fA-F]{4})|\\(.)|""', re.S)


@dataclass(frozen=True)
class Segment:
    name: str
    quoted: bool  # written as ['name'], so never a keyword or a prefix to normalise


@dataclass(frozen=True)
class RawPath:
    """A field path as written, before the dialect normalises it into a :class:`FieldRef`."""

    segments: tuple[Segment, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        return ".".join(s.name for s in self.segments)


def unquote(token: Token) -> str:
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


def _join(parts: list[str] | tuple[str, ...]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


class TreeBuilder:
    """Parse tree → syntax tree for one text. Subclass per dialect; set the class attributes below."""

    #: Names a FROM clause may give (lower case; matched case-insensitively).
    sources: ClassVar[tuple[str, ...]] = ()
    #: Names of the :data:`~airflow_iot_jobs.query.functions.FUNCTIONS` the dialect exposes.
    functions: ClassVar[tuple[str, ...]] = ()
    #: Operators written differently from the tree's (=, !=, <, <=, >, >=), e.g. ``{"<>": "!="}``.
    operator_aliases: ClassVar[Mapping[str, str]] = {}
    #: Operators the grammar lexes but the dialect refuses → reason.
    unsupported_operators: ClassVar[Mapping[str, str]] = {}

    def __init__(self, text: str) -> None:
        self._text = text

    def transform(self, tree: Tree[Token]) -> Any:
        from lark import Tree

        def walk(node: Tree[Token]) -> Any:
            children = [walk(c) if isinstance(c, Tree) else c for c in node.children]
            return getattr(self, str(node.data))(children)

        return walk(tree)

    def error(self, reason: str, token: Token | RawPath) -> QuerySyntaxError:
        line = getattr(token, "line", None)
        column = getattr(token, "column", None)
        return QuerySyntaxError(
            f"{reason} (at {position(self._text, line, column)})", line=line, column=column
        )

    # --- hooks -----------------------------------------------------------------------------------------------
    def resolve_source(self, raw: RawPath) -> str:
        """The normalised source name of a FROM clause."""
        name = raw.text.lower()
        if any(s.quoted for s in raw.segments) or name not in self.sources:
            raise self.error(f"FROM {raw.text} is not supported; expected {_join(self.sources)}", raw)
        return name

    def field_ref(self, raw: RawPath) -> FieldRef:
        """The field a path refers to; dialects strip prefixes and fix the case of known names here."""
        return FieldRef(tuple(s.name for s in raw.segments))

    def check_function(self, name: str, args: tuple[Operand, ...], token: Token) -> None:
        """Raise if the call is not allowed; ``name`` is upper case."""
        if name not in self.functions:
            raise self.error(
                f"function {name} is not supported; supported functions are {', '.join(self.functions)}",
                token,
            )
        arity = FUNCTIONS[name].arity
        if len(args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self.error(f"function {name} takes {arity} {plural}, got {len(args)}", token)

    # --- query -----------------------------------------------------------------------------------------------
    def query(self, children: list[Any]) -> dict[str, Any]:
        _select, projection, _from, source, _where, where = children
        return {"projection": projection, "source": source, "where": where}

    def select_all(self, children: list[Any]) -> tuple[bool, str | None]:
        return (False, None)

    def select_count(self, children: list[Any]) -> tuple[bool, str | None]:
        alias = children[2] if len(children) > 2 else None
        return (True, str(alias) if alias is not None else None)

    def source(self, children: list[Any]) -> tuple[str, RawPath]:
        raw: RawPath = children[0]
        return (self.resolve_source(raw), raw)

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
        if op in self.unsupported_operators:
            raise self.error(self.unsupported_operators[op], op_token)
        op = self.operator_aliases.get(op, op)
        return Comparison(self.to_operand(left), op, self.to_operand(right))

    def in_list(self, children: list[Any]) -> Condition:
        operand = self.to_operand(children[0])
        negated = any(getattr(c, "type", None) in ("NIN", "NOT") for c in children)
        return InList(operand, children[-1], negated)

    def value_list(self, children: list[Any]) -> tuple[Any, ...]:
        return tuple(c.value for c in children if c is not None)

    def func_call(self, children: list[Any]) -> FunctionCall:
        name_token: Token = children[0]
        name = name_token.value.upper()
        args = tuple(self.to_operand(a) for a in children[1:] if a is not None)
        self.check_function(name, args, name_token)
        return FunctionCall(name, args)

    # --- operands --------------------------------------------------------------------------------------------
    def to_operand(self, value: Any) -> Operand:
        if isinstance(value, RawPath):
            return self.field_ref(value)
        return value

    def path(self, children: list[Any]) -> RawPath:
        first: Token = children[0]
        segments = [Segment(first.value, False)]
        for c in children[1:]:
            if c.type == "STRING":
                segments.append(Segment(unquote(c), True))
            else:
                segments.append(Segment(c.value, False))
        return RawPath(tuple(segments), first.line or 1, first.column or 1)

    def seg_name(self, children: list[Any]) -> Token:
        return children[0]

    def string(self, children: list[Any]) -> Literal:
        return Literal(unquote(children[0]))

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
