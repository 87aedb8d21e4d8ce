import brownie


def test_base_token_mints_to_deployer_and_owner_mints_more(base_token, deployer, stranger):
    assert base_token.balanceOf(deployer) == base_token.totalSupply() == 10**27
    base_token.mint(stranger, 5, {"from": deployer})
    assert base_token.balanceOf(stranger) == 5
    with brownie.reverts("Ownable: caller is not the owner"):
        base_token.mint(stranger, 5, {"from": stranger})
