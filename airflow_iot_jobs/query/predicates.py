"""Comparisons and list membership compiled to closures (``record -> bool``) under the rules of
:mod:`airflow_iot_jobs.query.values`.

A comparison involving an undefined value is false; ``!=`` is true only when both sides are defined and not equal;
``NOT IN`` is true only when the value is defined and equal to none of the listed values.
"""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.query.values import (
    KIND_BOOL,
    KIND_NULL,
    KIND_NUMBER,
    KIND_STRING,
    NUMBER_TYPES,
    ORDER_TESTS,
    UNDEFINED,
    Getter,
    Predicate,
    Record,
    equal,
    is_number,
    kind_of,
    order,
)

__all__ = ["compare_fields", "compare_to_literal", "membership"]


def compare_fields(get: Getter, op: str, get_r: Getter) -> Predicate:
    """``left op right`` where neither side is known in advance."""
    if op == "=":
        return lambda record: equal(get(record), get_r(record))
    if op == "!=":

        def not_equal(record: Record) -> bool:
            a, b = get(record), get_r(record)
            return a is not UNDEFINED and b is not UNDEFINED and not equal(a, b)

        return not_equal
    test = ORDER_TESTS[op]

    def ordered(record: Record) -> bool:
        c = order(get(record), get_r(record))
        return c is not None and test(c)

    return ordered


def compare_to_literal(get: Getter, op: str, lit: Any) -> Predicate:
    """``value op literal``, specialised on the literal's kind (the hot path of most queries)."""
    kind = kind_of(lit)
    if op == "=":
        if kind == KIND_STRING:
            return lambda record: get(record) == lit
        if kind == KIND_NUMBER:

            def eq_number(record: Record) -> bool:
                v = get(record)
                return (type(v) in NUMBER_TYPES or is_number(v)) and v == lit

            return eq_number
        if kind == KIND_NULL:
            return lambda record: get(record) is None
        if kind == KIND_BOOL:
            return lambda record: get(record) is lit
        return lambda record: equal(get(record), lit)
    if op == "!=":
        if kind == KIND_STRING:

            def ne_string(record: Record) -> bool:
                v = get(record)
                return v is not UNDEFINED and v != lit

            return ne_string

        def ne_any(record: Record) -> bool:
            v = get(record)
            return v is not UNDEFINED and not equal(v, lit)

        return ne_any
    if kind == KIND_STRING:
        if op == "<":
            return lambda record: isinstance(v := get(record), str) and v < lit
        if op == "<=":
            return lambda record: isinstance(v := get(record), str) and v <= lit
        if op == ">":
            return lambda record: isinstance(v := get(record), str) and v > lit
        return lambda record: isinstance(v := get(record), str) and v >= lit
    if kind == KIND_NUMBER:
        if op == "<":
            return lambda record: (type(v := get(record)) in NUMBER_TYPES or is_number(v)) and v < lit
        if op == "<=":
            return lambda record: (type(v := get(record)) in NUMBER_TYPES or is_number(v)) and v <= lit
        if op == ">":
            return lambda record: (type(v := get(record)) in NUMBER_TYPES or is_number(v)) and v > lit
        return lambda record: (type(v := get(record)) in NUMBER_TYPES or is_number(v)) and v >= lit
    return lambda record: False  # ordering against true/false/null is never true


def membership(get: Getter, values: tuple[Any, ...], negated: bool) -> Predicate:
    """``value IN [values]`` (or ``NOT IN`` when ``negated``), with the strict equality of ``=``."""
    strings = frozenset(v for v in values if kind_of(v) == KIND_STRING)
    numbers = frozenset(v for v in values if kind_of(v) == KIND_NUMBER)
    bools = frozenset(v for v in values if kind_of(v) == KIND_BOOL)
    has_null = any(v is None for v in values)

    def member(v: Any) -> bool:
        k = kind_of(v)
        if k == KIND_STRING:
            return v in strings
        if k == KIND_NUMBER:
            return v in numbers
        if k == KIND_BOOL:
            return v in bools
        if k == KIND_NULL:
            return has_null
        return False

    if not negated:
        if not numbers and not bools and not has_null:
            return lambda record: (v := get(record)) in strings and isinstance(v, str)
        return lambda record: member(get(record))

    def not_member(record: Record) -> bool:
        v = get(record)
        return v is not UNDEFINED and not member(v)

    return not_member
