"""What every handler shares: the operation decorator (idempotency), lookups, numbering,
and Decimal money arithmetic."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from engine.services import ServiceContext, to_json_value

from .errors import DomainError, RecordNotFound
from .models import HandlerCall, Sequence

T = TypeVar("T")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")

#: operation name -> handler, filled by `@operation` as the handler modules are imported
OPERATIONS: dict[str, Callable[..., Any]] = {}

# The ledger is read and written once per service call: Core statements built once, not ORM
# objects (an identity lookup and a flush of a row nothing else in the unit ever reads).
_CALLS = HandlerCall.__table__
_DONE = select(_CALLS.c.params_hash, _CALLS.c.result).where(
    _CALLS.c.idempotency_key == bindparam("key"), _CALLS.c.operation == bindparam("name")
)
_RECORD = insert(_CALLS)


def operation(name: str) -> Callable[[Callable[..., T]], Callable[..., Any]]:
    """Register a handler under `name` and make it idempotent for a retried call.

    The first call with a given `ctx.idempotency_key` stores its result in
    `crm_handler_call` (in the caller's transaction, so it commits with the records it
    made); a repeat returns that result without acting again. A repeat with different
    parameters is a bug in the caller and raises `DomainError` instead of guessing.
    """

    def decorate(func: Callable[..., T]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        first = next(iter(sig.parameters))

        @functools.wraps(func)
        def wrapper(ctx: ServiceContext, *args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(ctx, *args, **kwargs)
            bound.apply_defaults()
            params = {k: v for k, v in bound.arguments.items() if k != first}
            digest = hashlib.sha256(json.dumps(to_json_value(params), sort_keys=True).encode()).hexdigest()
            key = ctx.idempotency_key
            ledger = ctx.session.connection()
            done = ledger.execute(_DONE, {"key": key, "name": name}).first()
            if done is not None:
                if done.params_hash != digest:
                    raise DomainError(
                        f"operation {name} was already called for {key} with other parameters; "
                        "a retried call must repeat its parameters"
                    )
                return done.result
            result = to_json_value(func(ctx, *args, **kwargs))
            ctx.session.flush()  # the handler's own writes first, so their errors are its errors
            ledger.execute(_RECORD, {
                "idempotency_key": key, "operation": name, "params_hash": digest, "result": result,
                "created_at": ctx.now,
            })
            return result

        if name in OPERATIONS and OPERATIONS[name] is not wrapper:
            raise ValueError(f"operation {name} is defined twice")
        OPERATIONS[name] = wrapper
        return wrapper

    return decorate


@functools.cache
def _by_id(model: type) -> tuple[Any, Any]:
    """A record kind's mapper and its select by primary key, built once (`session.get` builds
    its statement again at every call)."""
    mapper = sa_inspect(model)
    (primary_key,) = mapper.primary_key
    return mapper, select(model).where(primary_key == bindparam("pk"))


def fetch(session: Session, model: type[T], record_id: Any) -> T:
    """The record with this id, or a `RecordNotFound` naming its kind."""
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        raise DomainError(
            f"{getattr(model, 'kind', model.__name__)} id must be an integer, not {record_id!r}"
        ) from None
    mapper, by_id = _by_id(model)
    if mapper.identity_key_from_primary_key((key,)) in session.identity_map:
        record = session.get(model, key)  # loaded earlier in this unit: no SQL
    else:
        record = session.scalars(by_id, {"pk": key}).first()
    if record is None:
        raise RecordNotFound(f"{getattr(model, 'kind', model.__name__)} {key} does not exist")
    return record


@functools.cache
def _bump(dialect: str) -> Any:
    """The series' next value in one statement (insert the series at 1, or add 1 to it, and
    return the value), built once per database kind; None where there is no upsert (the caller
    also takes the other way where the database has no RETURNING: SQLite before 3.35)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    else:
        return None
    table = Sequence.__table__
    return (
        upsert(table)
        .values(name=bindparam("name"), last_value=1)
        .on_conflict_do_update(index_elements=[table.c.name], set_={"last_value": table.c.last_value + 1})
        .returning(table.c.last_value)
    )


def next_number(session: Session, name: str, prefix: str) -> str:
    """The next human-facing number in a series, e.g. `Q-00012` (locked for the transaction).

    One upsert on SQLite and PostgreSQL (it takes the row's lock as the UPDATE did), instead of
    a SELECT … FOR UPDATE, an UPDATE and a flush of the whole session."""
    connection = session.connection()
    bump = _bump(connection.dialect.name) if connection.dialect.insert_returning else None
    if bump is not None:
        return f"{prefix}-{connection.execute(bump, {'name': name}).scalar_one():05d}"
    seq = session.get(Sequence, name, with_for_update=True)
    if seq is None:
        seq = Sequence(name=name, last_value=0)
        session.add(seq)
    seq.last_value += 1
    session.flush()
    return f"{prefix}-{seq.last_value:05d}"


def to_decimal(value: Any, field: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Decimal:
    """Parse a money / quantity / percent parameter. Floats go through `str` (0.1 → 0.1)."""
    if isinstance(value, bool) or value is None:
        raise DomainError(f"{field} must be a number, not {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DomainError(f"{field} must be a finite number, not {value!r}")
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainError(f"{field} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise DomainError(f"{field} must be a finite number, not {value!r}")
    if minimum is not None and number < minimum:
        raise DomainError(f"{field} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise DomainError(f"{field} must be at most {maximum}, not {number}")
    return number


def cents(value: Decimal) -> Decimal:
    """Round to cents, half up (0.005 → 0.01), as invoices are."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal | None) -> str | None:
    """Money for a result: a string with exactly two decimals."""
    return None if value is None else str(cents(Decimal(value)))


def normalize_email(email: Any) -> str:
    """Lower-cased, trimmed address; rejects what cannot be an address."""
    if not isinstance(email, str):
        raise DomainError(f"email must be text, not {email!r}")
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 254:
        raise DomainError(f"{email!r} is not an email address")
    return email.lower()


def choose(value: Any, allowed: tuple[str, ...], field: str) -> str:
    """`value` if it is one of `allowed` (exact spelling), else a `DomainError` listing them."""
    if value not in allowed:
        raise DomainError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value
