"""Starting instances and correlating messages and signals, and dispatching what units threw.

A message or signal thrown inside one instance reaches others through the same correlation
as one sent from outside, so the two live together here: `run` (a unit of work, then its
thrown messages and signals dispatched) is how every room runs a unit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .. import instances as records
from .. import signals
from ..core import EngineCore, conflicts_as_errors
from ..data_parsing import parse_data
from ..errors import Conflict, InvalidInput, NoSubscriber, NotFound
from ..input_checks import check_text
from ..instances import InstanceRecord
from ..models import HistoryEntry, Instance, MessageSubscription, ProcessVersion
from ..services import to_json_value
from ..state import SERIALIZER_VERSION
from ..unit import Unit, run_in_unit, suspended_error
from ..views import InstanceDetail, SignalView
from .deployments import latest_versions


# -- running a unit and handing on what it threw ---------------------------------------------
def run(core: EngineCore, session: Session, instance_id: int, now: datetime, action: Callable[[Unit], Any],
        **options: Any) -> Unit:
    """`unit.run_in_unit` (load, act, advance, save), then what the unit threw dispatched."""
    unit = run_in_unit(core, session, instance_id, now, action, **options)
    dispatch(core, session, unit)
    return unit


def save(core: EngineCore, session: Session, unit: Unit) -> None:
    """Save a unit a room drove itself (start, migration, modification) and dispatch its throws."""
    unit.save()
    dispatch(core, session, unit)


def dispatch(core: EngineCore, session: Session, unit: Unit) -> None:
    """Messages go to the one instance waiting (or start one); signals to every instance waiting."""
    thrown, unit.thrown = unit.thrown, []
    for event in thrown:
        if event.kind == "signal":
            broadcast_thrown_signal(core, session, event.name, event.payload, unit.instance, unit.now)
        else:
            deliver_thrown(core, session, event.name, event.payload, unit.instance, unit.now)


# -- starting -------------------------------------------------------------------------------
def start(core: EngineCore, process_id: str, data: Any, business_key: str | None,
          user: str | None) -> InstanceDetail:
    payload = parse_data(data)
    check_text(process_id, "process_id")
    check_text(business_key, "business_key")
    with core.db.write() as session:
        unit = start_in(core, session, process_id, payload, business_key, user, core.now())
        return unit.view()


def start_in(
    core: EngineCore, session: Session, process_id: str, data: dict[str, Any], business_key: str | None,
    user: str | None, now: datetime, version_id: int | None = None, prepare: Callable[[Unit], None] | None = None,
) -> Unit:
    """Create an instance of the latest (or the given) version and run it until it waits."""
    record = InstanceRecord(
        id=0, process_id=process_id, version_id=version_id or 0, business_key=business_key, status="running",
        state="", variables=None, serializer_version=SERIALIZER_VERSION, lock_version=1, started_by=user,
        created_at=now, updated_at=now, ended_at=None, steps=0,
    )
    if version_id is not None:
        instance = records.create(session, record)
    else:
        instance = records.create_latest(session, record)
        if instance is None:
            known = sorted(set(session.scalars(select(ProcessVersion.process_id))))
            hint = (
                f"; deployed processes: {', '.join(known)}" if known
                else "; nothing is deployed yet (crmflow deploy)"
            )
            raise NotFound(f"process '{process_id}' is not deployed{hint}")
    unit = Unit(core, session, instance, now, new=True)
    unit.user = user
    start_task = next(t for t in unit.workflow.tasks.values() if t.task_spec.name == "Start")
    start_task.data.update(data)
    unit.recorder.record("instance_started", now, user=user, delta={"set": data} if data else None)
    if prepare is not None:
        prepare(unit)
    unit.advance()
    save(core, session, unit)
    return unit


# -- messages -------------------------------------------------------------------------------
# Who waits for a message (with its instance's key and status), built once; a thrown message
# does not go back to the instance that threw it.
_WAITING = (
    select(MessageSubscription, Instance.business_key, Instance.status)
    .join(Instance, Instance.id == MessageSubscription.instance_id)
    .where(MessageSubscription.message_name == bindparam("message"), MessageSubscription.kind == "message")
)
_WAITING_OTHERS = _WAITING.where(MessageSubscription.instance_id != bindparam("source"))


def correlate(core: EngineCore, message: str, key: str | None, data: Any) -> InstanceDetail:
    payload = parse_data(data)
    check_text(message, "name")
    check_text(key, "key")
    now = core.now()
    with conflicts_as_errors(), core.db.write() as session:
        unit = correlate_in(core, session, message, key, payload, now, source=None)
        assert unit is not None  # only a thrown message is held
        return unit.view()


def correlate_in(
    core: EngineCore, session: Session, message: str, key: str | None, payload: dict[str, Any], now: datetime,
    source: InstanceRecord | None,
) -> Unit | None:
    """Deliver to the one waiting instance (or start one). A suspended receiver refuses a
    message sent directly (409 naming it); one thrown by another instance is held for it
    until it is resumed (None is returned then)."""
    stmt, params = _WAITING, {"message": message}
    if source is not None:
        stmt, params = _WAITING_OTHERS, {"message": message, "source": source.id}
    statuses: dict[int, str] = {}  # read with the match, in this transaction: no second query
    matches = []
    for sub, business_key, status in session.execute(stmt, params):
        if key is None or key in (business_key, sub.correlation_key):
            matches.append(sub)
            statuses[sub.instance_id] = status
    instance_ids = sorted({m.instance_id for m in matches})
    if len(instance_ids) > 1:
        raise Conflict(
            f"{len(instance_ids)} instances wait for message '{message}'"
            + (f" with key '{key}'" if key else "; give a business key to choose one")
        )
    if instance_ids:
        sub = matches[0]
        if statuses[sub.instance_id] == "suspended":
            if source is None:
                raise suspended_error(sub.instance_id, doing=f"message '{message}'")
            hold_message(session, sub.instance_id, message, key, payload, source.id, now)
            return None
        return run(core, session, sub.instance_id, now, lambda u: u.deliver_message(sub.task_id, message, payload))
    starter = next((v for v in latest_versions(session) if message in (v.message_starts or [])), None)
    if starter is not None:
        unit = start_in(core, session, starter.process_id, {}, key, None, now)
        start_sub = session.scalars(
            select(MessageSubscription).where(
                MessageSubscription.instance_id == unit.instance.id, MessageSubscription.message_name == message,
                MessageSubscription.kind == "message",
            )
        ).first()
        if start_sub is not None:
            start_task_id = start_sub.task_id
            unit = run(core, session, unit.instance.id, now,
                       lambda u: u.deliver_message(start_task_id, message, payload))
        return unit
    waiting = f" with key '{key}'" if key else ""
    raise NoSubscriber(
        f"no instance is waiting for message '{message}'{waiting} and no deployed process starts with it"
    )


def hold_message(session: Session, instance_id: int, message: str, key: str | None, payload: dict[str, Any],
                 source_id: int, now: datetime) -> None:
    """A message another instance throws to a suspended one waits in the receiver's history and
    is delivered when it is resumed (engine/operations.py); both instances' histories say so."""
    reason = f"instance {instance_id} is suspended; the message is delivered when it is resumed"
    session.add(HistoryEntry(instance_id=instance_id, at=now, event="message_held", user=None, data_delta={
        "message": message, "key": key, "payload": to_json_value(payload), "from_instance": source_id,
        "reason": reason}))
    session.add(HistoryEntry(instance_id=source_id, at=now, event="message_held", user=None, data_delta={
        "message": message, "to_instance": instance_id, "reason": reason}))


