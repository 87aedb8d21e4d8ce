"""The access (download) flow through a real provider on a real chain, and its rejections."""

import os
import time

import httpx
import pytest
from eth_account import Account

from c2d.assets import ACCESS_SERVICE_ID, COMPUTE_SERVICE_ID, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.chain.client import ZERO_ADDRESS, tx_hex
from c2d.client import ProviderRequestError
from c2d.signing import SignedRequest, params_hash, sign_request

ONE = 10**18


def pay(consumer, asset, service_id=ACCESS_SERVICE_ID, amount=None):
    return consumer.start_order(asset.datatoken, amount or order_amount(ONE), service_id).tx_hash


def signed_download(provider_server, key, params, address=None):
    """Download parameters signed with `key` (for `address`, the key's own by default)."""
    info = httpx.get(provider_server.url + "/").json()
    out = {k: str(v) for k, v in params.items() if k != "signature"}
    out.setdefault("expiry", str(int(time.time()) + 300))
    out["consumerAddress"] = address or Account.from_key(key).address
    request = SignedRequest(
        "download",
        out["consumerAddress"],
        int(out["nonce"]),
        int(out["expiry"]),
        params_hash(out),
        out["documentId"],
        "",
        int(out["fileIndex"]),
    )
    return {**out, "signature": sign_request(key, info["chainId"], info["providerAddress"], request)}


def rejected(call, status, code):
    with pytest.raises(ProviderRequestError) as info:
        call()
    assert (info.value.status, info.value.code) == (status, code), info.value.message
    return info.value


def test_root_names_the_provider_and_its_endpoints(provider_server, provider_key):
    info = httpx.get(provider_server.url + "/").json()
    assert info["chainId"] == 1337
    assert info["software"] == "c2d-provider"
    assert info["providerAddress"] == info["computeAddress"]
    assert info["serviceEndpoints"]["download"] == [
        "GET",
        provider_server.settings.provider_url + "/api/services/download",
    ]


def test_nonce_is_zero_for_a_new_address_and_follows_use(consumer_api, stranger_api, dataset, consumer):
    assert consumer_api.nonce("0x000000000000000000000000000000000000dEaD") == 0
    before = consumer_api.nonce()
    tx = pay(consumer, dataset)
    consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    assert consumer_api.nonce() > before


def test_initialize_says_what_to_order(consumer_api, dataset, publisher):
    init = consumer_api.initialize(dataset.did, ACCESS_SERVICE_ID)
    assert init["datatoken"] == dataset.datatoken
    assert init["receiver"] == publisher.address
    assert int(init["cost"]) == ONE
    assert int(init["amount"]) == order_amount(ONE) > ONE
    assert init["serviceType"] == "access"
    assert init["nonce"] == consumer_api.nonce()


def test_download_is_byte_for_byte_the_published_file(consumer_api, dataset, consumer, data_root):
    tx = pay(consumer, dataset)
    assert consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx) == (data_root / "weather.csv").read_bytes()


def test_range_request_returns_those_bytes_and_resuming_takes_no_new_use(consumer_api, dataset, consumer, data_root):
    content = (data_root / "blob.bin").read_bytes()
    tx = pay(consumer, dataset)
    with consumer_api.download_stream(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=0-99") as response:
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 0-99/{len(content)}"
        assert response.read() == content[:100]
    # The rest, as a resumed download of the same order (its one use is taken).
    rest = consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=100-")
    assert content[:100] + rest == content
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx), 402, "order_used_up")
    rejected(
        lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, f"bytes={len(content)}-"),
        416,
        "range_not_satisfiable",
    )


def test_download_from_a_web_server_and_through_a_redirect(
    consumer_api, publisher, publisher_api, consumer, file_server, data_root
):
    asset = publish(
        publisher,
        publisher_api,
        "Web",
        [
            PublishedFile(file_server.url + "/weather.csv", "text/csv"),
            PublishedFile(file_server.url + "/to-weather"),
        ],
        Services(access_cost=ONE),
    )
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    expected = (data_root / "weather.csv").read_bytes()
    assert consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, pay(consumer, asset)) == expected
    assert consumer_api.download(asset.did, ACCESS_SERVICE_ID, 1, pay(consumer, asset)) == expected
    part = consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, pay(consumer, asset), "bytes=5-14")
    assert part == expected[5:15]


