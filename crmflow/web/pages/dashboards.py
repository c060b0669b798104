"""The managers' view: one page per area (sales, marketing, service, process) over `handlers.reports`.

Each page shows every report of its area as a table, a chart where one helps, a CSV link per
report, and a since/until form for the reports that count events in a window. Figures come
from `handlers.reports.run` only, so the page, the CSV, the CLI and the API agree to the digit.
The pages need the same login as the worklist pages (`crmflow.web.pages`, whose `install` turns
`LoginRequired` into a redirect to /login) and `read` on `reports:<area>`; the index lists only
the areas the user may read. A bad window is shown on the page with a 422.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from crmflow.web import charts
from crmflow.web.pages.base import (
    STATIC_PATH,
    TEMPLATES,
    csrf_token,
    fmt_money,
    install_time_filters,
    logged_in_user,
    setting,
    zone_of,
)
from engine import Engine
from handlers import reports
from handlers.reports import Report, ReportError
from worklists.permissions import READ
from worklists.permissions.routes import Guard
from worklists.service import Worklist

Rows = list[dict[str, Any]]
ChartOf = Callable[[Rows], str]
WINDOW = ("since", "until")
AREA_TITLES = {"sales": "Sales", "marketing": "Marketing", "service": "Service", "process": "Process"}
RIGHT_KINDS = ("int", "money", "percent", "number")
WAITS_SHOWN = 10


# -- charts per report ---------------------------------------------------------------------------

def _bar(label_key: str | Callable[[dict[str, Any]], str], value_key: str, title: str, unit: str = "") -> ChartOf:
    def draw(rows: Rows) -> str:
        label = label_key if callable(label_key) else (lambda r: str(r.get(label_key) or "—"))
        return charts.bar_chart([label(r) for r in rows], [r.get(value_key) for r in rows], title=title, unit=unit)
    return draw


def _funnel(rows: Rows) -> str:
    return charts.funnel_chart([r.get("stage") for r in rows], [r.get("count") for r in rows],
                               title="Funnel from list to revenue")


def _open_by_queue(rows: Rows) -> str:
    """cases-open has a row per queue and priority; the chart sums a queue's priorities."""
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[str(r.get("queue") or "—")] += int(r.get("open") or 0)
    return charts.bar_chart(list(totals), list(totals.values()), title="Open cases by queue")


def _longest_waits(rows: Rows) -> str:
    ranked = sorted(rows, key=lambda r: charts.number_of(r.get("average_hours")) or Decimal(0), reverse=True)
    top = ranked[:WAITS_SHOWN]
    return charts.bar_chart([f"{r.get('process_id')} · {r.get('element_name') or r.get('element_id')}" for r in top],
                            [r.get("average_hours") for r in top], title="Longest average waits (hours)")


def _quota_attainment(rows: Rows) -> str:
    """% attained per owner (and per team, marked); the period is named when rows span several."""
    several = len({r.get("period") for r in rows}) > 1

    def label(r: dict[str, Any]) -> str:
        who = f"{r.get('team')} (team)" if r.get("level") == "team" else str(r.get("owner") or "—")
        return f"{who} · {r.get('period')}" if several else who
    return charts.bar_chart([label(r) for r in rows], [r.get("attainment_percent") for r in rows],
                            title="Quota attainment: % of target won", unit=" %")


def _backlog_trend(rows: Rows) -> str:
    days = [r.get("day") for r in rows]
    return charts.line_chart(days, {"Open": [r.get("open") for r in rows],
                                    "Created": [r.get("created") for r in rows],
                                    "Resolved": [r.get("resolved") for r in rows]},
                             title="Backlog trend: open cases at the end of each day")


CHARTS: dict[str, ChartOf] = {
    "pipeline": _bar("status", "weighted_value", "Pipeline: weighted value by status"),
    "win-rate-by-owner": _bar(lambda r: str(r.get("owner") or "(no owner)"), "win_rate_percent",
                              "Win rate per owner", unit=" %"),
    "quota-attainment": _quota_attainment,
    "forecast": _bar("period", "weighted_value", "Forecast: weighted value by quarter"),
    "funnel": _funnel,
    "campaigns": _bar("name", "roi_percent", "ROI per campaign", unit=" %"),
    "cases-open": _open_by_queue,
    "sla-compliance": _bar("kpi", "met_percent", "SLA compliance: % met", unit=" %"),
    "backlog": _backlog_trend,
    "instances": _bar(lambda r: f"{r.get('process_id')} v{r.get('version')} {r.get('status')}", "instances",
                      "Instances by process, version and status"),
    "waits": _longest_waits,
}


# -- the router ----------------------------------------------------------------------------------

