"""What the workspace pages and API share: records (handlers' record services), the processes
running on them (engine facade), start forms, My activities and global search.

The CRM rules stay in `handlers` (records_service, customer360, activities); the engine knows
nothing of them. This module links the two: an instance "works on" a record when its variables
hold the record's id (`lead.lead_id`, `case.case_id`, `opportunity_id`, ...), which is how the
processes keep them; a lifecycle move such a process owns is done by completing its task.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text

from engine import Engine, InvalidInput, NotFound
from engine.views import HumanTaskView, InstanceView
from engine.xml import parse_bytes
from handlers import activities, customer360
from handlers import records_service as rs
from handlers.errors import DomainError, RecordNotFound
from worklists.forms import Forms
from worklists.permissions import READ, START
from worklists.permissions.authorizer import Authorizer

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
#: the start forms the web offers (process id → title); each names its form on its start event
STARTABLE = {"lead_to_invoice": "New lead", "case_resolution": "New case", "campaign_execution": "New campaign"}
RUNNING_SCAN = 500
LIVE = ("running", "waiting", "suspended")  # instances not ended
SEARCHED = ("account", "contact", "lead", "opportunity", "case", "quote", "order", "invoice", "product",
            "knowledge_article", "contract", "campaign")


@dataclass
class RunningProcess:
    """An instance that works on a record, with its open tasks (what a person can do next)."""

    instance: InstanceView
    tasks: list[HumanTaskView] = field(default_factory=list)
    records: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class StartForm:
    process_id: str
    title: str
    form: str  # the form's file name
    variable: str  # the variable the submitted data goes in ("": merged into the start data)
    schema: dict[str, Any]
    key_prefix: str  # business keys of web starts: PREFIX-YYYYMMDD-xxxxxx (findable in queues and search)


@dataclass
class Hit:
    entity: rs.Entity | None
    label: str
    url: str
    detail: str = ""


def record_refs(data: Any, depth: int = 0) -> Iterator[tuple[str, int]]:
    """(kind, id) for every `KIND_id` integer in an instance's variables (two levels deep)."""
    if not isinstance(data, Mapping) or depth > 2:
        return
    for key, value in data.items():
        if isinstance(key, str) and key.endswith("_id") and isinstance(value, int) and not isinstance(value, bool):
            yield key[:-3], value
        elif isinstance(value, Mapping):
            yield from record_refs(value, depth + 1)