def test_redirect_to_another_scheme_is_refused(consumer_api, publisher, publisher_api, consumer, file_server):
    asset = publish(
        publisher,
        publisher_api,
        "Sly",
        [PublishedFile(file_server.url + "/to-file")],
        Services(access_cost=ONE),
    )
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = pay(consumer, asset)
    error = rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx), 403, "file_not_allowed")
    assert "file://" not in error.message and "secret" not in error.message
    # The failed download gave its use back: the order still pays for a retry.
    rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx), 403, "file_not_allowed")


def test_replayed_nonce_is_rejected(consumer_api, dataset, consumer, provider_server):
    tx = pay(consumer, dataset)
    params = consumer_api.download_params(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    assert httpx.get(provider_server.url + "/api/services/download", params=params).status_code == 200
    replay = httpx.get(provider_server.url + "/api/services/download", params=params)
    assert (replay.status_code, replay.json()["error"]) == (401, "nonce_reused")


def test_stale_nonce_is_rejected(consumer_api, dataset, consumer, provider_server):
    tx = pay(consumer, dataset)
    params = consumer_api.download_params(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    assert httpx.get(provider_server.url + "/api/services/download", params=params).status_code == 200
    stale = int(params["nonce"]) - 1  # smaller than the one just used
    params = signed_download(provider_server, consumer_api._key, {**params, "nonce": stale})
    response = httpx.get(provider_server.url + "/api/services/download", params=params)
    assert (response.status_code, response.json()["error"]) == (401, "nonce_reused")


def test_a_nonce_far_ahead_cannot_lock_an_address_out(dataset, provider_server):
    """One signature with nonce 2**63 - 1 used to make every later nonce of its address too
    small, for good. Such a nonce is refused and the address keeps working. (An account of its
    own: another test's nanosecond nonces would make the millisecond ones here merely reused.)"""
    from c2d.client import ProviderClient

    account = Account.create()
    key = account.key.hex()
    fresh = ProviderClient(provider_server.url, key)
    url = provider_server.url + "/api/services/download"
    base = {
        "documentId": dataset.did,
        "serviceId": ACCESS_SERVICE_ID,
        "fileIndex": 0,
        "consumerAddress": account.address,
        "transferTxId": "0x" + "ab" * 32,
    }
    before = fresh.nonce()
    for far in (2**63 - 1, time.time_ns() + 3600 * 10**9, int(time.time() * 1000) + 3600 * 1000):
        params = signed_download(provider_server, key, {**base, "nonce": far})
        response = httpx.get(url, params=params)
        assert (response.status_code, response.json()["error"]) == (401, "nonce_out_of_range"), far
    assert fresh.nonce() == before
    # The current time (ms or ns) and a small counter step are fine.
    for near in (int(time.time() * 1000), time.time_ns(), time.time_ns() + 1000):
        params = signed_download(provider_server, key, {**base, "nonce": near})
        assert httpx.get(url, params=params).json()["error"] != "nonce_out_of_range"
    assert fresh.nonce() == near
    fresh.close()


def test_signature_by_another_address_is_rejected(consumer_api, dataset, consumer, provider_server, keys):
    tx = pay(consumer, dataset)
    params = consumer_api.download_params(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    params = signed_download(provider_server, keys[3], params, address=consumer.address)
    response = httpx.get(provider_server.url + "/api/services/download", params=params)
    assert (response.status_code, response.json()["error"]) == (401, "signature_mismatch")


@pytest.mark.parametrize(
    ("signature", "status", "code"),
    [
        ("0x" + "00" * 65, 401, "invalid_signature"),  # the right shape, no key behind it
        ("0x" + "ff" * 65, 401, "invalid_signature"),
        ("0x1234", 422, "invalid_request"),  # not the shape of a signature at all
        ("not-hex", 422, "invalid_request"),
    ],
)
def test_malformed_signature_is_rejected(consumer_api, dataset, consumer, provider_server, signature, status, code):
    params = consumer_api.download_params(dataset.did, ACCESS_SERVICE_ID, 0, "0x" + "11" * 32)
    params["signature"] = signature
    response = httpx.get(provider_server.url + "/api/services/download", params=params)
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_order_of_another_asset_is_rejected(consumer_api, dataset, publisher, publisher_api, consumer, data_root):
    other = publish(
        publisher,
        publisher_api,
        "Other",
        [PublishedFile.local(data_root / "algo.py")],
        Services(access_cost=ONE),
    )
    publisher.wallet.send(publisher.chain.datatoken(other.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = pay(consumer, other)
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_wrong_datatoken")


def test_order_for_another_service_is_rejected(consumer_api, dataset, consumer):
    tx = pay(consumer, dataset, service_id=COMPUTE_SERVICE_ID)
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_wrong_service")


def test_too_little_paid_is_rejected(consumer_api, dataset, consumer):
    tx = pay(consumer, dataset, amount=ONE)  # the community fee comes off: the publisher gets less than 1 DT
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_underpaid")


def test_order_of_another_consumer_is_rejected(stranger_api, dataset, consumer):
    tx = pay(consumer, dataset)
    rejected(lambda: stranger_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_wrong_consumer")


def test_expired_order_is_rejected(consumer_api, publisher, publisher_api, consumer, data_root, provider_server):
    asset = publish(
        publisher,
        publisher_api,
        "Brief",
        [PublishedFile.local(data_root / "algo.py")],
        Services(access_cost=ONE, timeout=60),
    )
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = pay(consumer, asset)
    orders = provider_server.app.state.provider.orders
    orders.clock = lambda: time.time() + 61  # the provider's now, past the order's 60 s timeout
    try:
        rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_expired")
    finally:
        orders.clock = time.time
    assert consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx)  # in time, the same order is good


def test_failed_order_transaction_is_rejected(consumer_api, dataset, stranger, stranger_api):
    call = stranger.chain.datatoken(dataset.datatoken).functions.startOrder(stranger.address, ONE, 1, ZERO_ADDRESS)
    receipt = stranger.wallet.send(call, gas=200_000)
    assert receipt["status"] == 0
    rejected(
        lambda: stranger_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx_hex(receipt)),
        402,
        "order_tx_failed",
    )


def test_unknown_transaction_and_asset_are_rejected(consumer_api, dataset):
    rejected(
        lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, "0x" + "ab" * 32),
        402,
        "order_not_found",
    )
    unknown = "did:op:" + "12" * 20
    rejected(lambda: consumer_api.download(unknown, ACCESS_SERVICE_ID, 0, "0x" + "ab" * 32), 404, "unknown_asset")
    rejected(lambda: consumer_api.initialize(unknown, 1), 404, "unknown_asset")


def test_used_up_order_stays_used_up_after_a_restart(consumer_api, dataset, consumer, provider_server):
    tx = pay(consumer, dataset)
    consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_used_up")
    provider_server.restart()
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_used_up")


def test_wrong_service_type_and_file_index(consumer_api, dataset, consumer):
    tx = pay(consumer, dataset)
    rejected(lambda: consumer_api.download(dataset.did, COMPUTE_SERVICE_ID, 0, tx), 400, "wrong_service_type")
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 7, tx), 404, "unknown_file")


def test_no_log_line_shows_a_file_location(
    consumer_api, publisher, publisher_api, consumer, file_server, data_root, caplog
):
    asset = publish(
        publisher,
        publisher_api,
        "Logged",
        [PublishedFile(file_server.url + "/weather.csv"), PublishedFile(file_server.url + "/missing.csv")],
        Services(access_cost=ONE),
    )
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    with caplog.at_level("DEBUG"):
        consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, pay(consumer, asset))
        rejected(
            lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 1, pay(consumer, asset)),
            502,
            "file_unavailable",
        )
        consumer_api.fileinfo(asset.did)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert file_server.url not in logged and "weather.csv" not in logged and "missing.csv" not in logged


