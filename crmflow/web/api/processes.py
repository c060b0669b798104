"""Deployed process definitions: the list, the versions of one, and a version's diagram."""

from typing import Annotated

from fastapi import Query

from engine import NotFound
from engine.drawing import render_svg
from engine.views import (
    ProcessVersionView,
)
from worklists.permissions import READ

from .common import MAX_ID, SVG_RESPONSE, Api, ProcessIdPath, ProcessSummary, SvgResponse, errors


def add_process_routes(api: Api) -> None:
    router, engine, worklist, guard = api.router, api.engine, api.worklist, api.guard
    User = api.user

    # -- process definitions -----------------------------------------------------------
    @router.get("/processes", response_model=list[ProcessSummary], tags=["processes"], responses=errors(),
                dependencies=[guard.login("only processes the caller may read (process:ID)")])
    def processes(user: User) -> list[ProcessSummary]:
        """Deployed processes the caller may read, each with its latest version."""
        latest: dict[str, tuple[ProcessVersionView, int]] = {}
        definitions = engine.list_definitions()
        readable = set(worklist.authz.filter_names(user, READ, "process", {v.process_id for v in definitions}))
        for v in (d for d in definitions if d.process_id in readable):
            prev = latest.get(v.process_id)
            count = (prev[1] if prev else 0) + 1
            latest[v.process_id] = (v if prev is None or v.version > prev[0].version else prev[0], count)
        return [
            ProcessSummary(process_id=pid, name=v.name, latest_version=v.version, versions=n,
                           deployed_at=v.deployed_at, file=v.file)
            for pid, (v, n) in sorted(latest.items())
        ]

    @router.get("/processes/{process_id}/versions", response_model=list[ProcessVersionView], tags=["processes"],
                responses=errors(403, 404), dependencies=[guard.need("read", "process:{process_id}")])
    def versions(user: User, process_id: ProcessIdPath) -> list[ProcessVersionView]:
        found = engine.list_definitions(process_id)
        if not found:
            raise NotFound(f"process '{process_id}' is not deployed (GET /api/v1/processes lists them)")
        return found

    @router.get("/processes/{process_id}/diagram.svg", response_class=SvgResponse, tags=["processes"],
                responses={**SVG_RESPONSE, **errors(403, 404)},
                dependencies=[guard.need("read", "process:{process_id}")])
    def process_diagram(
        user: User, process_id: ProcessIdPath,
        version: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Default: the latest.")] = None,
    ) -> SvgResponse:
        """The diagram of a deployed version, drawn from its BPMNDI."""
        xml = engine.diagram_source(process_id, version)
        label = f"{process_id} v{version}" if version else f"{process_id} (latest)"
        return SvgResponse(render_svg(xml, process_id=process_id, filename=label))
