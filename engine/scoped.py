"""`Scoped`: context variables set for the length of a `with` block.

The engine keeps a step's time, its business calendars and the script being run in context
variables (`clock.frozen_time`, `working_time.working_time_scope`, `script_scope.script_scope`).
These blocks are entered several times per step; a class costs about a third of what a
`@contextmanager` generator does.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any


class Scoped:
    """`with Scoped((var, value), ...) as first_value:` — each `var` holds its `value` inside the
    block and what it held before once the block ends, however it ends. Two scopes entered
    together are one: `Scoped(*a.pairs, *b.pairs)`."""

    __slots__ = ("pairs", "_tokens")

    def __init__(self, *pairs: tuple[ContextVar[Any], Any]) -> None:
        self.pairs = pairs
        self._tokens: list[Token[Any]] = []

    def __enter__(self) -> Any:
        self._tokens = [var.set(value) for var, value in self.pairs]
        return self.pairs[0][1]

    def __exit__(self, *_exc: object) -> None:
        for (var, _value), token in zip(reversed(self.pairs), reversed(self._tokens), strict=True):
            var.reset(token)
