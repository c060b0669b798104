"""Constants the report tests share (a module of its own: `conftest` names clash across folders)."""

from datetime import UTC, datetime

#: "now" for every report test: a Wednesday in the middle of Q2 2026
NOW = datetime(2026, 5, 13, 12, 0, tzinfo=UTC)
