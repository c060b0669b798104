"""Database access: engines, sessions and the schema (through Alembic).

SQLite (a file in WAL mode) is the default store. Units of work on SQLite begin with
`BEGIN IMMEDIATE` so that two writers serialize on the database's write lock instead of
failing late with a stale snapshot; read-only queries use a second engine with ordinary
deferred transactions, so readers never wait for writers. PostgreSQL serializes units
on one instance with `SELECT ... FOR UPDATE`.
"""

from __future__ import annotations

import operator
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, TypeDecorator, create_engine, event, inspect
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import DisconnectionError, MultipleResultsFound, NoResultFound, OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.sql import ClauseElement

from .errors import StoreBusy

DEFAULT_DB_URL = "sqlite:///crmflow.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_SECONDS = 30  # how long a SQLite unit waits for another's write lock before StoreBusy
# The WAL is copied into the database file (a checkpoint: two fsyncs and every page written since
# the last one) when it reaches this many pages; SQLite's default, 1,000 pages, checkpoints every
# hundred or so instance starts, a few milliseconds each: half of what a start's commit costs on
# average. At 4,000 (16 MiB with 4 KiB pages) a page written again and again goes out once per
# checkpoint; commits are as durable as before (synchronous=NORMAL), the WAL file grows to 16 MiB.
WAL_CHECKPOINT_PAGES = 4000


def resolve_url(url: str | None) -> str:
    """`--db` beats `CRMFLOW_DB` beats the default file; a bare path means a SQLite file."""
    url = url or os.environ.get("CRMFLOW_DB") or DEFAULT_DB_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def _sqlite_engine(url: str, immediate: bool) -> SAEngine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS}}
    if memory:
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def _do_begin(dbapi_conn):  # noqa: ANN001
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(begin)
        finally:
            cursor.close()

    # The dialect's own BEGIN, not a "begin" event: a connection event listener makes every
    # Connection of the engine dispatch events on each operation (≈ 20 µs a unit of work). The
    # dialect is this engine's own instance. A busy timeout is raised here and wrapped by the
    # Connection like any driver error (`is_busy` sees it); cursor listeners do not see this BEGIN.
    engine.dialect.do_begin = _do_begin
    return engine


def _pinged_by_begin(engine: SAEngine) -> SAEngine:
    """`pool_pre_ping` without its own round trip: on psycopg, the checkout sends the
    transaction's BEGIN itself and a connection that cannot answer it is dead.

    `pool_pre_ping` sends `SELECT 1` on every checkout: one more round trip per unit of work (a
    fifth of a linear start's on PostgreSQL). Every unit's first statement is preceded by
    psycopg's implicit BEGIN anyway; sent here (through the libpq connection, so psycopg sees the
    transaction open and sends no second one), it is the ping. A lost connection is reported as
    `DisconnectionError`, upon which the pool connects anew (SQLAlchemy's documented pessimistic
    disconnect handling) — as with `pool_pre_ping`, a unit never meets a connection the server
    dropped while it sat in the pool. Connections in autocommit or with an isolation level of
    their own, and other drivers, get the dialect's usual ping."""

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, _record, _proxy):  # noqa: ANN001
        try:
            pgconn = getattr(dbapi_conn, "pgconn", None)
            if (pgconn is None or dbapi_conn.autocommit or dbapi_conn.isolation_level is not None
                    or pgconn.transaction_status != _PQ_IDLE):
                engine.dialect.do_ping(dbapi_conn)
                return
            result = pgconn.exec_(b"BEGIN")
            ok = result.status == _PQ_COMMAND_OK
        except engine.dialect.loaded_dbapi.Error as err:
            raise DisconnectionError(f"pooled connection lost: {err}") from err
        if not ok:
            raise DisconnectionError(f"pooled connection lost: {pgconn.get_error_message()}")

    return engine


_PQ_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
_PQ_COMMAND_OK = 1  # psycopg.pq.ExecStatus.COMMAND_OK


BUSY_MARKERS = ("database is locked", "database table is locked", "lock timeout", "could not obtain lock",
                "canceling statement due to lock timeout")


def is_busy(err: BaseException) -> bool:
    """Whether a driver error means "another unit holds the lock" (SQLite's busy timeout, a
    PostgreSQL lock timeout) rather than a broken query."""
    return isinstance(err, OperationalError) and any(m in str(err).lower() for m in BUSY_MARKERS)


def _raise_if_busy(err: OperationalError) -> None:
    """`StoreBusy` in place of a driver error that means "locked by other work"."""
    if is_busy(err):
        raise StoreBusy(
            f"the database is busy with other work (locked longer than {BUSY_TIMEOUT_SECONDS} s); nothing was "
            f"changed, retry in a few seconds"
        ) from None


