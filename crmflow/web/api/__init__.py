"""The HTTP API under `/api/v1`: worklists, process definitions, instances, messages, incidents.

Every route is a thin call into `worklists.service.Worklist` (tasks) or the engine facade
(the rest), so the checks and messages are the same as in the CLI and the pages. Callers
authenticate with an API token (`Authorization: Bearer cft_...`, see `crmflow users token`);
refusals are RFC 7807 problem documents (see `crmflow.web.problems`).

Who may do what is declared per route with `worklists.permissions.routes.Guard` (one of
`guard.need(...)`, `guard.need_instance(...)`, `guard.login(...)`, `guard.inside(...)`,
`public()` in its `dependencies`) and decided by the permission model (docs/permissions.md);
lists are filtered to what the caller may read. A refusal is a 403 problem naming the missing
permission. Routes are plain `def`s: FastAPI runs them in its thread pool, as the engine is synchronous.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from engine import Engine
from worklists.permissions.routes import Guard, public
from worklists.service import Worklist

from ..problems import explain, openapi_problem_responses
from .common import PREFIX, Api, ProblemType, errors, incident_process, plain_query, token_user
from .console import add_console_routes
from .incidents import add_incident_routes
from .instances import add_instance_routes
from .messages import add_message_routes
from .ops import build_ops_router
from .processes import add_process_routes
from .tasks import add_task_routes

__all__ = ["PREFIX", "build_ops_router", "build_router"]


def build_router(engine: Engine, worklist: Worklist) -> APIRouter:
    """All `/api/v1` routes, bound to one engine and worklist."""
    router = APIRouter(prefix=PREFIX, dependencies=[Depends(plain_query)])
    current_user = token_user(worklist)

    guard = Guard(worklist.authz, current_user, instances=worklist.instances,
                  resolvers={"incident_id": incident_process(worklist)})
    api = Api(router, engine, worklist, guard, current_user)
    # the order is the routes' matching order: /tasks/bulk/... before /tasks/{task_id}, /instances/search
    # before /instances/{instance_id}
    add_task_routes(api)
    add_process_routes(api)
    add_instance_routes(api)
    add_message_routes(api)
    add_incident_routes(api)
    add_console_routes(router, engine, worklist, guard, current_user, errors)

    # -- documentation of problems ------------------------------------------------------
    @router.get("/problems/{kind}", response_model=ProblemType, tags=["meta"],
                responses=openapi_problem_responses(404, 422), dependencies=[public("problem type documentation")])
    def problem_type(kind: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """What a problem `type` means."""
        return explain(kind)

    return router


