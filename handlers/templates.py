"""Email templates for campaign activities, rendered with a sandboxed Jinja2.

Templates are data (typed by a marketer into a campaign activity), so they run in Jinja's
`SandboxedEnvironment` (no attribute access to internals) with `StrictUndefined`: a
misspelt `{{ member.frist_name }}` fails when the activity is created, not as a blank in
ten thousand sent emails. Subjects are flattened to one line, so a template can never
inject a header.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError

from engine.templating import BoundedEnvironment
from engine.templating import render as bounded_render

from .errors import DomainError

DEFAULT_BODY = (
    "Hello {{ member.first_name or member.name }},\n"
    "\n"
    "{{ activity.subject }}\n"
    "\n"
    "This message is part of our campaign {{ campaign.name }}.\n"
    "If you no longer wish to receive these emails, reply with \"unsubscribe\".\n"
)

#: what `check` renders a template with, so every name a real render offers is defined
SAMPLE_CONTEXT: dict[str, Any] = {
    "member": {"type": "contact", "id": 0, "first_name": "Ada", "last_name": "Lovelace", "name": "Ada Lovelace",
               "email": "ada@example.com"},
    "campaign": {"id": 0, "number": "CMP-00000", "name": "Sample campaign"},
    "activity": {"id": 0, "subject": "Sample subject", "channel": "email", "wave": 1},
}

_ENV = BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateProblem(DomainError):
    """A template that does not parse or names something the context does not have."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="template_error")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    """Compiled once per distinct source: a distribution renders one template per member."""
    return _ENV.from_string(source)


def render(source: str, context: Mapping[str, Any], what: str = "template") -> str:
    """Render `source` with `context`; any template error becomes a `TemplateProblem`."""
    if not isinstance(source, str):
        raise TemplateProblem(f"{what} must be text, not {source!r}")
    try:
        _compile(source)  # syntax errors once per distinct source
        return bounded_render(_ENV, source, context)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as err:
        raise TemplateProblem(f"{what} cannot be rendered: {err}") from None


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included): what a header such as Subject may hold."""
    return " ".join(text.split())


def check(subject: str, body: str | None) -> None:
    """Fail now (with a `TemplateProblem`) if the subject or body would fail for a member."""
    render_email(subject, body, SAMPLE_CONTEXT)


def render_email(subject: str, body: str | None, context: Mapping[str, Any]) -> RenderedEmail:
    """Subject and body for one member; `body=None` uses `DEFAULT_BODY`.

    The subject is rendered first and offered to the body as `activity.subject`, so a
    body can repeat a personalised subject.
    """
    rendered_subject = one_line(render(subject, context, "subject template"))
    if not rendered_subject:
        raise TemplateProblem("subject template renders to an empty subject")
    activity = dict(context.get("activity", {}), subject=rendered_subject)
    rendered_body = render(DEFAULT_BODY if body is None else body, {**context, "activity": activity}, "body template")
    return RenderedEmail(rendered_subject, rendered_body)
