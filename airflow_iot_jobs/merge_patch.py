"""JSON merge patches (RFC 7396) from a resource's current and declared state: what to send so a ``PATCH``
leaves the resource as declared, and the changes in words for the log. Standard library only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: how a field's values compare: (stored value) -> comparable value; for values the service rewrites
Normalizers = Mapping[str, Callable[[Any], Any]]


def merge_patch(
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    managed: tuple[str, ...],
    normalizers: Normalizers | None = None,
    _prefix: str = "",
) -> dict[str, Any]:
    """The merge patch turning ``current`` into ``desired`` for the top-level keys in ``managed`` (fields the
    caller declares; others — ids, etags, read-only fields — are left alone). A managed key missing from
    ``desired`` is removed (``null``); objects are patched key by key, arrays and scalars replaced whole.
    ``{}``: nothing differs."""
    normalizers = normalizers or {}
    patch: dict[str, Any] = {}
    for key in managed:
        path = f"{_prefix}{key}"
        if key not in desired:
            if current.get(key) is not None:
                patch[key] = None
            continue
        old, new = current.get(key), desired[key]
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            nested = merge_patch(old, new, tuple(dict.fromkeys([*new, *old])), normalizers, f"{path}.")
            if nested:
                patch[key] = nested
        elif _comparable(old, path, normalizers) != _comparable(new, path, normalizers):
            patch[key] = new
    return patch


def _comparable(value: Any, path: str, normalizers: Normalizers) -> Any:
    normalize = normalizers.get(path)
    if normalize is None or value is None:
        return value
    try:
        return normalize(value)
    except (TypeError, ValueError):
        return value


def describe_patch(patch: Mapping[str, Any], current: Mapping[str, Any], _prefix: str = "") -> list[str]:
    """``["schedule.recurrence: 'daily' -> 'weekly'", "batch: removed", …]``: the patch in words."""
    lines: list[str] = []
    for key, new in patch.items():
        old = current.get(key) if isinstance(current, Mapping) else None
        path = f"{_prefix}{key}"
        if isinstance(new, Mapping) and isinstance(old, Mapping):
            lines.extend(describe_patch(new, old, f"{path}."))
        elif new is None:
            lines.append(f"{path}: {old!r} -> removed")
        else:
            lines.append(f"{path}: {old!r} -> {new!r}")
    return lines