def test_continuations_serve_a_bounded_number_of_bytes_and_an_interrupted_one_resumes(
    consumer_api, dataset, consumer, data_root
):
    content = (data_root / "blob.bin").read_bytes()  # 300 kB: budget twice that (in flight: its size)
    tx = pay(consumer, dataset)
    assert consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx) == content
    # `bytes=1-` once more fits in what a broken transfer may have lost; a second time it does
    # not (it was free every time: one order gave unlimited copies)
    assert consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=1-") == content[1:]
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=1-"), 402, "order_used_up")
    rejected(
        lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=100-199"), 402, "order_used_up"
    )
    # a transfer broken off by the consumer continues from what it received, to the end
    tx = pay(consumer, dataset)
    with consumer_api.download_stream(dataset.did, ACCESS_SERVICE_ID, 1, tx) as response:
        first = next(response.iter_raw(64 << 10))
    rest = consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, f"bytes={len(first)}-")
    assert len(first) < len(content) and first + rest == content


def test_a_large_file_is_not_served_twice_by_continuations(consumer_api, publisher, publisher_api, consumer, data_root):
    big = data_root / "big.bin"
    big.write_bytes(os.urandom(12 << 20))  # larger than what may be lost in flight (8 MiB)
    asset = publish(publisher, publisher_api, "Big", [PublishedFile(big.as_uri())], Services(access_cost=ONE))
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = pay(consumer, asset)
    with consumer_api.download_stream(asset.did, ACCESS_SERVICE_ID, 0, tx) as response:
        assert sum(len(c) for c in response.iter_raw(1 << 20)) == 12 << 20
    # 9 MiB more: past what may have been lost in flight
    rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx, "bytes=3145728-"), 402, "order_used_up")
    small = consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx, f"bytes={(12 << 20) - 1000}-")
    assert small == big.read_bytes()[-1000:]  # the tail of a broken transfer is still served


