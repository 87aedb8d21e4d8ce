"""The provider's durable state behind one data-access layer (SQLAlchemy): nonces, orders and
their uses, the jobs it admitted, the DDO index and its cursor. SQLite by default, PostgreSQL
by URL."""

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from c2d.chain import VerifiedOrder
from c2d.db import NonceLedger, advance_nonce, create_schema, make_engine, nonce_ledger_table, nonce_table
from c2d.signing import NONCE_WINDOW

metadata = MetaData()

nonces = nonce_table("nonces", metadata)
operator_nonces = nonce_ledger_table("operator_nonces", metadata)  # the configure stages' signed requests

orders = Table(
    "orders",
    metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("datatoken", String(42), primary_key=True),
    Column("consumer", String(42), nullable=False),
    Column("payer", String(42), nullable=False),
    # uint256 amounts as decimal text: SQLite's NUMERIC would round them through a float.
    Column("amount", String(78), nullable=False),
    Column("net_amount", String(78), nullable=False),
    Column("market_fee", String(78), nullable=False),
    Column("fee_collector", String(42), nullable=False),
    Column("service_id", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("uses", Integer, nullable=False, default=0),
    Column("block_hash", String(66), nullable=False, server_default=""),
)

# What the downloads of one file under one order have carried: a continued download (a range
# further into the file) takes no new use while, in total, no more than the budget is served.
downloads = Table(
    "downloads",
    metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("datatoken", String(42), primary_key=True),
    Column("file_index", Integer, primary_key=True),
    Column("budget", BigInteger, nullable=True),  # unknown size (a server that sent no length): no continuation
    Column("served", BigInteger, nullable=False),  # bytes sent or being sent
)

IN_FLIGHT = 8 << 20
"""What a transfer that breaks off may have sent that the consumer never received (socket
buffers on the way): a continuation may carry that much more than the rest of the file."""


def _download(tx_hash: str, datatoken: str, file_index: int) -> list[Any]:
    """The row of one order's downloads of one file."""
    return [downloads.c.tx_hash == tx_hash, downloads.c.datatoken == datatoken, downloads.c.file_index == file_index]


def download_budget(size: int | None) -> int | None:
    """Bytes the downloads of a file under one order may carry in total: its size, plus what
    may be lost in flight when a transfer breaks off (at most the size itself)."""
    return None if size is None else size + min(size, IN_FLIGHT)


assets = Table(
    "assets",
    metadata,
    Column("did", String(80), primary_key=True),
    Column("datatoken", String(42), nullable=False, unique=True),
    Column("publisher", String(42), nullable=False),
    Column("ddo", JSON, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("indexed_at", BigInteger, nullable=False),
)

job_inputs = Table(
    "job_inputs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("did", String(80), primary_key=True),
)

# The compute jobs this provider admitted, recorded before the operator service is asked, in the
# transaction that takes their orders' uses: a crash between the two leaves the job "admitting"
# with its uses held, never a use taken for no job. An admission ends "created" (the operator
# has the job) or "given_back" (it never had it; the uses are returned and its job_orders rows
# go). c2d.provider.compute settles what a crash left admitting.
ADMITTING, CREATED, GIVEN_BACK = "admitting", "created", "given_back"

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("owner", String(42), nullable=False),
    Column("spec", JSON, nullable=False),  # the c2d.job.JobSpec to send, while admitting ({} once settled)
    Column("state", String(16), nullable=False),
    Column("admitted_at", Float, nullable=False),
)

job_orders = Table(
    "job_orders",
    metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("datatoken", String(42), primary_key=True),
    Column("job_id", String(64), primary_key=True),
)


@dataclass(frozen=True)
class Admission:
    job_id: str
    owner: str
    spec: dict[str, Any]
    state: str
    admitted_at: float
    orders: tuple[tuple[str, str], ...]  # (tx hash, datatoken)


class _UsedUp(Exception):
    def __init__(self, tx_hash: str) -> None:
        self.tx_hash = tx_hash


# The web page's sessions (c2d.provider.web): only a hash of each token is kept.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("address", String(42), nullable=False),
    Column("expires", Float, nullable=False),
)

