"""Transition tables for every CRM record (DESIGN.md "CRM lifecycle rules").

Each lifecycle lists the status reasons allowed in each state and the states each state
may move to. Handlers first `require` the state an action needs (for a message a person
can act on: "quote Q-00012 is Draft; only an Active quote can be won"), then `move`,
which re-checks the table so no code path can skip a rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import DomainError, IllegalTransition


@dataclass(frozen=True)
class Lifecycle:
    kind: str
    statuses: Mapping[str, tuple[str, ...]]  # state -> status reasons; the first is the default
    moves: Mapping[str, frozenset[str]]  # state -> states it may move to (itself = status change)

    @property
    def initial(self) -> tuple[str, str]:
        state = next(iter(self.statuses))
        return state, self.statuses[state][0]

    def default_status(self, state: str) -> str:
        if state not in self.statuses:
            raise DomainError(f"{self.kind} has no state {state!r}; states are {', '.join(self.statuses)}")
        return self.statuses[state][0]

    def start(self, record: Any, now: datetime, state: str | None = None, status: str | None = None) -> None:
        """Put a new record in its initial state (or a given valid one)."""
        state = state or self.initial[0]
        status = status or self.default_status(state)
        self._check_status(state, status)
        record.state, record.status = state, status
        record.created_at = now
        record.state_changed_at = now

    def move(self, record: Any, state: str, status: str | None, now: datetime) -> None:
        """Move `record` to `state`/`status`, or raise `IllegalTransition`."""
        status = status or self.default_status(state)
        self._check_status(state, status)
        if state not in self.moves.get(record.state, frozenset()):
            raise IllegalTransition(
                f"{self.kind} {record.label} is {record.state}; it cannot move to {state}"
                f"{self._allowed_hint(record.state)}"
            )
        if state == record.state and status == record.status:
            raise IllegalTransition(f"{self.kind} {record.label} is already {state} ({status})")
        record.state, record.status = state, status
        record.state_changed_at = now

    def require(self, record: Any, states: Iterable[str], action: str) -> None:
        """Raise a `DomainError` unless `record` is in one of `states` (needed for `action`)."""
        states = list(states)
        if record.state not in states:
            raise IllegalTransition(
                f"{self.kind} {record.label} is {record.state}; only {_article(states[0])} "
                f"{' or '.join(states)} {self.kind} can be {action}"
            )

    def _check_status(self, state: str, status: str) -> None:
        if state not in self.statuses:
            raise DomainError(f"{self.kind} has no state {state!r}; states are {', '.join(self.statuses)}")
        if status not in self.statuses[state]:
            raise DomainError(
                f"{status!r} is not a status reason of a {state} {self.kind}; "
                f"use one of {', '.join(self.statuses[state])}"
            )

    def _allowed_hint(self, state: str) -> str:
        targets = sorted(self.moves.get(state, frozenset()) - {state})
        return f" (from {state} it can move to {', '.join(targets)})" if targets else f" ({state} is final)"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def lifecycle(kind: str, statuses: dict[str, tuple[str, ...]], moves: dict[str, set[str]]) -> Lifecycle:
    return Lifecycle(kind, statuses, {k: frozenset(v) for k, v in moves.items()})


ACTIVE_INACTIVE = {"Active": ("Active",), "Inactive": ("Inactive",)}
BOTH_WAYS = {"Active": {"Inactive"}, "Inactive": {"Active"}}

ACCOUNT = lifecycle("account", ACTIVE_INACTIVE, BOTH_WAYS)
CONTACT = lifecycle("contact", ACTIVE_INACTIVE, BOTH_WAYS)
PRICE_LIST = lifecycle("price list", ACTIVE_INACTIVE, BOTH_WAYS)
MARKETING_LIST = lifecycle("marketing list", ACTIVE_INACTIVE, BOTH_WAYS)
COMPETITOR = lifecycle("competitor", ACTIVE_INACTIVE, BOTH_WAYS)
PRODUCT = lifecycle(
    "product",
    {"Active": ("Active",), "Draft": ("Draft",), "Retired": ("Retired",)},
    {"Draft": {"Active"}, "Active": {"Retired"}, "Retired": {"Active"}},
)

ACTIVITY = lifecycle(
    "activity",
    {
        "Open": ("Open", "Scheduled"),
        "Completed": ("Completed", "Sent", "Received", "Made"),
        "Canceled": ("Canceled",),
    },
    {"Open": {"Open", "Completed", "Canceled"}},
)

LEAD_DISQUALIFY_REASONS = ("Lost", "Cannot Contact", "No Longer Interested", "Canceled")
LEAD = lifecycle(
    "lead",
    {
        "Open": ("New", "Contacted"),
        "Qualified": ("Qualified",),
        "Disqualified": LEAD_DISQUALIFY_REASONS,
    },
    {"Open": {"Open", "Qualified", "Disqualified"}, "Disqualified": {"Open"}},
)

OPPORTUNITY_LOST_REASONS = ("Canceled", "Out-Sold")
OPPORTUNITY = lifecycle(
    "opportunity",
    {"Open": ("In Progress", "On Hold"), "Won": ("Won",), "Lost": OPPORTUNITY_LOST_REASONS},
    {"Open": {"Open", "Won", "Lost"}},
)

QUOTE = lifecycle(
    "quote",
    {
        "Draft": ("In Progress",),
        "Active": ("Open", "In Progress"),
        "Won": ("Won",),
        "Closed": ("Lost", "Canceled", "Revised"),
    },
    {"Draft": {"Active", "Closed"}, "Active": {"Won", "Closed"}},
)

ORDER = lifecycle(
    "order",
    {
        "Active": ("New", "Pending"),
        "Submitted": ("In Progress",),
        "Fulfilled": ("Complete", "Partial"),
        "Invoiced": ("Invoiced",),
        "Canceled": ("Canceled", "No Money"),
    },
    {
        "Active": {"Active", "Submitted", "Fulfilled", "Canceled"},
        "Submitted": {"Fulfilled", "Canceled"},
        "Fulfilled": {"Fulfilled", "Invoiced"},
    },
)

INVOICE = lifecycle(
    "invoice",
    {"Active": ("New", "Billed"), "Paid": ("Complete", "Partial"), "Canceled": ("Canceled",)},
    {"Active": {"Active", "Paid", "Canceled"}, "Paid": {"Paid"}},
)

CAMPAIGN = lifecycle(
    "campaign",
    {
        "Proposed": ("Proposed",),
        "Ready To Launch": ("Ready To Launch",),
        "Launched": ("Launched",),
        "Completed": ("Completed",),
        "Canceled": ("Canceled",),
    },
    {
        "Proposed": {"Ready To Launch", "Canceled"},
        "Ready To Launch": {"Launched", "Canceled"},
        "Launched": {"Completed", "Canceled"},
    },
)

CAMPAIGN_ACTIVITY = lifecycle(
    "campaign activity",
    {"Open": ("Proposed", "In Progress"), "Completed": ("Completed",), "Canceled": ("Canceled",)},
    {"Open": {"Open", "Completed", "Canceled"}},
)

CAMPAIGN_RESPONSE = lifecycle(
    "campaign response",
    {"Open": ("Open",), "Closed": ("Closed", "Converted"), "Canceled": ("Canceled",)},
    {"Open": {"Closed", "Canceled"}},
)

CASE = lifecycle(
    "case",
    {
        "Active": ("In Progress", "On Hold", "Waiting for Details", "Researching"),
        "Resolved": ("Problem Solved", "Information Provided"),
        "Canceled": ("Canceled", "Merged"),
    },
    {"Active": {"Active", "Resolved", "Canceled"}, "Resolved": {"Active"}, "Canceled": {"Active"}},
)

SLA_KPI = lifecycle(
    "SLA KPI",
    {
        "Active": ("In Progress", "Nearing Noncompliance", "Paused"),
        "Closed": ("Succeeded", "Noncompliant", "Canceled"),
    },
    {"Active": {"Active", "Closed"}},
)

CONTRACT = lifecycle(
    "contract",
    {
        "Draft": ("Draft",),
        "Active": ("Active",),
        "On Hold": ("On Hold",),
        "Canceled": ("Canceled",),
        "Expired": ("Expired",),
    },
    {
        "Draft": {"Active", "Canceled"},
        "Active": {"On Hold", "Canceled", "Expired"},
        "On Hold": {"Active", "Canceled"},
    },
)

ENTITLEMENT = lifecycle(
    "entitlement",
    {"Draft": ("Draft",), "Active": ("Active",), "Expired": ("Expired",), "Canceled": ("Canceled",)},
    {"Draft": {"Active", "Canceled"}, "Active": {"Expired", "Canceled"}},
)

ARTICLE = lifecycle(
    "knowledge article",
    {
        "Draft": ("In Progress",),
        "Published": ("Published",),
        "Archived": ("Archived",),
        "Discarded": ("Discarded",),
    },
    {"Draft": {"Published", "Discarded"}, "Published": {"Archived", "Draft"}},
)
