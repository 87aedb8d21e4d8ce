import brownie
import pytest
from conftest import ZERO

ONE = 10**18


@pytest.fixture
def listed(exchange, datatoken, base_token, publisher, consumer, deployer):
    """An exchange selling the publisher's datatokens at 2 BASE each, and a funded consumer."""
    datatoken.mint(publisher, 100 * ONE, {"from": publisher})
    datatoken.approve(exchange, 2**256 - 1, {"from": publisher})
    base_token.transfer(consumer, 1000 * ONE, {"from": deployer})
    tx = exchange.create(base_token, datatoken, 2 * ONE, {"from": publisher})
    return tx.return_value


def test_create_emits_and_stores_the_exchange(exchange, datatoken, base_token, publisher):
    tx = exchange.create(base_token, datatoken, 2 * ONE, {"from": publisher})
    exchange_id = exchange.exchangeId(base_token, datatoken, publisher)
    assert tx.return_value == exchange_id
    assert dict(tx.events["ExchangeCreated"]) == {
        "exchangeId": exchange_id,
        "baseToken": base_token,
        "dataToken": datatoken,
        "owner": publisher,
        "rate": 2 * ONE,
    }
    assert tuple(exchange.getExchange(exchange_id)) == (publisher, base_token, datatoken, 2 * ONE, True)


def test_create_twice_is_rejected(exchange, datatoken, base_token, publisher, listed):
    with brownie.reverts("FixedRateExchange: exchange exists"):
        exchange.create(base_token, datatoken, ONE, {"from": publisher})


@pytest.mark.parametrize("rate", [0, 2**96])
def test_create_with_invalid_rate_is_rejected(exchange, datatoken, base_token, publisher, rate):
    with brownie.reverts("FixedRateExchange: invalid rate"):
        exchange.create(base_token, datatoken, rate, {"from": publisher})


def test_create_with_bad_tokens_is_rejected(exchange, datatoken, publisher):
    with brownie.reverts("FixedRateExchange: zero token address"):
        exchange.create(ZERO, datatoken, ONE, {"from": publisher})
    with brownie.reverts("FixedRateExchange: base token is the datatoken"):
        exchange.create(datatoken, datatoken, ONE, {"from": publisher})


def test_swap_moves_both_tokens(exchange, datatoken, base_token, publisher, consumer, listed):
    base_token.approve(exchange, 10 * ONE, {"from": consumer})
    tx = exchange.swap(listed, 5 * ONE, 10 * ONE, {"from": consumer})
    assert tx.return_value == 10 * ONE
    assert dict(tx.events["Swapped"]) == {
        "exchangeId": listed,
        "buyer": consumer,
        "baseTokenAmount": 10 * ONE,
        "dataTokenAmount": 5 * ONE,
    }
    assert datatoken.balanceOf(consumer) == 5 * ONE
    assert datatoken.balanceOf(publisher) == 95 * ONE
    assert base_token.balanceOf(publisher) == 10 * ONE
    assert base_token.balanceOf(consumer) == 990 * ONE


