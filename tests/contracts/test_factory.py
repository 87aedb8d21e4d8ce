import brownie
from conftest import CAP, ZERO


def test_factory_needs_a_template(DataTokenFactory, deployer):
    with brownie.reverts("DataTokenFactory: no template"):
        DataTokenFactory.deploy(ZERO, {"from": deployer})


def test_create_token_emits_token_created(factory, template, publisher, DataToken):
    tx = factory.createToken("Weather 2026", "WX26", CAP, {"from": publisher})
    event = dict(tx.events["TokenCreated"])
    token = event.pop("token")
    assert event == {"template": template, "name": "Weather 2026", "symbol": "WX26", "owner": publisher}
    assert DataToken.at(token).minter() == publisher


def test_token_is_a_minimal_proxy_of_the_template(factory, template, publisher, web3):
    tx = factory.createToken("A", "A", CAP, {"from": publisher})
    code = bytes(web3.eth.get_code(tx.events["TokenCreated"]["token"]))
    # EIP-1167: 363d3d373d3d3d363d73 <template> 5af43d82803e903d91602b57fd5bf3
    assert code == bytes.fromhex(
        "363d3d373d3d3d363d73" + template.address[2:].lower() + "5af43d82803e903d91602b57fd5bf3"
    )


def test_tokens_are_independent(create_token, publisher, stranger):
    first = create_token(publisher, "One", "ONE")
    second = create_token(stranger, "Two", "TWO", cap=5)
    first.mint(publisher, 100, {"from": publisher})
    assert second.totalSupply() == 0
    assert (second.name(), second.minter(), second.cap()) == ("Two", stranger, 5)
    assert first.address != second.address
