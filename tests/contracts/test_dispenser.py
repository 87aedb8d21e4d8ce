import brownie
import pytest

ONE = 10**18


@pytest.fixture
def active(dispenser, datatoken, publisher):
    datatoken.setMinterRole(dispenser, True, {"from": publisher})
    dispenser.activate(datatoken, 2 * ONE, 3 * ONE, {"from": publisher})


def test_activate_emits_and_stores_the_limits(dispenser, datatoken, publisher):
    datatoken.setMinterRole(dispenser, True, {"from": publisher})
    tx = dispenser.activate(datatoken, 2 * ONE, 3 * ONE, {"from": publisher})
    assert dict(tx.events["Activated"]) == {
        "dataToken": datatoken,
        "maxTokens": 2 * ONE,
        "maxBalance": 3 * ONE,
    }
    assert tuple(dispenser.status(datatoken)) == (True, 2 * ONE, 3 * ONE)


def test_activate_needs_the_minter_role(dispenser, datatoken, publisher):
    with brownie.reverts("Dispenser: not allowed to mint this datatoken"):
        dispenser.activate(datatoken, ONE, ONE, {"from": publisher})


def test_only_the_minter_activates_and_deactivates(dispenser, datatoken, publisher, stranger):
    datatoken.setMinterRole(dispenser, True, {"from": publisher})
    with brownie.reverts("Dispenser: caller is not the datatoken minter"):
        dispenser.activate(datatoken, ONE, ONE, {"from": stranger})
    with brownie.reverts("Dispenser: caller is not the datatoken minter"):
        dispenser.deactivate(datatoken, {"from": stranger})


@pytest.mark.parametrize(
    "max_tokens, max_balance, reason",
    [
        (0, ONE, "Dispenser: invalid maxTokens"),
        (2**120, 2**120, "Dispenser: invalid maxTokens"),
        (2 * ONE, ONE, "Dispenser: invalid maxBalance"),
        (ONE, 2**120, "Dispenser: invalid maxBalance"),
    ],
)
def test_invalid_limits_are_rejected(dispenser, datatoken, publisher, max_tokens, max_balance, reason):
    datatoken.setMinterRole(dispenser, True, {"from": publisher})
    with brownie.reverts(reason):
        dispenser.activate(datatoken, max_tokens, max_balance, {"from": publisher})


def test_dispense_mints_to_the_caller(dispenser, datatoken, consumer, active):
    tx = dispenser.dispense(datatoken, 2 * ONE, {"from": consumer})
    assert dict(tx.events["Dispensed"]) == {"dataToken": datatoken, "to": consumer, "amount": 2 * ONE}
    assert datatoken.balanceOf(consumer) == 2 * ONE
    assert datatoken.totalSupply() == 2 * ONE


def test_dispense_above_max_tokens_is_rejected(dispenser, datatoken, consumer, active):
    with brownie.reverts("Dispenser: amount above maxTokens"):
        dispenser.dispense(datatoken, 2 * ONE + 1, {"from": consumer})


def test_dispense_beyond_max_balance_is_rejected(dispenser, datatoken, consumer, active):
    dispenser.dispense(datatoken, 2 * ONE, {"from": consumer})
    dispenser.dispense(datatoken, ONE, {"from": consumer})
    with brownie.reverts("Dispenser: would exceed maxBalance for this address"):
        dispenser.dispense(datatoken, 1, {"from": consumer})
    assert datatoken.balanceOf(consumer) == 3 * ONE
    assert dispenser.dispensed(datatoken, consumer) == 3 * ONE


def test_moving_tokens_away_does_not_make_room_for_more(dispenser, datatoken, consumer, stranger, active):
    """maxBalance was checked against the wallet's balance: move the tokens away, ask again."""
    dispenser.dispense(datatoken, 2 * ONE, {"from": consumer})
    dispenser.dispense(datatoken, ONE, {"from": consumer})
    datatoken.transfer(stranger, 3 * ONE, {"from": consumer})
    with brownie.reverts("Dispenser: would exceed maxBalance for this address"):
        dispenser.dispense(datatoken, ONE, {"from": consumer})
    assert datatoken.totalSupply() == 3 * ONE


def test_dispense_of_zero_is_rejected(dispenser, datatoken, consumer, active):
    with brownie.reverts("Dispenser: amount is zero"):
        dispenser.dispense(datatoken, 0, {"from": consumer})


def test_dispense_while_inactive_is_rejected(dispenser, datatoken, publisher, consumer, active):
    tx = dispenser.deactivate(datatoken, {"from": publisher})
    assert dict(tx.events["Deactivated"]) == {"dataToken": datatoken}
    with brownie.reverts("Dispenser: not active"):
        dispenser.dispense(datatoken, ONE, {"from": consumer})


def test_dispense_for_a_token_never_activated_is_rejected(dispenser, create_token, publisher, consumer):
    other = create_token(publisher, "Other", "OTH")
    with brownie.reverts("Dispenser: not active"):
        dispenser.dispense(other, ONE, {"from": consumer})


def test_dispense_after_the_minter_role_is_revoked_is_rejected(dispenser, datatoken, publisher, consumer, active):
    datatoken.setMinterRole(dispenser, False, {"from": publisher})
    with brownie.reverts("DataToken: caller is not a minter"):
        dispenser.dispense(datatoken, ONE, {"from": consumer})


def test_dispense_respects_the_datatoken_cap(dispenser, create_token, publisher, consumer):
    small = create_token(publisher, "Small", "SML", cap=ONE)
    small.setMinterRole(dispenser, True, {"from": publisher})
    dispenser.activate(small, 2 * ONE, 2 * ONE, {"from": publisher})
    with brownie.reverts("DataToken: cap exceeded"):
        dispenser.dispense(small, 2 * ONE, {"from": consumer})
