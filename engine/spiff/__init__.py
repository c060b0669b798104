"""SpiffWorkflow behind one adapter: every correction of upstream behaviour, installed explicitly.

crmflow runs on SpiffWorkflow 3.2.0. Where upstream offers an extension point we subclass
(`parser.BpmnParser` swaps in a corrected end-event parser; `serializer.StateConverter` extends the
workflow converter); where it does not, a module here replaces one upstream attribute. Nothing is
replaced when `engine` is imported: `install()` does it, once, when an `Engine` is built (and when
`engine.validation` checks diagrams, which parses timers without an engine). It is idempotent.

| module | upstream defect it corrects |
|---|---|
| `timer_now` | timer event definitions call `datetime.now()` themselves, so timers ignore an injected clock |
| `timer_durations` | `P<n>Y`/`P<n>M` durations are turned into days by a per-month loop, without bound |
| `timer_working_time` | a duration timer cannot count working time (no hook between "started" and "due") |
| `event_gateway` | an event-based gateway that caught a message also fires a timer due meanwhile |
| `parser` | end events ignore a signal definition; error and escalation starts are read as plain starts |
| `scope_triggers` | an event sub-process with an error or escalation start inside a sub-process is never started |
| `serializer` | the serializer writes the whole spec into every workflow (no way to store state only) |
| `serializer` | reading a task parses its ids anew and copies its parent's data by a generic merge (cost) |

Remove a correction when the SpiffWorkflow release that fixes it is the one pinned in
pyproject.toml. The other engine modules import SpiffWorkflow's public classes (specs, task
states, events) to read workflows, but never replace anything in it (tests/test_spiff_adapter.py).
"""

from __future__ import annotations

import threading

from . import event_gateway, scope_triggers, timer_durations, timer_now, timer_working_time

_CORRECTIONS = (timer_now, timer_durations, timer_working_time, event_gateway, scope_triggers)
_lock = threading.Lock()


def install() -> None:
    """Put every correction that replaces an upstream attribute in place (idempotent, thread-safe)."""
    with _lock:
        for correction in _CORRECTIONS:
            correction.install()


def installed() -> bool:
    """True when every correction is in place."""
    return all(correction.installed() for correction in _CORRECTIONS)