settings_table = Table(
    "index_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)


@dataclass(frozen=True)
class Asset:
    did: str
    datatoken: str
    publisher: str
    ddo: dict[str, Any]
    block_number: int


class _RecentNonces:
    """Nonces read or written in the last `ttl` seconds, at most `size` of them: a GET of a nonce
    is then a dictionary lookup. Only reads use it; a nonce is accepted only by the database's
    atomic update, so a stale entry (another replica's write, within `ttl`) can only make a
    client retry with a larger nonce."""

    def __init__(self, size: int = 50_000, ttl: float = 1.0) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, address: str) -> int | None:
        with self._lock:
            entry = self._entries.get(address)
            if entry is None or time.monotonic() - entry[1] > self.ttl:
                return None
            return entry[0]

    def put(self, address: str, nonce: int) -> None:
        """Records a nonce read or accepted now (the larger, if another was recorded just before)."""
        with self._lock:
            now = time.monotonic()
            entry = self._entries.get(address)
            if entry is not None and now - entry[1] <= self.ttl:
                nonce = max(nonce, entry[0])
            self._entries[address] = (nonce, now)
            self._entries.move_to_end(address)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class Store:
    """All reads and writes of the provider's state; every method is one transaction."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        create_schema(self.engine, metadata)
        self._nonces = _RecentNonces()
        self._operator_nonces = NonceLedger(self.engine, operator_nonces, NONCE_WINDOW)

    def close(self) -> None:
        self.engine.dispose()

    # ---- nonces ----

    def nonce(self, address: str) -> int:
        address = address.lower()
        cached = self._nonces.get(address)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            value = int(conn.execute(select(nonces.c.nonce).where(nonces.c.address == address)).scalar() or 0)
        self._nonces.put(address, value)
        return value

    def advance_nonce(self, address: str, nonce: int) -> bool:
        """Records `nonce` for `address` if it is larger than the one recorded; False otherwise."""
        accepted = advance_nonce(self.engine, nonces, address, nonce)
        if accepted:
            self._nonces.put(address.lower(), nonce)
        return accepted

    def take_operator_nonce(self, address: str, nonce: int) -> bool:
        """Records an operator's nonce (checked fresh); False for one taken before: a replay."""
        return self._operator_nonces.take(address, nonce)

    # ---- orders ----

    def cached_order(self, tx_hash: str, datatoken: str) -> tuple[VerifiedOrder, int] | None:
        """A previously verified order and how many times it was used."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(orders).where(orders.c.tx_hash == tx_hash, orders.c.datatoken == datatoken)
            ).first()
        if row is None:
            return None
        m = row._mapping
        order = VerifiedOrder(
            tx_hash=m["tx_hash"],
            datatoken=m["datatoken"],
            consumer=m["consumer"],
            payer=m["payer"],
            amount=int(m["amount"]),
            net_amount=int(m["net_amount"]),
            market_fee=int(m["market_fee"]),
            fee_collector=m["fee_collector"],
            service_id=int(m["service_id"]),
            timestamp=int(m["timestamp"]),
            block_number=int(m["block_number"]),
            block_hash=m["block_hash"],
        )
        return order, int(m["uses"])

    def remember_order(self, order: VerifiedOrder) -> None:
        values = {
            "tx_hash": order.tx_hash,
            "datatoken": order.datatoken,
            "consumer": order.consumer,
            "payer": order.payer,
            "amount": str(order.amount),
            "net_amount": str(order.net_amount),
            "market_fee": str(order.market_fee),
            "fee_collector": order.fee_collector,
            "service_id": order.service_id,
            "timestamp": order.timestamp,
            "block_number": order.block_number,
            "block_hash": order.block_hash,
            "uses": 0,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(orders).values(**values))
        except IntegrityError:
            pass  # already remembered by a concurrent request

    def move_order(self, order: VerifiedOrder) -> None:
        """A remembered order found again in another block (the chain was reorganised): its
        uses stay."""
        with self.engine.begin() as conn:
            conn.execute(
                update(orders)
                .where(orders.c.tx_hash == order.tx_hash, orders.c.datatoken == order.datatoken)
                .values(block_number=order.block_number, block_hash=order.block_hash)
            )

    def use_order(self, tx_hash: str, datatoken: str, max_uses: int) -> bool:
        """Takes one use of a remembered order; False when it is used up."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(orders)
                .where(orders.c.tx_hash == tx_hash, orders.c.datatoken == datatoken, orders.c.uses < max_uses)
                .values(uses=orders.c.uses + 1)
            ).rowcount
        return bool(taken)

    def release_order(self, tx_hash: str, datatoken: str) -> None:
        """Gives back a use taken for work that then could not start."""
        with self.engine.begin() as conn:
            conn.execute(
                update(orders)
                .where(orders.c.tx_hash == tx_hash, orders.c.datatoken == datatoken, orders.c.uses > 0)
                .values(uses=orders.c.uses - 1)
            )

    # ---- downloads ----

    def start_download(self, tx_hash: str, datatoken: str, file_index: int, size: int | None, length: int) -> None:
        """A download that took a use of the order: the file's budget starts again, `length` of
        it taken by this answer."""
        values = {"budget": download_budget(size), "served": length}
        where = _download(tx_hash, datatoken, file_index)
        with self.engine.begin() as conn:
            if not conn.execute(update(downloads).where(*where).values(**values)).rowcount:
                try:
                    with conn.begin_nested():
                        key = {"tx_hash": tx_hash, "datatoken": datatoken, "file_index": file_index}
                        conn.execute(insert(downloads).values(**key, **values))
                except IntegrityError:  # a concurrent download of the same order and file
                    conn.execute(update(downloads).where(*where).values(**values))

    def continue_download(self, tx_hash: str, datatoken: str, file_index: int, length: int) -> bool:
        """Counts `length` more bytes for a continued download, in one statement: False when
        that would take the order's downloads of the file past their budget."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(downloads)
                    .where(
                        *_download(tx_hash, datatoken, file_index),
                        downloads.c.budget.is_not(None),
                        downloads.c.served + length <= downloads.c.budget,
                    )
                    .values(served=downloads.c.served + length)
                ).rowcount
            )

    def unsent(self, tx_hash: str, datatoken: str, file_index: int, count: int) -> None:
        """Bytes counted for an answer that broke off before they were sent."""
        if count <= 0:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(downloads)
                .where(*_download(tx_hash, datatoken, file_index))
                .values(served=case((downloads.c.served > count, downloads.c.served - count), else_=0))
            )

    # ---- jobs ----

    def record_job_inputs(self, job_id: str, dids: list[str]) -> None:
        """The assets a job's configure stage may fetch through the provider."""
        with self.engine.begin() as conn:
            conn.execute(insert(job_inputs), [{"job_id": job_id, "did": did} for did in dict.fromkeys(dids)])

    def is_job_input(self, job_id: str, did: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(job_inputs).where(job_inputs.c.job_id == job_id, job_inputs.c.did == did))
            return found.first() is not None

    def forget_job_inputs(self, job_id: str) -> None:
        """Once a job's configure stage has ended, nothing of it may be fetched again."""
        with self.engine.begin() as conn:
            conn.execute(delete(job_inputs).where(job_inputs.c.job_id == job_id))

    # ---- admitted jobs ----

    def admit(
        self,
        job_id: str,
        owner: str,
        orders_of_job: list[tuple[str, str]],
        max_uses: int,
        spec: dict[str, Any],
        inputs: list[str],
    ) -> str | None:
        """Takes one use of each (tx hash, datatoken) order and records the job as admitting,
        with the assets its configure stage may fetch (`inputs`), all or nothing; returns None,
        or the tx hash of an order with no use left."""
        try:
            with self.engine.begin() as conn:
                for tx_hash, datatoken in orders_of_job:
                    taken = conn.execute(
                        update(orders)
                        .where(orders.c.tx_hash == tx_hash, orders.c.datatoken == datatoken, orders.c.uses < max_uses)
                        .values(uses=orders.c.uses + 1)
                    ).rowcount
                    if not taken:
                        raise _UsedUp(tx_hash)
                conn.execute(
                    insert(jobs).values(
                        job_id=job_id, owner=owner.lower(), spec=spec, state=ADMITTING, admitted_at=time.time()
                    )
                )
                conn.execute(
                    insert(job_orders),
                    [{"tx_hash": tx, "datatoken": token, "job_id": job_id} for tx, token in orders_of_job],
                )
                conn.execute(insert(job_inputs), [{"job_id": job_id, "did": did} for did in dict.fromkeys(inputs)])
        except _UsedUp as used:
            return used.tx_hash
        return None

    def admissions_of_order(self, tx_hash: str, datatoken: str) -> list[Admission]:
        """The jobs admitted (and not given back) that hold a use of this order."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(job_orders.c.job_id).where(job_orders.c.tx_hash == tx_hash, job_orders.c.datatoken == datatoken)
            ).scalars()
            return [a for a in (self._admission(conn, job_id) for job_id in list(ids)) if a is not None]

    def admission(self, job_id: str) -> Admission | None:
        with self.engine.connect() as conn:
            return self._admission(conn, job_id)

    def admitting(self, before: float) -> list[Admission]:
        """The admissions still unsettled that began before `before` (a time.time())."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(jobs.c.job_id).where(jobs.c.state == ADMITTING, jobs.c.admitted_at < before)
            ).scalars()
            return [a for a in (self._admission(conn, job_id) for job_id in list(ids)) if a is not None]

    def settle(self, job_id: str, created: bool) -> bool:
        """Ends an admitting job: created, or given back (its orders' uses returned). False when
        it was not admitting (settled already, by another request or another provider)."""
        with self.engine.begin() as conn:
            # The spec was kept only to send it again: a settled job's record keeps no copy of it
            # (a raw algorithm may be megabytes).
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.state == ADMITTING)
                .values(state=CREATED if created else GIVEN_BACK, spec={})
            ).rowcount
            if not changed or created:
                return bool(changed)
            held = conn.execute(select(job_orders).where(job_orders.c.job_id == job_id)).all()
            for row in held:
                conn.execute(
                    update(orders)
                    .where(orders.c.tx_hash == row.tx_hash, orders.c.datatoken == row.datatoken, orders.c.uses > 0)
                    .values(uses=orders.c.uses - 1)
                )
            conn.execute(delete(job_orders).where(job_orders.c.job_id == job_id))
            conn.execute(delete(job_inputs).where(job_inputs.c.job_id == job_id))
            return True

    @staticmethod
    def _admission(conn: Any, job_id: str) -> Admission | None:
        row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).first()
        if row is None:
            return None
        held = conn.execute(select(job_orders.c.tx_hash, job_orders.c.datatoken).where(job_orders.c.job_id == job_id))
        return Admission(row.job_id, row.owner, row.spec, row.state, row.admitted_at, tuple((r[0], r[1]) for r in held))

    # ---- the web page's sessions ----

    def open_session(self, token_hash: str, address: str, expires: float) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires < now))  # the ended ones go
            conn.execute(insert(web_sessions).values(token_hash=token_hash, address=address, expires=expires))

    def session_address(self, token_hash: str) -> str | None:
        """The address a live session is of, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(web_sessions.c.address).where(
                    web_sessions.c.token_hash == token_hash, web_sessions.c.expires >= time.time()
                )
            ).first()
        return None if row is None else str(row[0])

    def close_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))

    # ---- DDO index ----

    def asset(self, did: str) -> Asset | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(assets).where(assets.c.did == did)).first()
        if row is None:
            return None
        m = row._mapping
        ddo = m["ddo"] if isinstance(m["ddo"], dict) else json.loads(m["ddo"])
        return Asset(m["did"], m["datatoken"], m["publisher"], ddo, int(m["block_number"]))

    def index_cursor(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(settings_table.c.value).where(settings_table.c.name == "cursor")).scalar()
        return None if value is None else int(value)

    def save_index(self, found: list[Asset], log_indexes: list[int], cursor: int) -> None:
        """Stores newly indexed DDOs and the last block read, in one transaction. Replicas index
        the same chain into one store: a DDO is replaced only by one written later on chain, and
        the cursor only moves forward (a replica that lags behind writes nothing older)."""
        now = int(time.time())
        with self.engine.begin() as conn:
            # The cursor's row first, locked: one replica's save at a time (SQLite: its write lock).
            if (
                conn.execute(
                    update(settings_table).where(settings_table.c.name == "cursor").values(value=settings_table.c.value)
                ).rowcount
                == 0
            ):
                conn.execute(insert(settings_table).values(name="cursor", value=str(cursor)))
            for asset, log_index in zip(found, log_indexes, strict=True):
                values = {
                    "datatoken": asset.datatoken,
                    "publisher": asset.publisher,
                    "ddo": asset.ddo,
                    "block_number": asset.block_number,
                    "log_index": log_index,
                    "indexed_at": now,
                }
                older = or_(
                    assets.c.block_number < asset.block_number,
                    and_(assets.c.block_number == asset.block_number, assets.c.log_index <= log_index),
                )
                if conn.execute(update(assets).where(assets.c.did == asset.did, older).values(**values)).rowcount:
                    continue
                if conn.execute(select(assets.c.did).where(assets.c.did == asset.did)).first() is None:
                    conn.execute(insert(assets).values(did=asset.did, **values))
            stored = conn.execute(select(settings_table.c.value).where(settings_table.c.name == "cursor")).scalar()
            if stored is None or int(stored) < cursor:
                conn.execute(update(settings_table).where(settings_table.c.name == "cursor").values(value=str(cursor)))
