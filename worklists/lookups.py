"""Lookup fields: a form field whose value must name a record (a product, a price list, an account).

A form's JSON Schema marks such a property with the extension keyword `x-lookup`:

    "product_number": {"title": "Product", "type": "string", "x-lookup": "products"}

The page then offers the records as a select (or, for long lists, an autocomplete input), and
the submitted value is checked server-side before the task completes, so a mistyped product is
a field error the agent fixes — not an incident in the next step that nobody sees.

Worklists know nothing of CRM records: the composition root hands `Forms` a mapping of lookup
name → `Lookup` (crmflow's read the CRM records). Without lookups (`Forms(root)`) the keyword is
not checked; with them, a form naming a lookup the server does not provide is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

KEYWORD = "x-lookup"
MAX_OPTIONS = 500  # more than this and the page shows the first ones as suggestions only


@dataclass(frozen=True)
class Option:
    """One choice: the value submitted and what people read."""

    value: str | int
    label: str


class Lookup(Protocol):
    """Where a lookup's choices come from."""

    noun: str  # "product": used in messages ("is not a known product")

    def options(self, limit: int = MAX_OPTIONS) -> list[Option]: ...

    def find(self, value: Any) -> Option | None: ...


Lookups = Mapping[str, Lookup]


def lookup_names(schema: Any) -> Iterator[str]:
    """Every lookup a schema names, nested properties and array items included."""
    if isinstance(schema, Mapping):
        if isinstance(schema.get(KEYWORD), str):
            yield schema[KEYWORD]
        for value in schema.values():
            yield from lookup_names(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from lookup_names(value)
