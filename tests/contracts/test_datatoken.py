import brownie
import pytest
from conftest import CAP, ZERO


def test_template_is_locked(template, stranger):
    with brownie.reverts("DataToken: already initialized"):
        template.initialize("X", "X", stranger, CAP, {"from": stranger})


def test_clone_cannot_be_initialised_twice(datatoken, stranger):
    with brownie.reverts("DataToken: already initialized"):
        datatoken.initialize("X", "X", stranger, CAP, {"from": stranger})


def test_template_needs_a_community_fee_collector(DataToken, deployer):
    with brownie.reverts("DataToken: no community fee collector"):
        DataToken.deploy(ZERO, "", "", ZERO, 0, {"from": deployer})


def test_created_token_has_its_fields(datatoken, publisher, community):
    assert datatoken.name() == "Data Token"
    assert datatoken.symbol() == "DT"
    assert datatoken.decimals() == 18
    assert datatoken.cap() == CAP
    assert datatoken.totalSupply() == 0
    assert datatoken.minter() == publisher
    assert datatoken.isMinter(publisher)
    assert datatoken.communityFeeCollector() == community
    assert datatoken.marketFeeBps() == 0


def test_stand_alone_token_is_initialised_by_its_constructor(DataToken, community, publisher, deployer):
    token = DataToken.deploy(community, "Solo", "SOLO", publisher, CAP, {"from": deployer})
    assert (token.name(), token.symbol(), token.minter(), token.cap()) == ("Solo", "SOLO", publisher, CAP)
    with brownie.reverts("DataToken: already initialized"):
        token.initialize("X", "X", deployer, CAP, {"from": deployer})


def test_only_the_minter_mints(datatoken, publisher, stranger):
    with brownie.reverts("DataToken: caller is not a minter"):
        datatoken.mint(stranger, 1, {"from": stranger})
    tx = datatoken.mint(stranger, 5, {"from": publisher})
    assert dict(tx.events["Transfer"]) == {"from": ZERO, "to": stranger, "value": 5}
    assert datatoken.balanceOf(stranger) == 5
    assert datatoken.totalSupply() == 5


def test_mint_up_to_the_cap_and_not_beyond(datatoken, publisher, consumer):
    datatoken.mint(consumer, CAP - 1, {"from": publisher})
    with brownie.reverts("DataToken: cap exceeded"):
        datatoken.mint(consumer, 2, {"from": publisher})
    datatoken.mint(consumer, 1, {"from": publisher})
    assert datatoken.totalSupply() == CAP
    with brownie.reverts("DataToken: cap exceeded"):
        datatoken.mint(consumer, 1, {"from": publisher})


def test_mint_to_zero_address_is_rejected(datatoken, publisher):
    with brownie.reverts("DataToken: mint to the zero address"):
        datatoken.mint(ZERO, 1, {"from": publisher})


def test_minter_role_can_be_granted_and_revoked(datatoken, publisher, stranger):
    with brownie.reverts("DataToken: caller is not the minter"):
        datatoken.setMinterRole(stranger, True, {"from": stranger})
    with brownie.reverts("DataToken: minter role for the zero address"):
        datatoken.setMinterRole(ZERO, True, {"from": publisher})
    tx = datatoken.setMinterRole(stranger, True, {"from": publisher})
    assert dict(tx.events["MinterRoleChanged"]) == {"account": stranger, "allowed": True}
    datatoken.mint(stranger, 3, {"from": stranger})
    assert datatoken.isMinter(stranger)
    assert datatoken.minter() == publisher  # the publisher stays the minter
    datatoken.setMinterRole(stranger, False, {"from": publisher})
    assert not datatoken.isMinter(stranger)
    with brownie.reverts("DataToken: caller is not a minter"):
        datatoken.mint(stranger, 1, {"from": stranger})


