"""What the API's routers share: `PREFIX`, request and response models, path and query types, the
query-string check every route runs (`plain_query`), the OpenAPI error responses and `Api`, the
context each resource's routes are added with (router, engine, worklist, guard, the caller)."""

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import StatementError

from crmflow.web.problems import ProblemError, openapi_problem_responses
from engine import Engine, EngineError, InvalidInput
from worklists.auth import UserView
from worklists.forms import RenderedForm
from worklists.permissions.routes import Guard
from worklists.service import MAX_LIMIT, ItemResult, Permissions, Worklist
from worklists.views import TaskView

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are INTEGER columns (int4 on PostgreSQL)
SVG_MEDIA_TYPE = "image/svg+xml"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")



# -- request values ------------------------------------------------------------------------

def _no_nul(value: str | None) -> str | None:
    """NUL cannot be stored in PostgreSQL text; refuse it here rather than fail there."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _finite(value: Any, path: str = "") -> Any:
    """JSON data must stay JSON: NaN and infinities (which Python's parser accepts) are refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'} must be a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{path}.{i}" if path else str(i))
    return value


def iso_time(value: Any) -> Any:
    """Times are ISO 8601 text; pydantic would also take a bare number as a Unix time."""
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("must be an ISO 8601 time, e.g. 2026-01-05T09:00:00Z")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite)]
TaskIdPath = Annotated[str, Path(min_length=1, max_length=64, description="A task id (a UUID).")]
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
ProcessIdPath = Annotated[str, Path(min_length=1, max_length=255, description="A process id, e.g. lead_to_invoice.")]
OptName = Annotated[str | None, Query(min_length=1, max_length=255)]


class RouteRequest(BaseModel):
    """Where a task goes: another queue (it arrives unpicked) and/or a person."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"queue": "sales-managers"}, {"to": "bob"}]})

    queue: Name | None = Field(default=None, description="Destination queue.")
    to: Name | None = Field(default=None, description="User who gets the task.")


class CompleteRequest(BaseModel):
    """Form data for the task; validated against its form (JSON Schema) before completing."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": {"decision": "qualify", "price_list_id": 1}}]}
    )

    data: JsonObject = Field(default_factory=dict)


class CommentRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Called the customer, waiting for a PO."}]})

    text: Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_no_nul)]


class BulkRequest(BaseModel):
    """Several tasks at once; each succeeds or fails on its own."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"task_ids": ["0b6e…", "4f1d…"]}]})

    task_ids: list[TaskId] = Field(min_length=1, max_length=MAX_LIMIT)


class BulkRouteRequest(BulkRequest, RouteRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"task_ids": ["0b6e…"], "queue": "sales"}]})


class StartRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"process_id": "lead_to_invoice", "business_key": "LEAD-0042",
                 "data": {"inquiry": {"email": "ana@example.com", "company_name": "Acme", "budget": 20000}}}
            ]
        }
    )

    process_id: Name
    data: JsonObject = Field(default_factory=dict, description="Process variables to start with.")
    business_key: Name | None = Field(default=None, description="The CRM record this instance is about.")


class SignalRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "price_list_changed", "data": {"list_name": "2027"}}]}
    )

    name: Name = Field(description="The BPMN signal name.")
    data: JsonObject = Field(default_factory=dict, description="Fields given to every catching event.")


class MessageRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "quote_accepted", "key": "LEAD-0042", "data": {"accepted_by": "Ana Ruiz"}}]
        }
    )

    name: Name = Field(description="The BPMN message name.")
    key: Name | None = Field(default=None, description="Business or correlation key choosing the instance.")
    data: JsonObject = Field(default_factory=dict, description="The message payload.")


# -- responses -----------------------------------------------------------------------------

class TaskDetail(BaseModel):
    """A task with what the caller may do and its form, ready to show."""

    task: TaskView
    permissions: Permissions
    form: RenderedForm | None = None
    form_error: str | None = Field(default=None, description="Why the form could not be shown, if it could not.")


class BulkResult(BaseModel):
    results: list[ItemResult]
    succeeded: int
    failed: int


class ProcessSummary(BaseModel):
    process_id: str
    name: str | None
    latest_version: int
    versions: int
    deployed_at: datetime
    file: str


class Health(BaseModel):
    status: Literal["ok"]
    database: str


class ProblemType(BaseModel):
    type: str
    title: str
    status: int
    description: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem responses of an authenticated route (401 and 422 always apply)."""
    return openapi_problem_responses(*sorted({401, 422, *statuses}))


SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {SVG_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "An SVG picture."}
}


class SvgResponse(Response):
    media_type = SVG_MEDIA_TYPE


# -- the router ----------------------------------------------------------------------------

def plain_query(request: Request) -> None:
    """Every query parameter of this API is a single, known value: an unknown one is most likely
    a typo that would silently widen a view, a repeated one is ambiguous and NUL cannot be
    stored, so all three are refused with the parameter named."""
    known = _query_names(request.scope.get("route"))
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if known is not None and name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidInput(f"{name[:60]}: unknown query parameter here (known: {listed})")
        if name in seen:
            raise InvalidInput(f"{name}: given more than once; give it once")
        seen.add(name)
        if "\x00" in value or "\x00" in name:
            raise InvalidInput(f"{name}: must not contain NUL characters")


def _query_names(route: Any) -> frozenset[str] | None:
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    names: set[str] = set()
    stack = [dependant]
    while stack:  # the route's own parameters and its dependencies'
        current = stack.pop()
        names.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)




@dataclass
class Api:
    """What every resource's routes are built with: the `/api/v1` router, the engine and worklist,
    the permission guard and the dependency that authenticates the caller's API token."""

    router: APIRouter
    engine: Engine
    worklist: Worklist
    guard: Guard
    current_user: Callable[..., UserView]

    @property
    def user(self) -> Any:
        """The route parameter type of the authenticated caller."""
        return Annotated[UserView, Depends(self.current_user)]


TASK_RULE = "the worklist service checks the task: its queue's work/supervise, candidates, assignee"


def incident_process(worklist: Worklist) -> Any:
    """incident id → the process id of its instance (None: no such incident; the route says 404)."""
    def resolve(raw: str) -> str | None:
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            return None
        try:
            return worklist.instances.process_of_incident(int(raw))
        except EngineError:
            return None

    return resolve


@contextmanager
def cursor_errors(cursor: str | None) -> Iterator[None]:
    """A tampered cursor is the caller's mistake: the service may meet it as a bad value deep in
    a query; say so as 422 instead of failing."""
    try:
        yield
    except (ValueError, TypeError, StatementError) as err:
        if cursor is None:
            raise
        raise InvalidInput(f"cursor: {cursor[:40]!r} is not a cursor of this view") from err


def token_user(worklist: Worklist) -> Callable[..., UserView]:
    """The dependency every API router authenticates with: the active user of the bearer token,
    or a 401 problem saying what is missing or wrong."""
    bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer cft_...`.")

    def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> UserView:
        challenge = 'Bearer realm="crmflow"'
        if credentials is None:
            raise ProblemError(
                "unauthorized", "this needs an API token: send 'Authorization: Bearer cft_...' "
                "(crmflow users token NAME issues one)", headers={"WWW-Authenticate": challenge},
            )
        user = worklist.accounts.authenticate_token(credentials.credentials)
        if user is None:
            raise ProblemError(
                "unauthorized", "the API token is not valid (unknown, revoked, or its user is deactivated)",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            )
        return user

    return current_user
