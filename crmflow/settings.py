"""The composition root: the one place that wires the engine to its handlers.

Handlers come from three places, in this order: installed plug-ins (`crmflow.handlers` entry
points), modules named in `CRMFLOW_HANDLERS` (comma separated, each exposing
`register(registry)`), and the project's own `handlers` package when it has a `register`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import worklists
from engine import Clock, Engine, HandlerRegistry
from engine.arena_helpers import use_directory
from engine.facade import TaskRouter
from worklists.routing import lane_router

from .script_directory import WorklistDirectory

HANDLERS_ENV = "CRMFLOW_HANDLERS"
DB_ENV = "CRMFLOW_DB"
LOCAL_HANDLERS_PACKAGE = "handlers"


class ConfigError(ValueError):
    """The handler configuration cannot be loaded; the message says which setting is at fault."""


def configured_modules(value: str | None = None) -> list[str]:
    """Module names from `CRMFLOW_HANDLERS` (or `value`), blanks dropped."""
    raw = os.environ.get(HANDLERS_ENV, "") if value is None else value
    return [name.strip() for name in raw.split(",") if name.strip()]


def _load_module(registry: HandlerRegistry, module_name: str) -> None:
    try:
        registry.load_modules([module_name])
    except ImportError as err:
        raise ConfigError(f"{HANDLERS_ENV}: cannot import handler module {module_name!r}: {err}") from err
    except ValueError as err:
        raise ConfigError(f"{HANDLERS_ENV}: {err}") from err


def _register_local_package(registry: HandlerRegistry) -> None:
    """The `handlers` package may not exist yet (or be a bare namespace): then there is nothing to add."""
    spec = importlib.util.find_spec(LOCAL_HANDLERS_PACKAGE)
    if spec is None or spec.origin is None:  # absent, or a directory without __init__.py
        return
    module = importlib.import_module(LOCAL_HANDLERS_PACKAGE)
    register = getattr(module, "register", None)
    if callable(register):
        register(registry)


def build_registry(modules: list[str] | None = None) -> HandlerRegistry:
    """Every configured handler, registered once."""
    registry = HandlerRegistry()
    registry.load_entry_points()
    for module_name in configured_modules() if modules is None else modules:
        _load_module(registry, module_name)
    _register_local_package(registry)
    return registry


def build_engine(
    db_url: str | None = None,
    clock: Clock | None = None,
    *,
    with_handlers: bool = True,
    auto_migrate: bool = True,
    registry: HandlerRegistry | None = None,
    task_router: TaskRouter | None = None,
) -> Engine:
    """An engine on `db_url` (None → `CRMFLOW_DB` → `sqlite:///crmflow.db`; a bare path is a SQLite file).

    Read-only and schema commands pass `with_handlers=False` so a broken handler module never
    stops an operator from looking at instances or migrating the database.
    """
    if registry is None:
        registry = build_registry() if with_handlers else HandlerRegistry()
    use_directory(WorklistDirectory())  # spiff-arena's get_current_user() & co. (issue 19)
    return Engine(
        db_url or None, registry=registry, clock=clock, auto_migrate=auto_migrate,
        migrations=all_migrations(), task_router=task_router or lane_router(),
        working_time=working_time() if with_handlers else None,
    )


def all_migrations() -> list[Path]:
    """Every Alembic branch crmflow's database carries: the CRM records' and the worklists'."""
    return [*record_migrations(), worklists.MIGRATIONS]


def record_migrations() -> list[Path]:
    """The CRM records' Alembic branch, so one `db upgrade` creates every table."""
    spec = importlib.util.find_spec(LOCAL_HANDLERS_PACKAGE)
    if spec is None or spec.origin is None:
        return []
    module = importlib.import_module(LOCAL_HANDLERS_PACKAGE)
    folder = getattr(module, "MIGRATIONS", None)
    return [Path(folder)] if folder else []


def working_time():  # noqa: ANN201 - an engine.working_time.WorkingTime, when the CRM records are there
    """Business-hours timers count working time on the CRM's business calendars."""
    spec = importlib.util.find_spec(LOCAL_HANDLERS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    from handlers.calendars import business_target

    return business_target


def sla_provider():  # noqa: ANN201 - a worklists.service.SlaProvider, when the CRM records are there
    """Work items of cases show their SLA (status, time left) from the CRM records."""
    spec = importlib.util.find_spec(LOCAL_HANDLERS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    from handlers.sla_view import CaseSlaProvider

    return CaseSlaProvider()
