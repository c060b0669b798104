"""crmflow's CRM records and service-task handlers.

`register(registry)` adds every operation (`sales/...`, `activities/...`, ...) to an
engine `HandlerRegistry`; `MIGRATIONS` is the Alembic version folder of the records'
own branch (`crm`), to pass as `Engine(url, migrations=[handlers.MIGRATIONS])`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.services import HandlerRegistry

MIGRATIONS: Path = Path(__file__).parent / "migrations" / "versions"
HANDLER_MODULES = (
    "activities",
    "sales.leads",
    "sales.opportunities",
    "sales.quotes",
    "sales.orders",
    "quote_mail",
    "service.cases",
    "service.entitlements",
    "service.sla",
    "service.knowledge",
    "marketing.lists",
    "marketing.campaigns",
    "marketing.distribution",
    "marketing.responses",
    "calendars",
    "resources",
    "territories",
)


def register(registry: HandlerRegistry) -> None:
    """Register every CRM operation with the engine's registry."""
    from .support import OPERATIONS

    for module in HANDLER_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    for name, func in sorted(OPERATIONS.items()):
        registry.register(name, func)