class Workspace:
    def __init__(self, engine: Engine, authz: Authorizer, forms: Forms | None) -> None:
        self.engine = engine
        self.authz = authz
        self.forms = forms
        self._records_here = False

    def require_records(self) -> None:
        """A 404 naming the cause on a database without the CRM records (an engine-only deployment)."""
        if not self._records_here:
            from sqlalchemy import inspect

            self._records_here = inspect(self.engine.db.read_engine).has_table("crm_activity")
        if not self._records_here:
            raise NotFound("the CRM records are not in this database: run crmflow db upgrade with the CRM handlers "
                           "installed")

    # -- processes on records ---------------------------------------------------------------------
    def running_on(self, refs: Mapping[str, set[int]]) -> list[RunningProcess]:
        """Running instances whose variables hold one of these record ids, with their open tasks."""
        wanted = {(kind, i) for kind, ids in refs.items() for i in ids}
        if not wanted:
            return []
        found = []
        live = [i for status in LIVE for i in self.engine.list_instances(status=status, limit=RUNNING_SCAN)]
        for inst in sorted(live, key=lambda i: i.id):
            detail = self.engine.get_instance(inst.id, with_history=False)
            hits = set(record_refs(detail.data)) & wanted
            if hits:
                found.append(RunningProcess(inst, list(detail.open_tasks), hits))
        return found

    def owner_of(self, entity: str, record_id: int) -> RunningProcess | None:
        """The running process that keeps this record (its lifecycle moves are its tasks)."""
        running = self.running_on({entity: {record_id}})
        return running[0] if running else None

    # -- start forms ----------------------------------------------------------------------------
    def start_form(self, process_id: str) -> StartForm:
        """The start event's form (`formJsonSchemaFilename` on the start event) of a startable process."""
        if process_id not in STARTABLE:
            raise NotFound(f"process {process_id} has no start form on the web; "
                           f"the web starts {', '.join(STARTABLE)}")
        try:
            source = self.engine.diagram_source(process_id)
        except NotFound:
            raise NotFound(f"process {process_id} is not deployed (crmflow deploy)") from None
        root = parse_bytes(source, f"{process_id}.bpmn")
        for process in root.iter(f"{BPMN}process"):
            if process.get("id") != process_id:
                continue
            for start in process.iter(f"{BPMN}startEvent"):
                props = {p.get("name"): p.get("value") for p in start.iter(f"{SPIFF}property")}
                name = props.get("formJsonSchemaFilename")
                if name and self.forms is not None:
                    schema = self.forms.schema(name)
                    variable = str(props.get("startFormVariable") or "")
                    prefix = str(props.get("startBusinessKeyPrefix") or process_id.upper())
                    return StartForm(process_id, STARTABLE[process_id], name, variable, schema, prefix)
        raise NotFound(f"the start event of {process_id} names no form (formJsonSchemaFilename)")

    def start(self, user: str, form: StartForm, data: Mapping[str, Any]) -> InstanceView:
        """Validate the form data and start the process with it (permission checked by the caller)."""
        assert self.forms is not None
        clean = self.forms.validate(form.form, data)
        key = f"{form.key_prefix}-{self.engine.now():%Y%m%d}-{secrets.token_hex(3).upper()}"
        return self.engine.start(form.process_id, {form.variable: clean} if form.variable else clean,
                                 business_key=key, user=user)

    def startable(self, user: str) -> dict[str, str]:
        deployed = {v.process_id for v in self.engine.list_definitions()}
        return {p: t for p, t in STARTABLE.items() if p in deployed and self.authz.allows(user, START, f"process:{p}")}

    # -- activities -----------------------------------------------------------------------------
    def my_activities(self, user: str) -> tuple[list[Any], int]:
        with self.engine.db.read() as session:
            rows = activities.open_activities_of(session, user)
            session.expunge_all()
        return rows, activities.overdue_count(rows, self.engine.now())

    # -- search ---------------------------------------------------------------------------------
    def search(self, user: str, q: str, limit: int = 10) -> list[Hit]:
        """Customers, records and business keys matching `q`, only of the entities the user may read:
        accounts, contacts, leads, opportunities and cases by the global full-text index, ranked
        (`records_service.search_records`), then the other records, knowledge articles by their index."""
        q = q.strip()
        if not q:
            return []
        hits: list[Hit] = []
        readable = set(self.authz.filter_names(user, READ, "records", SEARCHED))
        with self.engine.db.read() as session:
            found = rs.search_records(session, [n for n in SEARCHED if n in readable], q, limit=2 * limit)
            for name in SEARCHED:
                if name not in readable or name in rs.SEARCH_CODES:
                    continue
                ent = rs.ENTITIES[name]
                rows = article_search(session, q, limit) if name == "knowledge_article" else \
                    rs.list_records(session, ent, q=q, limit=limit)[0]
                found.extend((ent, r) for r in rows)
            for ent, r in found:
                hits.append(Hit(ent, ent.label(r), f"/records/{ent.slug}/{r.id}",
                                f"{ent.singular} · {getattr(r, 'status', '')}"))
        for inst in self._instances_by_key(user, q, limit):
            hits.append(Hit(None, f"{inst.business_key}", f"/instances/{inst.id}",
                            f"{inst.process_id} instance · {inst.status}"))
        return hits

    def _instances_by_key(self, user: str, q: str, limit: int) -> list[InstanceView]:
        from engine.read_model import Instance  # the read model's table; filtered by the permission layer

        with self.engine.db.read() as session:
            stmt = select(Instance.id).where(func.lower(Instance.business_key).like(f"%{q.lower()}%"),
                                             self.authz.sql_filter(user, READ, "instances", Instance.process_id))
            ids = list(session.scalars(stmt.order_by(Instance.id.desc()).limit(limit)))
        return [self.engine.get_instance(i, with_history=False) for i in ids]


def article_search(session: Any, q: str, limit: int) -> list[Any]:
    """Knowledge articles by the full-text index (FTS5 on SQLite, tsvector on PostgreSQL)."""
    from handlers.models import KnowledgeArticle

    terms = [t for t in "".join(c if c.isalnum() else " " for c in q).split() if t]
    if not terms:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        match = " OR ".join(f'"{t}"*' for t in terms)
        ids = [r[0] for r in session.execute(text(
            "SELECT rowid FROM crm_knowledge_article_fts WHERE crm_knowledge_article_fts MATCH :m LIMIT :n"),
            {"m": match, "n": limit})]
    elif dialect == "postgresql":
        query = " | ".join(f"{t}:*" for t in terms)
        ids = [r[0] for r in session.execute(text(
            "SELECT id FROM crm_knowledge_article WHERE search_vector @@ to_tsquery('english', :q) LIMIT :n"),
            {"q": query, "n": limit})]
    else:
        ids = []
    if not ids:
        return []
    return list(session.scalars(select(KnowledgeArticle).where(KnowledgeArticle.id.in_(ids))))


def customer(session: Any, entity: str, record_id: int) -> customer360.Customer360:
    if entity == "account":
        return customer360.for_account(session, record_id)
    return customer360.for_contact(session, record_id)


def domain_to_engine(err: DomainError) -> Exception:
    """A CRM rule broken by a person's input: 404 for a missing record, else 422."""
    if isinstance(err, RecordNotFound):
        return NotFound(str(err))
    return InvalidInput(str(err))

