"""Errors the CRM layer raises.

`DomainError` means the call itself is wrong (a programming or data error: an unknown
record, an illegal transition the diagram should never have asked for); the engine turns
it into an incident. Business outcomes a diagram is expected to branch on are raised as
`engine.BpmnError` by the handlers instead.
"""

from __future__ import annotations


class DomainError(Exception):
    """A CRM rule was broken; `str(err)` names the record and the rule."""

    def __init__(self, message: str, code: str = "domain_error") -> None:
        super().__init__(message)
        self.code = code


class RecordNotFound(DomainError):
    """A record id passed to a handler does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="not_found")


class IllegalTransition(DomainError):
    """A record was asked to move to a state its lifecycle does not allow from where it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="illegal_transition")
