"""Incidents: the list the caller may read, and retrying a failed step."""

from typing import Annotated, Literal

from fastapi import Query

from engine.views import (
    IncidentView,
    InstanceView,
)
from worklists.permissions import OPERATE

from .common import MAX_ID, Api, IntId, errors


def add_incident_routes(api: Api) -> None:
    router, engine, worklist, guard = api.router, api.engine, api.worklist, api.guard
    User = api.user

    # -- incidents ----------------------------------------------------------------------
    @router.get("/incidents", response_model=list[IncidentView], tags=["incidents"], responses=errors(),
                dependencies=[guard.login("only incidents of instances the caller may read")])
    def incidents(
        user: User,
        state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
        instance: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> list[IncidentView]:
        return worklist.instances.incidents(user, engine.list_incidents(state, instance))

    @router.post("/incidents/{incident_id}/retry", response_model=InstanceView, tags=["incidents"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.need(OPERATE, "instances:{incident_id}", doing="retry incident {incident_id}")])
    def retry(user: User, incident_id: IntId) -> InstanceView:
        """Run the failed step again now (operate on the process's instances)."""
        return engine.retry_incident(incident_id)