def deliver_thrown(
    core: EngineCore, session: Session, message: str, payload: Any, source: InstanceRecord, now: datetime
) -> None:
    """A message thrown by one instance goes to the one waiting for it, if any.

    It correlates by the sender's business key, unless the payload names another one in
    `business_key` (which also keys an instance the message starts)."""
    data = payload if isinstance(payload, dict) else {"payload": payload}
    key = data.get("business_key") if isinstance(data.get("business_key"), str) else source.business_key
    try:
        with session.begin_nested():
            correlate_in(core, session, message, key, data, now, source=source)
    except (NoSubscriber, Conflict) as err:
        session.add(
            HistoryEntry(
                instance_id=source.id, at=now, event="message_unhandled", element_id=None,
                data_delta={"message": message, "reason": str(err)},
            )
        )


# -- signals --------------------------------------------------------------------------------
def signal(core: EngineCore, name: str, data: Any) -> SignalView:
    """Every instance waiting on the signal catches it (each in its own unit of work), and
    every deployed process with a signal start event of that name starts."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a signal needs a name (as in the diagram's signal definition)")
    payload = parse_data(data)
    now = core.now()
    result = SignalView(name)
    with core.db.read() as session:
        waiting = sorted(set(session.scalars(
            select(MessageSubscription.instance_id).where(
                MessageSubscription.kind == signals.KIND, MessageSubscription.message_name == name
            )
        )))
        starters = [v.process_id for v in latest_versions(session)
                    if name in signals.signal_starts(core.specs_for(session, v.id).spec)]
    for instance_id in waiting:
        caught: list[int] = []
        try:
            with conflicts_as_errors(), core.db.write() as session:
                run(core, session, instance_id, now,
                    lambda u, caught=caught: caught.append(u.deliver_signal(name, payload)))
        except (Conflict, NotFound):
            continue  # it ended (or moved on) since the subscriptions were read
        if caught and caught[0]:
            result.delivered.append(instance_id)
    for process_id in starters:
        with conflicts_as_errors(), core.db.write() as session:
            unit = start_in(core, session, process_id, {}, None, None, now)
            run(core, session, unit.instance.id, now, lambda u: u.deliver_signal(name, payload))
            result.started.append(unit.instance.id)
    return result


def broadcast_thrown_signal(
    core: EngineCore, session: Session, name: str, payload: dict[str, Any] | None, source: InstanceRecord,
    now: datetime,
) -> None:
    """A signal thrown by one instance (and not only caught inside it) reaches every other
    instance waiting on it, in the same transaction; it starts no new instances, so one
    process cannot start itself without end. Only the event's payload expression is sent
    along, not the thrower's data."""
    waiting = sorted(set(session.scalars(
        select(MessageSubscription.instance_id).where(
            MessageSubscription.kind == signals.KIND, MessageSubscription.message_name == name,
            MessageSubscription.instance_id != source.id,
        )
    )))
    for instance_id in waiting:
        try:
            with session.begin_nested():
                run(core, session, instance_id, now, lambda u: u.deliver_signal(name, payload))
        except (Conflict, NotFound) as err:
            session.add(HistoryEntry(
                instance_id=source.id, at=now, event="signal_unhandled", element_id=None,
                data_delta={"signal": name, "instance": instance_id, "reason": str(err)},
            ))

