"""The provider's data-access layer on SQLite and on a real PostgreSQL server."""

import threading

import pytest

from c2d.chain import VerifiedOrder
from c2d.provider.store import Asset, Store, metadata
from postgres import postgres_server

ORDER = VerifiedOrder(
    tx_hash="0x" + "ab" * 32,
    datatoken="0x" + "12" * 20,
    consumer="0x" + "34" * 20,
    payer="0x" + "34" * 20,
    amount=2**200,  # uint256 amounts fit
    net_amount=2**200 - 5,
    market_fee=0,
    fee_collector="0x" + "00" * 20,
    service_id=2,
    timestamp=1_795_000_000,
    block_number=42,
)


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store(url)
    yield store
    if request.param == "postgresql":
        metadata.drop_all(store.engine)  # the server is shared by the module's tests
    store.close()


def test_nonces_only_move_up(store):
    address = "0x" + "aa" * 20
    assert store.nonce(address) == 0
    assert store.advance_nonce(address, 5)
    assert not store.advance_nonce(address, 5)
    assert not store.advance_nonce(address.upper().replace("0X", "0x"), 4)
    assert store.advance_nonce(address, 2**63 - 1)
    assert store.nonce(address) == 2**63 - 1


def test_concurrent_requests_with_one_nonce_let_exactly_one_through(store):
    address = "0x" + "bb" * 20
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(store.advance_nonce(address, 7))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_order_uses_are_counted_and_given_back(store):
    assert store.cached_order(ORDER.tx_hash, ORDER.datatoken) is None
    store.remember_order(ORDER)
    store.remember_order(ORDER)  # a second remember changes nothing
    assert store.cached_order(ORDER.tx_hash, ORDER.datatoken) == (ORDER, 0)
    assert store.use_order(ORDER.tx_hash, ORDER.datatoken, max_uses=2)
    assert store.use_order(ORDER.tx_hash, ORDER.datatoken, max_uses=2)
    assert not store.use_order(ORDER.tx_hash, ORDER.datatoken, max_uses=2)
    store.release_order(ORDER.tx_hash, ORDER.datatoken)
    assert store.cached_order(ORDER.tx_hash, ORDER.datatoken)[1] == 1


def test_concurrent_uses_never_exceed_the_limit(store):
    store.remember_order(ORDER)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.use_order(ORDER.tx_hash, ORDER.datatoken, 3)))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 3


def test_index_stores_assets_and_cursor_together(store):
    asset = Asset("did:op:" + "12" * 20, "0x" + "12" * 20, "0x" + "56" * 20, {"service": [], "n": 1}, 10)
    assert store.index_cursor() is None
    store.save_index([asset], [0], 10)
    newer = Asset(asset.did, asset.datatoken, asset.publisher, {"service": [], "n": 2}, 11)
    store.save_index([newer], [3], 12)
    assert store.asset(asset.did) == newer
    assert store.index_cursor() == 12


def test_a_replica_that_lags_behind_writes_nothing_older(store):
    """Two provider replicas index one chain into one store: the one behind stores neither an
    older DDO over a newer one nor an earlier cursor."""
    did = "did:op:" + "12" * 20
    newer = Asset(did, "0x" + "12" * 20, "0x" + "56" * 20, {"service": [], "n": 2}, 180)
    older = Asset(did, newer.datatoken, newer.publisher, {"service": [], "n": 1}, 120)
    store.save_index([newer], [0], 200)  # the replica ahead
    store.save_index([older], [3], 150)  # the one behind, from what it read before
    assert store.asset(did).ddo == {"service": [], "n": 2} and store.index_cursor() == 200
    same_block = Asset(did, newer.datatoken, newer.publisher, {"service": [], "n": 3}, 180)
    store.save_index([same_block], [1], 201)  # later in the same block: newer
    assert store.asset(did).ddo["n"] == 3 and store.index_cursor() == 201
