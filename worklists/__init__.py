"""Worklists: queues, picking and completing human tasks, forms, users and API tokens.

Built on the engine facade: the engine keeps the work items (`wf_human_task`), this
package decides who may see and act on them. `MIGRATIONS` is the Alembic version folder of
the `worklists` branch (users, groups, memberships, API tokens), to pass as
`Engine(url, migrations=[..., worklists.MIGRATIONS])`. The HTTP API and the pages that serve this
domain live in `crmflow.web`; this package imports neither them nor the CRM domain (`handlers`).
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS: Path = Path(__file__).parent / "migrations" / "versions"
