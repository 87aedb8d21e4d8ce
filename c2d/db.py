"""What c2d's stores share: engines for SQLite or PostgreSQL, per-key increasing nonces, and a
ledger of the services' nonces, each taken once."""

import threading
import time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`: SQLite (WAL, shared by threads and processes) or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def create_schema(engine: Engine, metadata: MetaData) -> None:
    """Creates missing tables. Two processes starting at once on one database (the operator
    service and the engine) may both try: the one that loses sees the tables on a second look."""
    for attempt in range(3):
        try:
            metadata.create_all(engine)
            add_missing_columns(engine, metadata)
            return
        except OperationalError:
            if attempt == 2:
                raise
            time.sleep(0.2)


def add_missing_columns(engine: Engine, metadata: MetaData) -> None:
    """Columns a newer c2d added to a table that an older one created: added in place (each
    such column has a server default, so existing rows stay valid)."""
    existing = inspect(engine)
    for table in metadata.sorted_tables:
        if not existing.has_table(table.name):
            continue
        present = {column["name"] for column in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.server_default is None and not column.nullable:
                raise RuntimeError(f"cannot add column {table.name}.{column.name} to existing rows")
            kind = column.type.compile(engine.dialect)
            default = f" DEFAULT '{column.server_default.arg}'" if column.server_default is not None else ""  # type: ignore[attr-defined]
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{default}"))


def nonce_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("address", String(42), primary_key=True),
        Column("nonce", BigInteger, nullable=False),
    )


def advance_nonce(engine: Engine, table: Table, address: str, nonce: int) -> bool:
    """Records `nonce` for `address` (lower-cased) if it is larger than the one recorded, in one
    transaction; False when it is not. Concurrent calls with one nonce let exactly one through."""
    address = address.lower()
    for _ in range(3):
        try:
            with engine.begin() as conn:
                if conn.execute(
                    update(table).where(table.c.address == address, table.c.nonce < nonce).values(nonce=nonce)
                ).rowcount:
                    return True
                if conn.execute(select(table.c.nonce).where(table.c.address == address)).first():
                    return False
                conn.execute(insert(table).values(address=address, nonce=nonce))
                return True
        except IntegrityError:
            continue  # a concurrent request recorded this address first: look again
    raise RuntimeError("the nonce of one address kept changing under concurrent requests")


def nonce_ledger_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("address", String(42), primary_key=True),
        Column("nonce", BigInteger, primary_key=True),
    )


class NonceLedger:
    """The nonces services signed with (their clocks in nanoseconds), each taken once: a
    request whose nonce was seen is a replay. The caller refuses nonces outside the window
    first (c2d.signing.service_nonce_fresh), so those older than the window are forgotten, at
    most once a minute. Unlike a per-key increasing nonce, concurrent requests of one signer may
    arrive in any order."""

    PRUNE_SECONDS = 60.0

    def __init__(self, engine: Engine, table: Table, window: float) -> None:
        self.engine = engine
        self.table = table
        self.window_ns = int(window * 1_000_000_000)
        self._lock = threading.Lock()
        self._pruned = 0.0

    def take(self, address: str, nonce: int) -> bool:
        """Records `nonce` of `address`; False when it was taken before."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(self.table).values(address=address.lower(), nonce=nonce))
        except IntegrityError:
            return False
        with self._lock:
            due = time.monotonic() - self._pruned > self.PRUNE_SECONDS
            if due:
                self._pruned = time.monotonic()
        if due:
            with self.engine.begin() as conn:
                conn.execute(delete(self.table).where(self.table.c.nonce < time.time_ns() - self.window_ns))
        return True
