"""A web3 connection to the chain, with the deployed contracts bound to it."""

from functools import cached_property
from pathlib import Path

import requests
from eth_typing import ChecksumAddress
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from c2d.chain.artifacts import load_artifact
from c2d.chain.deployment import Deployment
from c2d.chain.errors import ChainUnavailable


def connect(rpc_url: str, timeout: float = 10.0) -> Web3:
    """A Web3 on `rpc_url`; raises ChainUnavailable when nothing answers there."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - the first request tells whether the node answers
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailable(f"no chain answers at the configured RPC URL ({type(exc).__name__})") from None
    return w3


class Chain:
    """The contracts of one deployment on one connection.

    >>> chain = Chain.at("http://127.0.0.1:8545", Path("addresses.json"))
    >>> chain.factory.functions.template().call()
    """

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.deployment = deployment

    @classmethod
    def at(cls, rpc_url: str, addresses_file: Path, timeout: float = 10.0) -> "Chain":
        w3 = connect(rpc_url, timeout)
        return cls(w3, Deployment.load(addresses_file, w3.eth.chain_id))

    def contract(self, artifact: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(artifact).abi)

    @cached_property
    def factory(self) -> Contract:
        return self.contract("DataTokenFactory", self.deployment["DataTokenFactory"])

    @cached_property
    def metadata(self) -> Contract:
        return self.contract("Metadata", self.deployment["Metadata"])

    @cached_property
    def exchange(self) -> Contract:
        return self.contract("FixedRateExchange", self.deployment["FixedRateExchange"])

    @cached_property
    def dispenser(self) -> Contract:
        return self.contract("Dispenser", self.deployment["Dispenser"])

    @cached_property
    def batcher(self) -> Contract:
        return self.contract("OrderBatcher", self.deployment["OrderBatcher"])

    @cached_property
    def base_token(self) -> Contract:
        return self.contract("BaseToken", self.deployment["BaseToken"])

    def datatoken(self, address: ChecksumAddress | str) -> Contract:
        return self.contract("DataToken", address)