_CONNECTION = "crmflow.connection"


def connection(session: Session) -> Connection:
    """The unit's Connection (`db.UnitOfWork`), without `session.connection()`: that starts the
    Session's own transaction machinery (and walks it on every call), which a unit that writes
    only through the Connection never needs."""
    conn = session.info.get(_CONNECTION)
    if conn is None or conn.closed or not conn.in_transaction():
        conn = session.info[_CONNECTION] = session.connection()
    return conn


class DriverResult:
    """What a statement run by `driver_execute` returned: its rowcount and its rows (RETURNING),
    read out at once so the cursor is closed; the few `CursorResult` calls the hot writes use."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rowcount: int, rows: list[Any]) -> None:
        self.rowcount = rowcount
        self.rows = rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise (NoResultFound if not self.rows else MultipleResultsFound)(
                f"expected one row, the statement returned {len(self.rows)}")
        return self.rows[0][0]


def driver_execute(conn: Connection, sql: str, params: Any, many: bool = False) -> DriverResult:
    """`cursor.execute` (or `executemany`) of driver-ready SQL and parameters on `conn`'s DBAPI
    connection, inside its current transaction.

    `exec_driver_sql` builds an execution context and a result for every statement, which on
    SQLite costs ten times the statement itself (≈ 45 µs against 4 µs); the hot writes of a step
    need neither. What stays: the connection's and engine's `before_cursor_execute` /
    `after_cursor_execute` listeners see every statement (with `context=None`), and a driver error
    is handled by the connection as its own (wrapped as SQLAlchemy's `DBAPIError` subclasses, a
    lost connection invalidated). With echo or dialect-level execute events on, or outside a
    transaction, the statement goes through `exec_driver_sql` instead.
    """
    if conn._echo or conn.dialect._has_events or not conn.in_transaction():  # noqa: SLF001
        result = conn.exec_driver_sql(sql, params)
        return DriverResult(result.rowcount, result.fetchall() if result.returns_rows else [])
    events = conn._has_events or conn.engine._has_events  # noqa: SLF001
    cursor = conn.connection.cursor()
    try:
        if events:
            for fn in conn.dispatch.before_cursor_execute:
                sql, params = fn(conn, cursor, sql, params, None, many)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
        if events:
            conn.dispatch.after_cursor_execute(conn, cursor, sql, params, None, many)
        return DriverResult(cursor.rowcount, rows)
    except BaseException as err:
        conn._handle_dbapi_exception(err, sql, params, cursor, None)  # noqa: SLF001 - raises
    finally:
        cursor.close()


def _driver_savepoints(engine: SAEngine) -> None:
    """The dialect's SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT through
    `driver_execute`: the dialect executes each as a clause, compiled and given an execution
    context and a result every time (≈ 40 µs a statement against a few µs; a lead-to-invoice
    lifecycle opens 19 handler savepoints). Same statements, same transaction, same events."""
    dialect = engine.dialect
    name_of = dialect.identifier_preparer.format_savepoint

    def run(sql: str) -> Callable[[Connection, str], None]:
        def execute(conn: Connection, name: str) -> None:
            driver_execute(conn, f"{sql} {name_of(None, name)}", ())

        return execute

    dialect.do_savepoint = run("SAVEPOINT")
    dialect.do_release_savepoint = run("RELEASE SAVEPOINT")
    dialect.do_rollback_to_savepoint = run("ROLLBACK TO SAVEPOINT")


def bind_processor(process: Callable[[Any], Any] | None, type_: Any) -> Callable[[Any], Any] | None:
    """A bind processor; a datetime column's remembers its last value, a JSON column its None.
    A unit stamps its rows with one `now` (the instance's times, every history row's `at`), and
    converting it (to UTC, to SQLite's text) is the dearest processor there is: done once per
    value, not per row."""
    if process is None:
        return None
    impl = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    if isinstance(impl, JSON):
        return _none_remembered(process)
    if not isinstance(impl, DateTime):
        return process
    last: list[tuple[Any, Any]] = [(_NOTHING, None)]

    def remembered(value: Any) -> Any:
        seen, out = last[0]  # one tuple, read and replaced whole: safe across threads
        if seen is value:  # the very object (datetimes are immutable); the tuple holds it alive
            return out
        out = process(value)
        last[0] = (value, out)
        return out

    return remembered


_NOTHING = object()


def _none_remembered(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON column's processor that serializes None once: most history rows carry no data
    change, and `json.dumps(None)` through the type's serializer costs µs per row for "null"."""
    null: list[Any] = []

    def process_json(value: Any) -> Any:
        if value is None:
            if not null:
                null.append(process(None))
            return null[0]
        return process(value)

    return process_json


class Prepared:
    """A Core write statement compiled once per dialect, run through `exec_driver_sql`.

    `Connection.execute` of a Core statement looks up its compiled form by cache key and
    wraps parameters and results on every call, which on SQLite costs more than the SQL
    itself; the step's hot writes (the instance row, the history rows) compile once here.
    Bind values go through the same type processors SQLAlchemy applies (UTC datetimes,
    JSON), and the connection's events still see every statement (`driver_execute`). Results are
    the driver's own values: meant for DML (rowcount, RETURNING of plain integers), not for reading rows.
    """

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None,
                 many: bool = False) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self.many = many
        self._compiled: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def _compile(self, dialect: Any) -> tuple[str, list[tuple[str, str, Any]], dict[str, Any]]:
        """(SQL text, [(bind name, name in the SQL, type processor or None)] in the driver's
        order, values of the binds the statement fixes itself, e.g. a LIMIT)."""
        plan = self._compiled.get(dialect)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys,
                                              for_executemany=self.many)
            if compiled.insert_prefetch or compiled.update_prefetch:  # Python-side defaults: not here
                raise ValueError(f"Prepared needs every column's value given: {compiled.string}")
            processors = compiled._bind_processors
            escaped = compiled.escaped_bind_names or {}
            if compiled.positional:
                names = list(compiled.positiontup)
            else:
                names = list(dict.fromkeys(compiled.bind_names.values()))
            fixed = {name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required}
            types = {name: bind.type for bind, name in compiled.bind_names.items()}
            order = [(name, escaped.get(name, name), bind_processor(processors.get(name), types.get(name)))
                     for name in names]
            plan = self._compiled[dialect] = (compiled.string, order, fixed)
        return plan

    def execute(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> DriverResult:
        dialect = conn.dialect
        sql, order, fixed = self._compile(dialect)

        if fixed:
            def value(values: Mapping[str, Any], name: str) -> Any:
                return values[name] if name in values else fixed[name]
        else:
            value = operator.getitem

        if dialect.positional:
            fmt = dialect.execute_sequence_format

            def one(values: Mapping[str, Any]) -> Any:
                return fmt([(p(value(values, n)) if p else value(values, n)) for n, _, p in order])
        else:
            def one(values: Mapping[str, Any]) -> Any:
                return {e: (p(value(values, n)) if p else value(values, n)) for n, e, p in order}

        if self.many:
            return driver_execute(conn, sql, [one(row) for row in params], many=True)
        return driver_execute(conn, sql, one(params))


class UnitSession(Session):
    """The Session of a unit of work (`UnitOfWork`), whose statements mostly go straight to the
    unit's Connection (`connection(session)`) without the Session having begun.

    So a savepoint and a rollback must reach that Connection whether or not the ORM has been used:
    `begin_nested` emits its SAVEPOINT at once (the Session would otherwise wait for its own next
    use of the Connection, and statements sent directly meanwhile would escape the savepoint), and
    `rollback` rolls the unit's transaction back even when the Session never joined it."""

    def begin_nested(self) -> SessionTransaction:
        nested = super().begin_nested()
        self.connection()  # joins the unit's transaction if need be, then SAVEPOINT
        return nested

    def rollback(self) -> None:
        super().rollback()  # joined (`rollback_only`): rolls the unit's transaction back too
        conn = self.info.get(_CONNECTION)
        if conn is not None and not conn.closed and conn.in_transaction():
            conn.rollback()


class UnitOfWork:
    """`with database.write() as session:` — a transaction on a Connection of its own, and a
    Session bound to it; committed when the block ends, rolled back if it raises.

    The hot writes run on the Connection (`connection(session)`, `driver_execute`), never
    starting the Session's own transaction machinery: a Session that begins, commits and closes
    a transaction costs ≈ 45 µs a unit on top of the Connection's ≈ 25 µs, more than a linear
    start's three statements. When the ORM is used, the Session joins the transaction; its
    pending objects are flushed before the Connection commits.

    The Session is this thread's spare one if it has one: a closed Session is as good as new,
    and one left to the garbage collector (it is full of reference cycles) costs ≈ 20 µs. Taken
    while in use, so a unit opened inside another on the same thread gets a Session of its own;
    `info` is emptied on return. A class rather than a generator: a unit is opened for every
    call, and three nested generator context managers cost more than the rest of this."""

    __slots__ = ("_database", "_kind", "_engine", "_session", "_conn", "_transaction")

    def __init__(self, database: Database, kind: str, engine: SAEngine) -> None:
        self._database, self._kind, self._engine = database, kind, engine

    def __enter__(self) -> Session:
        spare = self._database._spare.__dict__  # noqa: SLF001 - the Database's own per-thread spares
        session = self._session = spare.pop(self._kind, None) or self._database._sessions()  # noqa: SLF001
        try:
            conn = self._conn = self._engine.connect()
        except OperationalError as err:
            spare[self._kind] = session
            _raise_if_busy(err)
            raise
        try:
            self._transaction = conn.begin()
        except BaseException as err:
            self._release()
            if isinstance(err, OperationalError):
                _raise_if_busy(err)
            raise
        session.bind = conn
        session.info[_CONNECTION] = conn
        return session

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> None:
        transaction = self._transaction
        try:
            if kind is None:
                try:
                    if self._session.in_transaction():
                        self._session.commit()  # flushes; `rollback_only` leaves the transaction to us
                    if transaction.is_active:  # not rolled back through the Session
                        transaction.commit()
                except BaseException:
                    if transaction.is_active:
                        transaction.rollback()
                    raise
            elif transaction.is_active:
                transaction.rollback()
        except OperationalError as err:
            _raise_if_busy(err)
            raise
        finally:
            self._release()
        if isinstance(error, OperationalError):
            _raise_if_busy(error)

    def _release(self) -> None:
        session = self._session
        # A Session the unit never used has nothing to detach: `close` would still rebuild its
        # identity map (≈ 10 µs).
        if session.in_transaction() or session.identity_map or session._new or session._deleted:  # noqa: SLF001
            session.close()
        session.info.clear()
        session.bind = None
        self._conn.close()
        self._database._spare.__dict__[self._kind] = session  # noqa: SLF001


class Database:
    """The two SQLAlchemy engines of one store and the sessions made from them."""

    def __init__(self, url: str | None = None, migrations: list[Path] | None = None) -> None:
        self.url = resolve_url(url)
        self.migrations = list(migrations or [])
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(self.url, immediate=True)
            in_memory = self.url in ("sqlite://", "sqlite:///:memory:")
            self.read_engine = self.write_engine if in_memory else _sqlite_engine(self.url, immediate=False)
        else:
            self.write_engine = _pinged_by_begin(create_engine(self.url))
            self.read_engine = self.write_engine
        _driver_savepoints(self.write_engine)
        # Bound per unit to the unit's own Connection (`UnitOfWork`); joining it, the ORM flushes into
        # that transaction and a `session.rollback()` rolls it back, but only `UnitOfWork` commits it.
        self._sessions = sessionmaker(class_=UnitSession, expire_on_commit=False, join_transaction_mode="rollback_only")
        self._spare = threading.local()  # each thread's closed Sessions, by kind (`UnitOfWork`)

    def write(self) -> UnitOfWork:
        """One unit of work: commit on success, roll back on any error. A lock held by other work
        past the busy timeout is `StoreBusy` ("busy, retry"), never the driver's raw error."""
        return UnitOfWork(self, "writer", self.write_engine)

    def read(self) -> UnitOfWork:
        return UnitOfWork(self, "reader", self.read_engine)

    def upgrade(self, revision: str = "heads") -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command

        with self.write_engine.begin() as conn:
            cfg = alembic_config(self.url, self.migrations)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def ensure_schema(self) -> None:
        """Run the migrations when the database is new or behind; cheap when it is current."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config(self.url, self.migrations))
        ours = set(script.get_heads())
        with self.read_engine.connect() as conn:
            if inspect(conn).has_table("alembic_version"):
                current = set(MigrationContext.configure(conn).get_current_heads())
                if ours <= current:
                    return  # our branches are current; other branches belong to plug-ins
                unknown = sorted(h for h in current if not _known(script, h))
                if unknown:
                    raise RuntimeError(
                        f"the database at {self.url.split('@')[-1]} carries migrations this program does not "
                        f"know ({', '.join(unknown)}); open it with the same plug-ins (crmflow's settings) "
                        "to upgrade it"
                    )
        self.upgrade()

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _known(script, revision: str) -> bool:  # noqa: ANN001 - alembic ScriptDirectory
    try:
        return script.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        return False


def alembic_config(url: str, extra: list[Path] | None = None):  # noqa: ANN201 - alembic.config.Config
    """Engine migrations plus the version folders of plug-ins (e.g. the CRM records' branch)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    locations = [str(MIGRATIONS_DIR / "versions"), *(str(p) for p in extra or [])]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    return cfg
