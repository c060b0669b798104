"""Running one scenario: a `Run` holds a fresh in-memory engine (copied from a migrated
template), the clock, the mocked registry, the seeded records and the names `${...}` reads;
`Result` and `Report` are what a run found.

Split from `crmflow.scenarios`; the steps (`steps`) act on a `Run` and raise `StepFailure`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from engine import BpmnError, Engine, HandlerRegistry, ManualClock, ServiceContext
from worklists.routing import LaneMap, make_router

from ..settings import all_migrations, build_engine, build_registry
from .files import Scenario, ScenarioFileError, Step, column_names, model_named
from .schema import parse_time

SETTLE_ROUNDS = 50


class StepFailure(Exception):
    """A step whose expectation did not hold: what it expected and what the run found."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(expected)
        self.expected, self.found = expected, found


@dataclass
class Result:
    scenario: Scenario
    outcome: str  # passed | failed | error
    seconds: float
    steps_run: int = 0
    step: Step | None = None
    stage: str | None = None  # seed | start | step
    expected: str | None = None
    found: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # elements completed, in order (coverage)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.scenario.name, "file": str(self.scenario.file), "line": self.scenario.line,
            "outcome": self.outcome, "seconds": round(self.seconds, 3), "steps_run": self.steps_run,
            "path": self.path,
        }
        if not self.passed:
            out["failure"] = {"stage": self.stage, "step": self.step.to_dict() if self.step else None,
                              "expected": self.expected, "found": self.found, "context": self.context}
        return out


@dataclass
class Report:
    results: list[Result]
    errors: list[ScenarioFileError]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def exit_code(self) -> int:
        """2 when a file could not be used, else 1 when a scenario failed, else 0."""
        return 2 if self.errors else (1 if self.failed else 0)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "invalid_files": [e.to_dict() for e in self.errors],
                "scenarios": [r.to_dict() for r in self.results], "exit_code": self.exit_code}


_TEMPLATES: dict[tuple[str, ...], Engine] = {}


def _fresh_engine(registry: HandlerRegistry, clock: ManualClock, lanes: Path | None) -> Engine:
    """A new in-memory database with every migration, copied from a migrated template (fast)."""
    migrations = all_migrations()
    key = tuple(str(p) for p in migrations)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = Engine("sqlite://", migrations=migrations)
    router = make_router(LaneMap.load(lanes) if lanes else LaneMap())
    eng = build_engine("sqlite://", clock, auto_migrate=False, registry=registry, task_router=router)
    source = _TEMPLATES[key].db.write_engine.raw_connection()
    target = eng.db.write_engine.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)
    finally:
        target.close()
        source.close()
    eng.db.ensure_schema()  # a no-op when the copy is current; migrates otherwise
    return eng


def mock_handler(op: str, spec: dict[str, Any], calls: dict[str, int]) -> Callable[..., Any]:
    """A handler that returns the scenario's result(s) or raises as told."""

    def mocked(ctx: ServiceContext, **params: Any) -> Any:
        n = calls.get(op, 0)
        calls[op] = n + 1
        if "raise" in spec:
            text = spec["raise"]
            if text.startswith("BpmnError:"):
                code = text.split(":", 1)[1].strip()
                raise BpmnError(code, spec.get("message", code))
            raise RuntimeError(spec.get("message") or text)
        value = spec["results"][min(n, len(spec["results"]) - 1)] if "results" in spec else spec.get("result")
        return resolve(value, {"params": params})

    mocked.__qualname__ = f"mock[{op}]"
    return mocked


def scenario_registry(mocks: dict[str, dict[str, Any]], calls: dict[str, int]) -> HandlerRegistry:
    """The real handlers, with each mocked operation replaced (or added, if not written yet)."""
    real = build_registry()
    registry = HandlerRegistry()
    for name in real.names():
        if name not in mocks:
            registry.register(name, real.get(name))
    for name, spec in mocks.items():
        registry.register(name, mock_handler(name, spec, calls))
    return registry


_REF = re.compile(r"\$\{([^}]+)\}")


