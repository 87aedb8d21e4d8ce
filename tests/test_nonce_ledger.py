"""Services' nonces (their clocks, in nanoseconds) are taken once each, in any order: found by the
load benchmark, where concurrent provider → operator calls reached the operator out of nonce
order, were refused as replays (401 nonce_reused) three times over, and a consumer's job start
failed with that 401."""

import random
import threading
import time

import pytest
from sqlalchemy import MetaData, func, select

from c2d.db import NonceLedger, create_schema, make_engine, nonce_ledger_table
from c2d.signing import service_nonce_fresh
from postgres import postgres_server

SIGNER = "0x" + "ab" * 20


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    def make(url):
        metadata = MetaData()
        table = nonce_ledger_table("ledger", metadata)
        engine = make_engine(url)
        create_schema(engine, metadata)
        return NonceLedger(engine, table, window=300), engine

    if request.param == "sqlite":
        made = make(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield made
        made[1].dispose()
    else:
        with postgres_server() as url:
            made = make(url)
            yield made
            made[1].dispose()


def test_concurrent_nonces_in_any_order_are_each_taken_once(ledger):
    ledger, _ = ledger
    now = time.time_ns()
    nonces = [now + n for n in range(200)]
    shuffled = random.sample(nonces, len(nonces))
    taken: list[bool] = []
    lock = threading.Lock()

    def take(nonce):
        ok = ledger.take(SIGNER, nonce)
        with lock:
            taken.append(ok)

    threads = [threading.Thread(target=take, args=(n,)) for n in shuffled]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == len(nonces)  # older after newer: accepted
    assert not any(ledger.take(SIGNER, n) for n in nonces[:20])  # each again: a replay
    assert ledger.take(SIGNER.upper().replace("0X", "0x"), now + 1) is False  # the address in another case


def test_the_same_nonce_sent_at_once_is_taken_exactly_once(ledger):
    ledger, _ = ledger
    nonce, results = time.time_ns(), []
    threads = [threading.Thread(target=lambda: results.append(ledger.take(SIGNER, nonce))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_nonces_older_than_the_window_are_refused_and_forgotten(ledger):
    ledger, engine = ledger
    now = time.time_ns()
    assert service_nonce_fresh(now - 299 * 10**9, now) and not service_nonce_fresh(now - 301 * 10**9, now)
    assert not service_nonce_fresh(now + 301 * 10**9, now)  # nor from the far future
    assert ledger.take(SIGNER, now - 400 * 10**9)  # (as the caller would refuse it first)
    ledger._pruned = 0.0  # a minute passed: the next take forgets what is beyond the window
    assert ledger.take(SIGNER, now)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger.table)).scalar() == 1
