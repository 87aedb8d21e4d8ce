import pytest

from c2d.chain import (
    ChainUnavailable,
    InvalidTxHash,
    OrderAmbiguous,
    OrderEventMissing,
    OrderExpired,
    OrderNotConfirmed,
    OrderNotFound,
    OrderTxFailed,
    OrderUnderpaid,
    OrderWrongConsumer,
    OrderWrongDatatoken,
    OrderWrongService,
    TransactionReverted,
    community_fee,
    connect,
    order_amount,
    verify_order,
)
from c2d.chain.client import ZERO_ADDRESS, tx_hex
from c2d.localchain import free_port

ONE = 10**18


@pytest.fixture
def datatoken(publisher, consumer):
    """A fresh datatoken of the publisher, 10 of which the consumer holds."""
    token = publisher.create_datatoken("Order Test", "OT", 10**6 * ONE)
    publisher.mint(token, consumer.address, 10 * ONE)
    return token


def test_paid_order_is_verified_with_all_its_fields(chain, datatoken, publisher, consumer, stranger):
    order = consumer.start_order(datatoken, 2 * ONE, service_id=3, consumer=stranger.address)
    verified = verify_order(
        chain.w3,
        order.tx_hash,
        datatoken=datatoken,
        service_id=3,
        consumer=stranger.address,
        min_net_amount=ONE,
    )
    block = chain.w3.eth.get_block(verified.block_number)
    assert verified.tx_hash == order.tx_hash
    assert verified.datatoken == datatoken
    assert (verified.consumer, verified.payer) == (stranger.address, consumer.address)
    assert verified.amount == 2 * ONE
    assert verified.net_amount == 2 * ONE - community_fee(2 * ONE)
    assert (verified.market_fee, verified.fee_collector) == (0, ZERO_ADDRESS)
    assert verified.service_id == 3
    assert verified.timestamp == block["timestamp"]


def test_payer_may_present_an_order_made_for_someone_else(chain, datatoken, consumer, stranger):
    order = consumer.start_order(datatoken, ONE, service_id=1, consumer=stranger.address)
    assert (
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, consumer=consumer.address).payer == consumer.address
    )


def test_market_fee_is_deducted_from_the_net_amount(chain, datatoken, publisher, consumer, stranger):
    publisher.wallet.send(chain.datatoken(datatoken).functions.setMarketFee(500, stranger.address))
    order = consumer.start_order(datatoken, ONE, service_id=1)  # to the collector the minter set
    verified = verify_order(chain.w3, order.tx_hash, datatoken=datatoken)
    assert verified.market_fee == ONE // 20
    assert verified.fee_collector == stranger.address
    assert verified.net_amount == ONE - ONE // 20 - community_fee(ONE)
    with pytest.raises(OrderUnderpaid):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, min_net_amount=ONE - ONE // 20)


def test_failed_transaction_is_rejected(chain, datatoken, stranger):
    # The stranger holds no datatokens: with the gas given, the reverting call is mined anyway.
    call = chain.datatoken(datatoken).functions.startOrder(stranger.address, ONE, 1, ZERO_ADDRESS)
    receipt = stranger.wallet.send(call, gas=200_000)
    assert receipt["status"] == 0
    with pytest.raises(OrderTxFailed):
        verify_order(chain.w3, tx_hex(receipt), datatoken=datatoken)


def test_transaction_of_another_contract_is_rejected(chain, datatoken, deployer, consumer):
    receipt = deployer.wallet.send(chain.base_token.functions.transfer(consumer.address, 5))
    with pytest.raises(OrderEventMissing):
        verify_order(chain.w3, tx_hex(receipt), datatoken=datatoken)


def test_plain_datatoken_transfer_is_not_an_order(chain, datatoken, publisher, consumer):
    receipt = consumer.wallet.send(chain.datatoken(datatoken).functions.transfer(publisher.address, ONE))
    with pytest.raises(OrderEventMissing):
        verify_order(chain.w3, tx_hex(receipt), datatoken=datatoken)


def test_order_of_another_datatoken_is_rejected(chain, datatoken, publisher, consumer):
    other = publisher.create_datatoken("Other", "OTH", ONE * 100)
    publisher.mint(other, consumer.address, ONE)
    order = consumer.start_order(other, ONE, 1)
    with pytest.raises(OrderWrongDatatoken):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken)


