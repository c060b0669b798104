"""Process instances: start, list, search, one instance, its history and its diagram."""

from typing import Annotated, Literal

from fastapi import Query, Response

from crmflow.web.api.console import add_search_route
from engine.drawing import instance_marks, render_svg
from engine.views import (
    HistoryView,
    InstanceDetail,
    InstanceView,
)
from worklists.permissions import START
from worklists.service import MAX_LIMIT

from .common import PREFIX, SVG_RESPONSE, Api, IntId, OptName, StartRequest, SvgResponse, errors


def add_instance_routes(api: Api) -> None:
    router, engine, worklist, guard = api.router, api.engine, api.worklist, api.guard
    User = api.user

    # -- instances ----------------------------------------------------------------------
    @router.post("/instances", response_model=InstanceView, status_code=201, tags=["instances"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("start", "process:{process_id}", "the body names the process")])
    def start(user: User, body: StartRequest, response: Response) -> InstanceView:
        """Start the latest version of a process; it runs until it waits."""
        worklist.authz.require(user, START, f"process:{body.process_id}", doing=f"start process {body.process_id}")
        inst = engine.start(body.process_id, body.data, business_key=body.business_key, user=user.name)
        response.headers["Location"] = f"{PREFIX}/instances/{inst.id}"
        return inst

    @router.get("/instances", response_model=list[InstanceView], tags=["instances"], responses=errors(),
                dependencies=[guard.login("only instances of processes the caller may read, or that they are in")])
    def list_instances(
        user: User,
        process: OptName = None,
        status: Annotated[Literal["waiting", "running", "completed", "terminated", "incident", "suspended",
                                  "cancelled"] | None, Query()]
        = None,
        key: OptName = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> list[InstanceView]:
        """Instances the caller may read, newest first."""
        return worklist.instances.list(user, process, status, key, limit=limit, offset=offset)

    add_search_route(router, engine, worklist, guard, api.current_user, errors)

    @router.get("/instances/{instance_id}", response_model=InstanceDetail, tags=["instances"],
                responses=errors(403, 404), dependencies=[guard.need_instance("read")])
    def get_instance(user: User, instance_id: IntId) -> InstanceDetail:
        """An instance with its variables and what it waits for (history: /history); `data` is
        empty for a caller without read-data on the process's instances."""
        return worklist.instances.shown(user, engine.get_instance(instance_id, with_history=False))

    @router.get("/instances/{instance_id}/history", response_model=list[HistoryView], tags=["instances"],
                responses=errors(403, 404), dependencies=[guard.need_instance("read")])
    def instance_history(user: User, instance_id: IntId) -> list[HistoryView]:
        """What happened, oldest first; `data_delta` is null for a caller without read-data."""
        return worklist.instances.history(user, instance_id, engine.history(instance_id))

    @router.get("/instances/{instance_id}/diagram.svg", response_class=SvgResponse, tags=["instances"],
                responses={**SVG_RESPONSE, **errors(403, 404)}, dependencies=[guard.need_instance("read")])
    def instance_diagram(user: User, instance_id: IntId) -> SvgResponse:
        """The instance on its version's diagram: done, active, waiting and failed elements marked."""
        inst = engine.get_instance(instance_id, with_history=True)
        xml = engine.diagram_source(inst.process_id, inst.version)
        title = f"{inst.process_id} v{inst.version}, instance {inst.id} ({inst.status})"
        svg = render_svg(xml, instance_marks(inst), process_id=inst.process_id, title=title,
                         filename=f"{inst.process_id} v{inst.version}")
        return SvgResponse(svg)
