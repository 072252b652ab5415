"""Text → syntax tree for a dialect: input checks, the lazily-built shared parser, the depth limit and error
translation. lark is imported at the first parse, not when a dialect module is imported.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar, Final

from airflow_iot_jobs.query.builder import TreeBuilder
from airflow_iot_jobs.query.diagnostics import Vocabulary, translate
from airflow_iot_jobs.query.errors import QuerySyntaxError

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

__all__ = ["MAX_TREE_DEPTH", "Dialect"]

#: Deepest parse tree accepted (guards the recursive tree walk; ~40 levels of nested AND/OR/NOT).
MAX_TREE_DEPTH: Final = 128


def _tree_depth(tree: Tree[Token]) -> int:
    from lark import Tree

    deepest = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return deepest


class Dialect:
    """A query language: its lark grammar, its tree builder and its error wording.

    Subclass, set the class attributes, and parse with :meth:`parse`. The grammar must name its rules as
    :class:`~airflow_iot_jobs.query.builder.TreeBuilder` does (``condition``, ``or_expr``, ``comparison`` …) or the
    builder subclass must add methods for the new ones.
    """

    grammar: ClassVar[str]
    #: The grammar's start rules (e.g. a full query and a bare condition).
    starts: ClassVar[tuple[str, ...]]
    builder: ClassVar[type[TreeBuilder]]
    vocabulary: ClassVar[Vocabulary]
    max_length: ClassVar[int]
    max_depth: ClassVar[int] = MAX_TREE_DEPTH

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parser: Lark | None = None

    def parser(self) -> Lark:
        """The LALR parser, built once (lazily) and shared; lark's LALR parser is safe to reuse across threads."""
        if self._parser is None:
            with self._lock:
                if self._parser is None:
                    from lark import Lark

                    self._parser = Lark(
                        self.grammar,
                        parser="lalr",
                        lexer="basic",
                        start=list(self.starts),
                        maybe_placeholders=True,
                    )
        return self._parser

    def check_text(self, text: object, what: str) -> str:
        """``text`` if it is a non-blank string within :attr:`max_length`; ``what`` names it in the error."""
        if not isinstance(text, str):
            raise QuerySyntaxError(f"{what} must be a string, not {type(text).__name__}")
        if len(text) > self.max_length:
            raise QuerySyntaxError(f"query is longer than {self.max_length} characters")
        if not text.strip():
            raise QuerySyntaxError(f"{what} is empty")
        return text

    def parse(self, text: str, start: str) -> Any:
        """What the builder makes of ``text`` parsed from rule ``start``; :class:`QuerySyntaxError` if invalid."""
        parser = self.parser()
        from lark.exceptions import UnexpectedInput

        try:
            tree = parser.parse(text, start=start)
        except UnexpectedInput as e:
            raise translate(e, text, self.vocabulary, self.explain_character, self.explain_token) from None
        if _tree_depth(tree) > self.max_depth:
            raise QuerySyntaxError("query is nested too deeply")
        try:
            return self.builder(text).transform(tree)
        except RecursionError:
            raise QuerySyntaxError("query is nested too deeply") from None

    def explain_character(self, ch: str, where: str, wanted: str) -> str | None:
        """A dialect-specific reason for an unexpected character ``ch``, or None for the generic one."""
        return None

    def explain_token(self, token_type: str, value: str, expected: set[str], where: str) -> str | None:
        """A dialect-specific reason for an unexpected token, or None for the generic one."""
        return None
