"""The HTTP surface: the API under /api/v1 (`api/`, a router per resource), the server-rendered pages
(`pages/`, a module per page family), hardening middleware, problem documents, templates and static
files, and the app factory (`app.create_app`) that composes them. Web code may call the engine's
facade, the worklist domain (`worklists`) and the CRM domain (`handlers`); neither of those imports it."""
