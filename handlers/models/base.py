"""The CRM records' own declarative base, separate from the engine's tables.

The records live in the same database as the engine (so a handler's writes commit with
the workflow step), but in their own metadata and their own Alembic branch (`crm`), so
the engine never needs to know they exist.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.read_model import UTCDateTime  # the one UTC column type: the engine's

Money = Numeric(14, 2)
Quantity = Numeric(12, 3)
Percent = Numeric(5, 2)


class CrmBase(DeclarativeBase):
    """Base of every `crm_` table (constraints named by convention, for later migrations)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
        date: Date,
        Decimal: Money,
    }


class StatefulMixin:
    """State + status reason, as on every Dynamics-style record, and when it last moved."""

    state: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: record kind used in messages ("quote"), set by each model
    kind: str = "record"

    @property
    def label(self) -> str:
        """How messages name this record: its number when it has one, else kind + id."""
        number = getattr(self, "number", None)
        return str(number) if number else f"#{getattr(self, 'id', '?')}"
