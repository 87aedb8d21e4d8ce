"""Fixtures of the contract tests: brownie deploys the contracts on the Ganache chain it
starts (network `development`, written by scripts/setup.sh); every test runs in a snapshot
that is reverted afterwards."""

import pytest

ZERO = "0x0000000000000000000000000000000000000000"
CAP = 10**6 * 10**18


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def community(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def publisher(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def consumer(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def market(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def template(DataToken, deployer, community):
    return DataToken.deploy(community, "", "", ZERO, 0, {"from": deployer})


@pytest.fixture(scope="module")
def factory(DataTokenFactory, template, deployer):
    return DataTokenFactory.deploy(template, {"from": deployer})


@pytest.fixture(scope="module")
def create_token(DataToken, factory):
    def create(owner, name="Data Token", symbol="DT", cap=CAP):
        tx = factory.createToken(name, symbol, cap, {"from": owner})
        return DataToken.at(tx.events["TokenCreated"]["token"])

    return create


@pytest.fixture(scope="module")
def datatoken(create_token, publisher):
    return create_token(publisher)


@pytest.fixture(scope="module")
def metadata(Metadata, deployer, factory):
    return Metadata.deploy(factory, {"from": deployer})


@pytest.fixture(scope="module")
def exchange(FixedRateExchange, deployer):
    return FixedRateExchange.deploy({"from": deployer})


@pytest.fixture(scope="module")
def dispenser(Dispenser, deployer):
    return Dispenser.deploy({"from": deployer})


@pytest.fixture(scope="module")
def base_token(BaseToken, deployer):
    return BaseToken.deploy("Base Token", "BASE", 10**9 * 10**18, {"from": deployer})