def test_transfer_moves_balance_and_emits(datatoken, publisher, consumer, stranger):
    datatoken.mint(consumer, 10, {"from": publisher})
    tx = datatoken.transfer(stranger, 4, {"from": consumer})
    assert dict(tx.events["Transfer"]) == {"from": consumer, "to": stranger, "value": 4}
    assert (datatoken.balanceOf(consumer), datatoken.balanceOf(stranger)) == (6, 4)
    with brownie.reverts("DataToken: insufficient balance"):
        datatoken.transfer(stranger, 7, {"from": consumer})
    with brownie.reverts("DataToken: transfer to the zero address"):
        datatoken.transfer(ZERO, 1, {"from": consumer})


def test_transfer_from_spends_the_allowance(datatoken, publisher, consumer, stranger):
    datatoken.mint(consumer, 10, {"from": publisher})
    tx = datatoken.approve(stranger, 6, {"from": consumer})
    assert dict(tx.events["Approval"]) == {"owner": consumer, "spender": stranger, "value": 6}
    datatoken.transferFrom(consumer, stranger, 4, {"from": stranger})
    assert datatoken.allowance(consumer, stranger) == 2
    with brownie.reverts("DataToken: insufficient allowance"):
        datatoken.transferFrom(consumer, stranger, 3, {"from": stranger})
    with brownie.reverts("DataToken: approve to the zero address"):
        datatoken.approve(ZERO, 1, {"from": consumer})


def test_unlimited_allowance_is_not_decreased(datatoken, publisher, consumer, stranger):
    unlimited = 2**256 - 1
    datatoken.mint(consumer, 10, {"from": publisher})
    datatoken.approve(stranger, unlimited, {"from": consumer})
    datatoken.transferFrom(consumer, stranger, 10, {"from": stranger})
    assert datatoken.allowance(consumer, stranger) == unlimited
    with brownie.reverts("DataToken: insufficient balance"):
        datatoken.transferFrom(consumer, stranger, 1, {"from": stranger})


def test_market_fee_is_set_by_the_minter_within_the_maximum(datatoken, publisher, stranger, market):
    with brownie.reverts("DataToken: caller is not the minter"):
        datatoken.setMarketFee(10, market, {"from": stranger})
    with brownie.reverts("DataToken: market fee above maximum"):
        datatoken.setMarketFee(datatoken.MAX_MARKET_FEE_BPS() + 1, market, {"from": publisher})
    with brownie.reverts("DataToken: a market fee needs a collector"):
        datatoken.setMarketFee(10, ZERO, {"from": publisher})
    tx = datatoken.setMarketFee(datatoken.MAX_MARKET_FEE_BPS(), market, {"from": publisher})
    assert dict(tx.events["MarketFeeChanged"]) == {"marketFeeBps": 1000, "collector": market}
    assert (datatoken.marketFeeBps(), datatoken.marketFeeCollector()) == (1000, market)


def test_the_payer_cannot_choose_where_the_market_fee_goes(datatoken, publisher, consumer, market):
    """The payer named the fee collector: naming itself, it paid the market fee to itself."""
    datatoken.mint(consumer, 10**18, {"from": publisher})
    datatoken.setMarketFee(1000, market, {"from": publisher})
    for collector in (consumer, ZERO):
        with brownie.reverts("DataToken: not this token's market fee collector"):
            datatoken.startOrder(consumer, 10**18, 1, collector, {"from": consumer})
    datatoken.startOrder(consumer, 10**18, 1, market, {"from": consumer})
    assert datatoken.balanceOf(market) == 10**17 and datatoken.balanceOf(consumer) == 0


def test_order_without_market_pays_community_and_minter(datatoken, publisher, consumer, community, stranger):
    amount = 10**18
    datatoken.mint(consumer, amount, {"from": publisher})
    tx = datatoken.startOrder(stranger, amount, 7, ZERO, {"from": consumer})
    community_fee = amount // 1000
    assert datatoken.balanceOf(consumer) == 0
    assert datatoken.balanceOf(community) == community_fee
    assert datatoken.balanceOf(publisher) == amount - community_fee
    assert dict(tx.events["OrderStarted"]) == {
        "consumer": stranger,
        "payer": consumer,
        "amount": amount,
        "serviceId": 7,
        "timestamp": tx.timestamp,
        "feeCollector": ZERO,
        "marketFee": 0,
    }
    transfers = [dict(t) for t in tx.events["Transfer"]]
    assert transfers == [
        {"from": consumer, "to": community, "value": community_fee},
        {"from": consumer, "to": publisher, "value": amount - community_fee},
    ]


