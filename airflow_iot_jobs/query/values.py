"""The value model a query is evaluated against: JSON-like records, the ``UNDEFINED`` sentinel, type kinds, and
the strict equality and ordering rules comparisons use.

A record is a mapping of JSON values. A field missing from a record is :data:`UNDEFINED`, which is neither null nor
equal to anything. ``=`` is type-aware (``1 = 1.0`` but ``1 != true`` and ``1 != '1'``); ordering only compares
two numbers or two strings (strings ordinally and case-sensitively).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = [
    "FLIPPED",
    "KIND_ARRAY",
    "KIND_BOOL",
    "KIND_NULL",
    "KIND_NUMBER",
    "KIND_OBJECT",
    "KIND_OTHER",
    "KIND_STRING",
    "KIND_UNDEFINED",
    "NUMBER_TYPES",
    "ORDER_TESTS",
    "PRIMITIVE_KINDS",
    "UNDEFINED",
    "Getter",
    "Predicate",
    "Record",
    "equal",
    "field_getter",
    "is_number",
    "kind_of",
    "order",
]

Record = Mapping[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]


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
        # Pickles by reference to this module's global, so the singleton survives a round trip.
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

# Plain ints rather than an Enum: kind_of() runs per record per comparison.
KIND_NULL: Final = 0
KIND_BOOL: Final = 1
KIND_NUMBER: Final = 2
KIND_STRING: Final = 3
KIND_OBJECT: Final = 4
KIND_ARRAY: Final = 5
KIND_OTHER: Final = 6
KIND_UNDEFINED: Final = 7
PRIMITIVE_KINDS: Final = (KIND_NULL, KIND_BOOL, KIND_NUMBER, KIND_STRING)

NUMBER_TYPES: Final = frozenset({int, float})

#: How each ordering operator reads the -1/0/1 of :func:`order`.
ORDER_TESTS: Final[dict[str, Callable[[int], bool]]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}
#: The operator that gives the same answer with its operands swapped.
FLIPPED: Final = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def kind_of(value: Any) -> int:
    """The ``KIND_*`` of a value (``bool`` is not a number; any mapping is an object, list or tuple an array)."""
    if value is None:
        return KIND_NULL
    if value is UNDEFINED:
        return KIND_UNDEFINED
    t = type(value)
    if t is str:
        return KIND_STRING
    if t is bool:
        return KIND_BOOL
    if t in NUMBER_TYPES:
        return KIND_NUMBER
    if isinstance(value, bool):
        return KIND_BOOL
    if isinstance(value, (int, float)):
        return KIND_NUMBER
    if isinstance(value, str):
        return KIND_STRING
    if isinstance(value, Mapping):
        return KIND_OBJECT
    if isinstance(value, (list, tuple)):
        return KIND_ARRAY
    return KIND_OTHER


def is_number(value: Any) -> bool:
    return kind_of(value) == KIND_NUMBER


def equal(a: Any, b: Any) -> bool:
    """Strict, type-aware equality (1 = 1.0, but 1 != true and 1 != '1'). Undefined equals nothing."""
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb or ka == KIND_UNDEFINED:
        return False
    if ka == KIND_OBJECT:
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if ka == KIND_ARRAY:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def order(a: Any, b: Any) -> int | None:
    """-1/0/1 for two numbers or two strings; None (comparison is false) for anything else."""
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb or ka not in (KIND_NUMBER, KIND_STRING):
        return None
    return -1 if a < b else (1 if a > b else 0)


def field_getter(path: tuple[str, ...]) -> Getter:
    """A fast accessor for a field path: returns UNDEFINED when any step is missing or not an object."""

    def step(cur: Any, key: str) -> Any:
        if type(cur) is dict or isinstance(cur, Mapping):
            return cur.get(key, UNDEFINED)
        return UNDEFINED

    # Unrolled for the common short paths: this runs once per field per record.
    if len(path) == 1:
        (a,) = path

        def get1(record: Record) -> Any:
            return step(record, a)

        return get1
    if len(path) == 2:
        a, b = path

        def get2(record: Record) -> Any:
            cur = record.get(a, UNDEFINED)
            if type(cur) is dict:
                return cur.get(b, UNDEFINED)
            return step(cur, b)

        return get2
    if len(path) == 3:
        a, b, c = path

        def get3(record: Record) -> Any:
            cur = record.get(a, UNDEFINED)
            cur = cur.get(b, UNDEFINED) if type(cur) is dict else step(cur, b)
            if type(cur) is dict:
                return cur.get(c, UNDEFINED)
            return step(cur, c)

        return get3

    def get_n(record: Record) -> Any:
        cur: Any = record
        for key in path:
            cur = cur.get(key, UNDEFINED) if type(cur) is dict else step(cur, key)
            if cur is UNDEFINED:
                return UNDEFINED
        return cur

    return get_n
