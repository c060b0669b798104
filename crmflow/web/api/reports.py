"""The reports over HTTP: `GET /api/v1/reports`, `/api/v1/reports/{name}` and `/api/v1/reports/{name}.csv`.

A thin layer over `handlers.reports` (the same documents as `crmflow report NAME --json` and the
dashboards). Callers authenticate with an API token like the rest of `/api/v1`; refusals are
problem documents: an unknown report is a 404, a parameter the report does not read or cannot
parse is a 422 naming it (the reports layer refuses rather than ignores, so nobody reads a
snapshot believing it was cut to their window).

Reports are read by area: `read` on `reports:<area>` (docs/permissions.md); the list shows only
the areas the caller may read.

A database without the CRM records' tables (an engine-only deployment) answers the reports that
need them with a 404 saying so, rather than a 500.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmflow.web.api.common import PREFIX, token_user
from crmflow.web.problems import ProblemError, openapi_problem_responses
from engine import Engine
from handlers import reports
from handlers.reports import ReportError, UnknownReport
from worklists.auth import UserView
from worklists.permissions import READ
from worklists.permissions.routes import Guard
from worklists.service import Worklist

CSV_MEDIA_TYPE = "text/csv"
Window = Annotated[str | None, Query(description="ISO time or date; only for reports whose params list it.")]


class ColumnInfo(BaseModel):
    key: str
    title: str
    kind: str


class ReportInfo(BaseModel):
    """What a report is: its name, area, columns and the parameters it reads."""

    name: str
    title: str
    area: str
    description: str
    columns: list[ColumnInfo]
    params: list[str]


class ReportDocument(ReportInfo):
    """A report run: as of `now`, with the parameters used, and its rows keyed by column key."""

    now: str
    rows: list[dict[str, Any]]
    # `params` here echoes the values used (name → value), not the names it reads
    params: dict[str, Any]  # type: ignore[assignment]


class CsvResponse(Response):
    media_type = CSV_MEDIA_TYPE


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "RFC 4180 CSV."}
}


def build_router(engine: Engine, worklist: Worklist) -> APIRouter:
    """The report routes under `/api/v1`, authenticated with the worklist's API tokens."""
    router = APIRouter(prefix=PREFIX, tags=["reports"])
    current_user = token_user(worklist)

    User = Annotated[UserView, Depends(current_user)]
    guard = Guard(worklist.authz, current_user, resolvers={"name": report_area})

    @router.get("/reports", response_model=list[ReportInfo], responses=openapi_problem_responses(401, 422),
                dependencies=[guard.login("only reports of areas the caller may read (reports:AREA)")])
    def list_reports(user: User, request: Request) -> list[dict[str, Any]]:
        """The reports the caller may read, by area: what each shows and which parameters it reads."""
        _single_values(request, refuse_all=True)
        areas = set(worklist.authz.filter_names(user, READ, "reports", {r.area for r in reports.REPORTS.values()}))
        return [r.to_dict() for r in reports.REPORTS.values() if r.area in areas]

    # registered before `/reports/{name}`, which would otherwise take "pipeline.csv" as a name
    @router.get("/reports/{name}.csv", response_class=CsvResponse, responses={
        **CSV_RESPONSE, **openapi_problem_responses(401, 403, 404, 422)},
        dependencies=[guard.need(READ, "reports:{name}")])
    def report_csv(user: User, name: str, request: Request, since: Window = None, until: Window = None) -> Response:
        """The report's rows as RFC 4180 CSV (header = column keys), as `crmflow report NAME --csv`."""
        report, document = _run(name, request)
        return CsvResponse(reports.to_csv(report, document["rows"]),
                           headers={"Content-Disposition": f'attachment; filename="{report.name}.csv"'})

    @router.get("/reports/{name}", response_model=ReportDocument,
                responses=openapi_problem_responses(401, 403, 404, 422),
                dependencies=[guard.need(READ, "reports:{name}")])
    def report_json(user: User, name: str, request: Request, since: Window = None,
                    until: Window = None) -> dict[str, Any]:
        """One report as of now; `since`/`until` and any other parameter the report reads
        (see its `params`, e.g. `quarters`, `campaign`) go in the query string."""
        return _run(name, request)[1]

    def _run(name: str, request: Request) -> tuple[reports.Report, dict[str, Any]]:
        try:
            report = reports.get(name)
        except UnknownReport as err:
            raise ProblemError("not-found", str(err)) from None
        params = _single_values(request)
        try:
            with _database(report):
                with engine.db.read() as session:
                    return report, reports.run(session, report.name, engine.now(), params)
        except ReportError as err:
            raise ProblemError("invalid-input", str(err)) from None

    @contextmanager
    def _database(report: reports.Report) -> Iterator[None]:
        try:
            yield
        except DBAPIError as err:
            if not _reachable():
                raise ProblemError("unavailable", f"database unreachable: {type(err).__name__}") from err
            raise ProblemError("not-found", f"report {report.name} needs the CRM records' tables, which this "
                               "database does not have (crmflow db upgrade creates them)") from err

    def _reachable() -> bool:
        try:
            with engine.db.read() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    return router


def report_area(name: str) -> str | None:
    """A report's area (its permission resource is reports:<area>); None for an unknown report (404)."""
    found = reports.REPORTS.get(name)
    return found.area if found is not None else None


def _single_values(request: Request, refuse_all: bool = False) -> dict[str, str]:
    """Query parameters, each given once; a name a report does not read is left for the
    reports layer to refuse by name (with the list of those it takes)."""
    seen: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in seen:
            raise ProblemError("invalid-input", f"{key}: given more than once; give it once")
        if "\x00" in key or "\x00" in value:
            raise ProblemError("invalid-input", f"{key[:60]}: must not contain NUL characters")
        seen[key] = value
    if refuse_all and seen:
        raise ProblemError("invalid-input", f"{', '.join(seen)[:120]}: unknown query parameter here (known: none)")
    return seen
