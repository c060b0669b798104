"""What a user task's routing properties may evaluate to (assignee, priority).

A priority expression giving a 30-digit integer or an assignee expression giving a list passed
into the task row and failed when it was written (an "internal error" from the CLI). These
converters refuse such values with a message naming the property; the engine records it as a
warning on the task and leaves the field empty, so the task is never lost.
"""

from __future__ import annotations

from typing import Any

PRIORITY_RANGE = (-(2**31), 2**31 - 1)


def priority(value: Any) -> int | None:
    """A whole number in the database's integer range, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"priority must be a whole number, not {type(value).__name__}")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise ValueError(f"priority must be a whole number, not {str(value)[:40]!r}") from None
    low, high = PRIORITY_RANGE
    if not low <= number <= high:
        raise ValueError(f"priority {str(number)[:20]}… is out of range ({low} to {high})")
    return number


def assignee(value: Any) -> str | None:
    """One user name, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, (list, tuple, set, dict)):
        raise ValueError(
            f"assignee must be one user name, not a {type(value).__name__}; "
            "use candidateGroups to offer the task to several people"
        )
    text = str(value)
    if len(text) > 200:
        raise ValueError("assignee is longer than 200 characters; it must be one user name")
    return text
