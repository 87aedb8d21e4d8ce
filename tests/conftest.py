"""Fixtures shared by the Python tests: one real Ganache chain per session with c2d's
contracts deployed by the brownie deploy script."""

from pathlib import Path

import pytest

from c2d.chain import Chain, ChainClient, Wallet, connect
from c2d.localchain import Ganache, deploy_contracts, dev_keys


@pytest.fixture(scope="session")
def ganache(tmp_path_factory):
    with Ganache(log_path=tmp_path_factory.mktemp("ganache") / "ganache.log") as chain:
        yield chain


@pytest.fixture(scope="session")
def addresses_file(ganache, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("deploy") / "addresses.json"
    deploy_contracts(ganache.url, path)
    return path


@pytest.fixture(scope="session")
def chain(ganache, addresses_file) -> Chain:
    return Chain.at(ganache.url, addresses_file)


@pytest.fixture(scope="session")
def keys() -> list[str]:
    return dev_keys()


def _client(chain: Chain, key: str) -> ChainClient:
    return ChainClient(chain, Wallet(connect(chain.w3.provider.endpoint_uri), key))


@pytest.fixture(scope="session")
def deployer(chain, keys) -> ChainClient:
    return _client(chain, keys[0])


@pytest.fixture(scope="session")
def publisher(chain, keys) -> ChainClient:
    return _client(chain, keys[1])


@pytest.fixture(scope="session")
def consumer(chain, keys) -> ChainClient:
    return _client(chain, keys[2])


@pytest.fixture(scope="session")
def stranger(chain, keys) -> ChainClient:
    return _client(chain, keys[3])
