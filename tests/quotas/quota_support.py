"""Constants and helpers the quota tests share (own module name: conftest names clash across folders)."""

from datetime import UTC, datetime

#: "now" for the quota tests: a Wednesday in Q2 2026
NOW = datetime(2026, 5, 13, 12, 0, tzinfo=UTC)
