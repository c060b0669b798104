"""The composition root: the one place that wires the engine to its handlers.

Handlers come from three places, in this order: installed plug-ins (`crmflow.handlers` entry
points), modules named in `CRMFLOW_HANDLERS` (comma separated, each exposing
`register(registry)`), and crmflow's own `handlers` package (the CRM records and their operations).

The processes folder (diagrams, forms, `lanes.json`) is resolved here, once, and to an
absolute path: every component — the engine's task router, the worklists, the forms, serve,
validate and the worklist commands — gets it from `processes_folder()` / `lane_map()`, so a
server started from another directory routes and shows tasks exactly as one started here.
"""

from __future__ import annotations

import os
from pathlib import Path

import handlers
import worklists
from engine import Clock, Engine, HandlerRegistry, TaskRouter, use_directory
from engine.lanes import lanes_file_in
from worklists.forms import Forms
from worklists.permissions import PERMISSIONS_ENV
from worklists.permissions.audit import AuditLog
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist

from .script_directory import WorklistDirectory

HANDLERS_ENV = "CRMFLOW_HANDLERS"
DB_ENV = "CRMFLOW_DB"
PROCESSES_ENV = "CRMFLOW_PROCESSES"
LANES_ENV = "CRMFLOW_LANES"
SOURCE_PROCESSES = Path(__file__).resolve().parent.parent / "processes"


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
    """crmflow's own CRM handlers (the `handlers` package shipped beside the engine)."""
    handlers.register(registry)


def build_registry(modules: list[str] | None = None) -> HandlerRegistry:
    """Every configured handler, registered once."""
    registry = HandlerRegistry()
    registry.load_entry_points()
    for module_name in configured_modules() if modules is None else modules:
        _load_module(registry, module_name)
    _register_local_package(registry)
    return registry


# -- the processes folder and its lane map ---------------------------------------------------

def processes_folder(explicit: str | Path | None = None) -> Path:
    """The processes folder, made absolute once: `explicit`, else `$CRMFLOW_PROCESSES`, else a
    `processes/` folder where the command runs (an analyst's project), else the one shipped
    with crmflow's source tree. Every component is handed this one path, so none of them
    looks at the current directory again."""
    chosen = explicit or os.environ.get(PROCESSES_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    here = Path("processes")
    if here.is_dir() or not SOURCE_PROCESSES.is_dir():
        return here.resolve()
    return SOURCE_PROCESSES


def lanes_file(processes: str | Path | None = None, explicit: str | Path | None = None) -> Path | None:
    """The lane map file, absolute: `explicit`, else `$CRMFLOW_LANES`, else the processes
    folder's `lanes.json` (None when it has none)."""
    chosen = explicit or os.environ.get(LANES_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    return lanes_file_in(processes_folder(processes))


def lane_map(processes: str | Path | None = None, lanes: str | Path | None = None) -> LaneMap:
    """The lane map every component uses (empty when there is no lanes.json: every task is then
    in the visible 'unassigned' queue); a broken file raises LaneMapError naming it."""
    path = lanes_file(processes, lanes)
    return LaneMap.load(path) if path is not None else LaneMap()


def build_engine(
    db_url: str | None = None,
    clock: Clock | None = None,
    *,
    with_handlers: bool = True,
    auto_migrate: bool = True,
    registry: HandlerRegistry | None = None,
    task_router: TaskRouter | None = None,
    lanes: LaneMap | None = None,
) -> Engine:
    """An engine on `db_url` (None → `CRMFLOW_DB` → `sqlite:///crmflow.db`; a bare path is a SQLite file).

    New tasks are routed by `task_router`, else by the lane map `lanes`, else by the configured
    one (`lane_map()`). Read-only and schema commands pass `with_handlers=False` so a broken
    handler module never stops an operator from looking at instances or migrating the database.
    """
    if registry is None:
        registry = build_registry() if with_handlers else HandlerRegistry()
    use_directory(WorklistDirectory())  # spiff-arena's get_current_user() & co. (issue 19)
    return Engine(
        db_url or None, registry=registry, clock=clock, auto_migrate=auto_migrate,
        migrations=all_migrations(), task_router=task_router or make_router(lanes if lanes is not None else lane_map()),
        working_time=working_time() if with_handlers else None,
    )


def all_migrations() -> list[Path]:
    """Every Alembic branch crmflow's database carries: the CRM records' and the worklists'."""
    return [*record_migrations(), worklists.MIGRATIONS]


def record_migrations() -> list[Path]:
    """The CRM records' Alembic branch, so one `db upgrade` creates every table."""
    return [Path(handlers.MIGRATIONS)]


def working_time():  # noqa: ANN201 - an engine.working_time.WorkingTime
    """Business-hours timers count working time on the CRM's business calendars."""
    from handlers.calendars import business_target

    return business_target


def sla_provider():  # noqa: ANN201 - a worklists.service.SlaProvider
    """Work items of cases show their SLA (status, time left) from the CRM records."""
    from handlers.sla_view import CaseSlaProvider

    return CaseSlaProvider()


FORMS_ENV = "CRMFLOW_FORMS"


def build_worklist(
    engine: Engine, processes: str | Path | None = None, lanes: LaneMap | None = None,
    permissions: str | Path | None = None,
) -> Worklist:
    """The worklists over `engine`, on the same processes folder and lane map as its router: forms
    from that folder (or `$CRMFLOW_FORMS`); the permission file `permissions` (else
    `$CRMFLOW_PERMISSIONS`, else the folder's permissions.yml, else the built-in rules); case SLAs,
    lookup fields and the record panel from the CRM records. A permission file whose content
    changed since the last start is recorded in the audit log."""
    folder = processes_folder(processes)
    lookups, records = record_access(engine)
    rules = permissions_file(folder, permissions)
    worklist = Worklist(
        engine, lanes if lanes is not None else lane_map(folder), sla_provider(),
        forms=Forms(os.environ.get(FORMS_ENV) or folder, lookups=lookups), records=records,
        permissions=rules,
    )
    policy = worklist.authz.policy
    AuditLog(engine).policy_loaded(policy.source, policy.digest)
    return worklist


def permissions_file(processes: str | Path | None = None, explicit: str | Path | None = None) -> Path | None:
    """The permission file, absolute: `explicit`, else `$CRMFLOW_PERMISSIONS`, else the processes
    folder's `permissions.yml` (None when it has none: the built-in rules apply)."""
    chosen = explicit or os.environ.get(PERMISSIONS_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    path = processes_folder(processes) / "permissions.yml"
    return path if path.exists() else None


def record_access(engine: Engine):  # noqa: ANN201 - (worklists.lookups.Lookups, worklists.records.RecordReader)
    """Lookup fields and the record panel read the CRM records."""
    from crmflow.records import crm_lookups, crm_record_reader

    return crm_lookups(engine), crm_record_reader(engine)
