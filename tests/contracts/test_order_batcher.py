import brownie
import pytest
from conftest import ZERO

ONE = 10**18


@pytest.fixture(scope="module")
def batcher(OrderBatcher, deployer):
    return OrderBatcher.deploy({"from": deployer})


def test_orders_for_two_tokens_in_one_transaction(batcher, create_token, publisher, consumer, community):
    dataset, algorithm = create_token(publisher, "Data", "D"), create_token(publisher, "Algo", "A")
    for token in (dataset, algorithm):
        token.mint(consumer, ONE, {"from": publisher})
        token.approve(batcher, ONE, {"from": consumer})
    tx = batcher.startOrders(
        [(dataset, consumer, ONE, 1, ZERO), (algorithm, consumer, ONE, 2, ZERO)], {"from": consumer}
    )
    orders = tx.events["OrderStarted"]
    assert [(o.address, o["consumer"], o["payer"], o["serviceId"]) for o in orders] == [
        (dataset, consumer, batcher, 1),
        (algorithm, consumer, batcher, 2),
    ]
    assert dataset.balanceOf(publisher) == algorithm.balanceOf(publisher) == ONE - ONE // 1000
    assert dataset.balanceOf(batcher) == 0


def test_batch_without_allowance_is_rejected_whole(batcher, datatoken, publisher, consumer):
    datatoken.mint(consumer, 2 * ONE, {"from": publisher})
    datatoken.approve(batcher, ONE, {"from": consumer})
    with brownie.reverts("DataToken: insufficient allowance"):
        batcher.startOrders(
            [(datatoken, consumer, ONE, 1, ZERO), (datatoken, consumer, ONE, 1, ZERO)], {"from": consumer}
        )
    assert datatoken.balanceOf(consumer) == 2 * ONE


def test_empty_batch_is_rejected(batcher, consumer):
    with brownie.reverts("OrderBatcher: no orders"):
        batcher.startOrders([], {"from": consumer})