def test_a_used_up_order_never_reaches_the_publishers_server(
    consumer_api, publisher, publisher_api, consumer, file_server
):
    asset = publish(
        publisher,
        publisher_api,
        "Web once",
        [PublishedFile(file_server.url + "/weather.csv", "text/csv")],
        Services(access_cost=ONE),
    )
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = pay(consumer, asset)
    assert consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx)
    asked = len(file_server.hits)
    rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx), 402, "order_used_up")
    assert len(file_server.hits) == asked  # refused before the file was opened


def test_a_remembered_order_whose_block_was_reorganised_away_no_longer_counts(consumer_api, dataset, consumer):
    """Ganache's snapshot and revert reorganise the chain: the block that held the order is
    replaced by an empty one at the same height."""
    w3 = consumer.chain.w3
    height = w3.eth.block_number
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    tx = pay(consumer, dataset)
    assert consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=0-9")  # verified and remembered
    assert consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=10-19")  # remembered: no chain look
    mined = w3.eth.block_number - height
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    for _ in range(mined + 1):  # other blocks at the order's height and above (the indexer's cursor)
        w3.provider.make_request("evm_mine", [])
    rejected(
        lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 1, tx, "bytes=20-29"), 402, "order_not_found"
    )


@pytest.mark.parametrize("byte_range", ["bytes=-999999999", "bytes=1-2,3-4", "bytes=1-x", "bytes=0-"])
def test_ranges_that_are_not_a_continuation_take_a_new_use(consumer_api, dataset, consumer, byte_range):
    tx = pay(consumer, dataset)
    consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx)  # the order's one use
    rejected(lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx, byte_range), 402, "order_used_up")


def test_continuation_beyond_the_file_is_refused_not_served_whole(consumer_api, dataset, consumer, data_root):
    size = (data_root / "weather.csv").stat().st_size
    tx = pay(consumer, dataset)
    consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx)
    rejected(
        lambda: consumer_api.download(dataset.did, ACCESS_SERVICE_ID, 0, tx, f"bytes={size + 10}-"),
        416,
        "range_not_satisfiable",
    )
