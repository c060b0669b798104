"""What is already deployed, as the validator and deploy need it: process ids, the messages
their latest versions catch, and the latest deployed DMN file of each decision.

One reader for `crmflow validate` and for `Engine.deploy`, so both judge a diagram against the
same deployed world. A database without crmflow's tables (a fresh file) simply has nothing
deployed: that is not a problem worth a warning, let alone a raw SQL error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from engine.models import DefinitionFile, ProcessVersion
from engine.xml import parse_bytes

from .parsing import CATCH_EVENTS, Document, bpmn_children, local


@dataclass
class Deployed:
    processes: frozenset[str] = frozenset()
    messages: frozenset[str] = frozenset()
    dmn: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Decision id → (file name, content) of the latest deployed DMN file that defines it."""


def has_schema(session: Session) -> bool:
    """False on a database crmflow never migrated (a fresh file)."""
    return inspect(session.connection()).has_table(ProcessVersion.__tablename__)


def read_deployed(session: Session) -> Deployed:
    """Everything deploy-time checks need to know about the deployed world; empty on a fresh database."""
    if not has_schema(session):
        return Deployed()
    latest: dict[str, ProcessVersion] = {}
    for version in session.scalars(select(ProcessVersion).order_by(ProcessVersion.version)):
        latest[version.process_id] = version
    file_ids = {v.file_id for v in latest.values()}
    contents = dict(session.execute(
        select(DefinitionFile.id, DefinitionFile.content).where(DefinitionFile.id.in_(file_ids))
    ).all()) if file_ids else {}
    sources = {pid: contents.get(v.file_id, b"") for pid, v in latest.items()}
    dmn: dict[str, tuple[str, bytes]] = {}
    rows = session.execute(
        select(DefinitionFile.name, DefinitionFile.content).where(DefinitionFile.kind == "dmn")
        .order_by(DefinitionFile.deployed_at, DefinitionFile.id)
    ).all()
    for name, content in rows:  # oldest first: a later file defining the same decision wins
        for decision in decision_ids(content, name):
            dmn[decision] = (name, content)
    return Deployed(frozenset(latest), frozenset(caught_messages(sources)), dmn)


def decision_ids(content: bytes, name: str = "dmn") -> list[str]:
    try:
        root = parse_bytes(content, name).getroot()
    except Exception:  # an old deployed file we cannot read defines nothing
        return []
    return [el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("}decision")
            and el.get("id")]


def caught_messages(sources: dict[str, bytes]) -> set[str]:
    """Message names the given deployed diagrams catch (start, catch, boundary events, receive tasks)."""
    names: set[str] = set()
    for pid, content in sources.items():
        try:
            doc = Document(Path(f"{pid}.bpmn"), pid, "bpmn", parse_bytes(content, pid).getroot())
        except Exception:  # an old deployed diagram we cannot read adds no catchers
            continue
        for _, node in doc.flow_nodes():
            if local(node) in CATCH_EVENTS or local(node) == "receiveTask":
                refs = [d.get("messageRef") for d in bpmn_children(node, "messageEventDefinition")]
                refs.append(node.get("messageRef"))
                names.update(n for ref in refs if (n := doc.message_name(ref)))
    return names