def test_two_orders_of_one_datatoken_in_one_transaction_are_ambiguous(chain, datatoken, consumer):
    consumer.wallet.send(chain.datatoken(datatoken).functions.approve(chain.batcher.address, 2 * ONE))
    orders = [(datatoken, consumer.address, ONE, 1, ZERO_ADDRESS)] * 2
    receipt = consumer.wallet.send(chain.batcher.functions.startOrders(orders))
    with pytest.raises(OrderAmbiguous):
        verify_order(chain.w3, tx_hex(receipt), datatoken=datatoken)


def test_batched_dataset_and_algorithm_orders_verify_each(chain, datatoken, publisher, consumer):
    algorithm = publisher.create_datatoken("Algorithm", "ALG", ONE * 100)
    publisher.mint(algorithm, consumer.address, ONE)
    for token in (datatoken, algorithm):
        consumer.wallet.send(chain.datatoken(token).functions.approve(chain.batcher.address, ONE))
    receipt = consumer.wallet.send(
        chain.batcher.functions.startOrders(
            [
                (datatoken, consumer.address, ONE, 1, ZERO_ADDRESS),
                (algorithm, consumer.address, ONE, 2, ZERO_ADDRESS),
            ]
        )
    )
    tx = tx_hex(receipt)
    assert (
        verify_order(chain.w3, tx, datatoken=datatoken, service_id=1, consumer=consumer.address).payer
        == chain.batcher.address
    )
    assert verify_order(chain.w3, tx, datatoken=algorithm, service_id=2, consumer=consumer.address).service_id == 2


def test_wrong_service_is_rejected(chain, datatoken, consumer):
    order = consumer.start_order(datatoken, ONE, service_id=1)
    with pytest.raises(OrderWrongService):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, service_id=2)


def test_order_of_another_consumer_is_rejected(chain, datatoken, consumer, stranger):
    order = consumer.start_order(datatoken, ONE, service_id=1)
    with pytest.raises(OrderWrongConsumer):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, consumer=stranger.address)


def test_too_little_paid_is_rejected(chain, datatoken, consumer):
    order = consumer.start_order(datatoken, ONE, service_id=1)
    with pytest.raises(OrderUnderpaid):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, min_net_amount=ONE)  # fees come off


def test_expired_order_is_rejected(chain, datatoken, consumer):
    order = consumer.start_order(datatoken, ONE, service_id=1)
    verified = verify_order(chain.w3, order.tx_hash, datatoken=datatoken, timeout=60)
    verify_order(chain.w3, order.tx_hash, datatoken=datatoken, timeout=60, now=verified.timestamp + 60)
    with pytest.raises(OrderExpired):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, timeout=60, now=verified.timestamp + 61)


def test_unconfirmed_order_is_rejected_until_deep_enough(chain, datatoken, consumer, deployer):
    order = consumer.start_order(datatoken, ONE, service_id=1)
    with pytest.raises(OrderNotConfirmed):
        verify_order(chain.w3, order.tx_hash, datatoken=datatoken, confirmations=3)
    for _ in range(2):
        deployer.wallet.send(chain.base_token.functions.transfer(consumer.address, 1))
    assert verify_order(chain.w3, order.tx_hash, datatoken=datatoken, confirmations=3)


def test_unknown_and_malformed_hashes_are_rejected(chain, datatoken):
    with pytest.raises(OrderNotFound):
        verify_order(chain.w3, "0x" + "ab" * 32, datatoken=datatoken)
    for bad in ("0x1234", "not a hash", "0x" + "zz" * 32, 42):
        with pytest.raises(InvalidTxHash):
            verify_order(chain.w3, bad, datatoken=datatoken)


def test_reverting_call_raises_with_the_contract_reason(chain, datatoken, stranger):
    with pytest.raises(TransactionReverted, match="DataToken: caller is not a minter"):
        stranger.mint(datatoken, stranger.address, 1)


def test_unreachable_chain_is_reported_as_unavailable():
    with pytest.raises(ChainUnavailable) as info:
        connect(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert info.value.code == "chain_unavailable"


@pytest.mark.parametrize("cost", [1, 999, 1000, 10**18, 123456789123456789])
@pytest.mark.parametrize("market_fee_bps", [0, 250, 1000])
def test_order_amount_is_the_least_that_covers_the_cost(cost, market_fee_bps):
    def net(amount):
        return amount - community_fee(amount) - amount * market_fee_bps // 10_000

    amount = order_amount(cost, market_fee_bps)
    assert net(amount) >= cost
    assert net(amount - 1) < cost


def test_order_of_order_amount_passes_the_cost_check(chain, datatoken, consumer):
    order = consumer.start_order(datatoken, order_amount(ONE), service_id=1)
    assert verify_order(chain.w3, order.tx_hash, datatoken=datatoken, min_net_amount=ONE).net_amount >= ONE
