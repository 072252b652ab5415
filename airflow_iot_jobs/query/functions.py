"""The built-in predicate functions a condition may call (type tests, string prefixes and suffixes, array
membership). All return a boolean; a dialect chooses which of them its language exposes and under what rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from airflow_iot_jobs.query.values import (
    KIND_ARRAY,
    KIND_BOOL,
    KIND_NUMBER,
    KIND_OBJECT,
    KIND_STRING,
    PRIMITIVE_KINDS,
    UNDEFINED,
    Getter,
    Predicate,
    Record,
    equal,
    kind_of,
)

__all__ = ["FUNCTIONS", "Function"]


@dataclass(frozen=True)
class Function:
    """A function's arity and how to compile a call to it from its arguments' getters."""

    name: str
    arity: int
    compile: Callable[[tuple[Getter, ...]], Predicate]


def _kind_test(*kinds: int) -> Callable[[tuple[Getter, ...]], Predicate]:
    def compile_(getters: tuple[Getter, ...]) -> Predicate:
        g = getters[0]
        if len(kinds) == 1:
            (k,) = kinds
            return lambda record: kind_of(g(record)) == k
        return lambda record: kind_of(g(record)) in kinds

    return compile_


def _is_defined(getters: tuple[Getter, ...]) -> Predicate:
    g = getters[0]
    return lambda record: g(record) is not UNDEFINED


def _is_null(getters: tuple[Getter, ...]) -> Predicate:
    g = getters[0]
    return lambda record: g(record) is None


def _starts_with(getters: tuple[Getter, ...]) -> Predicate:
    g, g2 = getters
    return lambda record: (
        isinstance(v := g(record), str) and isinstance(p := g2(record), str) and v.startswith(p)
    )


def _ends_with(getters: tuple[Getter, ...]) -> Predicate:
    g, g2 = getters
    return lambda record: (
        isinstance(v := g(record), str) and isinstance(p := g2(record), str) and v.endswith(p)
    )


def _array_contains(getters: tuple[Getter, ...]) -> Predicate:
    g, g2 = getters

    def array_contains(record: Record) -> bool:
        arr = g(record)
        if kind_of(arr) != KIND_ARRAY:
            return False
        item = g2(record)
        return any(equal(x, item) for x in arr)

    return array_contains


FUNCTIONS: Final[Mapping[str, Function]] = {
    f.name: f
    for f in (
        Function("IS_DEFINED", 1, _is_defined),
        Function("IS_NULL", 1, _is_null),
        Function("IS_BOOL", 1, _kind_test(KIND_BOOL)),
        Function("IS_NUMBER", 1, _kind_test(KIND_NUMBER)),
        Function("IS_STRING", 1, _kind_test(KIND_STRING)),
        Function("IS_OBJECT", 1, _kind_test(KIND_OBJECT)),
        Function("IS_PRIMITIVE", 1, _kind_test(*PRIMITIVE_KINDS)),
        Function("STARTS_WITH", 2, _starts_with),
        Function("ENDS_WITH", 2, _ends_with),
        Function("ARRAY_CONTAINS", 2, _array_contains),
    )
}
