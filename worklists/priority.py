"""Task priority: one convention for sorting, filtering, the API and the pages.

**1 is the most urgent**, as the shipped diagrams give it (Hot leads, High cases and
approvals are 1, normal work 2, low 3). Sorting by priority puts 1 first (tasks without a
priority last); the filter "priority high" means "this urgent or more" (priority ≤ 1). People
read words: 1 or less is High, 2 Normal, 3 or more Low.
"""

from __future__ import annotations

HIGH, NORMAL, LOW = 1, 2, 3
LABELS = {HIGH: "High", NORMAL: "Normal", LOW: "Low"}
LIMIT = 2**31 - 1
FILTER_WORDS = {"high": HIGH, "normal": NORMAL}  # "at least Low" is every task: no filter


def priority_label(value: int | None) -> str:
    """The word people read for a priority number ("—" when the task has none)."""
    if value is None:
        return "—"
    return LABELS[max(HIGH, min(LOW, value))]


def parse_priority(text: str | int | None) -> int | None:
    """A filter value — tasks at least this urgent: "high" (priority 1), "normal" (1 and 2), or a
    number N (priority ≤ N); None when blank. Raises ValueError with a sentence a person can act on."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, int):
        return text
    word = text.strip().lower()
    if word in FILTER_WORDS:
        return FILTER_WORDS[word]
    try:
        number = int(word)
    except ValueError:
        raise ValueError(f"priority must be high, normal or a number (1 = most urgent), not {text!r}") from None
    if not -LIMIT <= number <= LIMIT:  # priorities are INTEGER columns: a larger number is no priority
        raise ValueError(f"priority must be a number from {-LIMIT} to {LIMIT}, not {text!r}")
    return number