def resolve(value: Any, names: dict[str, Any]) -> Any:
    """`${a.b}` references in strings, lists and mappings, from `names`."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole:
            return _lookup(whole.group(1), names)
        return _REF.sub(lambda m: str(_lookup(m.group(1), names)), value)
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


class _Missing:
    pass


MISSING = _Missing()


def _lookup(ref: str, names: dict[str, Any]) -> Any:
    found = dig(names, ref.strip())
    if found is MISSING:
        raise StepFailure(f"${{{ref}}} to name a value",
                          "nothing there " + missing_text(names, ref.strip()).replace("the variables", "the names"))
    return found


def dig(value: Any, dotted: str) -> Any:
    """`a.b.0.c` into nested mappings and lists; MISSING when absent."""
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


class Run:
    """One scenario's engine, clock, instance and named records."""

    def __init__(self, scn: Scenario) -> None:
        self.scn = scn
        self.clock = ManualClock(scn.start_at)
        self.calls: dict[str, int] = {}
        self.eng = _fresh_engine(scenario_registry(scn.mocks, self.calls), self.clock, scn.lanes)
        self.aliases: dict[str, Any] = {}
        self.refs: dict[str, dict[str, Any]] = {}
        self.iid: int | None = None

    def close(self) -> None:
        self.eng.close()

    # -- names for ${...} ------------------------------------------------------------------
    def names(self) -> dict[str, Any]:
        names: dict[str, Any] = dict(self.aliases)
        names["now"] = self.clock.now().isoformat()
        if self.iid is not None:
            inst = self.eng.get_instance(self.iid, with_history=False)
            names["vars"] = inst.data
            names["instance"] = {"id": inst.id, "business_key": inst.business_key}
        return names

    # -- setup -----------------------------------------------------------------------------
    def deploy(self) -> None:
        from engine.validation import ValidationContext

        # validate's checks, except the handler one: an operation a scenario leaves unmocked is
        # meant to become an incident the scenario can expect
        self.eng.deploy(self.scn.deploy, context=ValidationContext(check_handlers=False))

    def seed(self) -> None:
        from handlers import catalog

        with self.eng.db.write() as session:
            now = self.clock.now()
            for entry in self.scn.seed:
                (kind, spec), = entry.items()
                spec = resolve(spec, dict(self.aliases))
                record = self._seed_one(catalog, session, now, kind, spec)
                for ref in (spec.get("name"), spec.get("as")):
                    if ref:
                        self.refs.setdefault(kind, {})[str(ref)] = record
                if spec.get("as"):
                    self.aliases[spec["as"]] = _row(record)

    def _ref(self, kind: str, name: str | None) -> Any:
        """A record seeded earlier, by its `as` or its name; the only one of its kind when unnamed."""
        known = self.refs.get(kind, {})
        if name is None and len({id(r) for r in known.values()}) == 1:
            return next(iter(known.values()))
        if name not in known:
            raise StepFailure(f"a {kind} seeded before, named {name!r}",
                              f"seeded {kind}s: {', '.join(known) or '(none)'}")
        return known[name]

    def _seed_one(self, catalog: Any, session: Any, now: datetime, kind: str, spec: dict[str, Any]) -> Any:
        if kind == "price_list":
            return catalog.add_price_list(session, now, spec["name"], spec.get("currency", "EUR"))
        if kind == "product":
            product = catalog.add_product(session, now, spec["number"], spec["name"], spec.get("unit", "each"))
            prices: list[tuple[str | None, Any]] = list(spec.get("prices", {}).items())
            if "price" in spec:
                prices.append((spec.get("price_list"), spec["price"]))
            for ref, amount in prices:
                catalog.set_price(session, self._ref("price_list", ref), product, str(amount))
            return product
        if kind == "account":
            return catalog.add_account(session, now, spec["name"], spec.get("region"))
        if kind == "contact":
            account_id = self._ref("account", spec["account"]).id if spec.get("account") else None
            birthdate = date.fromisoformat(spec["birthdate"]) if spec.get("birthdate") else None
            return catalog.add_contact(session, now, spec["last_name"], spec.get("first_name"), spec.get("email"),
                                       birthdate, spec.get("region"), account_id, spec.get("unsubscribed", False))
        if kind == "competitor":
            return catalog.add_competitor(session, now, spec["name"])
        if kind == "operation":
            return self._seed_operation(session, now, spec)
        return self._seed_record(session, now, spec)

    def _seed_operation(self, session: Any, now: datetime, spec: dict[str, Any]) -> Any:
        """A handler called as an admin tool would (e.g. marketing/create_list); its result is the alias."""
        ctx = ServiceContext(session=session, instance_id=0, process_id="scenario-seed", business_key=None,
                             element_id="seed", task_id=f"seed-{len(self.aliases)}-{spec['name']}", now=now)
        return _Result(self.eng.registry.call(spec["name"], ctx, dict(spec.get("params", {}))))

    def _seed_record(self, session: Any, now: datetime, spec: dict[str, Any]) -> Any:
        from handlers import lifecycle

        model = model_named(spec["model"])
        assert model is not None  # checked when the file was loaded
        record = model(**{k: _to_column(model, k, v) for k, v in spec.get("fields", {}).items()})
        if "state" in column_names(model):
            machine = next((m for m in vars(lifecycle).values()
                            if isinstance(m, lifecycle.Lifecycle) and m.kind == getattr(model, "kind", None)), None)
            if machine is not None:
                machine.start(record, now, spec.get("state"), spec.get("status"))
            else:
                record.state, record.status = spec.get("state", "Active"), spec.get("status", spec.get("state",
                                                                                                       "Active"))
                record.created_at = record.state_changed_at = now
        session.add(record)
        session.flush()
        return record

    # -- the process -----------------------------------------------------------------------
    def start(self) -> None:
        start = resolve(self.scn.start, self.names())
        data = start.get("data", {})
        if start.get("message"):
            inst = self.eng.correlate(start["message"], key=self.scn.business_key, data=data)
        else:
            inst = self.eng.start(self.scn.process, data, business_key=self.scn.business_key,
                                  user=start.get("user"))
        self.iid = inst.id
        self.settle()

    def settle(self) -> None:
        """What a live worker does at once: due timers, due retries, queued jobs."""
        for _ in range(SETTLE_ROUNDS):
            result = self.eng.tick(self.clock.now(), worker="scenario")
            if not (result.timers_fired or result.incidents_retried or result.jobs_run):
                return
        raise StepFailure("the process to come to rest", f"still busy after {SETTLE_ROUNDS} worker passes")

    def instance(self) -> Any:
        assert self.iid is not None
        return self.eng.get_instance(self.iid, with_history=False)

    def open_tasks(self) -> list[Any]:
        return self.eng.list_tasks(state="open", instance_id=self.iid)

    def path(self) -> list[str]:
        assert self.iid is not None
        return [h.element_id for h in self.eng.history(self.iid) if h.event == "completed" and h.element_id]

    def context(self) -> dict[str, Any]:
        """Where the instance stands, for a failure report."""
        if self.iid is None:
            return {"now": self.clock.now().isoformat()}
        try:
            inst = self.instance()
            return {
                "now": self.clock.now().isoformat(),
                "status": inst.status,
                "open_tasks": [task_text(t) for t in inst.open_tasks],
                "waiting_for": sorted(s.message_name for s in inst.subscriptions),
                "timers": [f"{t.element_id} due {t.due_at.isoformat()}" for t in inst.timers],
                "incidents": [f"{i.element_id}: {i.message}" for i in inst.incidents],
                "path": self.path(),
            }
        except Exception as err:  # the report must not hide the failure behind a second one
            return {"context_error": f"{type(err).__name__}: {err}"}


