"""Drafts of diagrams saved from the workbench: who wrote what, when, and whether it went live.

A draft is a whole file (BPMN or DMN XML) as the modeler saved it; deploying one records who
deployed it and as which version, so "who deployed what" is answered from this table. Stored on
the worklists' declarative base and Alembic branch (revision 0005_wb17_drafts): people's names
live there, the engine's tables know nothing of analysts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from engine import Engine, NotFound
from engine.read_model import UTCDateTime
from engine.xml import MAX_BYTES as XML_MAX_BYTES
from worklists.models import WorklistBase

MAX_BYTES = XML_MAX_BYTES  # the diagram limit deploy applies (5 MB): bigger is a mistake (a pasted image)


class Draft(WorklistBase):
    """One saved state of a diagram file being edited."""

    __tablename__ = "wl_draft"
    __table_args__ = (Index("ix_wl_draft_process", "process_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))  # process id, or the DMN file's stem
    file_name: Mapped[str] = mapped_column(String(255))  # the name it has in processes/
    kind: Mapped[str] = mapped_column(String(8))  # bpmn | dmn
    content: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_version: Mapped[int | None] = mapped_column(Integer)
    deployed_by: Mapped[str | None] = mapped_column(String(255))
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class DraftView:
    id: int
    process_id: str
    file_name: str
    kind: str
    author: str
    created_at: datetime
    deployed_version: int | None
    deployed_by: str | None
    deployed_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "process_id": self.process_id, "file_name": self.file_name, "kind": self.kind,
                "author": self.author, "created_at": self.created_at.isoformat(),
                "deployed_version": self.deployed_version, "deployed_by": self.deployed_by,
                "deployed_at": self.deployed_at.isoformat() if self.deployed_at else None}


def _view(row: Draft) -> DraftView:
    return DraftView(row.id, row.process_id, row.file_name, row.kind, row.author, row.created_at,
                     row.deployed_version, row.deployed_by, row.deployed_at)


class DraftStore:
    """Save, list, read and mark drafts; times come from the engine's clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, process_id: str, file_name: str, kind: str, content: str, author: str) -> DraftView:
        with self.engine.db.write() as session:
            row = Draft(process_id=process_id, file_name=file_name, kind=kind, content=content, author=author,
                        created_at=self.engine.now())
            session.add(row)
            session.flush()
            return _view(row)

    def list(self, process_id: str, limit: int = 20) -> list[DraftView]:
        with self.engine.db.read() as session:
            rows = session.scalars(select(Draft).where(Draft.process_id == process_id)
                                   .order_by(Draft.id.desc()).limit(limit))
            return [_view(r) for r in rows]

    def get(self, process_id: str, draft_id: int) -> tuple[DraftView, str]:
        with self.engine.db.read() as session:
            row = session.get(Draft, draft_id)
            if row is None or row.process_id != process_id:
                raise NotFound(f"draft {draft_id} of {process_id} does not exist; the workbench lists the drafts")
            return _view(row), row.content

    def mark_deployed(self, draft_id: int, version: int | None, user: str) -> None:
        with self.engine.db.write() as session:
            row = session.get(Draft, draft_id)
            if row is not None:
                row.deployed_version, row.deployed_by, row.deployed_at = version, user, self.engine.now()