@dataclass
class Section:
    """One report on a page: its document (or the refusal), its chart and its CSV link."""

    report: Report
    document: dict[str, Any] | None
    error: str | None
    chart: Markup | None
    csv_url: str
    windowed: bool


def window_of(report: Report, query: dict[str, str]) -> dict[str, str]:
    """since/until for a report that reads them; a snapshot report gets none (it would refuse them)."""
    return {k: query[k] for k in WINDOW if k in report.params and query.get(k)}


def build_router(engine: Engine, worklist: Worklist, settings: Any = None) -> APIRouter:
    """The dashboard pages; the app must have the pages' `install` (sessions, login redirect)."""
    return _Dashboards(engine, worklist, settings).router


class _Dashboards:
    def __init__(self, engine: Engine, worklist: Worklist, settings: Any) -> None:
        self.engine = engine
        self.wl = worklist
        self.title = setting(settings, "title") or "crmflow"
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        install_time_filters(self.templates.env)
        self.templates.env.filters["money"] = fmt_money
        self.templates.env.globals.update(static=STATIC_PATH)
        self.router = APIRouter()
        r = self.router
        guard = Guard(worklist.authz, self._user, resolvers={"area": lambda a: a if a in AREA_TITLES else None})
        by_area = guard.need(READ, "reports:{area}")
        r.add_api_route("/dashboards", self.index, methods=["GET"], response_class=HTMLResponse,
                        dependencies=[guard.login("only the areas the user may read (reports:AREA)")])
        r.add_api_route("/dashboards/{area}/{name}.csv", self.csv, methods=["GET"], dependencies=[by_area])
        r.add_api_route("/dashboards/{area}", self.area, methods=["GET"], response_class=HTMLResponse,
                        dependencies=[by_area])

    def _user(self, request: Request) -> str:
        return logged_in_user(request, self.wl.accounts)

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user = request.session.get("user")
        base = {"title": self.title, "user": user, "csrf": csrf_token(request),
                "flashes": request.session.pop("flash", []), "path": request.url.path, "now": self.engine.now(),
                "counts": None, "areas": AREA_TITLES,
                "tz": zone_of(self.wl.accounts.time_zone_of(user) if user else None)}
        return self.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)

    # -- pages ----------------------------------------------------------------------------------
    def index(self, request: Request) -> HTMLResponse:
        user = self._user(request)
        readable = self.wl.authz.filter_names(user, READ, "reports", AREA_TITLES)
        summaries = {area: reports.by_area(area) for area in readable}
        return self._render(request, "dashboards.html", heading="Dashboards", summaries=summaries)

    def area(self, request: Request, area: str) -> HTMLResponse:
        user = self._user(request)
        if area not in AREA_TITLES:
            return self._render(request, "dashboard_missing.html", 404, heading="No such dashboard", area=area)
        query = {k: request.query_params.get(k, "").strip() for k in WINDOW}
        now = self.engine.now()
        with self.engine.db.read() as session:
            sections = [self._section(session, report, now, query) for report in reports.by_area(area)]
        status = 422 if any(s.error for s in sections) else 200
        takes_window = any(s.windowed for s in sections)
        areas = {a: AREA_TITLES[a] for a in self.wl.authz.filter_names(user, READ, "reports", AREA_TITLES)}
        return self._render(request, "dashboard.html", status, heading=f"{AREA_TITLES[area]} dashboard", area=area,
                            areas=areas,
                            sections=sections, query=query, takes_window=takes_window, kinds_right=RIGHT_KINDS)

    def _section(self, session: Any, report: Report, now: datetime, query: dict[str, str]) -> Section:
        params = window_of(report, query)
        link = f"/dashboards/{report.area}/{report.name}.csv"
        if params:
            link += "?" + urlencode(params)
        try:
            doc = reports.run(session, report.name, now, params)
        except ReportError as err:
            return Section(report, None, str(err), None, link, bool(set(WINDOW) & set(report.params)))
        draw = CHARTS.get(report.name)
        chart = Markup(draw(doc["rows"])) if draw else None  # noqa: S704 - charts escape every text they print
        return Section(report, doc, None, chart, link, bool(set(WINDOW) & set(report.params)))

    def csv(self, request: Request, area: str, name: str) -> Response:
        self._user(request)
        report = reports.REPORTS.get(name)
        if report is None or report.area != area:
            return Response(f"no report {name!r} on the {area} dashboard\n", status_code=404, media_type="text/plain")
        query = {k: request.query_params.get(k, "").strip() for k in WINDOW}
        try:
            with self.engine.db.read() as session:
                doc = reports.run(session, report.name, self.engine.now(), window_of(report, query))
        except ReportError as err:
            return Response(f"{err}\n", status_code=422, media_type="text/plain")
        return Response(reports.to_csv(report, doc["rows"]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{report.name}.csv"'})

