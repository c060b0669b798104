"""Operations: `/healthz` for probes and `/metrics` for Prometheus (outside `/api/v1`)."""

import secrets

from fastapi import APIRouter, Depends, Request, Response

from crmflow.web.problems import Problem, ProblemError, openapi_problem_responses
from engine import Engine
from worklists.permissions.routes import public

from .common import Health, plain_query


def build_ops_router(engine: Engine, metrics_token: str | None = None) -> APIRouter:
    """`/healthz` (no authentication, for probes) and `/metrics` (for Prometheus: open, or with
    `metrics_token` only for `Authorization: Bearer TOKEN`)."""
    router = APIRouter(tags=["operations"], dependencies=[Depends(plain_query)])

    def metrics_caller(request: Request) -> None:
        """Read from the request, not declared as a parameter: the header is needed only when a
        token is configured, which the OpenAPI document (401) cannot say per deployment."""
        if metrics_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), metrics_token.encode()):
            raise ProblemError("unauthorized", "/metrics needs the metrics token: send 'Authorization: Bearer "
                               "TOKEN' ($CRMFLOW_METRICS_TOKEN on the server)",
                               headers={"WWW-Authenticate": 'Bearer realm="crmflow-metrics"'})

    @router.get("/healthz", response_model=Health, responses={503: {"model": Problem}},
                dependencies=[public("probes")])
    def healthz() -> Health | Response:
        """The service is up and its database answers."""
        try:
            engine.next_due_at()
        except Exception as err:  # noqa: BLE001 - health is reported, never raised
            raise ProblemError("unavailable", f"database unreachable: {type(err).__name__}") from err
        return Health(status="ok", database=engine.db.url.split("@")[-1].split("://")[0])

    @router.get("/metrics", response_class=Response,
                dependencies=[public("Prometheus scrapes; counts only; the metrics token when configured"),
                              Depends(metrics_caller)],
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                 "description": "Prometheus text exposition."},
                           **openapi_problem_responses(401)})
    def metrics() -> Response:
        return Response(engine.metrics_text(), media_type="text/plain; version=0.0.4")

    return router