def test_swap_rounds_the_price_up(exchange, datatoken, base_token, publisher, consumer, deployer):
    datatoken.mint(publisher, 10, {"from": publisher})
    datatoken.approve(exchange, 10, {"from": publisher})
    base_token.transfer(consumer, 10, {"from": deployer})
    base_token.approve(exchange, 10, {"from": consumer})
    exchange_id = exchange.create(base_token, datatoken, 3 * ONE // 2, {"from": publisher}).return_value
    assert exchange.calcBaseIn(exchange_id, 1) == 2  # 1.5 wei rounds up to 2
    assert exchange.calcBaseIn(exchange_id, 2) == 3
    exchange.swap(exchange_id, 1, 2, {"from": consumer})
    assert base_token.balanceOf(publisher) == 2
    assert datatoken.balanceOf(consumer) == 1


def test_swap_of_one_wei_below_rate_one_still_costs_one_wei(
    exchange, datatoken, base_token, publisher, consumer, deployer
):
    datatoken.mint(publisher, 10, {"from": publisher})
    datatoken.approve(exchange, 10, {"from": publisher})
    base_token.transfer(consumer, 1, {"from": deployer})
    base_token.approve(exchange, 1, {"from": consumer})
    exchange_id = exchange.create(base_token, datatoken, 1, {"from": publisher}).return_value
    assert exchange.calcBaseIn(exchange_id, 1) == 1  # never free
    exchange.swap(exchange_id, 1, 1, {"from": consumer})
    assert base_token.balanceOf(publisher) == 1


def test_swap_above_the_buyers_maximum_is_rejected(exchange, base_token, consumer, listed):
    base_token.approve(exchange, 10 * ONE, {"from": consumer})
    with brownie.reverts("FixedRateExchange: price above maximum"):
        exchange.swap(listed, 5 * ONE, 10 * ONE - 1, {"from": consumer})


def test_swap_with_insufficient_base_token_allowance_is_rejected(exchange, datatoken, base_token, consumer, listed):
    base_token.approve(exchange, 10 * ONE - 1, {"from": consumer})
    with brownie.reverts("ERC20: insufficient allowance"):
        exchange.swap(listed, 5 * ONE, 10 * ONE, {"from": consumer})
    assert datatoken.balanceOf(consumer) == 0


def test_swap_with_insufficient_base_token_balance_is_rejected(exchange, base_token, stranger, listed):
    base_token.approve(exchange, 10 * ONE, {"from": stranger})
    with brownie.reverts("ERC20: transfer amount exceeds balance"):
        exchange.swap(listed, ONE, 2 * ONE, {"from": stranger})


def test_swap_beyond_the_owners_datatoken_allowance_is_rejected(
    exchange, datatoken, base_token, publisher, consumer, listed
):
    datatoken.approve(exchange, ONE, {"from": publisher})
    base_token.approve(exchange, 10 * ONE, {"from": consumer})
    with brownie.reverts("DataToken: insufficient allowance"):
        exchange.swap(listed, 2 * ONE, 4 * ONE, {"from": consumer})
    assert base_token.balanceOf(consumer) == 1000 * ONE


def test_swap_of_zero_or_on_unknown_exchange_is_rejected(exchange, consumer, listed):
    with brownie.reverts("FixedRateExchange: amount is zero"):
        exchange.swap(listed, 0, 0, {"from": consumer})
    with brownie.reverts("FixedRateExchange: no such exchange"):
        exchange.swap("0x" + "00" * 32, ONE, ONE, {"from": consumer})
    with brownie.reverts("FixedRateExchange: no such exchange"):
        exchange.calcBaseIn("0x" + "00" * 32, ONE)


def test_owner_deactivates_and_reactivates(exchange, base_token, publisher, consumer, listed):
    base_token.approve(exchange, 10 * ONE, {"from": consumer})
    tx = exchange.setActive(listed, False, {"from": publisher})
    assert dict(tx.events["ExchangeActiveChanged"]) == {"exchangeId": listed, "active": False}
    with brownie.reverts("FixedRateExchange: exchange is not active"):
        exchange.swap(listed, ONE, 2 * ONE, {"from": consumer})
    exchange.setActive(listed, True, {"from": publisher})
    exchange.swap(listed, ONE, 2 * ONE, {"from": consumer})


def test_owner_changes_the_rate(exchange, publisher, listed):
    tx = exchange.setRate(listed, 3 * ONE, {"from": publisher})
    assert dict(tx.events["ExchangeRateChanged"]) == {"exchangeId": listed, "rate": 3 * ONE}
    assert exchange.calcBaseIn(listed, ONE) == 3 * ONE
    with brownie.reverts("FixedRateExchange: invalid rate"):
        exchange.setRate(listed, 0, {"from": publisher})


def test_only_the_owner_manages_the_exchange(exchange, stranger, listed):
    with brownie.reverts("FixedRateExchange: caller is not the owner"):
        exchange.setActive(listed, False, {"from": stranger})
    with brownie.reverts("FixedRateExchange: caller is not the owner"):
        exchange.setRate(listed, ONE, {"from": stranger})