def test_order_with_market_fee_pays_the_collector(datatoken, publisher, consumer, community, market):
    amount = 3 * 10**18
    datatoken.mint(consumer, amount, {"from": publisher})
    datatoken.setMarketFee(250, market, {"from": publisher})
    tx = datatoken.startOrder(consumer, amount, 1, market, {"from": consumer})
    community_fee, market_fee = amount // 1000, amount * 250 // 10_000
    assert datatoken.balanceOf(community) == community_fee
    assert datatoken.balanceOf(market) == market_fee
    assert datatoken.balanceOf(publisher) == amount - community_fee - market_fee
    event = tx.events["OrderStarted"]
    assert (event["feeCollector"], event["marketFee"], event["payer"]) == (market, market_fee, consumer)


def test_order_with_collector_but_no_fee_rate_pays_no_market_fee(datatoken, publisher, consumer, market):
    datatoken.mint(consumer, 10**18, {"from": publisher})
    datatoken.setMarketFee(0, market, {"from": publisher})
    tx = datatoken.startOrder(consumer, 10**18, 1, market, {"from": consumer})
    assert tx.events["OrderStarted"]["marketFee"] == 0
    assert datatoken.balanceOf(market) == 0


def test_order_of_tiny_amount_has_no_fee_rounding_loss(datatoken, publisher, consumer, community):
    datatoken.mint(consumer, 999, {"from": publisher})
    datatoken.startOrder(consumer, 999, 1, ZERO, {"from": consumer})
    assert datatoken.balanceOf(community) == 0
    assert datatoken.balanceOf(publisher) == 999


def test_order_with_insufficient_balance_is_rejected(datatoken, publisher, consumer):
    datatoken.mint(consumer, 10, {"from": publisher})
    with brownie.reverts("DataToken: insufficient balance"):
        datatoken.startOrder(consumer, 11, 1, ZERO, {"from": consumer})
    assert datatoken.balanceOf(consumer) == 10


def test_order_paid_from_someone_elses_tokens_is_rejected(datatoken, publisher, consumer, stranger):
    # startOrder spends the caller's own balance: an allowance from another holder is not enough.
    datatoken.mint(consumer, 10, {"from": publisher})
    datatoken.approve(stranger, 10, {"from": consumer})
    with brownie.reverts("DataToken: insufficient balance"):
        datatoken.startOrder(consumer, 10, 1, ZERO, {"from": stranger})


def test_order_rejects_zero_amount_and_zero_consumer(datatoken, publisher, consumer):
    datatoken.mint(consumer, 10, {"from": publisher})
    with brownie.reverts("DataToken: order amount is zero"):
        datatoken.startOrder(consumer, 0, 1, ZERO, {"from": consumer})
    with brownie.reverts("DataToken: consumer is the zero address"):
        datatoken.startOrder(ZERO, 1, 1, ZERO, {"from": consumer})


@pytest.mark.parametrize("cap", [0, 2**128])
def test_invalid_cap_is_rejected(factory, publisher, cap):
    with brownie.reverts("DataToken: invalid cap"):
        factory.createToken("Bad", "BAD", cap, {"from": publisher})


def test_allowances_can_be_raised_and_lowered(datatoken, consumer, stranger):
    datatoken.approve(stranger, 0, {"from": consumer})
    tx = datatoken.increaseAllowance(stranger, 5, {"from": consumer})
    assert dict(tx.events["Approval"]) == {"owner": consumer, "spender": stranger, "value": 5}
    datatoken.increaseAllowance(stranger, 3, {"from": consumer})
    datatoken.decreaseAllowance(stranger, 6, {"from": consumer})
    assert datatoken.allowance(consumer, stranger) == 2
    with brownie.reverts("DataToken: allowance below zero"):
        datatoken.decreaseAllowance(stranger, 3, {"from": consumer})
    with brownie.reverts("DataToken: approve to the zero address"):
        datatoken.increaseAllowance(ZERO, 1, {"from": consumer})
