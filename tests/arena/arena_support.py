"""Shared by the spiff-arena tests: where the spiff-arena-style model tree is, its process ids."""

from __future__ import annotations

from pathlib import Path

MODELS = Path(__file__).parent / "models"

DATES = "Process_dates_and_clock_k2x9q1"
DATA = "Process_data_helpers_p7r3w2"
REVIEW = "Process_review_request_m4n8v2"
TEAM = "Process_team_lookup_t5y7u3"
OWN = "Process_own_request_q2w4e6"
NOTIFY = "Process_notify_customer_h3j5k7"
QUOTE = "Process_sales_quote_w8e2r4"
SECRET = "Process_read_secret_z1x3c5"
SLEEP = "Process_sleep_v6b8n0"
