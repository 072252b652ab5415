"""The one error a query parser raises."""

from __future__ import annotations

__all__ = ["QuerySyntaxError"]


class QuerySyntaxError(ValueError):
    """Text that is not a valid (or not a supported) query. ``str(e) == e.reason``."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason: str = reason
        self.line: int | None = line
        self.column: int | None = column
