"""What publishers and consumers do on chain, as one call each."""

import json
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import TxReceipt

from c2d.chain.connection import Chain
from c2d.chain.did import did_for
from c2d.chain.wallet import Wallet

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Order:
    """An order a consumer started: the transaction the provider verifies."""

    tx_hash: str
    datatoken: ChecksumAddress
    service_id: int
    amount: int


def tx_hex(receipt: TxReceipt) -> str:
    return "0x" + HexBytes(receipt["transactionHash"]).hex().removeprefix("0x")


class ChainClient:
    """A wallet acting on a deployment: create and publish datatokens, buy them, order."""

    def __init__(self, chain: Chain, wallet: Wallet) -> None:
        self.chain = chain
        self.wallet = wallet

    @property
    def address(self) -> ChecksumAddress:
        return self.wallet.address

    # ---- publisher ----

    def create_datatoken(self, name: str, symbol: str, cap: int) -> ChecksumAddress:
        receipt = self.wallet.send(self.chain.factory.functions.createToken(name, symbol, cap))
        (event,) = self.chain.factory.events.TokenCreated().process_receipt(receipt)
        return ChecksumAddress(event["args"]["token"])

    def mint(self, datatoken: str, to: str, amount: int) -> TxReceipt:
        return self.wallet.send(self.chain.datatoken(datatoken).functions.mint(to, amount))

    def publish_metadata(self, datatoken: str, ddo: dict[str, Any], update: bool = False) -> TxReceipt:
        """Writes `ddo` (its `id` set to the datatoken's DID) as plain JSON, flags 0."""
        data = json.dumps({**ddo, "id": did_for(datatoken)}, separators=(",", ":")).encode()
        fn = self.chain.metadata.functions.update if update else self.chain.metadata.functions.create
        return self.wallet.send(fn(datatoken, b"\x00", data))

    def create_exchange(self, datatoken: str, rate: int, supply: int) -> bytes:
        """Lists `supply` of the wallet's datatokens at `rate` base tokens (1e18-scaled) each."""
        dt = self.chain.datatoken(datatoken)
        self.wallet.send(dt.functions.approve(self.chain.exchange.address, supply))
        receipt = self.wallet.send(self.chain.exchange.functions.create(self.chain.base_token.address, datatoken, rate))
        (event,) = self.chain.exchange.events.ExchangeCreated().process_receipt(receipt)
        return bytes(event["args"]["exchangeId"])

    def enable_dispenser(self, datatoken: str, max_tokens: int, max_balance: int) -> TxReceipt:
        dt = self.chain.datatoken(datatoken)
        self.wallet.send(dt.functions.setMinterRole(self.chain.dispenser.address, True))
        return self.wallet.send(self.chain.dispenser.functions.activate(datatoken, max_tokens, max_balance))

    # ---- consumer ----

    def base_balance(self) -> int:
        return int(self.chain.base_token.functions.balanceOf(self.address).call())

    def datatoken_balance(self, datatoken: str) -> int:
        return int(self.chain.datatoken(datatoken).functions.balanceOf(self.address).call())

    def buy(self, exchange_id: bytes, amount: int) -> TxReceipt:
        """Buys `amount` datatokens on a fixed-rate exchange, paying the quoted price at most."""
        price = self.chain.exchange.functions.calcBaseIn(exchange_id, amount).call()
        self.wallet.send(self.chain.base_token.functions.approve(self.chain.exchange.address, price))
        return self.wallet.send(self.chain.exchange.functions.swap(exchange_id, amount, price))

    def dispense(self, datatoken: str, amount: int) -> TxReceipt:
        return self.wallet.send(self.chain.dispenser.functions.dispense(datatoken, amount))

    def start_order(
        self,
        datatoken: str,
        amount: int,
        service_id: int,
        consumer: str | None = None,
        fee_collector: str | None = None,
    ) -> Order:
        """Orders service `service_id`; the market fee goes to the collector the token's minter
        set (the contract accepts no other), read from the token unless given."""
        token = self.chain.datatoken(datatoken)
        if fee_collector is None:
            fee_collector = str(token.functions.marketFeeCollector().call())
        fn = token.functions.startOrder(consumer or self.address, amount, service_id, fee_collector)
        receipt = self.wallet.send(fn)
        return Order(tx_hex(receipt), to_checksum_address(datatoken), service_id, amount)
