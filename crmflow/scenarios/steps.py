"""The scenario steps: each `step_*` acts on a `Run` (complete a task, send a message, move
the clock) or checks where it stands (tasks, path, timers, messages, incidents, variables,
mock calls, records), raising `StepFailure` with what it expected and what it found.

Split from `crmflow.scenarios`; `STEPS` maps each step kind of the schema to its function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from engine import EngineError, NoSubscriber

from .files import model_named
from .run import MISSING, Run, StepFailure, dig, missing_text, resolve, same, show, task_text
from .schema import STEP_KINDS, parse_duration, parse_time

UNASSIGNED = "unassigned"
MAX_TIMER_ROUNDS = 2000


def _matches(task: Any, spec: dict[str, Any]) -> bool:
    return (spec.get("element") in (None, task.element_id)) and (spec.get("name") in (None, task.name))


def _label(spec: dict[str, Any]) -> str:
    return " ".join(f"{k} {spec[k]!r}" for k in ("element", "name") if k in spec)


def _open_text(run: Run) -> str:
    tasks = run.open_tasks()
    return "open tasks: " + (", ".join(task_text(t) for t in tasks) if tasks else "(none)")


def _one_task(run: Run, spec: dict[str, Any]) -> Any:
    tasks = [t for t in run.open_tasks() if _matches(t, spec)]
    if len(tasks) != 1:
        what = "no" if not tasks else f"{len(tasks)} (ambiguous)"
        raise StepFailure(f"one open task {_label(spec)}", f"{what} such task; {_open_text(run)}")
    return tasks[0]


def step_expect_task(run: Run, spec: dict[str, Any]) -> None:
    task = _one_task(run, spec)
    now = run.clock.now()
    checks: list[tuple[str, Any, Any, bool]] = []
    if "queue" in spec:
        actual = task.queue if task.queue not in (None, UNASSIGNED) else task.lane
        checks.append(("queue", spec["queue"], actual, spec["queue"] in (task.queue, actual)))
    for key in ("lane", "assignee", "priority", "form"):
        if key in spec:
            checks.append((key, spec[key], getattr(task, key), getattr(task, key) == spec[key]))
    if "candidate_groups" in spec:
        actual_groups = sorted(task.candidate_groups or [])
        checks.append(("candidate_groups", spec["candidate_groups"], actual_groups,
                       actual_groups == sorted(spec["candidate_groups"])))
    for key, attr in (("due_in", "due_at"), ("follow_up_in", "follow_up_at")):
        if key in spec:
            at = getattr(task, attr)
            actual = _duration_text(at - now) if at else None
            checks.append((key, spec[key], actual, at is not None and at - now == parse_duration(spec[key])))
    wrong = [(k, e, a) for k, e, a, ok in checks if not ok]
    if wrong:
        raise StepFailure(
            f"task {task.element_id} with " + ", ".join(f"{k} {show(e)}" for k, e, _ in wrong),
            f"task {task.element_id} has " + ", ".join(f"{k} {show(a)}" for k, _, a in wrong),
        )


def _duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return f"{sign}P{f'{days}D' if days else ''}{'T' + time_part if time_part else ''}" if seconds else "PT0S"


@contextmanager
def _refusal(spec: dict[str, Any], what: str) -> Iterator[None]:
    """Run an action; with `expect_error`, its refusal is the expectation."""
    wanted = spec.get("expect_error")
    try:
        yield
    except EngineError as err:
        if wanted is None:
            raise StepFailure(f"{what} to succeed", f"refused: {err}") from None
        if wanted.lower() not in str(err).lower():
            raise StepFailure(f"{what} refused with {wanted!r}", f"refused with: {err}") from None
        return
    if wanted is not None:
        raise StepFailure(f"{what} refused with {wanted!r}", "it was accepted")


def step_complete(run: Run, spec: dict[str, Any]) -> None:
    task = _one_task(run, spec)
    data = resolve(spec.get("data", {}), run.names())
    with _refusal(spec, f"completing {task.element_id}"):
        run.eng.complete_task(task.id, user=spec.get("user"), data=data)
    run.settle()


def step_message(run: Run, spec: dict[str, Any]) -> None:
    names = run.names()
    key = resolve(spec["key"], names) if "key" in spec else run.scn.business_key
    data = resolve(spec.get("data", {}), names)
    what = f"message {spec['name']!r} (key {key!r})"
    try:
        with _refusal(spec, what):
            run.eng.correlate(spec["name"], key=key, data=data)
    except StepFailure as failure:
        if "expect_error" not in spec and isinstance(failure.__context__, NoSubscriber):
            waiting = ", ".join(sorted(s.message_name for s in run.instance().subscriptions)) or "(nothing)"
            failure.found += f"; the instance waits for: {waiting}"
        raise
    run.settle()


def step_advance(run: Run, spec: Any) -> None:
    """Move the clock, stopping at each due timer and retry on the way as a live worker would."""
    now = run.clock.now()
    target = now + parse_duration(spec) if isinstance(spec, str) else parse_time(spec["to"])
    if target < now:
        raise StepFailure(f"a time after {now.isoformat()}", f"{target.isoformat()} is in the past")
    for _ in range(MAX_TIMER_ROUNDS):
        due = _next_due(run)
        if due is None or due > target:
            break
        run.clock.set(max(due, run.clock.now()))
        run.settle()
    else:
        raise StepFailure(f"the clock to reach {target.isoformat()}",
                          f"timers kept firing ({MAX_TIMER_ROUNDS} rounds); stopped at {run.clock.now().isoformat()}")
    run.clock.set(target)
    run.settle()


def _next_due(run: Run) -> datetime | None:
    times = [t.due_at for t in run.eng.list_timers(state="pending")]
    times += [i.next_retry_at for i in run.eng.list_incidents(state="open") if i.next_retry_at and i.retries_left]
    return min(times) if times else None


def step_expect_path(run: Run, spec: list[str]) -> None:
    path = run.path()
    position = 0
    for element in spec:
        try:
            position = path.index(element, position) + 1
        except ValueError:
            where = "at all" if element not in path else "after the elements before it"
            raise StepFailure("completed in this order: " + " → ".join(spec),
                              f"{element!r} not completed {where} (the path is below)") from None


def step_expect_not_path(run: Run, spec: list[str]) -> None:
    path = run.path()
    ran = [e for e in spec if e in path]
    if ran:
        raise StepFailure("never completed: " + ", ".join(spec), f"completed: {', '.join(ran)} (the path is below)")


def step_expect_status(run: Run, spec: str) -> None:
    status = run.instance().status
    if status != spec:
        raise StepFailure(f"status {spec}", f"status {status}")


def _exact(expected: list[Any], actual: list[Any], fits: Callable[[Any, Any], bool]) -> tuple[list[Any], list[Any]]:
    """Expected entries with no actual match, and actual ones left over (a multiset match)."""
    left = list(actual)
    missing = []
    for want in expected:
        hit = next((a for a in left if fits(a, want)), None)
        if hit is None:
            missing.append(want)
        else:
            left.remove(hit)
    return missing, left


def step_expect_open_tasks(run: Run, spec: list[str]) -> None:
    tasks = run.open_tasks()
    missing, extra = _exact(spec, tasks, lambda t, w: w in (t.element_id, t.name))
    if missing or extra:
        raise StepFailure("open tasks: " + (", ".join(spec) or "(none)"), _open_text(run))


def step_expect_timers(run: Run, spec: list[Any]) -> None:
    timers = run.instance().timers
    now = run.clock.now()
    wants = [w if isinstance(w, dict) else {"element": w} for w in spec]

    def fits(t: Any, w: dict[str, Any]) -> bool:
        if t.element_id != w["element"]:
            return False
        if "due_in" in w and t.due_at - now != parse_duration(w["due_in"]):
            return False
        return "due_at" not in w or t.due_at == parse_time(w["due_at"])

    missing, extra = _exact(wants, timers, fits)
    if missing or extra:
        def text(w: dict[str, Any]) -> str:
            return w["element"] + "".join(f" {k} {w[k]}" for k in ("due_in", "due_at") if k in w)

        found = ", ".join(f"{t.element_id} due_in {_duration_text(t.due_at - now)} (due_at {t.due_at.isoformat()})"
                          for t in timers)
        raise StepFailure("pending timers: " + (", ".join(text(w) for w in wants) or "(none)"),
                          "pending timers: " + (found or "(none)"))


def step_expect_messages(run: Run, spec: list[str]) -> None:
    waiting = sorted(s.message_name for s in run.instance().subscriptions)
    if sorted(spec) != waiting:
        raise StepFailure("waiting for messages: " + (", ".join(sorted(spec)) or "(none)"),
                          "waiting for messages: " + (", ".join(waiting) or "(none)"))


def step_expect_incidents(run: Run, spec: list[Any]) -> None:
    incidents = run.eng.list_incidents(state="open", instance_id=run.iid)
    wants = [w if isinstance(w, dict) else {"element": w} for w in spec]

    def fits(i: Any, w: dict[str, Any]) -> bool:
        return i.element_id == w["element"] and w.get("message", "").lower() in (i.message or "").lower()

    missing, extra = _exact(wants, incidents, fits)
    if missing or extra:
        want_text = ", ".join(w["element"] + (f" ({w['message']!r})" if "message" in w else "") for w in wants)
        found = ", ".join(f"{i.element_id} ({i.message!r}, {i.retries_left} retries left)" for i in incidents)
        raise StepFailure("open incidents: " + (want_text or "(none)"), "open incidents: " + (found or "(none)"))


def step_expect_variables(run: Run, spec: dict[str, Any]) -> None:
    data = run.instance().data
    wanted = resolve(spec, run.names())
    wrong = []
    for path, value in wanted.items():
        actual = dig(data, str(path))
        if actual is MISSING or not same(actual, value):
            wrong.append((path, value, missing_text(data, str(path)) if actual is MISSING else show(actual)))
    if wrong:
        raise StepFailure(", ".join(f"{p} = {show(v)}" for p, v, _ in wrong),
                          ", ".join(f"{p} = {a}" for p, _, a in wrong))


def step_expect_calls(run: Run, spec: dict[str, int]) -> None:
    unknown = [op for op in spec if op not in run.scn.mocks]
    if unknown:
        raise StepFailure("calls counted for mocked operations only",
                          f"{', '.join(unknown)} not mocked; mocks: {', '.join(run.scn.mocks) or '(none)'}")
    actual = {op: run.calls.get(op, 0) for op in spec}
    if actual != spec:
        raise StepFailure(", ".join(f"{op} called {n}x" for op, n in spec.items()),
                          ", ".join(f"{op} called {n}x" for op, n in actual.items()))


def step_expect_records(run: Run, spec: list[dict[str, Any]]) -> None:
    from sqlalchemy import select

    names = run.names()
    for item in resolve(spec, names):
        model = model_named(item["model"])
        assert model is not None
        where = item.get("where", {})
        checks = {**({"state": item["state"]} if "state" in item else {}),
                  **({"status": item["status"]} if "status" in item else {}), **item.get("fields", {})}
        with run.eng.db.read() as session:
            rows = list(session.scalars(select(model).order_by(*_primary_key(model))))
            selected = [r for r in rows if all(same(getattr(r, k), v) for k, v in where.items())]
            hits = [r for r in selected if all(same(getattr(r, k), v) for k, v in checks.items())]
            ok = len(hits) == item["count"] if "count" in item else bool(hits)
            if ok:
                continue
            shown = [*where, *checks] or [c.key for c in _primary_key(model)]
            found = "; ".join(
                f"{item['model']} #{_key_text(r)}: " + ", ".join(f"{k} {show(getattr(r, k))}" for k in shown)
                for r in selected[:10]
            ) or f"no {item['model']} " + ("records at all" if not rows else f"where {show(where)}")
            if len(selected) > 10:
                found += f"; ... {len(selected) - 10} more"
        count = f"{item['count']} " if "count" in item else ("an " if item["model"][0] in "AEIOU" else "a ")
        expected = f"{count}{item['model']}" + (f" where {show(where)}" if where else "")
        expected += (f" with {show(checks)}" if checks else "")
        raise StepFailure(expected, f"{len(hits)} match; {found}")


def _primary_key(model: type) -> list[Any]:
    from sqlalchemy import inspect as sa_inspect

    return list(sa_inspect(model).primary_key)


def _key_text(record: Any) -> str:
    return "/".join(str(getattr(record, c.key)) for c in _primary_key(type(record)))


STEPS: dict[str, Callable[[Run, Any], None]] = {
    "expect_task": step_expect_task, "complete": step_complete, "advance": step_advance,
    "message": step_message, "expect_path": step_expect_path, "expect_not_path": step_expect_not_path,
    "expect_records": step_expect_records, "expect_open_tasks": step_expect_open_tasks,
    "expect_timers": step_expect_timers, "expect_messages": step_expect_messages,
    "expect_incidents": step_expect_incidents, "expect_status": step_expect_status,
    "expect_variables": step_expect_variables, "expect_calls": step_expect_calls,
}
assert set(STEPS) == set(STEP_KINDS)
