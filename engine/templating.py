"""Jinja rendering of user-written text (campaign emails, form instructions) under hard limits.

Jinja's ``SandboxedEnvironment`` stops attribute escapes but not arithmetic: a marketer's
``{{ (7**(6*10**7)) > 1 }}`` froze a server for 72 s. ``BoundedEnvironment`` routes ``* ** + %``
through the script sandbox's size guards (the same refusal, immediately), and ``render`` runs any
template that can loop, call or compute in a child process bounded by the script limits
(engine/sandbox_limits.py); plain ``Hello {{ member.name }}`` templates render in-process.
Refusals are ``TemplateLimitError`` (a Jinja ``TemplateError``), with a message a user understands.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import SandboxedEnvironment

from . import sandbox_limits
from .sandbox_core import SandboxError
from .sandbox_guards import _guarded_add, _guarded_mod, _guarded_mul, _guarded_pow
from .sandbox_worker import LimitExceeded, run_limited

MAX_OUTPUT = 1_000_000
"""Longest text one rendering may produce (characters)."""

_OPERATORS = {"*": _guarded_mul, "**": _guarded_pow, "+": _guarded_add, "%": _guarded_mod}
_PLAIN_FILTERS = frozenset({"default", "d", "upper", "lower", "title", "capitalize", "trim", "e", "escape",
                            "string", "safe", "striptags"})
_PLAIN_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
                nodes.Const, nodes.Filter, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or,
                nodes.Not, nodes.If)


class TemplateLimitError(TemplateRuntimeError):
    """A template asked for too much: a huge number or text, or more CPU or memory than allowed."""


class BoundedEnvironment(SandboxedEnvironment):
    """SandboxedEnvironment whose arithmetic is size-checked like diagram scripts'."""

    intercepted_binops = frozenset(_OPERATORS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        try:
            return _OPERATORS[operator](left, right)
        except SandboxError as err:
            raise TemplateLimitError(f"the template asks for too much: {err}") from None


@functools.lru_cache(maxsize=512)
def _is_plain(env: BoundedEnvironment, source: str) -> bool:
    """Only names, attributes, constants, simple filters and ifs: cost bounded by the text."""
    try:
        tree = env.parse(source)
    except Exception:  # noqa: BLE001 - from_string reports the syntax error
        return False
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _PLAIN_NODES):
            return False
        if isinstance(node, nodes.Filter) and (node.name not in _PLAIN_FILTERS or node.args or node.kwargs):
            return False
    return True


@functools.lru_cache(maxsize=512)
def _template(env: BoundedEnvironment, source: str) -> Template:
    """Compiled once per distinct text: a campaign renders one template per member."""
    return env.from_string(source)


def _render_here(template: Template, context: Mapping[str, Any]) -> str:
    text = template.render(**context)
    if len(text) > MAX_OUTPUT:
        raise TemplateLimitError(f"the template produces {len(text):,} characters (limit {MAX_OUTPUT:,})")
    return text


def render(env: BoundedEnvironment, source: str, context: Mapping[str, Any]) -> str:
    """Render `source`; a template that can compute runs in a bounded child process."""
    template = _template(env, source)  # syntax errors raised here, in-process
    limits = sandbox_limits.current()
    if not limits.isolation or _is_plain(env, source):
        return _render_here(template, context)
    try:
        result, error, _ = run_limited(_render_here, (template, context), limits, what="template")
    except LimitExceeded as err:
        raise TemplateLimitError(str(err)) from None
    if error is not None:
        raise error
    return result
