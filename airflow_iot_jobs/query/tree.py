"""The syntax tree every dialect parses into, and its evaluation.

Each condition node compiles itself to a closure when built, so :meth:`Condition.matches` is one call per record.
Nodes are frozen dataclasses and compare by structure; they can also be built directly, without any grammar::

    And((Comparison(FieldRef(("tags", "site")), "=", Literal("ams")), FunctionCall("IS_DEFINED", ...)))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from airflow_iot_jobs.query.functions import FUNCTIONS
from airflow_iot_jobs.query.predicates import compare_fields, compare_to_literal, membership
from airflow_iot_jobs.query.values import FLIPPED, Getter, Predicate, Record, field_getter

__all__ = [
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
]


class Operand:
    """Something that yields a value for a record: a field path, a literal, or a function call."""

    _get: Getter

    def evaluate(self, record: Record) -> Any:
        """The operand's value for ``record`` (:data:`~airflow_iot_jobs.query.values.UNDEFINED` if missing)."""
        return self._get(record)

    def fields(self) -> set[str]:
        return set()


class Condition:
    """A boolean expression over a record (a WHERE clause)."""

    _fn: Predicate

    def matches(self, record: Record) -> bool:
        """Whether ``record`` satisfies the condition."""
        return self._fn(record)

    @property
    def predicate(self) -> Predicate:
        """The compiled predicate (``record -> bool``); handy for ``filter(cond.predicate, records)``."""
        return self._fn

    def filter(self, records: Iterable[Record]) -> list[Record]:
        fn = self._fn
        return [r for r in records if fn(r)]

    def fields(self) -> set[str]:
        """The field paths referenced, dotted, e.g. ``{"tags.site", "deviceId"}``."""
        raise NotImplementedError


@dataclass(frozen=True)
class FieldRef(Operand):
    """A field path such as ``("tags", "site")``, as the dialect normalised it."""

    path: tuple[str, ...]
    _get: Getter = dc_field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_get", field_getter(self.path))

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def fields(self) -> set[str]:
        return {self.name}


@dataclass(frozen=True)
class Literal(Operand):
    value: Any

    def _get(self, record: Record) -> Any:
        return self.value


@dataclass(frozen=True)
class MatchAll(Condition):
    """Every record."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", lambda record: True)

    def fields(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Comparison(Condition):
    left: Operand
    op: str  # one of = != < <= > >=
    right: Operand

    def __post_init__(self) -> None:
        left, op, right = self.left, self.op, self.right
        if op not in FLIPPED:
            raise ValueError(f"unknown comparison operator {op!r}")
        if isinstance(left, Literal) and not isinstance(right, Literal):
            left, right, op = right, left, FLIPPED[op]
        if isinstance(right, Literal):
            fn = compare_to_literal(left._get, op, right.value)
        else:
            fn = compare_fields(left._get, op, right._get)
        object.__setattr__(self, "_fn", fn)

    def fields(self) -> set[str]:
        return self.left.fields() | self.right.fields()


@dataclass(frozen=True)
class InList(Condition):
    operand: Operand
    values: tuple[Any, ...]
    negated: bool = False  # NOT IN

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", membership(self.operand._get, self.values, self.negated))

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
            fn: Predicate = lambda record: a(record) and b(record)  # noqa: E731
        elif len(fns) == 3:
            a, b, c = fns
            fn = lambda record: a(record) and b(record) and c(record)  # noqa: E731
        else:

            def fn(record: Record) -> bool:
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
            fn: Predicate = lambda record: a(record) or b(record)  # noqa: E731
        elif len(fns) == 3:
            a, b, c = fns
            fn = lambda record: a(record) or b(record) or c(record)  # noqa: E731
        else:

            def fn(record: Record) -> bool:
                return any(f(record) for f in fns)

        object.__setattr__(self, "_fn", fn)

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.operands))


@dataclass(frozen=True)
class FunctionCall(Condition, Operand):
    """A call of one of :data:`~airflow_iot_jobs.query.functions.FUNCTIONS` (upper-case name); returns a boolean."""

    name: str
    args: tuple[Operand, ...]

    def __post_init__(self) -> None:
        function = FUNCTIONS.get(self.name)
        if function is None:
            raise ValueError(f"unknown function {self.name}")
        if len(self.args) != function.arity:
            raise ValueError(f"function {self.name} takes {function.arity} argument(s), got {len(self.args)}")
        fn = function.compile(tuple(a._get for a in self.args))
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_get", fn)

    def fields(self) -> set[str]:
        return set().union(*(a.fields() for a in self.args))


@dataclass(frozen=True)
class Query:
    """A parsed full query: ``SELECT * | COUNT() [AS alias] FROM <source> [WHERE <condition>]``."""

    source: str  # the dialect's (normalised) name of what is queried
    count: bool  # SELECT COUNT()
    count_alias: str | None
    where: Condition | None
    text: str

    def matches(self, record: Record) -> bool:
        return self.where is None or self.where.matches(record)

    def fields(self) -> set[str]:
        return set() if self.where is None else self.where.fields()