@dataclass
class _Result:
    """A seeding operation's result, named with `as` like a record."""

    value: Any


def _row(record: Any) -> Any:
    if isinstance(record, _Result):
        return record.value
    return {k: _jsonish(getattr(record, k)) for k in column_names(type(record))}


def _jsonish(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _to_column(model: type, name: str, value: Any) -> Any:
    """YAML values into what the column holds (dates, times, decimals)."""
    from sqlalchemy import inspect as sa_inspect

    column_type = sa_inspect(model).column_attrs[name].columns[0].type
    column_type = getattr(column_type, "impl_instance", None) or column_type  # a TypeDecorator's stored type
    try:
        kind = column_type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str) and kind is datetime:
        return parse_time(value)
    if isinstance(value, str) and kind is date:
        return date.fromisoformat(value)
    if isinstance(value, (str, int, float)) and kind is Decimal:
        return Decimal(str(value))
    return value


def task_text(t: Any) -> str:
    parts = [f"queue {t.queue}" if t.queue else None, f"lane {t.lane}" if t.lane else None,
             f"assignee {t.assignee}" if t.assignee else None]
    label = t.element_id + (f" ({t.name!r})" if t.name and t.name != t.element_id else "")
    return f"{label} [{', '.join(p for p in parts if p)}]"


def same(actual: Any, expected: Any) -> bool:
    """Equal as an analyst means it: 9120 == "9120.00" for money, ISO text for dates."""
    if isinstance(actual, Decimal):
        try:
            return actual == Decimal(str(expected))
        except (InvalidOperation, ValueError):
            return False
    if isinstance(actual, datetime):
        try:
            return isinstance(expected, str) and actual == parse_time(expected)
        except ValueError:
            return False
    if isinstance(actual, date):
        return str(expected) == actual.isoformat()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)


def show(value: Any) -> str:
    if isinstance(value, (Decimal, datetime, date)):
        return str(_jsonish(value))
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip().removesuffix("...").strip()


def missing_text(data: dict[str, Any], dotted: str) -> str:
    """`(not set; lead has: lead_id, email, ...)`: what is there instead, at the deepest level that exists."""
    parts = dotted.split(".")
    value: Any = data
    where = "the variables"
    for i, part in enumerate(parts[:-1]):
        found = dig(value, part)
        if found is MISSING:
            break
        value, where = found, ".".join(parts[: i + 1])
    if isinstance(value, dict):
        keys = sorted(map(str, value))
        shown = ", ".join(keys[:15]) + (", ..." if len(keys) > 15 else "")
        return f"(not set; {where} has: {shown or 'nothing'})"
    return f"(not set; {where} is {show(value)})"

