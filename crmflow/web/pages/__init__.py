"""Web pages for agents: login, worklists with counts per queue, the task page and the instance page.

Server-rendered HTML (Jinja2 templates in `templates/`), plain forms that work without
JavaScript; a few lines of script (`static/pages.js`) only keep SLA countdowns current and
tick "select all". Every page calls `worklists.service.Worklist` (tasks) or the engine facade
(instances, diagrams), so checks and messages are the same as in the CLI and the API; a refusal
is shown on the page with a 4xx status, never as a 500.

The login is a server-side session (`worklists.sessions`: the signed cookie carries only its id,
so logging out ends it everywhere; it expires after `session_hours` and when idle); failed logins
lock the user name and the client address for a while (`worklists.lockout`). Every POST carries
the session's CSRF token. Every page declares its permission with a `Guard` (docs/permissions.md).
`crmflow.web.app.create_app` calls `install(app, settings)` and includes `build_router(engine, worklist, settings)`.
"""

from .base import install
from .worklist import build_router

__all__ = ["build_router", "install"]
