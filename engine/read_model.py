"""The engine's read side: the tables other packages may query, and nothing that writes.

The facade (`engine.Engine`) is the one way to change anything; this module is the one way to
read what the facade cannot answer in a single call — filtered, sorted and paged lists
(worklists, the operators' instance search, incident groups), the managers' reports and the SLA
views, which filter and aggregate in SQL rather than load rows into Python. Packages outside
`engine/` import the tables from here, never from `engine.models` (tests/test_architecture.py).

Every table here is a projection the engine writes in the same transaction as the instance it
describes (or the append-only history and outbox), so a query sees a consistent picture. Readers
must not insert, update or delete these rows: that is the facade's job.

`UTCDateTime` is the column type for times: tables of other packages (worklists' sessions, the
workbench's drafts) store times with it, so every time in the database reads back aware in UTC.
"""

from __future__ import annotations

from .models import (
    HistoryEntry,
    HumanTask,
    Incident,
    Instance,
    MessageSubscription,
    OutboxMessage,
    ProcessVersion,
    Timer,
    UTCDateTime,
)

__all__ = [
    "HistoryEntry",  # the append-only history of every instance
    "HumanTask",  # open and finished human tasks (the worklists' rows)
    "Incident",  # failures waiting for an operator
    "Instance",  # one row per process instance: status, business key, times
    "MessageSubscription",  # what an instance waits to receive
    "OutboxMessage",  # messages a unit of work sent (campaign reports count them)
    "ProcessVersion",  # deployed versions of each process
    "Timer",  # timers an instance waits on
    "UTCDateTime",  # the column type for times, for other packages' tables
]
