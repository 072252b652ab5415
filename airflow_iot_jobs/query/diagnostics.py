"""Turning lark's parse errors into a :class:`QuerySyntaxError` a person can act on.

The wording comes from the dialect: a :class:`Vocabulary` says how its terminals read ("a field name", "a value",
"end of query" …) and which words it knows but does not support, and the dialect's
:meth:`~airflow_iot_jobs.query.compilation.Dialect.explain_character` /
:meth:`~airflow_iot_jobs.query.compilation.Dialect.explain_token` hooks add its own diagnoses. lark is only
imported by the caller, once a parse has failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_iot_jobs.query.errors import QuerySyntaxError

if TYPE_CHECKING:
    from lark.exceptions import UnexpectedInput

__all__ = [
    "ExpectedGroup",
    "Vocabulary",
    "describe_expected",
    "end_position",
    "position",
    "show",
    "translate",
]


@dataclass(frozen=True)
class ExpectedGroup:
    """Several expected terminals said as one phrase, e.g. {NOT, LPAR, NAME} → "a condition".

    The group applies when the expected set contains all of ``when_all`` and (if given) any of ``when_any``; it
    then removes ``consumes`` from what is left to describe.
    """

    phrase: str
    when_all: frozenset[str] = frozenset()
    when_any: frozenset[str] = frozenset()
    consumes: frozenset[str] = frozenset()

    def applies(self, pending: set[str]) -> bool:
        return self.when_all <= pending and (not self.when_any or bool(pending & self.when_any))


@dataclass(frozen=True)
class Vocabulary:
    """How a dialect's grammar terminals read in error messages."""

    groups: tuple[ExpectedGroup, ...]
    #: (terminal, phrase) in the order phrases are listed.
    phrases: tuple[tuple[str, str], ...]
    #: Terminals that merely continue what came before ('.', '[', '('): left out when anything else is expected.
    continuations: frozenset[str] = frozenset()
    #: Upper-cased words the grammar lexes as names but that a reader means as unsupported syntax → reason.
    unsupported_words: Mapping[str, str] = field(default_factory=dict)


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def describe_expected(names: Iterable[str], vocabulary: Vocabulary) -> str:
    """``"a condition, WHERE or end of query"`` for a set of expected terminal names."""
    pending = {n.lstrip("_") for n in names}
    parts: list[str] = []
    for group in vocabulary.groups:
        if group.applies(pending):
            parts.append(group.phrase)
            pending -= group.consumes
    if pending - vocabulary.continuations or parts:
        pending -= vocabulary.continuations
    for name, phrase in vocabulary.phrases:
        if name in pending:
            parts.append(phrase)
            pending.discard(name)
    parts.extend(sorted(pending))
    return _join(parts)


def show(value: str, limit: int = 30) -> str:
    """A token for a message: quoted, and shortened when long (an unclosed-looking string can swallow a lot)."""
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return repr(value)


def position(text: str, line: int | None, column: int | None) -> str:
    """``"column 7"``, or ``"line 2, column 3"`` for multi-line text."""
    if line is not None and line > 1 or "\n" in text:
        return f"line {line}, column {column}"
    return f"column {column}"


def end_position(text: str) -> tuple[int, int]:
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1) + 1
    return line, column


def _expected_of(e: UnexpectedInput) -> set[str]:
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            return set(ip.accepts())
        except Exception:  # noqa: BLE001 - fall back to the state's table below
            pass
    return set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())


#: (character, where, wanted) → a reason, or None for the generic one.
CharacterHook = Callable[[str, str, str], str | None]
#: (token type, token text, expected terminals, where) → a reason, or None for the generic one.
TokenHook = Callable[[str, str, set[str], str], str | None]


def translate(
    e: UnexpectedInput,
    text: str,
    vocabulary: Vocabulary,
    explain_character: CharacterHook,
    explain_token: TokenHook,
) -> QuerySyntaxError:
    """The :class:`QuerySyntaxError` for a lark ``UnexpectedCharacters`` / ``UnexpectedToken``."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    expected = _expected_of(e)
    wanted = describe_expected(expected, vocabulary)
    if isinstance(e, UnexpectedCharacters):
        line, column = e.line, e.column
        where = position(text, line, column)
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else ""
        reason = (
            f"unclosed string starting at {where}" if ch in "'\"" else explain_character(ch, where, wanted)
        )
        if reason is None:
            shown = repr(ch) if ch else "character"
            reason = f"unexpected character {shown} at {where}" + (f"; expected {wanted}" if wanted else "")
        return QuerySyntaxError(reason, line=line, column=column)

    assert isinstance(e, UnexpectedToken)
    token = e.token
    if token.type == "$END":
        line, column = end_position(text)
        where = position(text, line, column)
        return QuerySyntaxError(
            f"unexpected end of query at {where}; expected {wanted}", line=line, column=column
        )
    line, column = e.line, e.column
    where = position(text, line, column)
    value = str(token.value)
    upper = value.upper()
    if token.type == "NAME" and upper in vocabulary.unsupported_words:
        reason: str | None = f"{vocabulary.unsupported_words[upper]} (at {where})"
    else:
        reason = explain_token(token.type, value, expected, where)
    if reason is None:
        reason = f"unexpected token {show(value)} at {where}; expected {wanted}"
    return QuerySyntaxError(reason, line=line, column=column)
